// Attacks on hinetd's log by a hostile service (issue 10, item 9): a child
// that writes terminal controls, bidi overrides and invalid UTF-8 to its
// stderr, and children that flood it. The real daemon, on loopback, with
// the static probe in a jail as the service, run as uid/gid 64011 (no
// passwd entry).
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/utf8.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration;

// The probe's policy and the clock its flood mode reads (where the vDSO
// does not serve it).
constexpr const char* kHostilePolicy = R"(description = "hinetd-probe, and the clock its flood reads"
include = ["probe"]
allow = ["clock_gettime"]
)";

// The lines of a child's stderr that reach the log (README, hinetd(8)):
// its first 100, then 10 a second; all children of a service together
// 1000, then 100 a second.
constexpr double kChildBurst = 100, kChildPerSecond = 10;
constexpr double kServiceBurst = 1000, kServicePerSecond = 100;

class LogAttackTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_.Write("sandbox/hostile.toml", kHostilePolicy);
  }

  // The probe in the jail as uid/gid 64011, its stderr logged.
  std::string HostileService(const std::string& name, uint16_t port, const std::string& args) {
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
           "\"\nexec = [\"/probe\"" + args + "]\nuser = \"64011\"\ngroup = \"64011\"\nchroot = \"" +
           jail_.path() + "\"\nsandbox = \"hostile\"\nstderr = \"log\"\n\n";
  }

  // The pid of the child that serves the connection from local port
  // `client_port` (its accept line), or "".
  std::string PidOf(const std::string& service, uint16_t client_port) {
    auto line = daemon_.WaitForLine(
        {"event=accept", "service=" + service, "peer=127.0.0.1:" + std::to_string(client_port) + " "},
        milliseconds(10000));
    return line ? LogField(*line, "pid") : "";
  }

  // Of one child: its event=stderr lines, and the lines its
  // event=stderr-suppressed lines count.
  struct Tally {
    uint64_t logged = 0;
    uint64_t suppressed = 0;
    size_t reports = 0;
  };
  Tally TallyOf(const std::string& pid) {
    Tally t;
    for (const auto& l : daemon_.Lines()) {
      if (l.rfind("event=stderr ", 0) == 0 && l.find(" pid=" + pid + " ") != std::string::npos) {
        ++t.logged;
      } else if (l.rfind("event=stderr-suppressed ", 0) == 0 && LogField(l, "pid") == pid) {
        t.suppressed += std::stoull(LogField(l, "lines"));
        ++t.reports;
      }
    }
    return t;
  }

  static double Since(Clock::time_point t) { return duration<double>(Clock::now() - t).count(); }
};

// A child writes C1 controls, a bidi override, a line separator, invalid
// UTF-8 and an ANSI escape sequence to its stderr, hoping to drive the
// terminal of whoever reads the log, to make a line read backwards, or to
// forge a line. The log holds none of those bytes; it holds their escapes,
// and the valid non-ASCII text as it was.
TEST_F(LogAttackTest, ControlBidiAndInvalidBytesFromAChildAreEscaped) {
  uint16_t port = FreeTcpPort();
  const std::string bytes = std::string("A\xc2\x9b") +  // CSI, U+009B
                            "B\xe2\x80\xae" +            // right-to-left override
                            "C\xff" +                      // never in UTF-8
                            "D\xc0\x80" +                  // an overlong NUL
                            "E\x80" +                      // a lone continuation byte
                            "F\x1b[31m" +                  // ESC: an ANSI colour
                            "G\xc2\x85" +                  // NEL, U+0085
                            "H\xe2\x80\xa8" +              // line separator
                            "I\xef\xbb\xbf" +              // zero-width no-break space
                            "J\xe2\x81\xa6" +              // left-to-right isolate
                            "K\xed\xa0\x80" +              // a surrogate
                            "L\xf4\x90\x80\x80" +          // past U+10FFFF
                            "M\xe2\x82" +                  // U+20AC cut short
                            "\xc3\xa9\xe6\x97\xa5" +        // valid: kept
                            "\xe2\x80\xa8" "event=forged";  // a line of its own?
  static constexpr char kHexDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex.push_back(kHexDigits[c >> 4]);
    hex.push_back(kHexDigits[c & 0xf]);
  }
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(HostileService("hostile", port, ", \"stderr-bytes\", \"" + hex + "\""))))
      << daemon_.LogText();
  ASSERT_EQ(Exchange("127.0.0.1", port, ""), "done\n");
  auto end = daemon_.WaitForLine({"event=end", "service=hostile"}, milliseconds(10000));
  ASSERT_TRUE(end.has_value()) << daemon_.LogText();
  std::string pid = LogField(*end, "pid");

  auto line = daemon_.WaitForLine({"event=stderr ", "service=hostile"}, milliseconds(1000));
  ASSERT_TRUE(line.has_value()) << daemon_.LogText();
  EXPECT_EQ(*line,
            "event=stderr service=hostile pid=" + pid +
                " line=\"A\\u009bB\\u202eC\\xffD\\xc0\\x80E\\x80F\\x1b[31mG\\u0085H\\u2028I"
                "\\ufeffJ\\u2066K\\xed\\xa0\\x80L\\xf4\\x90\\x80\\x80M\\xe2\\x82"
                "\xc3\xa9\xe6\x97\xa5\\u2028event=forged\"");
  // One line: nothing the child wrote started another.
  EXPECT_EQ(daemon_.CountLines({"event=forged"}), 1u);
  EXPECT_EQ(daemon_.CountLines({"event=stderr ", "service=hostile"}), 1u);

  // Every byte the daemon logged: valid UTF-8, no control but the newlines
  // between lines, and none of the characters that were escaped.
  std::string all = daemon_.LogText();
  EXPECT_EQ(FirstInvalidUtf8(all), std::string::npos) << all;
  for (char c : all) {
    auto u = static_cast<unsigned char>(c);
    ASSERT_TRUE(u == '\n' || (u >= 0x20 && u != 0x7f)) << "raw control byte " << int{u};
  }
  for (const char* raw : {"\xc2\x9b", "\xc2\x85", "\xe2\x80\xae", "\xe2\x80\xa8", "\xef\xbb\xbf",
                          "\xe2\x81\xa6"}) {
    EXPECT_EQ(all.find(raw), std::string::npos) << ::testing::PrintToString(std::string(raw));
  }
}

// A child writes short lines to its stderr as fast as it can for three
// seconds (millions of them). The log gets its first 100 and then 10 a
// second; every other line is counted in event=stderr-suppressed, so that
// logged + suppressed is exactly what it wrote; and meanwhile another
// service answers every request within 2 s.
TEST_F(LogAttackTest, OneChildsFloodIsBoundedCountedAndStallsNobody) {
  uint16_t flood_port = FreeTcpPort();
  uint16_t echo_port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(HostileService("flood", flood_port, ", \"stderr-flood\", \"3000\"") +
                  HostileService("echo", echo_port, ", \"echo\""))))
      << daemon_.LogText();

  auto start = Clock::now();
  int fd = ConnectTcp("127.0.0.1", flood_port);
  ASSERT_GE(fd, 0);
  std::string pid = PidOf("flood", LocalPort(fd));
  ASSERT_FALSE(pid.empty()) << daemon_.LogText();
  ASSERT_TRUE(daemon_.WaitForLine({"event=stderr ", " pid=" + pid + " "}, milliseconds(5000)))
      << daemon_.LogText();

  // While the flood goes on: requests to the other service, each answered
  // in time. The pause between them is a wait for the flood's end.
  int during = 0;
  for (int i = 0; i < 10 && daemon_.CountLines({"event=end", "pid=" + pid + " "}) == 0; ++i) {
    auto sent = Clock::now();
    std::string reply = Exchange("127.0.0.1", echo_port, "ping " + std::to_string(i) + "\n");
    double took = Since(sent);
    EXPECT_NE(reply.find("end=1\nping " + std::to_string(i) + "\n"), std::string::npos) << reply;
    EXPECT_LT(took, 2.0) << "request " << i << " during the flood";
    ++during;
    daemon_.WaitForLine({"event=end", "pid=" + pid + " "}, milliseconds(200));
  }
  EXPECT_GE(during, 3) << "the flood ended before the other service was tried";

  std::string report = ReadAll(fd, milliseconds(20000));
  close(fd);
  ASSERT_EQ(report.rfind("lines=", 0), 0u) << report;
  uint64_t written = std::stoull(report.substr(6));
  ASSERT_TRUE(daemon_.WaitForLine({"event=end", "pid=" + pid + " "}, milliseconds(20000)))
      << "the flood child never ended";
  double elapsed = Since(start);

  Tally t = TallyOf(pid);
  EXPECT_GT(written, 100000u) << "not much of a flood";
  EXPECT_EQ(t.logged + t.suppressed, written)
      << "logged " << t.logged << " suppressed " << t.suppressed;
  EXPECT_GE(t.logged, kChildBurst);
  EXPECT_LE(t.logged, kChildBurst + kChildPerSecond * elapsed) << "in " << elapsed << " s";
  EXPECT_GE(t.reports, 1u);
  // The burst is its first lines, in order: nothing before it was lost.
  EXPECT_TRUE(daemon_.WaitForLine({"event=stderr ", " pid=" + pid + " ", "line=\"flood 0\""},
                                  milliseconds(0)));
  EXPECT_TRUE(daemon_.WaitForLine({"event=stderr ", " pid=" + pid + " ", "line=\"flood 99\""},
                                  milliseconds(0)));
}

// Fifteen children of one service flood their stderr at once: each would
// get its own burst of 100, 1500 lines in all, but the service gets 1000
// and then 100 a second whatever the number of children; and still every
// line is logged or counted, child by child.
TEST_F(LogAttackTest, ManyChildrenOfOneServiceShareItsBound) {
  constexpr int kChildren = 15;
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(HostileService("flood", port, ", \"stderr-flood\", \"1000\""))))
      << daemon_.LogText();

  auto start = Clock::now();
  std::vector<int> fds;
  for (int i = 0; i < kChildren; ++i) {
    int fd = ConnectTcp("127.0.0.1", port);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  std::map<std::string, uint64_t> written;  // pid -> lines it wrote
  for (int fd : fds) {
    std::string pid = PidOf("flood", LocalPort(fd));
    std::string report = ReadAll(fd, milliseconds(30000));
    close(fd);
    ASSERT_FALSE(pid.empty()) << daemon_.LogText();
    ASSERT_EQ(report.rfind("lines=", 0), 0u) << report;
    written[pid] = std::stoull(report.substr(6));
  }
  ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=flood"}, kChildren, milliseconds(30000)))
      << daemon_.LogText();
  double elapsed = Since(start);

  uint64_t logged = 0;
  for (const auto& [pid, lines] : written) {
    Tally t = TallyOf(pid);
    EXPECT_EQ(t.logged + t.suppressed, lines) << "pid " << pid;
    EXPECT_LE(t.logged, kChildBurst + kChildPerSecond * elapsed) << "pid " << pid;
    logged += t.logged;
  }
  EXPECT_EQ(logged, daemon_.CountLines({"event=stderr ", "service=flood"}));
  // The service's bucket empties before any child is refused by its own.
  EXPECT_GE(logged, kServiceBurst);
  EXPECT_LE(logged, kServiceBurst + kServicePerSecond * elapsed) << "in " << elapsed << " s";
}

}  // namespace
}  // namespace hinetd::testing
