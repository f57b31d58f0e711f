// The syslog relay (syslog = true): a program in a jail that logs through
// syslog(3) — the probe, statically linked, as git daemon or in.tftpd
// would — reaches hinetd's log, tagged with the service and the real pid;
// a flood is rate-limited and counted; control characters are escaped; a
// sender that is not the service's process is not logged; the socket file
// goes when hinetd stops.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

// The probe's own policy plus the shipped syslog one.
constexpr const char* kSyslogProbePolicy = R"(description = "the probe, logging through syslog"
include = ["probe", "syslog"]
)";

class SyslogTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(jail_.MakeDir("/dev"));
    dir_.Write("sandbox/probe-syslog.toml", kSyslogProbePolicy);
  }

  std::string Service(const std::string& name, uint16_t port, const std::string& args,
                      const std::string& extra = "syslog = true\n") {
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
           "\"\nexec = [\"/probe\"" + args + "]\nuser = \"nobody\"\nchroot = \"" +
           jail_.path() + "\"\nsandbox = \"probe-syslog\"\n" + extra + "\n";
  }

  // The pid of the service's first child.
  std::string AcceptedPid(const std::string& service) {
    auto accept = daemon_.WaitForLine({"event=accept", "service=" + service + " "},
                                      milliseconds(5000));
    return accept ? LogField(*accept, "pid") : "<none>";
  }
};

TEST_F(SyslogTest, AMessageIsLoggedWithTheServiceAndTheSendersPid) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(Service("probe", port, ", \"syslog\", \"1\", \"hello from the jail\""))))
      << daemon_.LogText();
  struct stat st {};
  ASSERT_EQ(lstat((jail_.path() + "/dev/log").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  std::string out = Exchange("127.0.0.1", port, "");
  EXPECT_NE(out.find("syslog=1\nend=1"), std::string::npos) << out;
  std::string pid = AcceptedPid("probe");
  auto line = daemon_.WaitForLine({"event=syslog ", "service=probe "}, milliseconds(5000));
  ASSERT_TRUE(line.has_value()) << daemon_.LogText();
  // The pid as hinetd knows the child (the text's "[2]" is its pid in its
  // own PID namespace, and not trusted anyway).
  EXPECT_EQ(*line, "event=syslog service=probe pid=" + pid +
                       " facility=daemon severity=err tag=probe msg=\"hello from the jail 0\"")
      << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=probe ", "status=exit:0"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  // The socket file goes with hinetd.
  ASSERT_TRUE(daemon_.Stop().has_value());
  EXPECT_NE(lstat((jail_.path() + "/dev/log").c_str(), &st), 0);
}

TEST_F(SyslogTest, ControlCharactersAreEscaped) {
  uint16_t port = FreeTcpPort();
  // TOML turns \u001b and \u0007 into the bytes; a forged second line too.
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(Service(
      "probe", port, ", \"syslog\", \"1\", \"red\\u001b[31m bell\\u0007 event=forged\\nx\""))))
      << daemon_.LogText();
  Exchange("127.0.0.1", port, "");
  auto line = daemon_.WaitForLine({"event=syslog ", "service=probe "}, milliseconds(5000));
  ASSERT_TRUE(line.has_value()) << daemon_.LogText();
  EXPECT_NE(line->find("msg=\"red\\x1b[31m bell\\x07 event=forged\\nx 0\""), std::string::npos)
      << *line;
  EXPECT_EQ(daemon_.CountLines({"event=forged"}), 1u);  // inside the one line only
  for (const auto& l : daemon_.Lines()) EXPECT_EQ(l.rfind("x 0", 0), std::string::npos) << l;
}

// 1000 messages at once: the first 100 are logged, the rest counted in
// event=syslog-suppressed, so that the two add up to what was sent.
TEST_F(SyslogTest, AFloodIsRateLimitedAndCounted) {
  constexpr int kSent = 1000;
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      Service("flood", port, ", \"syslog\", \"" + std::to_string(kSent) + "\", \"flood\""))))
      << daemon_.LogText();
  std::string out = Exchange("127.0.0.1", port, "", true, milliseconds(20000));
  EXPECT_NE(out.find("syslog=1000\nend=1"), std::string::npos) << out;
  auto count = [&] {
    size_t logged = daemon_.CountLines({"event=syslog ", "service=flood "});
    size_t suppressed = 0;
    for (const auto& l : daemon_.Lines()) {
      if (l.rfind("event=syslog-suppressed ", 0) == 0) suppressed += std::stoul(LogField(l, "lines"));
    }
    return std::make_pair(logged, suppressed);
  };
  // Counts are reported at most every 5 s: wait for the total.
  auto deadline = std::chrono::steady_clock::now() + milliseconds(15000);
  while (std::chrono::steady_clock::now() < deadline) {
    auto [logged, suppressed] = count();
    if (logged + suppressed >= kSent) break;
    daemon_.WaitForCount({"event=syslog-suppressed"}, daemon_.CountLines({"event=syslog-suppressed"}) + 1,
                         milliseconds(500));
  }
  auto [logged, suppressed] = count();
  EXPECT_EQ(logged + suppressed, static_cast<size_t>(kSent)) << daemon_.LogText();
  // The burst, and what the bucket refilled (10 a second) while it ran.
  EXPECT_GE(logged, 100u);
  EXPECT_LT(logged, 300u) << daemon_.LogText();
}

// Someone outside the jail sends to the socket file: not a process of the
// service, so nothing of it is logged as the service's.
TEST_F(SyslogTest, AStrangersMessageIsDroppedAndCounted) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(Service("probe", port, ", \"syslog\", \"1\", \"hello\""))))
      << daemon_.LogText();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string path = jail_.path() + "/dev/log";
  ASSERT_LT(path.size(), sizeof sa.sun_path);
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  std::string forged = "<11>Dec  5 07:00:00 probe[1]: forged by a stranger";
  ASSERT_EQ(sendto(fd, forged.data(), forged.size(), 0, reinterpret_cast<sockaddr*>(&sa),
                   sizeof sa),
            static_cast<ssize_t>(forged.size()));
  close(fd);
  EXPECT_TRUE(daemon_.WaitForLine({"event=syslog-dropped", "count=1"}, milliseconds(10000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"forged by a stranger"}), 0u) << daemon_.LogText();
}

// The jail's /dev must be root's alone: a service that could write there
// could swap the socket's path. An invalid table starts nothing.
TEST_F(SyslogTest, AWritableDevIsRefusedWithTheWayOut) {
  ASSERT_EQ(chmod((jail_.path() + "/dev").c_str(), 0777), 0);
  uint16_t port = FreeTcpPort();
  EXPECT_FALSE(daemon_.StartAndWait(
      WriteConfig(Service("probe", port, ", \"syslog\", \"1\", \"hello\""))));
  EXPECT_NE(daemon_.LogText().find("syslog = true needs the directory " + jail_.path() +
                                   "/dev, owned by root and writable by root only"),
            std::string::npos)
      << daemon_.LogText();
}

// `hinetd check` warns about a chrooted program that calls syslog(3)
// without a relay (shadow's chage does; only read, never run), and not
// once the relay is on.
TEST_F(SyslogTest, CheckWarnsAboutAProgramThatLogsWithoutARelay) {
  std::string program;
  for (const char* p : {"/usr/bin/chage", "/usr/bin/chsh", "/usr/bin/login"}) {
    if (access(p, R_OK) == 0) {
      program = p;
      break;
    }
  }
  if (program.empty()) GTEST_SKIP() << "none of chage, chsh, login is installed";
#if defined(__x86_64__)
  const std::string interpreter = "/lib64/ld-linux-x86-64.so.2";
#else
  GTEST_SKIP() << "the test knows the dynamic loader's path on x86_64 only";
#endif
  // hinetd checks that a dynamic program's interpreter is in the jail.
  ASSERT_TRUE(jail_.Install(interpreter, interpreter));
  ASSERT_TRUE(jail_.Install(program, "/prog"));
  auto config = [&](const std::string& extra) {
    return WriteConfig("[[service]]\nname = \"logger\"\nlisten = \"127.0.0.1:" +
                       std::to_string(FreeTcpPort()) + "\"\nexec = [\"/prog\"]\nuser = "
                       "\"nobody\"\nchroot = \"" + jail_.path() +
                       "\"\nsandbox = \"probe-syslog\"\n" + extra);
  };
  std::string want = "service \"logger\": its program /prog calls syslog(3), and its chroot has "
                     "no /dev/log: what it logs is lost; set syslog = true";
  CommandResult without = RunCommand({BinDir() + "/hinetd", "check", "-c", config("")},
                                     milliseconds(10000));
  EXPECT_NE(without.out.find(want), std::string::npos) << without.out << without.err;
  CommandResult with = RunCommand(
      {BinDir() + "/hinetd", "check", "-c", config("syslog = true\n")}, milliseconds(10000));
  EXPECT_EQ(with.out.find("calls syslog(3)"), std::string::npos) << with.out;
  EXPECT_NE(with.out.find("syslog    relay at " + jail_.path() + "/dev/log"), std::string::npos)
      << with.out << with.err;
}

// A reload that drops the key removes the socket file; one that sets it
// again binds a fresh one, which serves.
TEST_F(SyslogTest, AReloadRemovesAndRestoresTheSocket) {
  uint16_t port = FreeTcpPort();
  std::string with = Service("probe", port, ", \"syslog\", \"1\", \"after reload\"");
  std::string without = Service("probe", port, ", \"syslog\", \"1\", \"after reload\"", "");
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(with))) << daemon_.LogText();
  std::string log = jail_.path() + "/dev/log";
  struct stat st {};
  ASSERT_EQ(lstat(log.c_str(), &st), 0);
  WriteConfig(without);
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=2"}, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_NE(lstat(log.c_str(), &st), 0);
  WriteConfig(with);
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=3"}, milliseconds(5000)))
      << daemon_.LogText();
  ASSERT_EQ(lstat(log.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  Exchange("127.0.0.1", port, "");
  EXPECT_TRUE(daemon_.WaitForLine({"event=syslog ", "msg=\"after reload 0\""}, milliseconds(5000)))
      << daemon_.LogText();
}

// Without a relay, syslog(3) in the jail fails in silence and the program
// goes on: the control for the tests above.
TEST_F(SyslogTest, WithoutTheKeyThereIsNoSocket) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(Service("probe", port, ", \"syslog\", \"1\", \"lost\"", ""))))
      << daemon_.LogText();
  struct stat st {};
  EXPECT_NE(lstat((jail_.path() + "/dev/log").c_str(), &st), 0);
  std::string out = Exchange("127.0.0.1", port, "");
  EXPECT_NE(out.find("syslog=1\nend=1"), std::string::npos) << out;
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=probe ", "status=exit:0"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=syslog"}), 0u) << daemon_.LogText();
}

}  // namespace
}  // namespace hinetd::testing
