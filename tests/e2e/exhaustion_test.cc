// Resource exhaustion through the real daemon: the monitor or the listener
// out of descriptors, the kernel's pid limit met, a full disk under the log.
// Each time hinetd refuses what it cannot do, says so once however long it
// lasts, recovers by itself when the resource comes back, and neither exits
// nor leaks. (max_children reached: DaemonTest's and AdmissionTest's.)
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "common/proc_info.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `f` when the scope ends: the tests change limits and mounts of the
// host that must be undone even when an assertion returns early.
class Undo {
 public:
  explicit Undo(std::function<void()> f) : f_(std::move(f)) {}
  ~Undo() { f_(); }
  Undo(const Undo&) = delete;
  Undo& operator=(const Undo&) = delete;

 private:
  std::function<void()> f_;
};

// Reads until what came ends with `suffix`, EOF, or the deadline.
std::string ReadUntil(int fd, const std::string& suffix, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string out;
  while (!out.ends_with(suffix) && Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    std::string more = ReadN(fd, 4096, std::min(left, milliseconds(100)));
    if (more.empty()) {
      pollfd p{fd, POLLIN, 0};
      char c;
      // Readable and nothing to read: closed.
      if (poll(&p, 1, 0) == 1 && recv(fd, &c, 1, MSG_PEEK) == 0) break;
      continue;
    }
    out += more;
  }
  return out;
}

// A connection to an echo service (internal, or the probe's, which reports
// first) that answered: it holds one child until closed. -1 if hinetd
// closed it instead (refused).
int HoldEcho(uint16_t port) {
  int fd = ConnectTcp("127.0.0.1", port, milliseconds(3000));
  if (fd < 0) return -1;
  if (!WriteAll(fd, "hold\n") || !ReadUntil(fd, "hold\n", milliseconds(5000)).ends_with("hold\n")) {
    close(fd);
    return -1;
  }
  return fd;
}

// Waits until `pid` has `want` descriptors open (children that end give
// theirs back asynchronously); the last count seen.
int WaitForFds(pid_t pid, int want, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int n = OpenFds(pid);
  while (n != want && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
    n = OpenFds(pid);
  }
  return n;
}

// The RLIMIT_NOFILE of `pid`, as /proc shows it to anyone.
rlimit NofileOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(14));
    unsigned long soft = 0, hard = 0;
    fields >> soft >> hard;
    return rlimit{soft, hard};
  }
  return rlimit{0, 0};
}

// Sets the soft RLIMIT_NOFILE of `pid` (the hard one stays) as its owner
// does: from a process with its ids, so that no capability is needed (CI's
// root may lack CAP_SYS_RESOURCE, which changing another uid's limits
// takes). The errno of a failure, 0 on success.
int SetSoftNofileAsOwner(pid_t pid, rlim_t soft) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  uid_t uid = 0;
  gid_t gid = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Uid:", 0) == 0) uid = static_cast<uid_t>(std::stoul(line.substr(4)));
    if (line.rfind("Gid:", 0) == 0) gid = static_cast<gid_t>(std::stoul(line.substr(4)));
  }
  rlimit now = NofileOf(pid);
  rlimit want{soft, now.rlim_max};
  pid_t child = fork();
  if (child < 0) return errno;
  if (child == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0 || prlimit(pid, RLIMIT_NOFILE, &want, nullptr) != 0) {
      _exit(errno & 0x7f);
    }
    _exit(0);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) return ECHILD;
  return WEXITSTATUS(status);
}

class ExhaustionTest : public E2eTest {
 protected:
  // An echo service with room for far more children than the limits under
  // test allow: hinetd's internal one, or the probe's (a program: its stderr
  // comes to the monitor through a pipe, one descriptor per child). Returns
  // its port once a first exchange went through.
  uint16_t StartEcho(bool program = false) {
    uint16_t port = FreeTcpPort();
    std::string service =
        program ? ProbeService("echo", port, ", \"echo\"", "max_instances = 200\n")
                : "[[service]]\nname = \"echo\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
                      "\"\ninternal = \"echo\"\nmax_instances = 200\n";
    EXPECT_TRUE(daemon_.StartAndWait(WriteConfig(service))) << daemon_.LogText();
    EXPECT_TRUE(Exchange("127.0.0.1", port, "warm\n").ends_with("warm\n"));
    EXPECT_TRUE(daemon_.WaitForCount({"event=end"}, 1, milliseconds(5000)));
    return port;
  }

  // Opens connections that each hold a child until one is refused: the
  // limit is met. At most `bound` of them.
  std::vector<int> HoldUntilRefused(uint16_t port, int bound) {
    std::vector<int> held;
    for (int i = 0; i < bound; ++i) {
      int fd = HoldEcho(port);
      if (fd < 0) return held;
      held.push_back(fd);
    }
    ADD_FAILURE() << bound << " connections held and none refused: the limit was never met";
    return held;
  }

  // Closes the held connections and waits for their children's ends.
  void Release(std::vector<int>& held) {
    size_t ends = daemon_.CountLines({"event=end", "service=echo"});
    for (int fd : held) close(fd);
    EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=echo"}, ends + held.size(),
                                     milliseconds(10000)))
        << daemon_.LogText();
    held.clear();
  }
};

TEST_F(ExhaustionTest, MonitorOutOfDescriptorsRefusesLogsOnceAndRecoversByItself) {
  uint16_t port = StartEcho(true);
  pid_t monitor = daemon_.pid();
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0);
  int fds_before = OpenFds(monitor);
  rlimit old{};
  ASSERT_EQ(prlimit(monitor, RLIMIT_NOFILE, nullptr, &old), 0);
  Undo restore([&] { prlimit(monitor, RLIMIT_NOFILE, &old, nullptr); });
  // Room for a few children's descriptors (status and stderr pipes), no
  // more. The soft limit only: the children's own limits, set in their
  // setup, may not exceed the hard one.
  rlimit tight{static_cast<rlim_t>(fds_before + 6), old.rlim_max};
  ASSERT_EQ(prlimit(monitor, RLIMIT_NOFILE, &tight, nullptr), 0);

  std::vector<int> held = HoldUntilRefused(port, 40);
  EXPECT_GE(held.size(), 1u);
  // Every further connection is refused (closed) while the limit holds.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(HoldEcho(port), -1) << "served past the limit";
  auto exhausted = [&] {
    return daemon_.CountLines({"event=spawn-failed"}) +
           daemon_.CountLines({"event=refuse-request", "monitor out of descriptors"});
  };
  // The line reaches the test's reader after the refusal reached the client.
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (exhausted() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(exhausted(), 1u) << "six refusals, one episode: one line\n" << daemon_.LogText();

  // The children end, their descriptors come back: served again, with no
  // one touching the limit.
  Release(held);
  size_t ended = daemon_.CountLines({"event=end", "service=echo"});
  EXPECT_TRUE(Exchange("127.0.0.1", port, "again\n").ends_with("again\n"));
  auto recovered = daemon_.WaitForLine({"event=spawn-recovered", "service=echo"},
                                       milliseconds(5000));
  ASSERT_TRUE(recovered) << daemon_.LogText();
  EXPECT_GE(std::stoul(LogField(*recovered, "failed")), 6u) << *recovered;
  EXPECT_EQ(exhausted(), 1u);

  // Nothing lost: the same processes, every descriptor back.
  EXPECT_EQ(kill(monitor, 0), 0);
  EXPECT_EQ(daemon_.CountLines({"event=listener-ready"}), 1u) << daemon_.LogText();
  // The last client's child reaped too. Not "as many ends as accepts so
  // far": a short child's accept line comes at its reap, with its end.
  EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=echo"}, ended + 1,
                                   milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(WaitForFds(monitor, fds_before, milliseconds(5000)), fds_before);
  EXPECT_EQ(Zombies(monitor), 0);
}

TEST_F(ExhaustionTest, ListenerOutOfDescriptorsLogsOnceAndServesTheWaitingClient) {
  uint16_t port = StartEcho();
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0);
  int fds_before = OpenFds(listener);
  rlimit old = NofileOf(listener);
  ASSERT_GT(old.rlim_cur, 0u);
  Undo restore([&] { SetSoftNofileAsOwner(listener, old.rlim_cur); });
  // Not one descriptor to spare: the lowest free number is the limit, so
  // accept(2) fails with EMFILE.
  int lowest_free = 0;
  struct stat st{};
  std::string fd_dir = "/proc/" + std::to_string(listener) + "/fd/";
  while (lowest_free < 4096 && stat((fd_dir + std::to_string(lowest_free)).c_str(), &st) == 0) {
    ++lowest_free;
  }
  int err = SetSoftNofileAsOwner(listener, static_cast<rlim_t>(lowest_free));
  ASSERT_EQ(err, 0) << strerror(err);

  // The kernel completes the handshake; the connection waits in the backlog.
  int fd = ConnectTcp("127.0.0.1", port, milliseconds(3000));
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, "late\n"));
  ASSERT_TRUE(daemon_.WaitForLine({"event=accept-failed", "service=echo", "error=EMFILE"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  // The listener retries every 100 ms; half a second of that is the window
  // in which a per-retry log would show (the recovery line below counts
  // the retries, so this window is checked, not assumed).
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(daemon_.CountLines({"event=accept-failed"}), 1u) << daemon_.LogText();

  // Descriptors again: the waiting client is served, nothing was refused.
  ASSERT_EQ(SetSoftNofileAsOwner(listener, old.rlim_cur), 0);
  EXPECT_EQ(ReadN(fd, 5, milliseconds(5000)), "late\n");
  close(fd);
  auto recovered = daemon_.WaitForLine({"event=accept-recovered", "service=echo"},
                                       milliseconds(5000));
  ASSERT_TRUE(recovered) << daemon_.LogText();
  EXPECT_GE(std::stoul(LogField(*recovered, "failed")), 3u) << *recovered;
  EXPECT_EQ(daemon_.CountLines({"event=accept-failed"}), 1u);

  EXPECT_EQ(Exchange("127.0.0.1", port, "next\n"), "next\n");
  EXPECT_EQ(daemon_.CountLines({"event=listener-ready"}), 1u) << daemon_.LogText();
  EXPECT_EQ(WaitForFds(listener, fds_before, milliseconds(5000)), fds_before);
}

// The pids controller of a cgroup hierarchy this process may create groups
// in: cgroup v2 with pids enabled for the root's children, or v1's pids
// hierarchy. "" if neither.
std::string PidsHierarchy() {
  for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    std::ifstream in(std::string(root) + "/cgroup.subtree_control");
    std::string controllers;
    std::getline(in, controllers);
    if (in && (" " + controllers + " ").find(" pids ") != std::string::npos) return root;
  }
  struct stat st{};
  if (stat("/sys/fs/cgroup/pids/cgroup.procs", &st) == 0) return "/sys/fs/cgroup/pids";
  return "";
}

// The cgroup of `pid` in the hierarchy at `root` (as a directory under it).
std::string CgroupOf(pid_t pid, const std::string& root) {
  bool v1 = root == "/sys/fs/cgroup/pids";
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  for (std::string line; std::getline(in, line);) {
    // "ID:CONTROLLERS:PATH"; v2's line is "0::PATH".
    size_t a = line.find(':');
    size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    if (v1 ? ("," + controllers + ",").find(",pids,") != std::string::npos : controllers.empty()) {
      return root + line.substr(b + 1);
    }
  }
  return "";
}

bool WriteText(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

TEST_F(ExhaustionTest, ThePidLimitRefusesLogsOnceAndRecoversByItself) {
  std::string root = PidsHierarchy();
  if (root.empty()) GTEST_SKIP() << "needs a cgroup hierarchy with the pids controller";
  uint16_t port = StartEcho();
  pid_t monitor = daemon_.pid();
  std::string home = CgroupOf(monitor, root);
  if (home.empty()) GTEST_SKIP() << "cannot tell the monitor's cgroup under " << root;
  // A group of its own for the monitor: its children are forked into it.
  std::string group = root + "/hinetd-test-" + std::to_string(getpid());
  if (mkdir(group.c_str(), 0755) != 0) {
    GTEST_SKIP() << "cannot create a cgroup under " << root << ": " << strerror(errno);
  }
  Undo back([&] {
    WriteText(home + "/cgroup.procs", std::to_string(monitor));
    // Empty once the monitor left and its children there were reaped.
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (rmdir(group.c_str()) != 0 && errno == EBUSY && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  });
  ASSERT_TRUE(WriteText(group + "/cgroup.procs", std::to_string(monitor))) << strerror(errno);
  std::ifstream current_in(group + "/pids.current");
  int current = 0;
  current_in >> current;
  ASSERT_GE(current, 1);
  // The monitor and three children; the fourth clone gets EAGAIN.
  ASSERT_TRUE(WriteText(group + "/pids.max", std::to_string(current + 3)));

  std::vector<int> held = HoldUntilRefused(port, 20);
  EXPECT_EQ(held.size(), 3u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(HoldEcho(port), -1) << "served past the limit";
  EXPECT_TRUE(daemon_.WaitForLine({"event=spawn-failed", "EAGAIN"}, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=spawn-failed", "service=echo"}), 1u) << daemon_.LogText();

  Release(held);
  size_t ended = daemon_.CountLines({"event=end", "service=echo"});
  EXPECT_EQ(Exchange("127.0.0.1", port, "again\n"), "again\n");
  auto recovered = daemon_.WaitForLine({"event=spawn-recovered", "service=echo"},
                                       milliseconds(5000));
  ASSERT_TRUE(recovered) << daemon_.LogText();
  EXPECT_GE(std::stoul(LogField(*recovered, "failed")), 6u) << *recovered;
  EXPECT_EQ(kill(monitor, 0), 0);
  EXPECT_EQ(daemon_.CountLines({"event=listener-ready"}), 1u) << daemon_.LogText();
  // The last client's child reaped too. Not "as many ends as accepts so
  // far": a short child's accept line comes at its reap, with its end.
  EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=echo"}, ended + 1,
                                   milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(Zombies(monitor), 0);
}

// The log file's whole text.
std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Waits until the file holds `needle`; its text then (or at the deadline).
std::string WaitForText(const std::string& path, const std::string& needle, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string text = Slurp(path);
  while (text.find(needle) == std::string::npos && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
    text = Slurp(path);
  }
  return text;
}

TEST_F(ExhaustionTest, AFullDiskUnderTheLogLosesNoConnectionAndTheLostLinesAreCounted) {
  // A small file system of its own for the log.
  std::string fs = dir_.path() + "/logfs";
  ASSERT_EQ(mkdir(fs.c_str(), 0700), 0);
  if (mount("hinetd-test", fs.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs: " << strerror(errno);
  }
  Undo unmount([&] { umount2(fs.c_str(), MNT_DETACH); });
  std::string log = fs + "/hinetd.log";
  uint16_t port = FreeTcpPort();
  std::string config = WriteConfig("[[service]]\nname = \"echo\"\nlisten = \"127.0.0.1:" +
                                   std::to_string(port) + "\"\ninternal = \"echo\"\n");
  // hinetd's stderr (its log, with -f) goes to the file.
  daemon_.WrapIn({"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>>'" + log + "'"});
  ASSERT_TRUE(daemon_.Start(config));
  ASSERT_NE(WaitForText(log, "event=listener-ready", milliseconds(10000)).find("listener-ready"),
            std::string::npos)
      << Slurp(log);
  pid_t monitor = daemon_.pid();

  // The disk fills: first the log's last page (a tmpfs page holds many
  // lines), with a comment line of its own, then the rest.
  {
    int l = open(log.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    ASSERT_GE(l, 0);
    size_t pad = 4096 - Slurp(log).size() % 4096;
    if (pad < 2) pad += 4096;
    std::string line = "#" + std::string(pad - 2, '-') + "\n";
    ASSERT_EQ(write(l, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    close(l);
  }
  std::string filler = fs + "/filler";
  int f = open(filler.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(f, 0);
  std::string block(4096, 'x');
  bool full = false;
  for (int i = 0; i < 64 && !full; ++i) full = write(f, block.data(), block.size()) < 4096;
  close(f);
  ASSERT_TRUE(full) << "64 KiB file system never filled";

  // Served all the same; nothing reaches the file.
  constexpr int kConnections = 5;
  for (int i = 0; i < kConnections; ++i) {
    EXPECT_EQ(Exchange("127.0.0.1", port, "full\n"), "full\n");
  }
  EXPECT_EQ(kill(monitor, 0), 0);

  // Room again: the next line that goes says how many were lost, then the
  // log goes on.
  ASSERT_EQ(unlink(filler.c_str()), 0);
  EXPECT_EQ(Exchange("127.0.0.1", port, "room\n"), "room\n");
  EXPECT_NE(WaitForText(log, "event=log-lost", milliseconds(5000)).find("event=log-lost"),
            std::string::npos);
  EXPECT_EQ(kill(monitor, 0), 0);
  std::optional<int> status = daemon_.Stop();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;

  // Every line of the six connections (an accept and an end each) is either
  // in the file or counted as lost: none went silently. (Which ones were
  // lost depends on when the monitor logged them: an end may come after
  // the disk had room again.)
  std::string text = Slurp(log);
  std::istringstream lines(text);
  size_t lost = 0, present = 0, notices = 0;
  bool stopped = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("event=log-lost ", 0) == 0) {
      lost += std::stoul(LogField(line, "lines"));
      ++notices;
    } else if (line.rfind("event=accept ", 0) == 0 || line.rfind("event=end ", 0) == 0) {
      ++present;
    } else if (line.rfind("event=stop status=done", 0) == 0) {
      stopped = true;
    }
  }
  constexpr size_t kLines = 2 * (kConnections + 1);
  EXPECT_EQ(notices, 1u) << text;
  EXPECT_GE(lost, static_cast<size_t>(kConnections)) << text;  // at least the accepts
  EXPECT_EQ(lost + present, kLines) << text;
  EXPECT_TRUE(stopped) << text;
  EXPECT_EQ(text.back(), '\n');
}

// The control block of libhinetd-test-failalloc.so (failing_alloc.c).
struct FailAllocControl {
  volatile int32_t pid;
  volatile int32_t fail;
  volatile int64_t failed;
};

TEST_F(ExhaustionTest, AllocationFailingInTheMonitorRefusesLogsOnceAndRecoversByItself) {
  if (kSanitizerBuild) GTEST_SKIP() << "the sanitizers' allocator must come first: no LD_PRELOAD";
  std::string shim = BinDir() + "/libhinetd-test-failalloc.so";
  struct stat st{};
  ASSERT_EQ(stat(shim.c_str(), &st), 0) << shim;
  std::string ctl_path = dir_.path() + "/failalloc";
  int ctl_fd = open(ctl_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(ctl_fd, 0);
  ASSERT_EQ(ftruncate(ctl_fd, sizeof(FailAllocControl)), 0);
  void* map = mmap(nullptr, sizeof(FailAllocControl), PROT_READ | PROT_WRITE, MAP_SHARED, ctl_fd, 0);
  close(ctl_fd);
  ASSERT_NE(map, MAP_FAILED);
  auto* ctl = static_cast<FailAllocControl*>(map);
  Undo unmap([&] { munmap(map, sizeof(FailAllocControl)); });
  daemon_.WrapIn({"/usr/bin/env", "LD_PRELOAD=" + shim, "HINETD_TEST_FAILALLOC=" + ctl_path});
  uint16_t port = StartEcho();
  pid_t monitor = daemon_.pid();
  int fds_before = OpenFds(monitor);

  // Every allocation of the monitor fails from now on.
  ctl->pid = monitor;
  ctl->fail = 1;
  Undo stop_failing([&] { ctl->fail = 0; });
  // Clients come meanwhile: the listener takes them (it is not short), the
  // monitor cannot; they wait or are refused, and the daemon stays up.
  constexpr int kClients = 4;
  std::vector<int> clients;
  for (int i = 0; i < kClients; ++i) {
    int fd = ConnectTcp("127.0.0.1", port, milliseconds(3000));
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(WriteAll(fd, "c" + std::to_string(i) + "\n"));
    clients.push_back(fd);
  }
  ASSERT_TRUE(daemon_.WaitForLine({"event=memory-short", "process=monitor"}, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_GT(ctl->failed, 0);
  EXPECT_EQ(kill(monitor, 0), 0);

  // Memory again: by itself, within the retry period, the monitor takes
  // the waiting requests. Each client got its echo, or was refused (closed
  // with nothing) if its request was read while memory was short.
  ctl->fail = 0;
  ASSERT_TRUE(daemon_.WaitForLine({"event=memory-recovered", "process=monitor"}, milliseconds(5000)))
      << daemon_.LogText();
  int served = 0;
  for (int i = 0; i < kClients; ++i) {
    std::string want = "c" + std::to_string(i) + "\n";
    shutdown(clients[static_cast<size_t>(i)], SHUT_WR);
    std::string got = ReadN(clients[static_cast<size_t>(i)], 64, milliseconds(5000));
    EXPECT_TRUE(got == want || got.empty()) << "client " << i << " got '" << got << "'";
    served += got == want;
    close(clients[static_cast<size_t>(i)]);
  }
  EXPECT_GE(served, kClients - 1) << "at most the request read while short is refused\n"
                                  << daemon_.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", port, "after\n"), "after\n");
  EXPECT_EQ(daemon_.CountLines({"event=memory-short"}), 1u) << daemon_.LogText();

  // Nothing leaked: the listener's counts are exact (every slot came back),
  // the same processes run, every descriptor is back.
  EXPECT_TRUE(daemon_.WaitForStatus("echo", "active", "0", milliseconds(5000)))
      << daemon_.DumpStatus("echo");
  EXPECT_EQ(daemon_.CountLines({"event=listener-ready"}), 1u) << daemon_.LogText();
  EXPECT_EQ(WaitForFds(monitor, fds_before, milliseconds(5000)), fds_before);
  EXPECT_EQ(Zombies(monitor), 0);
}

}  // namespace
}  // namespace hinetd::testing
