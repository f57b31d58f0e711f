// The listener's log relay: the listener's Logger sends one message per
// line with its priority (base::LogSink::kRelay); the monitor's LogRelay
// writes a well-formed one to its own log, and drops and counts anything a
// subverted listener could send instead: no priority or one hinetd never
// uses, a line that is no event, a line too long, too many lines.
#include "supervisor/log_relay.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace hinetd::supervisor {
namespace {

using Clock = LogRelay::Clock;
using std::chrono::seconds;

// A Logger writing to a pipe, and what it wrote.
class Captured {
 public:
  Captured() {
    EXPECT_EQ(pipe2(p_, O_CLOEXEC | O_NONBLOCK), 0);
    log_ = std::make_unique<base::Logger>(base::LogSink::kStderr, p_[1]);
  }
  ~Captured() {
    close(p_[0]);
    close(p_[1]);
  }
  base::Logger& log() { return *log_; }
  // Every line written since the last call.
  std::vector<std::string> Lines() {
    char buf[65536];
    for (int i = 0; i < 64; ++i) {
      ssize_t n = read(p_[0], buf, sizeof buf);
      if (n <= 0) break;
      text_.append(buf, static_cast<size_t>(n));
    }
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t nl; (nl = text_.find('\n', start)) != std::string::npos; start = nl + 1) {
      out.push_back(text_.substr(start, nl - start));
    }
    text_.erase(0, start);
    return out;
  }

 private:
  int p_[2] = {-1, -1};
  std::unique_ptr<base::Logger> log_;
  std::string text_;
};

TEST(LogRelay, TheListenersLoggerSendsOneMessagePerLineWithItsPriority) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  base::Logger sender(base::LogSink::kStderr, 2);
  sender.RelayTo(sv[1]);
  EXPECT_EQ(sender.sink(), base::LogSink::kRelay);
  sender.Info(base::LogLine("listener-ready").Add("pid", 12));
  sender.Warning(base::LogLine("reject").Add("reason", "reflection"));
  sender.Error(base::LogLine("listener-failed").Add("error", std::string(5000, 'x')));
  std::vector<std::string> got;
  char buf[8192];
  for (int i = 0; i < 3; ++i) {
    ssize_t n = recv(sv[0], buf, sizeof buf, MSG_DONTWAIT);
    ASSERT_GT(n, 0) << i;
    got.emplace_back(buf, static_cast<size_t>(n));
  }
  EXPECT_LT(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT), 0);
  EXPECT_EQ(got[0], "<6>event=listener-ready pid=12");
  EXPECT_EQ(got[1], "<4>event=reject reason=reflection");
  // A line longer than a relay carries is cut, not lost.
  EXPECT_EQ(got[2].size(), 3 + base::kRelayLineMax);
  EXPECT_EQ(got[2].substr(0, 39), "<3>event=listener-failed error=xxxxxxxx");
  close(sv[0]);
  close(sv[1]);
}

TEST(LogRelay, AWellFormedLineIsWrittenWithItsPriority) {
  int priority = -1;
  EXPECT_EQ(LogRelay::Check("<4>event=reject service=u reason=reflection", priority),
            "event=reject service=u reason=reflection");
  EXPECT_EQ(priority, LOG_WARNING);
  EXPECT_EQ(LogRelay::Check("<3>event=listener-failed", priority), "event=listener-failed");
  EXPECT_EQ(priority, LOG_ERR);
  EXPECT_EQ(LogRelay::Check("<6>event=status service=a", priority), "event=status service=a");
  EXPECT_EQ(priority, LOG_INFO);
}

TEST(LogRelay, WhatNoHonestListenerSendsIsRefused) {
  int priority = 0;
  for (const char* bad : {
           "",                                    // nothing
           "event=accept service=a",              // no priority
           "<0>event=accept",                     // a priority hinetd never logs at
           "<7>event=accept",                     //   (emerg, debug)
           "<x>event=accept",                     //
           "<6>",                                 // no line
           "<6>accept service=a pid=1",           // not an event
           "<6> event=accept",                    // not at the start
           "<6>event=",                           // no event name
           "<6>event=Accept",                     // not one of hinetd's names
           "<6>event=\"accept\"",                 //
           "<6>event=accept\nevent=accept",       // two lines: a newline in the name's place
           "<6>event=acc\x1b[2Jept",              // a terminal escape in the name
       }) {
    EXPECT_EQ(LogRelay::Check(bad, priority), "") << '"' << bad << '"';
  }
}

TEST(LogRelay, ControlAndNonAsciiBytesAreEscapedSoALineStaysOne) {
  int priority = 0;
  std::string msg = "<6>event=reject peer=x\nevent=accept service=root pid=1\r\x1b[1A\x7f\xc2\x85";
  EXPECT_EQ(LogRelay::Check(msg, priority),
            "event=reject peer=x\\x0aevent=accept service=root pid=1\\x0d\\x1b[1A\\x7f\\xc2\\x85");
  EXPECT_EQ(LogRelay::Check(std::string("<6>event=x a=\0b", 15), priority), "event=x a=\\x00b");
}

TEST(LogRelay, DropsAreCountedAndReportedAtMostOncePerInterval) {
  Captured out;
  auto t0 = Clock::now();
  LogRelay relay(out.log(), t0);
  relay.Take("<6>event=listener-ready pid=1", false, t0);
  relay.Take("garbage", false, t0);  // the first drop is reported at once
  EXPECT_EQ(out.Lines(), (std::vector<std::string>{
                             "event=listener-ready pid=1",
                             "event=listener-log-dropped count=1 malformed=1 too_long=0 rate=0"}));
  // More drops in the interval: counted, not reported yet.
  relay.Take("<6>event=x", /*truncated=*/true, t0 + seconds(1));
  relay.Take(std::string("<6>event=x a=") + std::string(base::kRelayLineMax, 'y'), false,
             t0 + seconds(1));
  relay.Take("<9>event=x", false, t0 + seconds(2));
  relay.ReportDrops(t0 + seconds(5));
  EXPECT_TRUE(out.Lines().empty());
  EXPECT_EQ(relay.next_report(), t0 + LogRelay::kReportInterval);
  relay.ReportDrops(t0 + LogRelay::kReportInterval);
  EXPECT_EQ(out.Lines(), (std::vector<std::string>{
                             "event=listener-log-dropped count=3 malformed=1 too_long=2 rate=0"}));
  EXPECT_EQ(relay.next_report(), Clock::time_point::max());
  EXPECT_EQ(relay.dropped(), 4u);
}

TEST(LogRelay, AFloodIsCutAtTheRate) {
  Captured out;
  auto t0 = Clock::now();
  LogRelay relay(out.log(), t0);
  const uint32_t sent = LogRelay::kBurst + 500;
  for (uint32_t i = 0; i < sent; ++i) relay.Take("<6>event=reject n=" + std::to_string(i), false, t0);
  std::vector<std::string> lines;
  for (int i = 0; i < 16; ++i) {
    auto more = out.Lines();
    lines.insert(lines.end(), more.begin(), more.end());
  }
  // The burst, then the one report of the first drop.
  ASSERT_EQ(lines.size(), LogRelay::kBurst + 1);
  EXPECT_EQ(lines.back(), "event=listener-log-dropped count=1 malformed=0 too_long=0 rate=1");
  relay.ReportDrops(t0 + LogRelay::kReportInterval);
  EXPECT_EQ(out.Lines(), (std::vector<std::string>{
                             "event=listener-log-dropped count=499 malformed=0 too_long=0 rate=499"}));
  EXPECT_EQ(relay.dropped(), 500u);
  // The bucket refills: a line is written again later.
  relay.Take("<6>event=status", false, t0 + LogRelay::kPeriod);
  EXPECT_EQ(out.Lines(), (std::vector<std::string>{"event=status"}));
}

TEST(LogRelay, ReadTakesEachMessageAndSeesTheEnd) {
  Captured out;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
  LogRelay relay(out.log(), Clock::now());
  ASSERT_EQ(write(sv[1], "<6>event=a", 10), 10);
  ASSERT_EQ(write(sv[1], "<4>event=b", 10), 10);
  std::string huge = "<6>event=c x=" + std::string(base::kRelayLineMax + 100, 'z');
  ASSERT_EQ(write(sv[1], huge.data(), huge.size()), static_cast<ssize_t>(huge.size()));
  ASSERT_EQ(write(sv[1], "<6>event=d", 10), 10);
  EXPECT_EQ(relay.Read(sv[0], 2, Clock::now()), LogRelay::ReadStatus::kMore);
  EXPECT_EQ(relay.Read(sv[0], 64, Clock::now()), LogRelay::ReadStatus::kEmpty);
  close(sv[1]);
  EXPECT_EQ(relay.Read(sv[0], 64, Clock::now()), LogRelay::ReadStatus::kClosed);
  close(sv[0]);
  EXPECT_EQ(out.Lines(), (std::vector<std::string>{
                             "event=a", "event=b",
                             "event=listener-log-dropped count=1 malformed=0 too_long=1 rate=0",
                             "event=d"}));
}

}  // namespace
}  // namespace hinetd::supervisor
