// The real hinetd binary on loopback: start-up, privileges, a wrapped
// program, seccomp kills, setup failures, reload, stop.
#include <arpa/inet.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/proc_info.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

using DaemonTest = E2eTest;

// Holds a listening socket on the port for as long as it lives: while it
// does, any bind of that port by hinetd fails (EADDRINUSE, whatever options
// hinetd sets), so a hinetd that bound it at any moment of its run could not
// exit as a clean config error or a clean check.
class HeldPort {
 public:
  explicit HeldPort(uint16_t port) : fd_(ListenTcp("127.0.0.1", port)) {}
  ~HeldPort() {
    if (fd_ >= 0) close(fd_);
  }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
  [[nodiscard]] bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

TEST_F(DaemonTest, BadConfigExits78WithPositionAndBindsNothing) {
  uint16_t good_port = FreeTcpPort();
  uint16_t bad_port = FreeTcpPort();
  std::string path = WriteConfig(ProbeService("good", good_port, "") +
                                 "[[service]]\nname = \"bad\"\nlisten = \"127.0.0.1:" +
                                 std::to_string(bad_port) + "\"\n"
                                 "internal = \"echo\"\nlisen = 3\n");
  // Both ports stay held while hinetd runs: binding either (before or after
  // finding the error) would fail and end the run with 71, not 78.
  HeldPort good(good_port);
  HeldPort bad(bad_port);
  ASSERT_TRUE(good.ok() && bad.ok());
  CommandResult r = RunCommand({BinDir() + "/hinetd", "-f", "-c", path}, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 78) << r.err;
  EXPECT_EQ(r.err,
            "hinetd: " + path + ":16:1: service \"bad\": unknown key 'lisen' (did you mean "
                                "'listen'?)\n");
  // Nothing started: no listen, start or listener line was logged.
  EXPECT_EQ(r.err.find("event=listen"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("event=start"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("EADDRINUSE"), std::string::npos) << r.err;
}

TEST_F(DaemonTest, CheckValidatesAndPrintsThePlan) {
  uint16_t port = FreeTcpPort();
  std::string path = WriteConfig(ProbeService("probe", port, ""));
  {
    // check binds nothing: with the port held it still succeeds.
    HeldPort held(port);
    ASSERT_TRUE(held.ok());
    CommandResult ok = RunCommand({BinDir() + "/hinetd", "check", "-c", path}, milliseconds(10000));
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_EQ(ok.err, "");
    EXPECT_NE(ok.out.find("service \"probe\""), std::string::npos) << ok.out;
    // The listener's program it found, as start would.
    EXPECT_NE(ok.out.find("\nlistener  runs " + BinDir() + "/hinetd-listener as hinetd (uid "),
              std::string::npos)
        << ok.out;
    EXPECT_NE(ok.out.find("user      nobody (uid 65534)"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("chroot    " + jail_.path()), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("sandbox   probe:"), std::string::npos) << ok.out;
    size_t of_note = ok.out.find("allows, of note: ");
    ASSERT_NE(of_note, std::string::npos) << ok.out;
    std::string notable = ok.out.substr(of_note, ok.out.find('\n', of_note) - of_note);
    EXPECT_NE(notable.find(" execve,"), std::string::npos) << notable;
    EXPECT_NE(ok.out.find("\nok\n"), std::string::npos);
    // In a chroot, as nobody, with a policy: none of the weak-sandbox warnings
    // (the probe's policy may draw one about what it allows).
    for (const char* weak : {"has no chroot", "runs as root", "no seccomp policy"}) {
      EXPECT_EQ(ok.out.find(weak), std::string::npos) << weak << "\n" << ok.out;
    }
  }

  std::string bad = WriteConfig(ProbeService("probe", port, "", "group = \"no-such-group\"\n"));
  CommandResult err = RunCommand({BinDir() + "/hinetd", "check", "-c", bad}, milliseconds(10000));
  EXPECT_EQ(err.exit_code, 78);
  EXPECT_NE(err.err.find("hinetd.toml:11:9: service \"probe\": group: no group 'no-such-group'"),
            std::string::npos)
      << err.err;
}

TEST_F(DaemonTest, CheckWarnsAboutWeakSandboxes) {
  uint16_t port = FreeTcpPort();
  // Everything a weak sandbox can be: no chroot, uid 0, and no policy of its own.
  std::string path = WriteConfig(
      "[[service]]\nname = \"weak\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
      "\"\nexec = [\"/bin/true\"]\nuser = \"root\"\nunconfined = true\nsandbox = \"none\"\n");
  CommandResult r = RunCommand({BinDir() + "/hinetd", "check", "-c", path}, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\n  user      root (uid 0), group root (gid 0), supplementary groups: "
                       "none\n  chroot    none: the child sees the whole file system\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\n  sandbox   none: no policy of its own (only the monitor's deny list: "
                       "mount, ptrace, bpf, ... fail with EPERM)\n"),
            std::string::npos)
      << r.out;
  // The warnings, exactly, and nothing after them but "ok".
  std::string warnings =
      "\nwarning: service \"weak\" has no seccomp policy of its own (sandbox = \"none\"): only "
      "the monitor's deny list applies\n"
      "warning: service \"weak\" has no chroot: the child sees the whole file system\n"
      "warning: service \"weak\" runs as root\n"
      "ok\n";
  ASSERT_GE(r.out.size(), warnings.size()) << r.out;
  EXPECT_EQ(r.out.substr(r.out.size() - warnings.size()), warnings) << r.out;
  size_t count = 0;
  for (size_t pos = 0; (pos = r.out.find("warning:", pos)) != std::string::npos; ++pos) ++count;
  EXPECT_EQ(count, 3u) << r.out;
}

// A program that changes its own identity: without drops_privileges check
// says which key it needs; with it, the plan says what the child keeps and
// in which namespace.
TEST_F(DaemonTest, CheckShowsDropsPrivilegesAndSuggestsIt) {
  std::string program;
  for (const char* p : {"/usr/sbin/in.tftpd", "/usr/bin/su"}) {
    if (access(p, X_OK) == 0) program = p;
  }
  if (program.empty()) GTEST_SKIP() << "neither in.tftpd nor su is installed";
  auto service = [&](const std::string& name, const std::string& extra) {
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" +
           std::to_string(FreeTcpPort()) + "\"\nexec = [\"" + program +
           "\"]\nuser = \"nobody\"\n" + extra;
  };
  std::string path =
      WriteConfig(service("off", "") + service("on", "drops_privileges = true\n"));
  CommandResult r = RunCommand({BinDir() + "/hinetd", "check", "-c", path}, milliseconds(10000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("warning: service \"off\": its program " + program + " may call "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("set drops_privileges = true and include the \"identity\" policy"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("warning: service \"on\": its program"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n  identity  drops privileges itself: keeps CAP_SETUID, CAP_SETGID, "
                       "CAP_SYS_CHROOT in a user namespace that maps only uid 65534, gid "
                       "65534 (it cannot become anyone else)\n"),
            std::string::npos)
      << r.out;
}

// `default` allows fork and kill for every call: in a pid namespace (the
// default) that reaches only the service's own processes, so check lists
// them without a warning on every such service; without one, kill reaches
// every process of the uid, and check warns.
TEST_F(DaemonTest, CheckWarnsAboutDefaultOnlyWhereItsSignalsReachOutside) {
  auto service = [](const std::string& name, uint16_t port, const std::string& extra) {
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" +
           std::to_string(port) + "\"\nexec = [\"/bin/true\"]\nuser = \"nobody\"\n" + extra;
  };
  std::string path = WriteConfig(service("inns", FreeTcpPort(), "") +
                                 service("nons", FreeTcpPort(), "namespaces = []\n"));
  CommandResult r = RunCommand({BinDir() + "/hinetd", "check", "-c", path}, milliseconds(10000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("allows, of note: execve, fork, kill, tgkill, vfork"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("service \"inns\": policy \"default\" allows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("warning: service \"nons\": policy \"default\" allows kill, tgkill\n"),
            std::string::npos)
      << r.out;
}

// What check says of sandbox = "none" holds: the child has no policy of its
// own, yet runs under the monitor's deny list. PTRACE_TRACEME needs no
// privilege, so only that filter can make it fail.
TEST_F(DaemonTest, SandboxNoneStillRunsUnderTheMonitorsDenyList) {
  uint16_t port = FreeTcpPort();
  std::string service = ProbeService("bare", port, ", \"syscall\", \"ptrace\"",
                                     "unconfined = true\n");
  const std::string probe_policy = "sandbox = \"probe\"";
  size_t at = service.find(probe_policy);
  ASSERT_NE(at, std::string::npos) << service;
  service.replace(at, probe_policy.size(), "sandbox = \"none\"");
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(service))) << daemon_.LogText();
  std::string out = Exchange("127.0.0.1", port, "");
  EXPECT_NE(out.find("\nseccomp=2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("after=ptrace rc=-1 errno=1\n"), std::string::npos) << out;
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=bare", "status=exit:0"},
                                  milliseconds(5000)))
      << daemon_.LogText();
}

TEST_F(DaemonTest, UsageErrorsExit64) {
  CommandResult r = RunCommand({BinDir() + "/hinetd", "--bogus"}, milliseconds(5000));
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_EQ(r.err.rfind("hinetd: unknown argument '--bogus'\nusage: hinetd ", 0), 0u) << r.err;
  EXPECT_EQ(r.out, "");
  CommandResult no_tty =
      RunCommand({BinDir() + "/hinetd", "--log", "stderr", "-c", "/nonexistent"}, milliseconds(5000));
  EXPECT_EQ(no_tty.exit_code, 64);
  EXPECT_NE(no_tty.err.find("--log stderr needs -f"), std::string::npos) << no_tty.err;
  CommandResult no_value = RunCommand({BinDir() + "/hinetd", "check", "-c"}, milliseconds(5000));
  EXPECT_EQ(no_value.exit_code, 64);
  EXPECT_EQ(no_value.err.rfind("hinetd: -c needs a value\n", 0), 0u) << no_value.err;
  // -f belongs to serving; check has no foreground.
  CommandResult check_f = RunCommand({BinDir() + "/hinetd", "check", "-f"}, milliseconds(5000));
  EXPECT_EQ(check_f.exit_code, 64);
  EXPECT_EQ(check_f.err.rfind("hinetd: unknown argument '-f'\n", 0), 0u) << check_f.err;
}

TEST_F(DaemonTest, HelpAndVersion) {
  for (const char* flag : {"--help", "-h"}) {
    CommandResult h = RunCommand({BinDir() + "/hinetd", flag}, milliseconds(5000));
    EXPECT_EQ(h.exit_code, 0) << flag;
    EXPECT_EQ(h.err, "") << flag;
    EXPECT_EQ(h.out.rfind("usage: hinetd [-c FILE] [-f] [--log stderr|syslog]", 0), 0u) << h.out;
    for (const char* part :
         {"\n       hinetd check [-c FILE] ", "\n       hinetd --help | --version\n",
          "-c, --config FILE   services table (default /etc/hinetd/hinetd.toml)",
          "Exit: 0 ok, 64 usage, 71 system error, 78 configuration error.\n",
          "See hinetd(8), hinetd.toml(5), hinetd-sandbox(5).\n",
          "\n       hinetd import [-o OUT] [--force] [--format inetd|xinetd]\n"
          "                     [--hosts-allow F] [--hosts-deny F] FILE\n"}) {
      EXPECT_NE(h.out.find(part), std::string::npos) << part << "\n" << h.out;
    }
  }
  // --help wins over a missing file: nothing is read.
  CommandResult h = RunCommand({BinDir() + "/hinetd", "-c", "/nonexistent", "--help"},
                               milliseconds(5000));
  EXPECT_EQ(h.exit_code, 0);
  for (const char* flag : {"--version", "-V"}) {
    CommandResult v = RunCommand({BinDir() + "/hinetd", flag}, milliseconds(5000));
    EXPECT_EQ(v.exit_code, 0) << flag;
    EXPECT_EQ(v.err, "") << flag;
    // One line: "hinetd MAJOR.MINOR.PATCH".
    EXPECT_TRUE(std::regex_match(v.out, std::regex("hinetd [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << v.out;
  }
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
  if (daemon_.CountLines({"cannot read the kernel's audit records"}) > 0) {
    GTEST_SKIP() << "the kernel log is not readable here, so the syscall cannot be named: "
                 << *end;
  }
  EXPECT_EQ(LogField(*end, "syscall"), "socket") << *end;
}

// A burst of kills, more than the kernel's printk rate limit lets through
// to its log (10 in 5 s): each is still named, as the monitor reads the
// audit records themselves from the audit netlink socket's read-only group.
TEST_F(DaemonTest, EverySeccompKillOfABurstIsNamed) {
  {
    int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = 1U << (AUDIT_NLGRP_READLOG - 1);
    bool joined = nl >= 0 && bind(nl, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    if (nl >= 0) close(nl);
    if (!joined) {
      GTEST_SKIP() << "the audit netlink socket's read-only group cannot be joined here (a "
                      "container?); only /dev/kmsg, which the kernel rate-limits, is left";
    }
  }
  constexpr int kKills = 30;
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      ProbeService("probe", port, ", \"syscall\", \"socket\"", "backoff = \"100ms\"\n"))))
      << daemon_.LogText();
  // Ten failures in a row pause the service for its backoff (loop
  // protection); a connection meanwhile waits in the backlog.
  for (int i = 0; i < kKills; ++i) {
    std::string out = Exchange("127.0.0.1", port, "", true, milliseconds(10000));
    ASSERT_NE(out.find("end=1"), std::string::npos) << i << ": " << out;
  }
  ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=probe", "status=seccomp"}, kKills,
                                   milliseconds(10000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=end", "service=probe", "status=seccomp", "syscall=socket"}),
            daemon_.CountLines({"event=end", "service=probe", "status=seccomp"}))
      << daemon_.LogText();
}

// Root without CAP_SYS_ADMIN, as in most containers: a service that asks
// for a namespace (by default, a PID namespace) is refused with the way
// out, and one without serves.
TEST_F(DaemonTest, WithoutCapSysAdminNamespacesAreRefusedAndNoneStillServes) {
  uint16_t port = FreeTcpPort();
  std::string setpriv = "/usr/bin/setpriv";
  if (access(setpriv.c_str(), X_OK) != 0) GTEST_SKIP() << "needs setpriv (util-linux)";
  std::vector<std::string> wrap = {setpriv, "--bounding-set", "-sys_admin"};
  daemon_.WrapIn(wrap);
  ASSERT_TRUE(daemon_.Start(WriteConfig(ProbeService("probe", port, ""))));
  auto status = daemon_.WaitExit(milliseconds(10000));
  ASSERT_TRUE(status.has_value()) << daemon_.LogText();
  EXPECT_FALSE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForLine({"event=start-failed", "probe",
                                   "need CAP_SYS_ADMIN, which hinetd does not have here",
                                   "set namespaces = []"},
                                  milliseconds(1000)))
      << daemon_.LogText();
  EXPECT_LT(ConnectTcp("127.0.0.1", port, milliseconds(500)), 0) << "something was bound";

  DaemonProcess without;
  without.WrapIn(wrap);
  ASSERT_TRUE(without.StartAndWait(
      WriteConfig(ProbeService("probe", port, "", "namespaces = []\n"))))
      << without.LogText();
  std::string out = Exchange("127.0.0.1", port, "");
  EXPECT_NE(out.find("end=1"), std::string::npos) << out << without.LogText();
  // The monitor keeps no capability it does not have: bit 21 is not set.
  auto ready = without.WaitForLine({"event=start"}, milliseconds(1000));
  ASSERT_TRUE(ready.has_value());
  std::ifstream in("/proc/" + std::to_string(without.pid()) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapBnd:", 0) == 0) {
      unsigned long long bnd = std::stoull(line.substr(7), nullptr, 16);
      EXPECT_EQ((bnd >> 21) & 1ULL, 0ULL) << line;
    }
  }
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

// By default (no stderr key): a wrapped program's complaint is in the log,
// tagged with the service and the child's pid; stderr = "null" silences it.
TEST_F(DaemonTest, StderrLinesGoToTheLogByDefault) {
  uint16_t port = FreeTcpPort();
  uint16_t quiet_port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      ProbeService("probe", port, ", \"stderr\", \"complaint from the service\"") +
      ProbeService("quiet", quiet_port, ", \"stderr\", \"complaint nobody reads\"",
                   "stderr = \"null\"\n"))))
      << daemon_.LogText();
  Exchange("127.0.0.1", quiet_port, "");
  Exchange("127.0.0.1", port, "");
  auto accept = daemon_.WaitForLine({"event=accept", "service=probe "}, milliseconds(5000));
  ASSERT_TRUE(accept.has_value()) << daemon_.LogText();
  auto line = daemon_.WaitForLine({"event=stderr", "service=probe",
                                   "pid=" + LogField(*accept, "pid") + " ",
                                   "line=\"complaint from the service\""},
                                  milliseconds(5000));
  EXPECT_TRUE(line.has_value()) << daemon_.LogText();
  // The quiet one ended before the other started; its line would be there.
  ASSERT_TRUE(daemon_.WaitForLine({"event=end", "service=quiet "}, milliseconds(5000)));
  EXPECT_EQ(daemon_.CountLines({"complaint nobody reads"}), 0u) << daemon_.LogText();
}

// The monitor unwatches a pipe before it closes it. An epoll registration
// belongs to the open file, not to the descriptor: every child that sets up
// holds a copy of the monitor's descriptors until its execve, and a pipe
// only closed meanwhile stays registered, its end reported by every
// epoll_wait (under load the monitor spun: 160 epoll_wait calls a
// connection at 16 clients). Here the copy is the test's (pidfd_getfd),
// held while a child's stderr pipe ends and the monitor closes it.
TEST_F(DaemonTest, APipeTheMonitorClosedLeavesItsEpollSetThoughACopyOfItLives) {
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(ProbeService("probe", port, ", \"sleep\", \"30\""))))
      << daemon_.LogText();
  int conn = ConnectTcp("127.0.0.1", port);
  ASSERT_GE(conn, 0);
  pid_t child = AcceptedChild("probe");
  ASSERT_GT(child, 0) << daemon_.LogText();
  ino_t pipe = FdInode(child, 2);
  ASSERT_NE(pipe, 0u);
  int monitor_fd = FdWithInode(daemon_.pid(), pipe);
  ASSERT_GE(monitor_fd, 0) << "the monitor holds no end of the child's stderr pipe";
  auto watched = [&] {
    auto inodes = EpollWatchedInodes(daemon_.pid());
    return std::find(inodes.begin(), inodes.end(), pipe) != inodes.end();
  };
  // Watched once the child has run for 100 ms (read at its reap before).
  auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  while (!watched() && std::chrono::steady_clock::now() < deadline) {
    usleep(5000);  // polling another process's state; bounded by the deadline
  }
  ASSERT_TRUE(watched()) << "the child's stderr pipe is not in the monitor's epoll set";
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, daemon_.pid(), 0));
  int copy = pidfd < 0 ? -1 : static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, monitor_fd, 0));
  if (copy < 0) {
    int e = errno;
    if (pidfd >= 0) close(pidfd);
    close(conn);
    GTEST_SKIP() << "cannot take a copy of the monitor's descriptor (pidfd_getfd: "
                 << strerror(e) << "; Linux 5.6 and ptrace access needed)";
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  auto end = daemon_.WaitForLine({"event=end", "service=probe ", "pid=" + std::to_string(child) + " "},
                                 milliseconds(5000));
  ASSERT_TRUE(end.has_value()) << daemon_.LogText();
  EXPECT_NE(FdInode(daemon_.pid(), monitor_fd), pipe) << "the monitor did not close the pipe";
  EXPECT_FALSE(watched()) << "a pipe the monitor closed is still in its epoll set";
  close(copy);
  close(pidfd);
  close(conn);
}

// A child runs under the monitor's deny list, which it inherits, and one
// program of its own: the children's layer and its service's policy merged
// (sandbox/merge.h), one seccomp(2) call instead of two. Without a policy
// (sandbox = "none") the layer alone.
// Each child's Landlock domain (made from one ruleset the monitor keeps)
// restricts nothing a program does with its files: moving a file into
// another directory and linking it back (what a domain that did not allow
// LANDLOCK_ACCESS_FS_REFER would refuse, EXDEV), with and without a PID
// namespace (a child sharing the monitor's memory, and a copy of it).
TEST_F(DaemonTest, AChildsLandlockDomainLetsItMoveAndLinkFilesAcrossDirectories) {
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  std::string services;
  std::vector<std::pair<std::string, uint16_t>> movers = {{"mover", FreeTcpPort()},
                                                          {"bare-mover", FreeTcpPort()}};
  for (const auto& [name, port] : movers) {
    std::string d = dir.path() + "/" + name;
    for (const std::string& sub : {d, d + "/a", d + "/b"}) {
      ASSERT_EQ(mkdir(sub.c_str(), 0777), 0) << sub;
      ASSERT_EQ(chmod(sub.c_str(), 0777), 0) << sub;
    }
    dir.Write(name + "/a/f", "data\n");
    ASSERT_EQ(chmod((d + "/a/f").c_str(), 0666), 0);
    services += "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" +
                std::to_string(port) + "\"\nexec = [\"/bin/sh\", \"-c\", \"mv " + d + "/a/f " + d +
                "/b/f && ln " + d + "/b/f " + d + "/a/g && echo moved\"]\nuser = \"nobody\"\n" +
                "sandbox = \"none\"\nunconfined = true\n" +
                (name == "bare-mover" ? "namespaces = []\n" : "") + "\n";
  }
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(services))) << daemon_.LogText();
  for (const auto& [name, port] : movers) {
    SCOPED_TRACE(name);
    int conn = ConnectTcp("127.0.0.1", port);
    ASSERT_GE(conn, 0);
    EXPECT_EQ(ReadAll(conn, milliseconds(10000)), "moved\n") << daemon_.LogText();
    close(conn);
    std::string d = dir.path() + "/" + name;
    struct stat st {};
    EXPECT_EQ(stat((d + "/b/f").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 2u) << "b/f and its link a/g";
    EXPECT_NE(access((d + "/a/f").c_str(), F_OK), 0) << "moved, not copied";
  }
}

TEST_F(DaemonTest, AChildInstallsTheLayerAndItsPolicyAsOneProgram) {
  std::string own = ProcStatusField(getpid(), "Seccomp_filters");
  if (own == "<missing>") GTEST_SKIP() << "no Seccomp_filters in /proc/PID/status (Linux < 5.9)";
  int inherited = std::stoi(own);
  uint16_t port = FreeTcpPort();
  uint16_t bare_port = FreeTcpPort();
  std::string bare = ProbeService("bare", bare_port, ", \"sleep\", \"30\"");
  bare.replace(bare.find("sandbox = \"probe\""), std::string("sandbox = \"probe\"").size(),
               "sandbox = \"none\"\nunconfined = true");
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(ProbeService("probe", port, ", \"sleep\", \"30\"") + bare)))
      << daemon_.LogText();
  int conn = ConnectTcp("127.0.0.1", port);
  int bare_conn = ConnectTcp("127.0.0.1", bare_port);
  ASSERT_GE(conn, 0);
  ASSERT_GE(bare_conn, 0);
  for (const char* service : {"probe", "bare"}) {
    SCOPED_TRACE(service);
    pid_t child = AcceptedChild(service);
    ASSERT_GT(child, 0) << daemon_.LogText();
    EXPECT_EQ(ProcStatusField(child, "Seccomp_filters"), std::to_string(inherited + 2));
    kill(child, SIGKILL);
  }
  close(conn);
  close(bare_conn);
}

// Whether this kernel keeps pid_max per PID namespace (Linux 6.14): only
// then may a test lower it in a namespace of its own without touching the
// host's.
bool PidMaxIsPerNamespace() {
  utsname u{};
  if (uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 14);
}

TEST_F(DaemonTest, ATimeoutNeverKillsALaterChildThatReusesThePid) {
  // A child's timeout deadline must go with the child: with pids reused
  // quickly (pid_max 400 in a PID namespace of hinetd's own), the deadline
  // of a short child long gone must not stop a new child that got its pid.
  if (!PidMaxIsPerNamespace()) {
    GTEST_SKIP() << "needs pid_max per PID namespace (Linux 6.14) to reuse pids quickly without "
                    "changing the host's pid_max";
  }
  if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "needs /usr/bin/unshare (util-linux)";
  // A /proc of the namespace's own is what makes its pid_max the
  // namespace's; unshare cannot mount one everywhere (in a chroot whose root
  // is no mount point, for one).
  auto probe = RunCommand({"/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "/bin/true"},
                          milliseconds(10000));
  if (probe.exit_code != 0) {
    GTEST_SKIP() << "unshare cannot make a PID namespace with a /proc of its own here: "
                 << probe.err;
  }
  uint16_t quick = FreeTcpPort();
  uint16_t slow = FreeTcpPort();
  // The short children's deadlines (2 s) outlast a round of pids (about
  // 100 children, under a second), and fall within the slow children's 3 s.
  std::string cfg = ProbeService("quick", quick, "", "timeout = \"2s\"\n") +
                    ProbeService("slow", slow, ", \"sleep\", \"3\"", "timeout = \"60s\"\n");
  // After a wrap the kernel hands out pids from 300 up: 100 in the cycle.
  daemon_.WrapIn({"/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "sh",
                  "-c", "echo 400 > /proc/sys/kernel/pid_max && exec \"$0\" \"$@\""});
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(cfg))) << daemon_.LogText();
  // Short children until the pids have gone round (bounded), each with a
  // deadline 2 s after its start.
  bool wrapped = false;
  int last = 0;
  for (int i = 0; i < 600 && !wrapped; ++i) {
    Exchange("127.0.0.1", quick, "");
    auto end = daemon_.WaitForCount({"event=end", "service=quick"}, static_cast<size_t>(i + 1),
                                    milliseconds(5000));
    ASSERT_TRUE(end) << daemon_.LogText();
    auto lines = daemon_.Lines();
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      if (it->rfind("event=end service=quick", 0) != 0) continue;
      int pid = std::stoi(LogField(*it, "pid"));
      wrapped = pid < last;
      last = pid;
      break;
    }
  }
  ASSERT_TRUE(wrapped) << "the pids never wrapped";
  // One more round, so that every pid of the cycle was a short child's
  // within the last few seconds.
  size_t ends = daemon_.CountLines({"event=end", "service=quick"});
  for (size_t i = 1; i <= 110; ++i) {
    Exchange("127.0.0.1", quick, "");
    ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=quick"}, ends + i, milliseconds(5000)));
  }
  // Children that run 3 s, on pids short children had a moment ago.
  std::vector<int> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(ConnectTcp("127.0.0.1", slow));
  for (int fd : clients) {
    std::string out = ReadAll(fd, milliseconds(10000));
    EXPECT_NE(out.find("end=1"), std::string::npos);
    close(fd);
  }
  EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=slow"}, 8, milliseconds(10000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=end", "service=slow", "status=exit:0"}), 8u);
  EXPECT_EQ(daemon_.CountLines({"event=end", "status=timeout"}), 0u);
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
  EXPECT_EQ(Zombies(daemon_.pid()), 0);
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
  // The child is the init of its own PID namespace, where the kernel does
  // not deliver a TERM left at its default action: hinetd sends KILL at once
  // instead, which is what TERM would have done.
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "status=signal:KILL"}, milliseconds(1000)))
      << daemon_.LogText();
  // Listening sockets are closed: new clients are refused.
  EXPECT_LT(ConnectTcp("127.0.0.1", port, milliseconds(1000)), 0);
}

// The listener's process (a vfork of the monitor) runs hinetd-listener
// from next to hinetd: here a copy of hinetd next to a "listener" whose
// interpreter does not exist, so its execve fails in the vforked child. The
// child exits 127, the monitor says so and lives on, and a SIGTERM still
// stops it cleanly.
TEST_F(DaemonTest, AListenerProgramThatCannotBeExecutedIsLoggedAndTheMonitorLivesOn) {
  std::string bin = dir_.path() + "/bin";
  ASSERT_EQ(mkdir(bin.c_str(), 0755), 0) << strerror(errno);
  std::error_code ec;
  std::filesystem::copy_file(BinDir() + "/hinetd", bin + "/hinetd", ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(chmod((bin + "/hinetd").c_str(), 0755), 0);
  std::string listener = dir_.Write("bin/hinetd-listener", "#!/nonexistent-hinetd-test/sh\n");
  ASSERT_EQ(chmod(listener.c_str(), 0755), 0);
  uint16_t port = FreeTcpPort();
  // The wrapper gets the usual argv (BinDir()/hinetd -f -c ...) and runs the
  // copy with the rest, in its own place (exec: the pid stays hinetd's).
  daemon_.WrapIn({"/bin/sh", "-c", "shift; exec " + bin + "/hinetd \"$@\"", "sh"});
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(ProbeService("probe", port, ""))))
      << daemon_.LogText();
  auto exit = daemon_.WaitForLine({"event=listener-exit", "status=exit:127",
                                   "error=\"could not execute " + listener + "\""},
                                  milliseconds(10000));
  ASSERT_TRUE(exit.has_value()) << daemon_.LogText();
  EXPECT_TRUE(Alive(daemon_.pid()));
  EXPECT_EQ(daemon_.CountLines({"event=listener-ready"}), 0u) << daemon_.LogText();
  daemon_.Signal(SIGTERM);
  auto status = daemon_.WaitExit(milliseconds(15000));
  ASSERT_TRUE(status.has_value()) << daemon_.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status << daemon_.LogText();
}

// True once /proc/<pid>/status shows `sig` among the ignored signals.
bool WaitIgnores(pid_t pid, int sig, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("SigIgn:", 0) != 0) continue;
      unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
      if ((mask >> (sig - 1)) & 1) return true;
    }
    usleep(5000);  // polling another process's state; bounded by the deadline
  }
  return false;
}

TEST_F(DaemonTest, StopKillsAChildThatIgnoresSigtermAfterTheGrace) {
  // The grace period is fixed at 5 s (there is no option for it), so this
  // test takes that long.
  constexpr auto kGrace = milliseconds(5000);
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(ProbeService("stubborn", port, ", \"ignore-term\", \"60\""))))
      << daemon_.LogText();
  int fd = ConnectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  pid_t child = AcceptedChild("stubborn");
  ASSERT_GT(child, 0) << daemon_.LogText();
  ASSERT_TRUE(WaitIgnores(child, SIGTERM, milliseconds(5000))) << "the probe never ignored TERM";
  auto stopped_at = std::chrono::steady_clock::now();
  daemon_.Signal(SIGTERM);
  auto status = daemon_.WaitExit(kGrace + milliseconds(10000));
  auto took = std::chrono::steady_clock::now() - stopped_at;
  close(fd);
  ASSERT_TRUE(status.has_value()) << daemon_.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status << daemon_.LogText();
  EXPECT_FALSE(Alive(child));
  EXPECT_TRUE(daemon_.WaitForLine({"event=stop", "children=1"}, milliseconds(1000)))
      << daemon_.LogText();
  auto end = daemon_.WaitForLine({"event=end", "service=stubborn", "pid=" + std::to_string(child) + " "},
                                 milliseconds(1000));
  ASSERT_TRUE(end.has_value()) << daemon_.LogText();
  EXPECT_EQ(LogField(*end, "status"), "signal:KILL") << *end;
  // TERM did nothing; KILL came only when the grace was over.
  EXPECT_GE(std::chrono::duration_cast<milliseconds>(took).count(), kGrace.count() - 100);
  EXPECT_TRUE(daemon_.WaitForLine({"event=stop", "status=done"}, milliseconds(1000)))
      << daemon_.LogText();
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
