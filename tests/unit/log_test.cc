#include "base/log.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <vector>

#include "base/errno_name.h"
#include "common/utf8.h"
#include "supervisor/child_status.h"
#include "supervisor/stderr_limit.h"

namespace hinetd {
namespace {

TEST(LogLine, PlainAndQuotedValues) {
  base::LogLine line("accept");
  line.Add("service", "echo").Add("peer", "127.0.0.1:4000").Add("pid", 812).Add("active", 3);
  EXPECT_EQ(line.str(), "event=accept service=echo peer=127.0.0.1:4000 pid=812 active=3");
  base::LogLine q("stderr");
  q.Add("line", "a \"b\" c=d\\e\n\x01").Add("empty", "");
  EXPECT_EQ(q.str(), "event=stderr line=\"a \\\"b\\\" c=d\\\\e\\n\\x01\" empty=\"\"");
}

// Every class of text a hostile peer or child could put in a value, and the
// boundaries of each: the exact value AppendLogfmtValue writes.
TEST(AppendLogfmtValue, EscapesEverythingThatIsNotPlainPrintableUtf8) {
  struct Case {
    std::string in;
    std::string out;
  };
  const Case cases[] = {
      // ASCII: bare unless it needs quotes.
      {"plain", "plain"},
      {"", "\"\""},
      {"a b", "\"a b\""},
      {"k=v", "\"k=v\""},
      {"\"\\", "\"\\\"\\\\\""},
      {"\n\t\r", "\"\\n\\t\\r\""},
      {std::string("\0", 1), "\"\\x00\""},
      {"\x1b[31m", "\"\\x1b[31m\""},
      {"\x1f", "\"\\x1f\""},
      {"~", "~"},
      {"\x7f", "\"\\x7f\""},  // DEL, U+007F
      // Printable non-ASCII UTF-8 passes as it is, unquoted.
      {"caf\xc3\xa9", "caf\xc3\xa9"},
      {"\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac"},
      {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},  // U+1F600
      // C1 controls, U+0080..U+009F, and their neighbours.
      {"\xc2\x80", "\"\\u0080\""},
      {"\xc2\x85", "\"\\u0085\""},  // NEL: a line break to some readers
      {"a\xc2\x9b" "31m", "\"a\\u009b31m\""},  // CSI
      {"\xc2\x9f", "\"\\u009f\""},
      {"\xc2\xa0", "\xc2\xa0"},  // U+00A0, no-break space: printable
      {"\xc2\xad", "\"\\u00ad\""},  // soft hyphen: invisible
      // Bidi controls.
      {"\xd8\x9c", "\"\\u061c\""},
      {"\xe2\x80\x8e", "\"\\u200e\""},
      {"\xe2\x80\x8f", "\"\\u200f\""},
      {"\xe2\x80\xaa", "\"\\u202a\""},
      {"evil\xe2\x80\xaetxt.exe", "\"evil\\u202etxt.exe\""},
      {"\xe2\x81\xa6", "\"\\u2066\""},
      {"\xe2\x81\xa9", "\"\\u2069\""},
      // Line and paragraph separators.
      {"a\xe2\x80\xa8" "b", "\"a\\u2028b\""},
      {"\xe2\x80\xa9", "\"\\u2029\""},
      {"\xe2\x80\xa7", "\xe2\x80\xa7"},  // U+2027, hyphenation point: printable
      {"\xe2\x80\xaf", "\xe2\x80\xaf"},  // U+202F, narrow no-break space: printable
      // Invisible characters.
      {"\xe2\x80\x8b", "\"\\u200b\""},
      {"\xef\xbb\xbf" "x", "\"\\ufeffx\""},
      {"\xef\xbf\xb9", "\"\\ufff9\""},
      {"\xf3\xa0\x80\x81", "\"\\U000e0001\""},  // a tag character
      {"\xf3\xa0\x81\xbf", "\"\\U000e007f\""},
      {"\xf3\xa0\x82\x80", "\xf3\xa0\x82\x80"},  // U+E0080: not a tag
      // The ends of the well-formed ranges pass.
      {"\xed\x9f\xbf", "\xed\x9f\xbf"},  // U+D7FF
      {"\xee\x80\x80", "\xee\x80\x80"},  // U+E000
      {"\xef\xbf\xbd", "\xef\xbf\xbd"},  // U+FFFD
      {"\xf0\x90\x80\x80", "\xf0\x90\x80\x80"},  // U+10000
      {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},  // U+10FFFF
      // Not UTF-8: every byte that is not part of a well-formed sequence.
      {"\xff", "\"\\xff\""},
      {"\xfe", "\"\\xfe\""},
      {"\x80", "\"\\x80\""},                      // a stray continuation byte
      {"a\xbf" "b", "\"a\\xbfb\""},
      {"\xc0\x80", "\"\\xc0\\x80\""},             // overlong NUL
      {"\xc1\xbf", "\"\\xc1\\xbf\""},             // overlong U+007F
      {"\xe0\x80\xaf", "\"\\xe0\\x80\\xaf\""},    // overlong '/'
      {"\xe0\x9f\xbf", "\"\\xe0\\x9f\\xbf\""},    // overlong U+07FF
      {"\xf0\x8f\xbf\xbf", "\"\\xf0\\x8f\\xbf\\xbf\""},  // overlong U+FFFF
      {"\xed\xa0\x80", "\"\\xed\\xa0\\x80\""},    // U+D800, a surrogate
      {"\xed\xbf\xbf", "\"\\xed\\xbf\\xbf\""},    // U+DFFF
      {"\xf4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\""},  // U+110000
      {"\xf5\x80\x80\x80", "\"\\xf5\\x80\\x80\\x80\""},
      {"\xc3", "\"\\xc3\""},                      // cut short at the end
      {"\xe2\x80", "\"\\xe2\\x80\""},
      {"\xf0\x9f\x98", "\"\\xf0\\x9f\\x98\""},
      {"\xe2\x80x", "\"\\xe2\\x80x\""},           // cut short by ASCII
      {"\xc3\xc3\xa9", "\"\\xc3\xc3\xa9\""},      // cut short by a new sequence
      // Everything at once, the valid parts kept.
      {"\xc3\xa9\xff\xc2\x9b\x1b\xe2\x80\xae\xe6\x97\xa5",
       "\"\xc3\xa9\\xff\\u009b\\x1b\\u202e\xe6\x97\xa5\""},
  };
  for (const Case& c : cases) {
    std::string out = "k=";
    base::AppendLogfmtValue(out, c.in);
    EXPECT_EQ(out, "k=" + c.out) << "input bytes: " << ::testing::PrintToString(c.in);
  }
}

// Whatever goes in, what comes out is well-formed UTF-8 with no control
// character and none of the characters that are escaped: every value of one
// and two bytes, and every three- and four-byte sequence with a lead byte
// from E0 to F7 and continuation-like bytes 80..BF (every overlong form,
// surrogate and too-large code point among them).
TEST(AppendLogfmtValue, WhatComesOutIsCleanUtf8WhateverGoesIn) {
  auto check = [](const std::string& in) {
    std::string out;
    base::AppendLogfmtValue(out, in);
    ASSERT_EQ(testing::FirstInvalidUtf8(out), std::string::npos)
        << ::testing::PrintToString(in) << " -> " << ::testing::PrintToString(out);
    for (unsigned char c : out) {
      ASSERT_TRUE(c >= 0x20 && c != 0x7f) << ::testing::PrintToString(in);
    }
    for (const char* raw : {"\xc2\x85", "\xc2\x9b", "\xe2\x80\xa8", "\xe2\x80\xae",
                            "\xef\xbb\xbf", "\xe2\x81\xa6"}) {
      ASSERT_EQ(out.find(raw), std::string::npos) << ::testing::PrintToString(in);
    }
  };
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      check({static_cast<char>(a), static_cast<char>(b)});
      if (HasFatalFailure()) return;
    }
  }
  for (int lead = 0xe0; lead <= 0xf7; ++lead) {
    for (int b = 0x80; b <= 0xbf; ++b) {
      for (int c = 0x80; c <= 0xbf; ++c) {
        check({static_cast<char>(lead), static_cast<char>(b), static_cast<char>(c), 'x'});
        check({static_cast<char>(lead), static_cast<char>(b), static_cast<char>(c), '\x80'});
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(Logger, WritesOneLinePerEvent) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  {
    base::Logger log(base::LogSink::kStderr, p[1]);
    log.Info(base::LogLine("start").Add("services", 2));
    log.Error(base::LogLine("stop"));
  }
  close(p[1]);
  char buf[256] = {};
  ssize_t n = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  ASSERT_GT(n, 0);
  EXPECT_STREQ(buf, "event=start services=2\nevent=stop\n");
}

TEST(NextStderrLine, SplitsAtNewlinesAndEveryMaxBytes) {
  std::string_view line;
  EXPECT_EQ(supervisor::NextStderrLine("a\nb", 8, false, line), 2u);
  EXPECT_EQ(line, "a");
  EXPECT_EQ(supervisor::NextStderrLine("\n", 8, false, line), 1u);
  EXPECT_EQ(line, "");
  EXPECT_EQ(supervisor::NextStderrLine("b", 8, false, line), 0u);  // more may come
  EXPECT_EQ(supervisor::NextStderrLine("b", 8, true, line), 1u);   // nothing will
  EXPECT_EQ(line, "b");
  EXPECT_EQ(supervisor::NextStderrLine("", 8, true, line), 0u);
  // Exactly max bytes and a newline: one line.
  EXPECT_EQ(supervisor::NextStderrLine("12345678\nx", 8, false, line), 9u);
  EXPECT_EQ(line, "12345678");
  // Max bytes without a newline yet: wait for the next byte.
  EXPECT_EQ(supervisor::NextStderrLine("12345678", 8, false, line), 0u);
  EXPECT_EQ(supervisor::NextStderrLine("12345678", 8, true, line), 8u);
  // More: cut at max, whether or not a newline comes later.
  EXPECT_EQ(supervisor::NextStderrLine("123456789\n", 8, false, line), 8u);
  EXPECT_EQ(line, "12345678");
  EXPECT_EQ(supervisor::NextStderrLine("123456789", 8, false, line), 8u);
}

using StderrClock = supervisor::StderrLimiter::Clock;

// Lines admitted out of `n` offered on `s` at `now`.
int Offer(supervisor::StderrLimiter& lim, supervisor::StderrLimiter::Stream& s, int n,
          StderrClock::time_point now) {
  int admitted = 0;
  for (int i = 0; i < n; ++i) admitted += lim.Admit(s, now) ? 1 : 0;
  return admitted;
}

TEST(StderrLimiter, AChildGetsItsBurstThenTenASecondAndEveryOtherLineIsCounted) {
  supervisor::StderrLimiter lim;
  auto t0 = StderrClock::now();
  auto s = lim.Open("svc", t0);
  EXPECT_EQ(Offer(lim, s, 150, t0), 100);
  EXPECT_EQ(s.suppressed(), 50u);
  EXPECT_EQ(Offer(lim, s, 50, t0 + std::chrono::seconds(1)), 10);
  // Not reported before ten seconds have passed since the first suppressed
  // line; then the count, once, from zero again.
  EXPECT_EQ(lim.TakeReport(s, t0 + std::chrono::milliseconds(9999), false), 0u);
  EXPECT_EQ(lim.TakeReport(s, t0 + std::chrono::seconds(10), false), 90u);
  EXPECT_EQ(lim.TakeReport(s, t0 + std::chrono::seconds(10), false), 0u);
  EXPECT_EQ(lim.TakeReport(s, t0 + std::chrono::seconds(10), true), 0u);
  // The clock of the next report starts at the next suppressed line.
  auto t11 = t0 + std::chrono::seconds(11);
  EXPECT_EQ(Offer(lim, s, 200, t11), 100);  // ten seconds refilled it
  EXPECT_EQ(lim.TakeReport(s, t11 + std::chrono::seconds(9), false), 0u);
  EXPECT_EQ(lim.TakeReport(s, t11 + std::chrono::seconds(9), true), 100u);  // at close: any
  lim.Close(s, t11);
}

TEST(StderrLimiter, AllChildrenOfAServiceShareItsBucket) {
  supervisor::StderrLimiter lim;
  auto t0 = StderrClock::now();
  std::vector<supervisor::StderrLimiter::Stream> streams;
  int logged = 0;
  for (int i = 0; i < 20; ++i) {
    streams.push_back(lim.Open("svc", t0));
    logged += Offer(lim, streams.back(), 150, t0);
  }
  EXPECT_EQ(logged, 1000);
  uint64_t suppressed = 0;
  for (auto& s : streams) suppressed += lim.TakeReport(s, t0, true);
  EXPECT_EQ(static_cast<uint64_t>(logged) + suppressed, 20u * 150u);
  // Another service has a bucket of its own.
  auto other = lim.Open("other", t0);
  EXPECT_EQ(Offer(lim, other, 100, t0), 100);
  // One second: 100 more for the service, however many children ask.
  auto t1 = t0 + std::chrono::seconds(1);
  logged = 0;
  for (auto& s : streams) logged += Offer(lim, s, 20, t1);
  EXPECT_EQ(logged, 100);
  // A line the service refuses costs its child nothing: the child whose
  // bucket is untouched still has its whole burst once the service refills.
  auto fresh = lim.Open("svc", t1);
  EXPECT_EQ(Offer(lim, fresh, 200, t1), 0);
  EXPECT_EQ(Offer(lim, fresh, 200, t1 + std::chrono::seconds(1)), 100);
  (void)lim.TakeReport(fresh, t1, true);
  lim.Close(fresh, t1);
  lim.Close(other, t1);
  for (auto& s : streams) lim.Close(s, t1);
}

TEST(StderrLimiter, ANewChildGetsNoFreshServiceBurstUntilTheBucketRefills) {
  supervisor::StderrLimiter lim;
  auto t0 = StderrClock::now();
  for (int i = 0; i < 10; ++i) {
    auto s = lim.Open("svc", t0);
    EXPECT_EQ(Offer(lim, s, 100, t0), 100);
    lim.Close(s, t0);
  }
  // All closed, the bucket empty: it is kept, and the next child waits.
  EXPECT_EQ(lim.services_held(), 1u);
  auto s = lim.Open("svc", t0);
  EXPECT_EQ(Offer(lim, s, 100, t0), 0);
  lim.Close(s, t0);
  // Once it is full again it is forgotten: nothing is held for a service
  // that writes nothing.
  lim.Close(lim.Open("svc", t0 + std::chrono::seconds(10)), t0 + std::chrono::seconds(10));
  EXPECT_EQ(lim.services_held(), 0u);
}

TEST(ErrnoName, BothWays) {
  EXPECT_EQ(base::ErrnoName(ENOENT), "ENOENT");
  EXPECT_EQ(base::ErrnoName(100000), "E100000");
  EXPECT_EQ(*base::ErrnoFromName("EACCES"), EACCES);
  EXPECT_FALSE(base::ErrnoFromName("ENOTHING").has_value());
}

TEST(ChildStatus, Descriptions) {
  EXPECT_EQ(supervisor::DescribeWaitStatus(0), "exit:0");
  EXPECT_EQ(supervisor::DescribeWaitStatus(125 << 8), "exit:125");
  EXPECT_EQ(supervisor::DescribeWaitStatus(SIGKILL), "signal:KILL");
  EXPECT_EQ(supervisor::DescribeWaitStatus(SIGSYS | 0x80), "seccomp");  // with core flag
  EXPECT_TRUE(supervisor::KilledBySeccomp(SIGSYS));
  EXPECT_FALSE(supervisor::KilledBySeccomp(SIGTERM));
  EXPECT_EQ(supervisor::FormatSeconds(0.0041), "0.004s");
  EXPECT_EQ(supervisor::FormatSeconds(12.5), "12.500s");
  EXPECT_EQ(supervisor::FormatSeconds(0.0), "0.000s");
  EXPECT_EQ(supervisor::FormatSeconds(0.0996), "0.100s");  // rounded, carried
  EXPECT_EQ(supervisor::FormatSeconds(59.9996), "60.000s");
  EXPECT_EQ(supervisor::FormatSeconds(0.020), "0.020s");
  EXPECT_EQ(supervisor::FormatSeconds(3600.007), "3600.007s");
  EXPECT_EQ(supervisor::FormatSeconds(-1.0), "0.000s");  // a clock that went back
  EXPECT_EQ(supervisor::FormatSeconds(std::nan("")), "0.000s");
  EXPECT_EQ(supervisor::FormatSeconds(1e300), "1000000000000.000s");
}

// A full disk under the log (/dev/full answers every write with ENOSPC):
// nothing is written, nothing is lost silently. The next line that can be
// written is preceded by how many could not.
// What a SOCK_SEQPACKET peer received: one string per write of the Logger.
std::vector<std::string> Writes(int fd) {
  std::vector<std::string> out;
  std::vector<char> buf(256 * 1024);
  for (int i = 0; i < 64; ++i) {
    ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0) break;
    out.emplace_back(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

TEST(Logger, HeldLinesGoOutTogetherInOneWriteAtRelease) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  base::Logger log(base::LogSink::kStderr, sv[0]);
  log.Hold();
  EXPECT_TRUE(log.held());
  log.Info(base::LogLine("accept").Add("pid", 7));
  log.Warning(base::LogLine("end").Add("pid", 7));
  log.WriteLines({base::LogLine("listen").Add("n", 1), base::LogLine("listen").Add("n", 2)},
                 LOG_INFO);
  EXPECT_TRUE(Writes(sv[1]).empty()) << "nothing before the release";
  log.Release();
  EXPECT_FALSE(log.held());
  EXPECT_EQ(Writes(sv[1]), (std::vector<std::string>{
                               "event=accept pid=7\nevent=end pid=7\nevent=listen n=1\n"
                               "event=listen n=2\n"}));
  log.Release();
  EXPECT_TRUE(Writes(sv[1]).empty()) << "a release with nothing held writes nothing";
  // Not held: one write per line again.
  log.Info(base::LogLine("a"));
  log.Info(base::LogLine("b"));
  EXPECT_EQ(Writes(sv[1]), (std::vector<std::string>{"event=a\n", "event=b\n"}));
  // A flush (before a message to another process) writes what is held and
  // goes on holding.
  log.Hold();
  log.Info(base::LogLine("end").Add("pid", 8));
  log.Flush();
  EXPECT_TRUE(log.held());
  EXPECT_EQ(Writes(sv[1]), (std::vector<std::string>{"event=end pid=8\n"}));
  log.Info(base::LogLine("later"));
  EXPECT_TRUE(Writes(sv[1]).empty()) << "held again after the flush";
  log.Release();
  EXPECT_EQ(Writes(sv[1]), (std::vector<std::string>{"event=later\n"}));
  // A line written without allocating (out of memory) comes after those
  // held before it.
  log.Hold();
  log.Info(base::LogLine("before"));
  log.WriteFixed("event=memory-short process=monitor", LOG_ERR);
  log.Info(base::LogLine("after"));
  log.Release();
  EXPECT_EQ(Writes(sv[1]), (std::vector<std::string>{"event=before\n",
                                                     "event=memory-short process=monitor\n",
                                                     "event=after\n"}));
  close(sv[0]);
  close(sv[1]);
}

TEST(Logger, ALongTurnIsWrittenInPiecesOfAtMost64KiB) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  int big = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  base::Logger log(base::LogSink::kStderr, sv[0]);
  log.Hold();
  std::string value(1000, 'x');
  for (int i = 0; i < 100; ++i) log.Info(base::LogLine("line").Add("v", value));
  auto early = Writes(sv[1]);
  ASSERT_EQ(early.size(), 1u) << "written once 64 KiB waited";
  EXPECT_GE(early[0].size(), 64u * 1024);
  log.Release();
  auto rest = Writes(sv[1]);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(early[0].size() + rest[0].size(), 100 * (std::string("event=line v=\n").size() + 1000));
  close(sv[0]);
  close(sv[1]);
}

TEST(Logger, ARelayIsNeverHeld) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  base::Logger log(base::LogSink::kStderr, 2);
  log.RelayTo(sv[0]);
  log.Hold();
  EXPECT_FALSE(log.held()) << "a relay sends one datagram per line";
  log.Info(base::LogLine("x"));
  EXPECT_EQ(Writes(sv[1]), (std::vector<std::string>{"<6>event=x"}));
  close(sv[0]);
  close(sv[1]);
}

TEST(Logger, LinesAFullDiskRefusedAreCountedAndSaidWithTheNextThatGoes) {
  int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (full < 0) GTEST_SKIP() << "no /dev/full: " << base::ErrnoName(errno);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  int fd = fcntl(p[1], F_DUPFD_CLOEXEC, 10);  // the Logger's descriptor
  ASSERT_GE(fd, 0);
  base::Logger log(base::LogSink::kStderr, fd);
  log.Info(base::LogLine("first"));
  ASSERT_EQ(dup3(full, fd, O_CLOEXEC), fd);  // the disk fills
  for (int i = 0; i < 3; ++i) log.Info(base::LogLine("lost").Add("n", i));
  EXPECT_EQ(log.lost(), 3u);
  ASSERT_EQ(dup3(p[1], fd, O_CLOEXEC), fd);  // room again
  log.Info(base::LogLine("after"));
  log.Info(base::LogLine("again"));
  EXPECT_EQ(log.lost(), 0u);
  char buf[256];
  ssize_t n = read(p[0], buf, sizeof buf);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
            "event=first\nevent=log-lost lines=3\nevent=after\nevent=again\n");
  close(full);
  close(fd);
  close(p[0]);
  close(p[1]);
}


// WriteLines: the same lines as one Info each, in one write; refused by a
// full disk, each line counts as lost, and the next write says how many.
TEST(Logger, WriteLinesWritesThemInOrderAndCountsEachOneAFullDiskRefused) {
  int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (full < 0) GTEST_SKIP() << "no /dev/full: " << base::ErrnoName(errno);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  int fd = fcntl(p[1], F_DUPFD_CLOEXEC, 10);
  ASSERT_GE(fd, 0);
  base::Logger log(base::LogSink::kStderr, fd);
  std::vector<base::LogLine> lines;
  for (int i = 0; i < 3; ++i) lines.push_back(base::LogLine("listen").Add("n", i));
  log.WriteLines(lines, LOG_INFO);
  ASSERT_EQ(dup3(full, fd, O_CLOEXEC), fd);  // the disk fills
  log.WriteLines(lines, LOG_INFO);
  log.WriteLines({}, LOG_INFO);  // nothing to write: nothing changes
  EXPECT_EQ(log.lost(), 3u);
  ASSERT_EQ(dup3(p[1], fd, O_CLOEXEC), fd);  // room again
  log.WriteLines({base::LogLine("after")}, LOG_INFO);
  EXPECT_EQ(log.lost(), 0u);
  char buf[512];
  ssize_t n = read(p[0], buf, sizeof buf);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
            "event=listen n=0\nevent=listen n=1\nevent=listen n=2\n"
            "event=log-lost lines=3\nevent=after\n");
  close(full);
  close(fd);
  close(p[0]);
  close(p[1]);
}

}  // namespace
}  // namespace hinetd
