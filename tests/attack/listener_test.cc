// A subverted listener (issue 10, item 5, the listener's part). The
// listener faces the network; assume it is taken over. It is chrooted into
// an empty root-owned directory, its filter lets it create no unix socket
// (syslog's /dev/log, or any other socket file, abstract or not), and its
// log lines reach syslog only through the monitor, which takes them as
// hostile: one line per message, bounded, escaped, rate-limited, dropped
// and counted when they fail. The attacks: a system call injected into the
// real listener with ptrace (as code running in it would make it), and
// forged, oversized and flooding lines written into its log relay.
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "config/types.h"
#include "e2e/e2e.h"
#include "spawn/plan.h"
#include "supervisor/log_relay.h"
#include "supervisor/monitor.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string Link(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? "<" + std::string(strerror(errno)) + ">" : std::string(buf, static_cast<size_t>(n));
}

// Names in a directory other than "." and "..".
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return {"<" + std::string(strerror(errno)) + ">"};
  for (dirent* e; (e = readdir(d)) != nullptr;) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  return out;
}

class ListenerAttackTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    tcp_ = FreeTcpPort();
    udp_ = FreeUdpPort();
    // A unix: client runs as root here; the socket file lives in the
    // test's directory.
    unix_path_ = dir_.path() + "/echo.sock";
    ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
        InternalService("tcp", "echo", "\"127.0.0.1:" + std::to_string(tcp_) + "\"") +
        InternalService("local", "echo", "\"unix:" + unix_path_ + "\"") +
        "[[service]]\nname = \"udp\"\nlisten = \"127.0.0.1:" + std::to_string(udp_) +
        "\"\nprotocol = \"udp\"\ninternal = \"echo\"\n")))
        << daemon_.LogText();
  }

  // What a listener's chroot must look like, and that it serves all three.
  void ExpectRootedAndServing(pid_t listener) {
    EXPECT_EQ(Link("/proc/" + std::to_string(listener) + "/root"), config::kEmptyChroot);
    EXPECT_EQ(Link("/proc/" + std::to_string(listener) + "/cwd"), config::kEmptyChroot);
    struct stat st {};
    ASSERT_EQ(stat(config::kEmptyChroot, &st), 0) << strerror(errno);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 022, 0u) << std::oct << st.st_mode;
    EXPECT_TRUE(Entries(config::kEmptyChroot).empty());
    EXPECT_EQ(Exchange("127.0.0.1", tcp_, "tcp\n"), "tcp\n") << daemon_.LogText();
    int u = UdpSocket();
    ASSERT_GE(u, 0);
    ASSERT_TRUE(SendTo(u, "127.0.0.1", udp_, "udp"));
    EXPECT_EQ(RecvDatagram(u, milliseconds(5000)).value_or("<none>"), "udp") << daemon_.LogText();
    close(u);
    int s = ConnectUnix(unix_path_);
    ASSERT_GE(s, 0) << strerror(errno);
    ASSERT_TRUE(WriteAll(s, "unix\n"));
    shutdown(s, SHUT_WR);
    EXPECT_EQ(ReadAll(s, milliseconds(5000)), "unix\n") << daemon_.LogText();
    close(s);
  }

  uint16_t tcp_ = 0;
  uint16_t udp_ = 0;
  std::string unix_path_;
};

TEST_F(ListenerAttackTest, TheListenerIsRootedInTheEmptyDirectoryAndServesTcpUdpAndUnix) {
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0) << daemon_.LogText();
  ExpectRootedAndServing(listener);
  // Every listener: the one a reload starts too.
  daemon_.Signal(SIGHUP);
  pid_t next = ListenerPid(2);
  ASSERT_GT(next, 0) << daemon_.LogText();
  EXPECT_NE(next, listener);
  ExpectRootedAndServing(next);
}

#if defined(__x86_64__)
// Waits (bounded) for a traced `pid` to stop; its status, or -1.
int WaitForStop(pid_t pid) {
  auto deadline = Clock::now() + milliseconds(5000);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, __WALL | WNOHANG);
    if (r == pid) return status;
    if (r < 0 || Clock::now() >= deadline) return -1;
    usleep(1000);  // polling a tracee's state; bounded by the deadline
  }
}

// Makes `pid`, blocked in a system call, make syscall(nr, a0, a1, a2) next
// instead, as code an attacker runs in it would: stopped with
// PTRACE_INTERRUPT right after its `syscall` instruction, its registers
// rewritten to run that instruction again with other arguments, detached.
// "" on success, else why not.
std::string InjectSyscall(pid_t pid, long nr, long a0, long a1, long a2) {
  if (ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) != 0) {
    return std::string("PTRACE_SEIZE: ") + strerror(errno);
  }
  std::string why;
  user_regs_struct regs{};
  if (ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) != 0) {
    why = std::string("PTRACE_INTERRUPT: ") + strerror(errno);
  } else if (int status = WaitForStop(pid); status == -1 || !WIFSTOPPED(status)) {
    why = "the listener did not stop";
  } else if (ptrace(PTRACE_GETREGS, pid, nullptr, &regs) != 0) {
    why = std::string("PTRACE_GETREGS: ") + strerror(errno);
  } else {
    errno = 0;
    long word = ptrace(PTRACE_PEEKTEXT, pid, reinterpret_cast<void*>(regs.rip - 2), nullptr);
    if (errno != 0 || (word & 0xffff) != 0x050f) {  // 0f 05: syscall
      why = "the listener was not stopped in a system call";
    } else {
      regs.orig_rax = static_cast<unsigned long long>(-1);  // no restart of the old one
      regs.rax = static_cast<unsigned long long>(nr);
      regs.rdi = static_cast<unsigned long long>(a0);
      regs.rsi = static_cast<unsigned long long>(a1);
      regs.rdx = static_cast<unsigned long long>(a2);
      regs.rip -= 2;
      if (ptrace(PTRACE_SETREGS, pid, nullptr, &regs) != 0) {
        why = std::string("PTRACE_SETREGS: ") + strerror(errno);
      }
    }
  }
  ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  return why;
}
#endif

TEST_F(ListenerAttackTest, ASubvertedListenerThatCreatesAUnixSocketIsKilledAndReplaced) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the system call injection is written for x86_64";
#else
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0) << daemon_.LogText();
  // Wait until it blocks in epoll_wait (its loop, idle).
  auto deadline = Clock::now() + milliseconds(5000);
  auto state = [&] {
    std::ifstream in("/proc/" + std::to_string(listener) + "/stat");
    std::string stat;
    std::getline(in, stat);
    size_t close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '?';
  };
  while (state() != 'S' && Clock::now() < deadline) usleep(1000);  // bounded
  ASSERT_EQ(state(), 'S');
  // The first step to /dev/log, or to any unix socket: creating one.
  std::string why = InjectSyscall(listener, SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (why.rfind("PTRACE_SEIZE", 0) == 0) GTEST_SKIP() << "cannot trace the listener: " << why;
  ASSERT_EQ(why, "");
  auto exit = daemon_.WaitForLine({"event=listener-exit", "status=seccomp"}, milliseconds(5000));
  ASSERT_TRUE(exit) << daemon_.LogText();
  // The kernel's audit record names the call where /dev/kmsg can be read.
  std::string syscall = LogField(*exit, "syscall");
  EXPECT_TRUE(syscall == "socket" || syscall == "unknown") << *exit;
  // A fresh listener, rooted and filtered the same, serves.
  pid_t fresh = ListenerPid(2);
  ASSERT_GT(fresh, 0) << daemon_.LogText();
  ExpectRootedAndServing(fresh);
#endif
}

// The monitor run in a child of the test, its log on a pipe that the
// listener does not hold (its stdio is /dev/null), with the relay on as
// `--log syslog` has it: every line of the listener in that log came
// through the relay.
class RelayAttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HINETD_REQUIRE_ROOT();
    if (getpwnam("hinetd") == nullptr) GTEST_SKIP() << "needs the account hinetd (the listener's)";
    ASSERT_TRUE(CopyShippedPolicies(dir_.path() + "/sandbox"));
    tcp_ = FreeTcpPort();
    udp_ = FreeUdpPort();
    std::string path = dir_.Write(
        "hinetd.toml",
        "[daemon]\nsandbox_dir = \"sandbox\"\n"
        "[[service]]\nname = \"echo\"\nlisten = \"127.0.0.1:" + std::to_string(tcp_) +
            "\"\ninternal = \"echo\"\n"
            "[[service]]\nname = \"uecho\"\nlisten = \"127.0.0.1:" + std::to_string(udp_) +
            "\"\nprotocol = \"udp\"\ninternal = \"echo\"\n");
    int log_pipe[2];
    ASSERT_EQ(pipe2(log_pipe, O_CLOEXEC), 0);
    monitor_ = fork();
    ASSERT_GE(monitor_, 0);
    if (monitor_ == 0) {
      close(log_pipe[0]);
      int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) _exit(71);
      base::Logger log(base::LogSink::kStderr, log_pipe[1]);
      spawn::PlanOptions plan_options;
      plan_options.internal_helper = BinDir() + "/hinetd-internal";
      auto loaded = spawn::LoadTable(path, plan_options);
      if (!loaded.ok()) {
        log.Error(base::LogLine("test-load-failed").Add("error", loaded.error().ToString()));
        _exit(78);
      }
      supervisor::Options options;
      options.config_path = path;
      options.plan_options = plan_options;
      options.harden_self = false;
      options.relay_listener_log = true;
      supervisor::Monitor monitor(log, options);
      if (!monitor.Start(std::move(loaded->config), std::move(loaded->plans)).ok()) _exit(71);
      _exit(monitor.Run());
    }
    close(log_pipe[1]);
    log_fd_ = log_pipe[0];
    ASSERT_TRUE(WaitForLog("event=listener-start pid=")) << log_;
    listener_ = static_cast<pid_t>(std::stol(FieldOfLastFound("pid")));
  }

  void TearDown() override {
    if (monitor_ > 0) {
      kill(monitor_, SIGTERM);
      auto deadline = Clock::now() + milliseconds(10000);
      int status = 0;
      while (waitpid(monitor_, &status, WNOHANG) == 0) {
        if (Clock::now() >= deadline) {
          kill(monitor_, SIGKILL);
          waitpid(monitor_, &status, 0);
          break;
        }
        ReadLog(milliseconds(10));  // its log closes when it exits
      }
    }
    if (log_fd_ >= 0) close(log_fd_);
  }

  // Reads what the log has for up to `timeout`; false at EOF.
  bool ReadLog(milliseconds timeout) {
    pollfd p{log_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return true;
    char buf[65536];
    ssize_t n = read(log_fd_, buf, sizeof buf);
    if (n <= 0) return false;
    log_.append(buf, static_cast<size_t>(n));
    return true;
  }

  // Waits for `needle` after what an earlier call found.
  bool WaitForLog(const std::string& needle, milliseconds timeout = milliseconds(5000)) {
    auto deadline = Clock::now() + timeout;
    while (log_.find(needle, seen_) == std::string::npos) {
      if (Clock::now() >= deadline || !ReadLog(milliseconds(50))) return false;
    }
    seen_ = log_.find(needle, seen_) + needle.size();
    return true;
  }

  // The whole line WaitForLog found last.
  std::string LastFoundLine() {
    size_t start = log_.rfind('\n', seen_);
    start = start == std::string::npos ? 0 : start + 1;
    return log_.substr(start, log_.find('\n', seen_) - start);
  }

  std::string FieldOfLastFound(const std::string& key) { return LogField(LastFoundLine(), key); }

  size_t CountLinesStarting(const std::string& prefix) {
    size_t n = 0;
    for (size_t at = 0; at < log_.size();) {
      size_t end = log_.find('\n', at);
      if (end == std::string::npos) break;
      if (log_.compare(at, prefix.size(), prefix) == 0) ++n;
      at = end + 1;
    }
    return n;
  }

  // The listener's end of its log relay, taken with pidfd_getfd as code
  // running in it would use it: the blocking SEQPACKET socket (its control
  // channel is nonblocking).
  int TakeRelay() {
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, listener_, 0));
    if (pidfd < 0) return -1;
    int found = -1;
    for (int fd = 0; fd < 256 && found < 0; ++fd) {
      int got = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
      if (got < 0) continue;
      int type = -1;
      socklen_t len = sizeof type;
      if (getsockopt(got, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_SEQPACKET &&
          (fcntl(got, F_GETFL) & O_NONBLOCK) == 0) {
        found = got;
      } else {
        close(got);
      }
    }
    close(pidfd);
    return found;
  }

  TempDir dir_;
  uint16_t tcp_ = 0;
  uint16_t udp_ = 0;
  pid_t monitor_ = -1;
  pid_t listener_ = -1;
  int log_fd_ = -1;
  std::string log_;
  size_t seen_ = 0;
};

TEST_F(RelayAttackTest, TheListenersLinesReachTheLogThroughTheMonitor) {
  // The listener holds no descriptor of this log: its lines came through
  // the relay, and the monitor wrote them.
  ASSERT_TRUE(WaitForLog("event=listener-ready pid=" + std::to_string(listener_) + " ")) << log_;
  // A line of the listener's own making: a refused reflection.
  int client = -1;
  uint16_t port = 0;
  for (uint16_t p = 900; p < 1000 && client < 0; ++p) {
    client = UdpSocket("127.0.0.1", p);
    port = p;
  }
  ASSERT_GE(client, 0) << "no free udp port in 900..999";
  ASSERT_TRUE(SendTo(client, "127.0.0.1", udp_, "reflect me"));
  EXPECT_TRUE(WaitForLog("event=reject service=uecho peer=127.0.0.1:" + std::to_string(port) +
                         " reason=reflection"))
      << log_;
  close(client);
  EXPECT_EQ(Exchange("127.0.0.1", tcp_, "served\n"), "served\n") << log_;
}

TEST_F(RelayAttackTest, ASubvertedListenerCannotForgeSplitOrFloodTheMonitorsLog) {
  ASSERT_TRUE(WaitForLog("event=listener-ready pid=")) << log_;
  int relay = TakeRelay();
  if (relay < 0) GTEST_SKIP() << "pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  auto send_all = [&](const std::string& m) {
    auto deadline = Clock::now() + milliseconds(5000);
    for (;;) {
      if (send(relay, m.data(), m.size(), MSG_DONTWAIT | MSG_NOSIGNAL) ==
          static_cast<ssize_t>(m.size())) {
        return true;
      }
      if (errno != EAGAIN || Clock::now() >= deadline) return false;
      pollfd p{relay, POLLOUT, 0};
      poll(&p, 1, 100);
    }
  };
  // A line that hides a second one behind a newline: written as one line,
  // the newline escaped.
  ASSERT_TRUE(send_all("<6>event=accept service=echo peer=10.9.8.7:1 pid=1\n"
                       "event=listener-kill reason=forged pid=1"));
  EXPECT_TRUE(WaitForLog("event=accept service=echo peer=10.9.8.7:1 pid=1\\x0aevent=listener-kill "
                         "reason=forged pid=1\n"))
      << log_;
  EXPECT_EQ(CountLinesStarting("event=listener-kill"), 0u) << log_;
  // No event: dropped, and the first drop reported at once.
  ASSERT_TRUE(send_all("hello from the listener"));
  EXPECT_TRUE(WaitForLog("event=listener-log-dropped count=1 malformed=1 too_long=0 rate=0\n"))
      << log_;
  EXPECT_EQ(log_.find("hello from the listener"), std::string::npos) << log_;
  // Too long: dropped.
  ASSERT_TRUE(send_all("<6>event=long x=" + std::string(base::kRelayLineMax, 'L')));
  // A flood: cut at the rate.
  constexpr int kFlood = 6000;
  auto flood_start = Clock::now();
  for (int i = 0; i < kFlood; ++i) {
    ASSERT_TRUE(send_all("<4>event=flood n=" + std::to_string(i))) << i;
  }
  // Everything sent has been read once the relay's queue is empty; a line
  // the monitor logs after that (a connection's accept) is after them all.
  auto deadline = Clock::now() + milliseconds(10000);
  int queued = -1;
  while ((ioctl(relay, SIOCOUTQ, &queued) != 0 || queued != 0) && Clock::now() < deadline) {
    usleep(1000);  // polling the kernel's count; bounded by the deadline
  }
  ASSERT_EQ(queued, 0);
  EXPECT_EQ(Exchange("127.0.0.1", tcp_, "after\n"), "after\n") << log_;
  ASSERT_TRUE(WaitForLog("event=accept service=echo peer=127.0.0.1:")) << log_;
  double seconds = std::chrono::duration<double>(Clock::now() - flood_start).count();
  size_t flood = CountLinesStarting("event=flood ");
  EXPECT_GE(flood, 1u);
  // The burst, and what refilled while the flood lasted.
  using Relay = supervisor::LogRelay;
  double per_second = static_cast<double>(Relay::kBurst) / static_cast<double>(Relay::kPeriod.count());
  EXPECT_LE(static_cast<double>(flood), Relay::kBurst + per_second * seconds + 1) << seconds << " s";
  EXPECT_LT(flood, static_cast<size_t>(kFlood));
  EXPECT_EQ(log_.find("event=long"), std::string::npos);
  // Every drop is counted and reported, at most kReportInterval after the
  // report before.
  struct Counts {
    uint64_t malformed = 0, too_long = 0, rate = 0;
  };
  auto reported = [&] {
    Counts c;
    for (size_t at = 0; (at = log_.find("event=listener-log-dropped ", at)) != std::string::npos;
         ++at) {
      std::string line = log_.substr(at, log_.find('\n', at) - at);
      c.malformed += std::stoull(LogField(line, "malformed"));
      c.too_long += std::stoull(LogField(line, "too_long"));
      c.rate += std::stoull(LogField(line, "rate"));
    }
    return c;
  };
  uint64_t cut = kFlood - flood;
  auto report_deadline = Clock::now() + Relay::kReportInterval + milliseconds(5000);
  while (reported().rate < cut && Clock::now() < report_deadline && ReadLog(milliseconds(100))) {
  }
  Counts total = reported();
  EXPECT_EQ(total.malformed, 1u) << log_.substr(log_.size() - std::min<size_t>(log_.size(), 2000));
  EXPECT_EQ(total.too_long, 1u);
  EXPECT_EQ(total.rate, cut);
  close(relay);
}

}  // namespace
}  // namespace hinetd::testing
