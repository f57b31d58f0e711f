// The real hinetd binary on loopback: start-up, privileges, a wrapped
// program, seccomp kills, setup failures, reload, stop.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

// Children of `parent` in state Z (zombies), from /proc.
int CountZombies(pid_t parent) {
  int zombies = 0;
  DIR* d = opendir("/proc");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    std::getline(in, stat);
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    if (ppid == parent && state == 'Z') ++zombies;
  }
  closedir(d);
  return zombies;
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

using DaemonTest = E2eTest;

TEST_F(DaemonTest, BadConfigExits78WithPositionAndBindsNothing) {
  uint16_t port = FreeTcpPort();
  std::string path = WriteConfig(ProbeService("good", port, "") +
                                 "[[service]]\nname = \"bad\"\nlisten = \"127.0.0.1:1\"\n"
                                 "internal = \"echo\"\nlisen = 3\n");
  CommandResult r = RunCommand({BinDir() + "/hinetd", "-f", "-c", path}, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 78);
  EXPECT_NE(r.err.find(path + ":16:1: service \"bad\": unknown key 'lisen' (did you mean 'listen'?)"),
            std::string::npos)
      << r.err;
  // Nothing was bound: the good service's port is still free.
  EXPECT_LT(ConnectTcp("127.0.0.1", port, milliseconds(1000)), 0);
}

TEST_F(DaemonTest, CheckValidatesAndPrintsThePlan) {
  uint16_t port = FreeTcpPort();
  std::string path = WriteConfig(ProbeService("probe", port, ""));
  CommandResult ok = RunCommand({BinDir() + "/hinetd", "check", "-c", path}, milliseconds(10000));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("service \"probe\""), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("user      nobody (uid 65534)"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("chroot    " + jail_.path()), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("sandbox   probe:"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("allows, of note: execve"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("\nok\n"), std::string::npos);
  // check binds nothing either.
  EXPECT_LT(ConnectTcp("127.0.0.1", port, milliseconds(1000)), 0);

  std::string bad = WriteConfig(ProbeService("probe", port, "", "group = \"no-such-group\"\n"));
  CommandResult err = RunCommand({BinDir() + "/hinetd", "check", "-c", bad}, milliseconds(10000));
  EXPECT_EQ(err.exit_code, 78);
  EXPECT_NE(err.err.find("hinetd.toml:11:9: service \"probe\": group: no group 'no-such-group'"),
            std::string::npos)
      << err.err;
}

TEST_F(DaemonTest, UsageErrorsExit64) {
  CommandResult r = RunCommand({BinDir() + "/hinetd", "--bogus"}, milliseconds(5000));
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_NE(r.err.find("unknown argument '--bogus'"), std::string::npos) << r.err;
  CommandResult no_tty =
      RunCommand({BinDir() + "/hinetd", "--log", "stderr", "-c", "/nonexistent"}, milliseconds(5000));
  EXPECT_EQ(no_tty.exit_code, 64);
  EXPECT_NE(no_tty.err.find("--log stderr needs -f"), std::string::npos) << no_tty.err;
  CommandResult v = RunCommand({BinDir() + "/hinetd", "--version"}, milliseconds(5000));
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("hinetd ", 0), 0u);
}

TEST_F(DaemonTest, WrappedProgramGetsTheConnectionAndTheUcspiEnvironment) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(ProbeService("probe", port, ", \"echo\"", "env = { GREETING = \"hi\" }\n"))))
      << daemon_.LogText();
  int fd = ConnectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  WriteAll(fd, "ping through the sandbox\n");
  shutdown(fd, SHUT_WR);
  std::string out = ReadAll(fd);
  sockaddr_in local{};
  socklen_t len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  close(fd);
  EXPECT_NE(out.find("env=GREETING=hi\nenv=PROTO=TCP\nenv=TCPREMOTEIP=127.0.0.1\n"
                     "env=TCPREMOTEPORT=" + std::to_string(ntohs(local.sin_port)) +
                     "\nenv=TCPLOCALIP=127.0.0.1\nenv=TCPLOCALPORT=" + std::to_string(port) + "\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("uid=65534,65534,65534"), std::string::npos);
  EXPECT_NE(out.find("end=1\nping through the sandbox\n"), std::string::npos) << out;
  auto accept = daemon_.WaitForLine({"event=accept", "service=probe"}, milliseconds(5000));
  ASSERT_TRUE(accept.has_value());
  EXPECT_EQ(LogField(*accept, "peer"), "127.0.0.1:" + std::to_string(ntohs(local.sin_port)));
  std::string pid = LogField(*accept, "pid");
  auto end = daemon_.WaitForLine({"event=end", "service=probe", "pid=" + pid + " ", "status=exit:0",
                                  "duration="},
                                 milliseconds(5000));
  EXPECT_TRUE(end.has_value()) << daemon_.LogText();
}

TEST_F(DaemonTest, SeccompKillIsLoggedWithTheSyscall) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(ProbeService("probe", port, ", \"syscall\", \"socket\""))))
      << daemon_.LogText();
  std::string out = Exchange("127.0.0.1", port, "");
  EXPECT_NE(out.find("end=1"), std::string::npos);
  EXPECT_EQ(out.find("after=socket"), std::string::npos) << "socket() ran";
  auto end = daemon_.WaitForLine({"event=end", "service=probe", "status=seccomp"},
                                 milliseconds(5000));
  ASSERT_TRUE(end.has_value()) << daemon_.LogText();
  if (daemon_.CountLines({"cannot read /dev/kmsg"}) > 0) {
    GTEST_SKIP() << "the kernel log is not readable here, so the syscall cannot be named: "
                 << *end;
  }
  EXPECT_EQ(LogField(*end, "syscall"), "socket") << *end;
}

TEST_F(DaemonTest, SetupFailureIsLoggedAndTheDaemonKeepsServing) {
  uint16_t probe_port = FreeTcpPort();
  uint16_t echo_port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      ProbeService("probe", probe_port, "") +
      InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(echo_port) + "\""))))
      << daemon_.LogText();
  // The jail disappears after the configuration was loaded.
  std::string moved = jail_.path() + ".moved";
  ASSERT_EQ(rename(jail_.path().c_str(), moved.c_str()), 0);
  std::string out = Exchange("127.0.0.1", probe_port, "");
  ASSERT_EQ(rename(moved.c_str(), jail_.path().c_str()), 0);
  EXPECT_EQ(out, "");
  auto failed = daemon_.WaitForLine({"event=setup-failed", "service=probe", "step=chroot",
                                     "errno=ENOENT"},
                                    milliseconds(5000));
  EXPECT_TRUE(failed.has_value()) << daemon_.LogText();
  // The daemon is unaffected: other services and the same one serve again.
  EXPECT_EQ(Exchange("127.0.0.1", echo_port, "still here\n"), "still here\n");
  EXPECT_NE(Exchange("127.0.0.1", probe_port, "").find("end=1"), std::string::npos);
  EXPECT_TRUE(Alive(daemon_.pid()));
}

TEST_F(DaemonTest, StderrLinesGoToTheLog) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      ProbeService("probe", port, ", \"stderr\", \"complaint from the service\"",
                   "stderr = \"log\"\n"))))
      << daemon_.LogText();
  Exchange("127.0.0.1", port, "");
  auto line = daemon_.WaitForLine({"event=stderr", "service=probe",
                                   "line=\"complaint from the service\""},
                                  milliseconds(5000));
  EXPECT_TRUE(line.has_value()) << daemon_.LogText();
}

TEST_F(DaemonTest, ChildrenAreReapedWithoutZombies) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(ProbeService("probe", port, ", \"exit\", \"3\""))))
      << daemon_.LogText();
  constexpr int kConnections = 20;
  for (int i = 0; i < kConnections; ++i) Exchange("127.0.0.1", port, "");
  ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=probe", "status=exit:3"}, kConnections,
                                   milliseconds(10000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=end", "service=probe", "status=exit:3"}),
            static_cast<size_t>(kConnections));
  EXPECT_EQ(CountZombies(daemon_.pid()), 0);
}

TEST_F(DaemonTest, MaxChildrenHoldsConnectionsInTheBacklog) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(ProbeService("probe", port, ", \"sleep\", \"1\""), "max_children = 1\n")))
      << daemon_.LogText();
  int a = ConnectTcp("127.0.0.1", port);
  auto first = daemon_.WaitForLine({"event=accept"}, milliseconds(5000));
  ASSERT_TRUE(first.has_value());
  // The second connection is completed by the kernel but not accepted while
  // the first child runs; it is served (not refused) when that child ends.
  int b = ConnectTcp("127.0.0.1", port);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::string out_b = ReadAll(b, milliseconds(10000));
  std::string out_a = ReadAll(a, milliseconds(10000));
  close(a);
  close(b);
  // EOF comes before the daemon reaps; wait for both end lines.
  ASSERT_TRUE(daemon_.WaitForCount({"event=end"}, 2, milliseconds(5000))) << daemon_.LogText();
  EXPECT_NE(out_a.find("end=1"), std::string::npos);
  EXPECT_NE(out_b.find("end=1"), std::string::npos);
  // Order in the log: accept, end, accept, end.
  std::vector<std::string> events;
  for (const auto& l : daemon_.Lines()) {
    if (l.rfind("event=accept", 0) == 0 || l.rfind("event=end", 0) == 0) events.push_back(l.substr(6, 5));
  }
  ASSERT_EQ(events.size(), 4u) << daemon_.LogText();
  EXPECT_EQ(events, (std::vector<std::string>{"accep", "end s", "accep", "end s"}));
}

TEST_F(DaemonTest, SigtermStopsChildrenAndExitsZero) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(ProbeService("probe", port, ", \"sleep\", \"60\""))))
      << daemon_.LogText();
  int fd = ConnectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  auto accept = daemon_.WaitForLine({"event=accept"}, milliseconds(5000));
  ASSERT_TRUE(accept.has_value());
  pid_t child = std::stoi(LogField(*accept, "pid"));
  ASSERT_TRUE(Alive(child));
  daemon_.Signal(SIGTERM);
  auto status = daemon_.WaitExit(milliseconds(15000));
  close(fd);
  ASSERT_TRUE(status.has_value()) << daemon_.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_FALSE(Alive(child));
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "status=signal:TERM"}, milliseconds(1000)))
      << daemon_.LogText();
  // Listening sockets are closed: new clients are refused.
  EXPECT_LT(ConnectTcp("127.0.0.1", port, milliseconds(1000)), 0);
}

TEST_F(DaemonTest, ReloadAddsServicesAndAnInvalidFileKeepsTheOld) {
  uint16_t a = FreeTcpPort();
  uint16_t b = FreeTcpPort();
  std::string echo_a = InternalService("a", "echo", "\"127.0.0.1:" + std::to_string(a) + "\"");
  std::string path = WriteConfig(echo_a);
  ASSERT_TRUE(daemon_.StartAndWait(path)) << daemon_.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", a, "a\n"), "a\n");

  // An invalid file: logged, nothing changes.
  WriteConfig(echo_a + "[[service]]\nname = \"b\"\n");
  daemon_.Signal(SIGHUP);
  auto failed = daemon_.WaitForLine({"event=reload-failed", "listen: required"}, milliseconds(5000));
  EXPECT_TRUE(failed.has_value()) << daemon_.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", a, "still a\n"), "still a\n");

  // A valid one: the new service answers, the old one kept its socket.
  WriteConfig(echo_a + InternalService("b", "daytime", "\"127.0.0.1:" + std::to_string(b) + "\""));
  daemon_.Signal(SIGHUP);
  EXPECT_TRUE(daemon_.WaitForLine({"event=reload", "generation=2", "services=2"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", a, "a again\n"), "a again\n");
  EXPECT_EQ(Exchange("127.0.0.1", b, "").size(), 26u);

  // Removing a service closes its socket.
  WriteConfig(InternalService("b", "daytime", "\"127.0.0.1:" + std::to_string(b) + "\""));
  daemon_.Signal(SIGHUP);
  EXPECT_TRUE(daemon_.WaitForLine({"event=reload", "generation=3"}, milliseconds(5000)));
  EXPECT_LT(ConnectTcp("127.0.0.1", a, milliseconds(1000)), 0);
}

TEST_F(DaemonTest, Sigusr1LogsAStatusLinePerService) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(InternalService("e", "echo", "\"127.0.0.1:" + std::to_string(port) + "\""))));
  EXPECT_EQ(Exchange("127.0.0.1", port, "x"), "x");
  ASSERT_TRUE(daemon_.WaitForLine({"event=end"}, milliseconds(5000)));
  daemon_.Signal(SIGUSR1);
  auto line = daemon_.WaitForLine({"event=status", "service=e"}, milliseconds(5000));
  ASSERT_TRUE(line.has_value()) << daemon_.LogText();
  EXPECT_EQ(LogField(*line, "accepted"), "1");
  EXPECT_EQ(LogField(*line, "active"), "0");
}

}  // namespace
}  // namespace hinetd::testing
