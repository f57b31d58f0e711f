// Privilege separation through the real daemon: what each process holds
// (filters counted; the table's TCP sockets in the listener, not in the
// monitor), a listener killed under load, twenty reloads under load,
// reloads that add, change and remove, a privileged udp nowait port, and
// stopping by a signal to either process or to their process group.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "common/proc_info.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool Gone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return true;
  size_t close = stat.rfind(')');
  return close != std::string::npos && stat[close + 2] == 'Z';
}

// Clients that connect over and over until stopped, counting what they got.
class ClientLoop {
 public:
  ClientLoop(uint16_t port) : thread_([this, port] {
      while (!stop_) {
        // A generous timeout: a connection waiting in the backlog during a
        // listener restart must not count as failed.
        std::string got = Exchange("127.0.0.1", port, "ping\n", true, milliseconds(10000));
        if (got == "ping\n") {
          ++ok_;
        } else {
          ++failed_;
          (got == "<connect failed>" ? refused_ : unserved_)++;
        }
      }
    }) {}
  ~ClientLoop() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  // Of the failed: no connection at all, and connected but closed unanswered.
  int refused() const { return refused_; }
  int unserved() const { return unserved_; }
  // Waits until `n` more exchanges succeeded (bounded).
  bool WaitForMore(int n, milliseconds timeout) {
    int target = ok_ + n;
    auto deadline = Clock::now() + timeout;
    while (ok_ < target && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));  // polling a counter; bounded
    }
    return ok_ >= target;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  std::atomic<int> refused_{0};
  std::atomic<int> unserved_{0};
  std::thread thread_;
};

class PrivsepTest : public E2eTest {
 protected:
  std::string Echo(uint16_t port) {
    return InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(port) + "\"");
  }
  void ExpectSignalStopsEverything(bool to_listener, int sig);
  void ExpectGroupSignalStopsEverything(int sig);
};

// `sig` ignored in this process while it lives, and so in the hinetd it
// starts: the worst case, as a shell without job control starts a
// background process with SIGINT ignored. hinetd must restore the default.
class IgnoredDisposition {
 public:
  explicit IgnoredDisposition(int sig) : sig_(sig) {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(sig_, &ign, &saved_);
  }
  ~IgnoredDisposition() { sigaction(sig_, &saved_, nullptr); }
  IgnoredDisposition(const IgnoredDisposition&) = delete;
  IgnoredDisposition& operator=(const IgnoredDisposition&) = delete;

 private:
  int sig_;
  struct sigaction saved_ {};
};

// The mappings of `pid` backed by a file, by path, with the lowest address
// each starts at.
std::map<std::string, uintptr_t> FileMappings(pid_t pid) {
  std::map<std::string, uintptr_t> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  for (std::string line; std::getline(in, line);) {
    size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    uintptr_t start = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    auto [it, added] = out.emplace(line.substr(slash), start);
    if (!added) it->second = std::min(it->second, start);
  }
  return out;
}

std::string ExePath(pid_t pid) {
  char buf[4096] = {};
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// The process that faces the network runs a program of its own: none of the
// monitor's code or data is mapped in it (no toml++, no libseccomp, not the
// hinetd executable), and its code is at an address of its own, drawn again
// by every listener, so that what leaks from one tells nothing of the
// monitor's layout (the monitor's children share it until they execute).
TEST_F(PrivsepTest, TheListenerRunsAProgramOfItsOwnAtAnAddressOfItsOwn) {
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(Echo(FreeTcpPort())))) << daemon_.LogText();
  pid_t monitor = daemon_.pid();
  pid_t first = ListenerPid();
  ASSERT_GT(first, 0) << daemon_.LogText();
  std::string monitor_exe = ExePath(monitor);
  std::string listener_exe = ExePath(first);
  ASSERT_FALSE(monitor_exe.empty());
  EXPECT_EQ(listener_exe, BinDir() + "/hinetd-listener");
  EXPECT_EQ(ProcStatusField(first, "Name"), "hinetd-listener");
  auto maps = FileMappings(first);
  auto monitor_maps = FileMappings(monitor);
  ASSERT_TRUE(maps.count(listener_exe)) << "the listener's maps name no program";
  EXPECT_EQ(maps.count(monitor_exe), 0u) << "the monitor's program is mapped in the listener";
  for (const auto& [path, start] : maps) {
    // Linked statically: no ld.so, no library. (The sanitizer build links it
    // dynamically, as static ASan is not supported.)
    if (!kSanitizerBuild) {
      EXPECT_EQ(path, listener_exe) << "mapped in the listener";
    }
    EXPECT_TRUE(path.find("toml") == std::string::npos && path.find("seccomp") == std::string::npos)
        << path << " is mapped in the listener";
  }
  uintptr_t base = maps[listener_exe];
  EXPECT_NE(base, monitor_maps[monitor_exe]);

  std::ifstream aslr("/proc/sys/kernel/randomize_va_space");
  int randomize = 0;
  aslr >> randomize;
  if (randomize == 0) GTEST_SKIP() << "address space randomization is off on this host";
  // A new listener (the first one killed) draws another address.
  ASSERT_EQ(kill(first, SIGKILL), 0);
  pid_t second = ListenerPid(2);
  ASSERT_GT(second, 0) << daemon_.LogText();
  auto second_maps = FileMappings(second);
  ASSERT_TRUE(second_maps.count(listener_exe));
  EXPECT_NE(second_maps[listener_exe], base) << "two listeners, one address";
}

// hinetd without its listener's program does not start, and says where it
// looked and what to do; nothing is left running.
TEST_F(PrivsepTest, WithoutTheListenersProgramItDoesNotStartAndSaysWhereItLooked) {
  std::string bin = dir_.path() + "/bin";
  ASSERT_EQ(mkdir(bin.c_str(), 0755), 0);
  std::string copy = bin + "/hinetd";
  {
    std::ifstream in(BinDir() + "/hinetd", std::ios::binary);
    std::ofstream out(copy, std::ios::binary);
    out << in.rdbuf();
  }
  ASSERT_EQ(chmod(copy.c_str(), 0755), 0);
  std::string config = WriteConfig(ProbeService("p", FreeTcpPort(), ""));
  CommandResult r = RunCommand({copy, "-f", "-c", config}, milliseconds(10000));
  std::string text = r.out + r.err;
  if (text.find("event=listener-ready") != std::string::npos) {
    GTEST_SKIP() << "an installed hinetd-listener answered from the libexec directory: " << text;
  }
  EXPECT_EQ(r.exit_code, 71) << text;
  EXPECT_NE(text.find("the listener's program hinetd-listener is not found (tried " + bin +
                      "/hinetd-listener "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("); build or install it next to hinetd"), std::string::npos) << text;
  EXPECT_EQ(text.find("event=listener-start"), std::string::npos) << text;
  // `check` says the same before anything is started.
  r = RunCommand({copy, "check", "-c", config}, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 71) << r.out << r.err;
  EXPECT_NE(r.err.find("hinetd: the listener's program hinetd-listener is not found (tried " +
                       bin + "/hinetd-listener "),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out.find("\nok\n"), std::string::npos) << r.out;
}

TEST_F(PrivsepTest, EachProcessHoldsExactlyItsPrivileges) {
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(Echo(FreeTcpPort())))) << daemon_.LogText();
  pid_t monitor = daemon_.pid();
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0) << daemon_.LogText();
  passwd* hinetd = getpwnam("hinetd");
  ASSERT_NE(hinetd, nullptr);
  std::string uid = std::to_string(hinetd->pw_uid);

  // The listener: the daemon user, CAP_NET_BIND_SERVICE alone, no bounding
  // set (it executes nothing).
  EXPECT_EQ(ProcStatusField(listener, "Uid"), uid + "\t" + uid + "\t" + uid + "\t" + uid);
  EXPECT_EQ(ProcStatusField(listener, "Groups"), "");
  for (const char* set : {"CapPrm", "CapEff"}) {
    EXPECT_EQ(ProcStatusField(listener, set), "0000000000000400") << set;
  }
  EXPECT_EQ(ProcStatusField(listener, "CapBnd"), "0000000000000000");
  EXPECT_EQ(ProcStatusField(listener, "CapInh"), "0000000000000000");
  EXPECT_EQ(ProcStatusField(listener, "CapAmb"), "0000000000000000");
  EXPECT_EQ(ProcStatusField(listener, "NoNewPrivs"), "1");
  EXPECT_EQ(ProcStatusField(listener, "Seccomp"), "2");
  // Not dumpable: the kernel then gives the files under /proc/PID to root.
  struct stat st {};
  ASSERT_EQ(stat(("/proc/" + std::to_string(listener) + "/status").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "the listener is dumpable";

  // The monitor: uid 0, what spawning needs; NET_BIND_SERVICE permitted
  // only (the listener binds), not effective; no bounding set (it executes
  // nothing but the listener's program, and no child has one to drop).
  EXPECT_EQ(ProcStatusField(monitor, "Uid"), "0\t0\t0\t0");
  // KILL(5) SETGID(6) SETUID(7) NET_BIND_SERVICE(10) SYS_CHROOT(18)
  // SYS_ADMIN(21, the children's namespaces)
  EXPECT_EQ(ProcStatusField(monitor, "CapPrm"), "00000000002404e0");
  EXPECT_EQ(ProcStatusField(monitor, "CapBnd"), "0000000000000000");
  EXPECT_EQ(ProcStatusField(monitor, "CapEff"), "00000000002400e0");
  // What the listener's program starts with (SYS_CHROOT, SETUID, SETGID,
  // NET_BIND_SERVICE): root's execve gives the inheritable set alone when the
  // bounding set is empty. Every child clears it.
  EXPECT_EQ(ProcStatusField(monitor, "CapInh"), "00000000000404c0");
  EXPECT_EQ(ProcStatusField(monitor, "CapAmb"), "0000000000000000");
  EXPECT_EQ(ProcStatusField(monitor, "NoNewPrivs"), "1");
  EXPECT_EQ(ProcStatusField(monitor, "Seccomp"), "2");

  // "Seccomp: 2" alone cannot tell the listener's own filter from the one it
  // inherits: count them. Filters this test runs under are inherited too.
  std::string own = ProcStatusField(getpid(), "Seccomp_filters");
  if (own == "<missing>") {
    std::cout << "[  NOTE    ] this kernel's /proc/PID/status has no Seccomp_filters "
                 "(Linux < 5.9): the filter counts are not checked\n";
    return;
  }
  int inherited = std::stoi(own);
  EXPECT_EQ(ProcStatusField(monitor, "Seccomp_filters"), std::to_string(inherited + 1))
      << "the monitor: its deny list";
  EXPECT_EQ(ProcStatusField(listener, "Seccomp_filters"), std::to_string(inherited + 2))
      << "the listener: the monitor's deny list and its own allowlist";
}

TEST_F(PrivsepTest, KillingTheListenerRefusesNoConnection) {
  uint16_t port = FreeTcpPort();
  std::string cfg = Echo(port) + ProbeService("long", FreeTcpPort(), ", \"sleep\", \"3\"");
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(cfg))) << daemon_.LogText();
  // A child that runs across the crash.
  uint16_t long_port = 0;
  for (const auto& l : daemon_.Lines()) {
    if (l.find("service=long") != std::string::npos && l.find("event=listen") == 0) {
      long_port = static_cast<uint16_t>(std::stoi(l.substr(l.rfind(':') + 1)));
    }
  }
  int running = ConnectTcp("127.0.0.1", long_port);
  ASSERT_TRUE(daemon_.WaitForLine({"event=accept", "service=long"}, milliseconds(5000)));
  pid_t first = ListenerPid();
  ClientLoop clients(port);
  ASSERT_TRUE(clients.WaitForMore(20, milliseconds(10000)));
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(daemon_.WaitForLine({"event=listener-exit", "status=signal:KILL"}, milliseconds(5000)))
      << daemon_.LogText();
  pid_t second = ListenerPid(2);
  ASSERT_GT(second, 0) << daemon_.LogText();
  EXPECT_NE(second, first);
  ASSERT_TRUE(clients.WaitForMore(20, milliseconds(10000)));
  clients.Stop();
  // Nobody is refused: the listening socket never closes, and connections
  // that arrive while no listener runs wait in the backlog. The one thing a
  // SIGKILL can take is a connection the listener had accepted and not yet
  // passed on, in the microseconds between accept4 and sendmsg.
  EXPECT_EQ(clients.refused(), 0) << "refused connections around the restart";
  EXPECT_LE(clients.unserved(), 1) << "connections closed unanswered around the restart";
  // The child that was running is untouched and ends normally.
  std::string out = ReadAll(running, milliseconds(10000));
  close(running);
  EXPECT_NE(out.find("end=1"), std::string::npos);
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=long", "status=exit:0"},
                                  milliseconds(10000)))
      << daemon_.LogText();
}

TEST_F(PrivsepTest, AConnectionWakesTheListenerOnceNotAgainForItsChildsCleanEnd) {
  // The listener admits clients by counts the end reports lower. A clean
  // end only lowers them: it is read before the next client is admitted
  // (or at once while a client waits for room), and does not wake the
  // listener; what it must read at once (a failure, a wait child's end, a
  // handover, a status request) rings its doorbell.
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(Echo(port)))) << daemon_.LogText();
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0) << daemon_.LogText();
  auto sleeps = [&] { return std::stol(ProcStatusField(listener, "voluntary_ctxt_switches")); };
  constexpr int kConnections = 40;
  long before = sleeps();
  for (int i = 0; i < kConnections; ++i) {
    ASSERT_EQ(Exchange("127.0.0.1", port, "x\n"), "x\n") << i;
    // Each child's end is over (logged, its report sent) before the next
    // client comes: a report that woke the listener would wake it here.
    ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=echo"}, static_cast<size_t>(i) + 1,
                                     milliseconds(10000)))
        << daemon_.LogText();
  }
  long woke = sleeps() - before;
  // One wakeup per connection (its accept), and slack for the rest of the
  // loop's business; one more per end report would be 80.
  EXPECT_LE(woke, kConnections + kConnections / 4) << daemon_.LogText();
  // The last report was not read yet; a status request is read at once,
  // after it: the counts are exact.
  std::string status = daemon_.DumpStatus("echo");
  ASSERT_FALSE(status.empty()) << daemon_.LogText();
  EXPECT_EQ(LogField(status, "active"), "0") << status;
  EXPECT_EQ(LogField(status, "accepted"), std::to_string(kConnections)) << status;
}

TEST_F(PrivsepTest, ListenerThatKeepsDyingBacksOff) {
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(Echo(FreeTcpPort())))) << daemon_.LogText();
  std::vector<std::string> delays;
  for (size_t n = 1; n <= 4; ++n) {
    pid_t pid = ListenerPid(n);
    ASSERT_GT(pid, 0) << daemon_.LogText();
    kill(pid, SIGKILL);
    ASSERT_TRUE(daemon_.WaitForCount({"event=listener-exit"}, n, milliseconds(5000)));
  }
  for (const auto& l : daemon_.Lines()) {
    if (l.rfind("event=listener-exit", 0) == 0) delays.push_back(LogField(l, "restart_in"));
  }
  EXPECT_EQ(delays, (std::vector<std::string>{"0.000s", "0.100s", "0.200s", "0.400s"}));
  // It is serving again after the back-off.
  ASSERT_GT(ListenerPid(5), 0);
}

TEST_F(PrivsepTest, TwentyReloadsUnderLoadLoseNoConnection) {
  uint16_t port = FreeTcpPort();
  std::string path = WriteConfig(Echo(port));
  ASSERT_TRUE(daemon_.StartAndWait(path)) << daemon_.LogText();
  ClientLoop clients(port);
  ASSERT_TRUE(clients.WaitForMore(10, milliseconds(10000)));
  for (int i = 0; i < 20; ++i) {
    daemon_.Signal(SIGHUP);
    ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=" + std::to_string(i + 2) + " "},
                                    milliseconds(10000)))
        << daemon_.LogText();
    ASSERT_TRUE(clients.WaitForMore(3, milliseconds(10000)));
  }
  clients.Stop();
  EXPECT_EQ(clients.failed(), 0) << "refused or failed connections during the reloads";
  EXPECT_EQ(daemon_.CountLines({"event=listener-start"}), 21u);
  EXPECT_EQ(daemon_.CountLines({"event=refuse-request"}), 0u) << daemon_.LogText();
  // The counters went from listener to listener.
  daemon_.Signal(SIGUSR1);
  auto status = daemon_.WaitForLine({"event=status", "service=echo"}, milliseconds(5000));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(LogField(*status, "accepted"), std::to_string(clients.ok()));
}

TEST_F(PrivsepTest, ReloadChangesApplyToNewChildrenOnly) {
  uint16_t port = FreeTcpPort();
  std::string path = WriteConfig(ProbeService("p", port, ", \"sleep\", \"2\"", "env = { V = \"1\" }\n"));
  ASSERT_TRUE(daemon_.StartAndWait(path)) << daemon_.LogText();
  int before = ConnectTcp("127.0.0.1", port);
  ASSERT_TRUE(daemon_.WaitForLine({"event=accept"}, milliseconds(5000)));
  WriteConfig(ProbeService("p", port, ", \"sleep\", \"2\"", "env = { V = \"2\" }\n"));
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=2"}, milliseconds(5000)))
      << daemon_.LogText();
  int after = ConnectTcp("127.0.0.1", port);
  std::string out_after = ReadAll(after, milliseconds(10000));
  std::string out_before = ReadAll(before, milliseconds(10000));
  close(before);
  close(after);
  EXPECT_NE(out_before.find("env=V=1\n"), std::string::npos) << out_before;
  EXPECT_NE(out_after.find("env=V=2\n"), std::string::npos) << out_after;
  // The reload killed nobody.
  EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=p", "status=exit:0"}, 2,
                                   milliseconds(10000)))
      << daemon_.LogText();
}

TEST_F(PrivsepTest, AClientWaitingForRoomAcrossAReloadIsServedWhenTheRunningChildEnds) {
  // The listener that a reload starts counts the child still running: its
  // service is full from its start, and a client waits in the backlog. The
  // child's clean end rings no doorbell; the listener, whose client waits,
  // reads the channel as it comes and lets the client in.
  uint16_t port = FreeTcpPort();
  std::string path =
      WriteConfig(ProbeService("p", port, ", \"sleep\", \"1\"", "max_instances = 1\n"));
  ASSERT_TRUE(daemon_.StartAndWait(path)) << daemon_.LogText();
  int first = ConnectTcp("127.0.0.1", port);
  ASSERT_GE(first, 0);
  ASSERT_TRUE(daemon_.WaitForLine({"event=accept", "service=p"}, milliseconds(5000)))
      << daemon_.LogText();
  daemon_.Signal(SIGHUP);
  ASSERT_GT(ListenerPid(2), 0) << daemon_.LogText();
  int second = ConnectTcp("127.0.0.1", port);
  ASSERT_GE(second, 0);
  std::string out_first = ReadAll(first, milliseconds(10000));
  std::string out_second = ReadAll(second, milliseconds(10000));
  close(first);
  close(second);
  EXPECT_NE(out_first.find("end=1"), std::string::npos) << out_first;
  EXPECT_NE(out_second.find("end=1"), std::string::npos) << out_second << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=p", "status=exit:0"}, 2,
                                   milliseconds(10000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=reject"}), 0u) << daemon_.LogText();
}

TEST_F(PrivsepTest, UdpNowaitRebindsAPrivilegedPortInTheListener) {
  // A free privileged UDP port: binding it needs CAP_NET_BIND_SERVICE, which
  // only the listener holds effective, and each new peer needs a new bind.
  // Privileged are the ports below net.ipv4.ip_unprivileged_port_start
  // (1024 by default, and on kernels without the setting).
  int unprivileged_start = 1024;
  if (std::ifstream in("/proc/sys/net/ipv4/ip_unprivileged_port_start"); in) {
    in >> unprivileged_start;
  }
  int end = std::min(1000, unprivileged_start);
  if (end <= 1) {
    GTEST_SKIP() << "net.ipv4.ip_unprivileged_port_start is " << unprivileged_start
                 << ": no port needs CAP_NET_BIND_SERVICE, so binding one would prove nothing";
  }
  uint16_t port = 0;
  for (int p = std::max(1, end - 100); p < end && port == 0; ++p) {
    int fd = UdpSocket("127.0.0.1", static_cast<uint16_t>(p));
    if (fd >= 0) {
      port = static_cast<uint16_t>(p);
      close(fd);
    }
  }
  ASSERT_NE(port, 0) << "no free privileged UDP port below " << end;
  ASSERT_LT(port, unprivileged_start);
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      "[[service]]\nname = \"e\"\nprotocol = \"udp\"\nlisten = \"127.0.0.1:" +
      std::to_string(port) + "\"\ninternal = \"echo\"\n")))
      << daemon_.LogText();
  for (int peer = 0; peer < 3; ++peer) {
    int fd = UdpSocket();
    std::string msg = "peer " + std::to_string(peer);
    ASSERT_TRUE(SendTo(fd, "127.0.0.1", port, msg));
    EXPECT_EQ(RecvDatagram(fd, milliseconds(5000)).value_or("<none>"), msg);
    close(fd);
  }
  // The monitor logs the accept once the child runs, which can be after the
  // child has answered.
  EXPECT_TRUE(daemon_.WaitForCount({"event=accept", "service=e"}, 3, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"reason=handover-failed"}), 0u) << daemon_.LogText();
}

// A stop signal to either process stops both and every child, exit 0; the
// listener's end is a stop, not a crash to restart from.
void PrivsepTest::ExpectSignalStopsEverything(bool to_listener, int sig) {
  IgnoredDisposition as_from_a_shell(sig);
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(ProbeService("p", port, ", \"sleep\", \"60\""))))
      << daemon_.LogText();
  int fd = ConnectTcp("127.0.0.1", port);
  auto accept = daemon_.WaitForLine({"event=accept"}, milliseconds(5000));
  ASSERT_TRUE(accept.has_value()) << daemon_.LogText();
  pid_t child = std::stoi(LogField(*accept, "pid"));
  pid_t monitor = daemon_.pid();
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0) << daemon_.LogText();
  ASSERT_EQ(kill(to_listener ? listener : monitor, sig), 0);
  auto status = daemon_.WaitExit(milliseconds(15000));
  close(fd);
  ASSERT_TRUE(status.has_value()) << daemon_.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "wait status " << *status << "\n" << daemon_.LogText();
  EXPECT_TRUE(Gone(monitor));
  EXPECT_TRUE(Gone(listener));
  EXPECT_TRUE(Gone(child));
  EXPECT_EQ(daemon_.CountLines({"event=listener-exit"}), 0u) << "a stop is not a crash";
}

TEST_F(PrivsepTest, TermToTheListenerStopsEverything) {
  ExpectSignalStopsEverything(/*to_listener=*/true, SIGTERM);
}
TEST_F(PrivsepTest, IntToTheListenerStopsEverything) {
  ExpectSignalStopsEverything(/*to_listener=*/true, SIGINT);
}
TEST_F(PrivsepTest, TermToTheMonitorStopsEverything) {
  ExpectSignalStopsEverything(/*to_listener=*/false, SIGTERM);
}
TEST_F(PrivsepTest, IntToTheMonitorStopsEverything) {
  ExpectSignalStopsEverything(/*to_listener=*/false, SIGINT);
}

// hinetd -f in a process group of its own, as a shell starts a foreground
// job (DaemonProcess runs it in the test's group, where a group signal would
// hit the test as well). Its log is read from a pipe, with deadlines; it is
// stopped by its pid.
class GroupDaemon {
 public:
  GroupDaemon() = default;
  GroupDaemon(const GroupDaemon&) = delete;
  GroupDaemon& operator=(const GroupDaemon&) = delete;
  ~GroupDaemon() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGTERM);
      if (!WaitExit(milliseconds(10000))) {
        kill(pid_, SIGKILL);
        WaitExit(milliseconds(5000));
      }
    }
    if (fd_ >= 0) close(fd_);
  }

  bool Start(const std::string& config) {
    int err[2];
    if (pipe2(err, O_CLOEXEC) != 0) return false;
    std::string bin = BinDir() + "/hinetd";
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      setpgid(0, 0);
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      dup2(err[1], 2);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
      execl(bin.c_str(), bin.c_str(), "-f", "-c", config.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid_, pid_);  // here as well: in place before any kill(-pid) below
    close(err[1]);
    fd_ = err[0];
    return true;
  }
  [[nodiscard]] pid_t pid() const { return pid_; }

  // The first line containing every needle, reading until the deadline.
  std::optional<std::string> WaitForLine(const std::vector<std::string>& needles,
                                         milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (size_t next = 0;; ++next) {
      while (next >= lines_.size()) {
        if (!ReadSome(deadline)) return std::nullopt;
      }
      bool all = true;
      for (const auto& n : needles) all = all && lines_[next].find(n) != std::string::npos;
      if (all) return lines_[next];
    }
  }
  size_t CountLines(const std::string& needle) const {
    size_t n = 0;
    for (const auto& l : lines_) n += l.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }
  std::string LogText() const {
    std::string all;
    for (const auto& l : lines_) all += l + "\n";
    return all;
  }
  // Reads the log to its end and reaps the daemon; its wait status.
  std::optional<int> WaitExit(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (ReadSome(deadline)) {
    }
    while (!reaped_) {
      int status = 0;
      pid_t w = waitpid(pid_, &status, WNOHANG);
      if (w == pid_) {
        reaped_ = true;
        status_ = status;
      } else if (w < 0 || Clock::now() >= deadline) {
        return std::nullopt;
      } else {
        usleep(2000);  // polling a child's exit; bounded by the deadline
      }
    }
    return status_;
  }

 private:
  // Reads what is there into lines_; false at EOF or at the deadline.
  bool ReadSome(Clock::time_point deadline) {
    if (fd_ < 0) return false;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) {
      close(fd_);
      fd_ = -1;
      if (!partial_.empty()) lines_.push_back(partial_);
      return false;
    }
    partial_.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
      lines_.push_back(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string partial_;
  std::vector<std::string> lines_;
};

// A signal to the whole process group (^C in a terminal: SIGINT; kill -TERM
// -PGID): the monitor and the listener both get it at once. Everything
// stops, exit 0, no process left; the children run in sessions of their own
// and are stopped by the monitor.
void PrivsepTest::ExpectGroupSignalStopsEverything(int sig) {
  uint16_t port = FreeTcpPort();
  GroupDaemon daemon;
  ASSERT_TRUE(daemon.Start(WriteConfig(ProbeService("p", port, ", \"sleep\", \"60\""))));
  auto ready = daemon.WaitForLine({"event=listener-ready"}, milliseconds(10000));
  ASSERT_TRUE(ready.has_value()) << daemon.LogText();
  pid_t listener = std::stoi(LogField(*ready, "pid"));
  ASSERT_EQ(getpgid(listener), daemon.pid()) << "the listener is in the monitor's group";
  int fd = ConnectTcp("127.0.0.1", port);
  auto accept = daemon.WaitForLine({"event=accept"}, milliseconds(5000));
  ASSERT_TRUE(accept.has_value()) << daemon.LogText();
  pid_t child = std::stoi(LogField(*accept, "pid"));
  ASSERT_NE(getpgid(child), daemon.pid()) << "a child is in a session of its own";
  ASSERT_EQ(kill(-daemon.pid(), sig), 0);
  auto status = daemon.WaitExit(milliseconds(15000));
  close(fd);
  ASSERT_TRUE(status.has_value()) << daemon.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "wait status " << *status << "\n" << daemon.LogText();
  EXPECT_TRUE(Gone(daemon.pid()));
  EXPECT_TRUE(Gone(listener));
  EXPECT_TRUE(Gone(child));
  EXPECT_EQ(daemon.CountLines("event=listener-exit"), 0u) << "a stop is not a crash\n"
                                                          << daemon.LogText();
  EXPECT_EQ(daemon.CountLines("event=stop status=done"), 1u) << daemon.LogText();
}

TEST_F(PrivsepTest, IntToTheProcessGroupStopsEverything) {
  ExpectGroupSignalStopsEverything(SIGINT);
}
TEST_F(PrivsepTest, TermToTheProcessGroupStopsEverything) {
  ExpectGroupSignalStopsEverything(SIGTERM);
}

TEST_F(PrivsepTest, StartedWithSignalsIgnoredItStillReapsAndStops) {
  // A launcher may start hinetd with SIGCHLD or SIGINT ignored (both survive
  // execve). An ignored SIGCHLD makes the kernel reap children itself and
  // send no signal: hinetd would never see a child end. It must restore the
  // defaults. (Ignored only while hinetd starts: this process reaps too.)
  uint16_t port = FreeTcpPort();
  {
    IgnoredDisposition chld(SIGCHLD);
    IgnoredDisposition intr(SIGINT);
    ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(ProbeService("p", port, ""))))
        << daemon_.LogText();
  }
  EXPECT_NE(Exchange("127.0.0.1", port, "").find("end=1"), std::string::npos);
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=p", "status=exit:0"}, milliseconds(5000)))
      << daemon_.LogText();
  daemon_.Signal(SIGINT);
  auto status = daemon_.WaitExit(milliseconds(10000));
  ASSERT_TRUE(status.has_value()) << "SIGINT did not stop hinetd: " << daemon_.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
}

TEST_F(PrivsepTest, ServiceRunningAsTheListenersAccountIsRefused) {
  std::string path = WriteConfig("[[service]]\nname = \"s\"\nlisten = \"127.0.0.1:" +
                                 std::to_string(FreeTcpPort()) +
                                 "\"\ninternal = \"echo\"\nuser = \"hinetd\"\n");
  CommandResult r = RunCommand({BinDir() + "/hinetd", "check", "-c", path}, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 78);
  EXPECT_NE(r.err.find("service \"s\": user: runs as 'hinetd', the listener's own account"),
            std::string::npos)
      << r.err;
}

// The inodes of the TCP sockets listening on 127.0.0.1 or ::1 at `ports`
// (/proc/net/tcp and tcp6: state 0A), by port.
std::map<uint16_t, std::string> ListeningInodes(const std::set<uint16_t>& ports) {
  std::map<uint16_t, std::string> out;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      size_t colon = local.find(':');
      std::string ip = local.substr(0, colon);
      if (state != "0A" || colon == std::string::npos ||
          (ip != "0100007F" && ip != "00000000000000000000000001000000")) {
        continue;
      }
      auto port = static_cast<uint16_t>(std::stoul(local.substr(colon + 1), nullptr, 16));
      if (ports.count(port) != 0) out[port] = inode;
    }
  }
  return out;
}

// The socket inodes among `pid`'s descriptors ("socket:[N]" -> "N").
std::set<std::string> SocketInodesOf(pid_t pid) {
  std::set<std::string> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    char target[64];
    ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
    if (n <= 0) continue;
    std::string t(target, static_cast<size_t>(n));
    if (t.rfind("socket:[", 0) == 0) out.insert(t.substr(8, t.size() - 9));
  }
  closedir(d);
  return out;
}

// How many of `inodes` `pid` holds.
size_t Holds(pid_t pid, const std::map<uint16_t, std::string>& inodes) {
  std::set<std::string> held = SocketInodesOf(pid);
  size_t n = 0;
  for (const auto& [port, ino] : inodes) n += held.count(ino);
  return n;
}

// Waits (bounded) until the monitor holds none of `inodes`: the table's TCP
// sockets are in flight on its socket park (supervisor/socket_park.h) once
// a start, restart or reload is over, so that no child's clone copies them.
bool MonitorHoldsNone(pid_t monitor, const std::map<uint16_t, std::string>& inodes) {
  auto deadline = Clock::now() + milliseconds(5000);
  while (Holds(monitor, inodes) != 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));  // polling /proc; bounded
  }
  return Holds(monitor, inodes) == 0;
}

TEST_F(PrivsepTest, TheMonitorKeepsTheTableTcpSocketsOutOfItsDescriptorTable) {
  // 300 services: more than one message of descriptors (253) in flight;
  // and one on ::1 where there is one (its socket too is kept by a reload).
  std::set<uint16_t> ports;
  for (int i = 0; i < 2000 && ports.size() < 300; ++i) ports.insert(FreeTcpPort());
  ASSERT_EQ(ports.size(), 300u);
  std::vector<uint16_t> order(ports.begin(), ports.end());
  uint16_t port6 = 0;
  if (HaveLoopback("::1")) {
    for (int i = 0; i < 100 && (port6 == 0 || ports.count(port6) != 0); ++i) {
      port6 = FreeTcpPort("::1");
    }
    ASSERT_EQ(ports.count(port6), 0u);
    ports.insert(port6);
  }
  auto table = [&](size_t n) {
    std::string services;
    if (port6 != 0) {
      services += InternalService("echo-ipv6", "echo", "\"[::1]:" + std::to_string(port6) + "\"");
    }
    for (size_t i = 0; i < n; ++i) {
      services += InternalService("echo" + std::to_string(i), "echo",
                                  "\"127.0.0.1:" + std::to_string(order[i]) + "\"");
    }
    return services;
  };
  std::string path = WriteConfig(table(order.size()));
  ASSERT_TRUE(daemon_.StartAndWait(path)) << daemon_.LogText();
  pid_t monitor = daemon_.pid();
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0);
  std::map<uint16_t, std::string> inodes = ListeningInodes(ports);
  ASSERT_EQ(inodes.size(), ports.size()) << "every service's socket listens";
  EXPECT_TRUE(MonitorHoldsNone(monitor, inodes))
      << "the monitor still holds " << Holds(monitor, inodes) << " of them";
  EXPECT_EQ(Holds(listener, inodes), inodes.size()) << "the listener accepts on every one";
  EXPECT_EQ(Exchange("127.0.0.1", order.front(), "first\n"), "first\n");
  EXPECT_EQ(Exchange("127.0.0.1", order.back(), "last\n"), "last\n");

  // A listener killed: the next one gets every socket, the same sockets
  // (never closed: their backlogs stay), and they go back into flight.
  ASSERT_EQ(kill(listener, SIGKILL), 0);
  pid_t second = ListenerPid(2);
  ASSERT_GT(second, 0) << daemon_.LogText();
  EXPECT_EQ(ListeningInodes(ports), inodes) << "the same sockets, never re-bound";
  EXPECT_EQ(Holds(second, inodes), inodes.size());
  EXPECT_TRUE(MonitorHoldsNone(monitor, inodes));
  EXPECT_EQ(Exchange("127.0.0.1", order[150], "again\n"), "again\n");

  // A reload that removes the last service: its socket closes, the others
  // are kept (the same sockets) and parked again.
  dir_.Write("hinetd.toml", "[daemon]\nsandbox_dir = \"sandbox\"\n\n" + table(order.size() - 1));
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=2 "}, milliseconds(10000)))
      << daemon_.LogText();
  pid_t third = ListenerPid(3);
  ASSERT_GT(third, 0) << daemon_.LogText();
  std::set<uint16_t> kept(order.begin(), order.end() - 1);
  if (port6 != 0) kept.insert(port6);
  std::map<uint16_t, std::string> after = ListeningInodes(ports);
  EXPECT_EQ(after.count(order.back()), 0u) << "the removed service's socket is closed";
  EXPECT_EQ(after.size(), kept.size());
  for (const auto& [port, ino] : after) EXPECT_EQ(ino, inodes[port]) << port;
  EXPECT_TRUE(MonitorHoldsNone(monitor, after));
  EXPECT_EQ(Exchange("127.0.0.1", order.front(), "kept\n"), "kept\n");
  EXPECT_EQ(ConnectTcp("127.0.0.1", order.back(), milliseconds(1000)), -1);

  // The stop closes them, parked or not.
  ASSERT_EQ(daemon_.Stop(), std::optional<int>(0)) << daemon_.LogText();
  EXPECT_TRUE(ListeningInodes(ports).empty());
}

}  // namespace
}  // namespace hinetd::testing
