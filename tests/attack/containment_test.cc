// Processes that try to outlive their service. A hostile service daemonizes
// the classic way (setsid, fork twice, setsid again), out of reach of any
// kill of a process group, or forks until the kernel says no; whatever it
// does, nothing it started may survive its child's end: not a timeout, not
// hinetd's stop, not its own exit. Each service runs as a uid of its own
// (no passwd entry), so /proc tells exactly which processes it still has.
// A reload never kills a running child (nor what it started): those end
// with their child.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "attack/contain.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kContainPolicy = R"(description = "hinetd-probe daemonize and fork-bomb"
include = ["runtime"]
allow = ["read", "write", "poll", "clock_nanosleep", "nanosleep", "wait4", "setsid",
  # the attack itself: processes of its own
  "clone", "fork", "vfork"]
)";

constexpr int kGrandchildren = 4;

std::string Pids(const std::vector<pid_t>& pids) {
  std::string text;
  for (pid_t p : pids) text += (text.empty() ? "" : ",") + std::to_string(p);
  return text.empty() ? "none" : text;
}

// Field `name` of /proc/PID/status ("" if gone).
std::string StatusField(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) == 0) {
      std::string v = line.substr(name.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

class ContainmentTest : public AttackTest {
 protected:
  void SetUp() override {
    AttackTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_.Write("sandbox/contain.toml", kContainPolicy);
  }

  // A service that daemonizes kGrandchildren processes.
  std::string Daemonizer(uint16_t port, uid_t uid, const std::string& extra) {
    return Service("d", port, uid, ", \"daemonize\", \"" + std::to_string(kGrandchildren) + "\"",
                   "contain", extra);
  }

  // Connects to the daemonizer and waits for its report: every grandchild
  // in a session of its own, the first child gone. Returns the connection;
  // `pids` gets the grandchildren's pids as they see them.
  int Daemonized(uint16_t port, std::vector<pid_t>* pids = nullptr) {
    int fd = ConnectTcp("127.0.0.1", port);
    EXPECT_GE(fd, 0);
    std::string out = ReadUntil(fd, "\n", kGrandchildren + 1);
    EXPECT_EQ(ProbeField(out, "daemonized"), std::to_string(kGrandchildren)) << out;
    for (int i = 1; i <= kGrandchildren; ++i) {
      std::istringstream line(ProbeField(out, "grandchild", static_cast<size_t>(i)));
      long pid = 0;
      std::string sid;
      line >> pid >> sid;
      EXPECT_GT(pid, 0) << out;
      EXPECT_EQ(sid, "sid=" + std::to_string(pid)) << "not a session leader\n" << out;
      if (pids != nullptr) pids->push_back(static_cast<pid_t>(pid));
    }
    return fd;
  }

  // The service's process and every grandchild, alive under its uid.
  void ExpectAllRunning(uid_t uid) {
    auto procs = ProcessesOf(uid);
    EXPECT_EQ(procs.size(), static_cast<size_t>(kGrandchildren + 1)) << Pids(procs);
  }
};

TEST_F(ContainmentTest, DaemonizedGrandchildrenGoAtTheTimeout) {
  constexpr uid_t kUid = 64035;
  ASSERT_TRUE(UseUid(kUid)) << "uid " << kUid << " is in use";
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(Daemonizer(port, kUid, "timeout = \"3s\"\n"))))
      << daemon_.LogText();
  int fd = Daemonized(port);
  ExpectAllRunning(kUid);
  // The service's process is the init of its PID namespace and leaves TERM
  // at its default: KILL at once, and the kernel takes the rest.
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=d ", "status=timeout", "signal=KILL"},
                                  milliseconds(10000)))
      << daemon_.LogText();
  EXPECT_TRUE(NoProcessLeft(kUid, milliseconds(5000))) << Pids(ProcessesOf(kUid));
  close(fd);
}

TEST_F(ContainmentTest, DaemonizedGrandchildrenGoWhenHinetdStops) {
  constexpr uid_t kUid = 64036;
  ASSERT_TRUE(UseUid(kUid)) << "uid " << kUid << " is in use";
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(Daemonizer(port, kUid, ""))))
      << daemon_.LogText();
  int fd = Daemonized(port);
  ExpectAllRunning(kUid);
  auto status = daemon_.Stop();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status << daemon_.LogText();
  EXPECT_TRUE(NoProcessLeft(kUid, milliseconds(5000))) << Pids(ProcessesOf(kUid));
  close(fd);
}

TEST_F(ContainmentTest, DaemonizedGrandchildrenOutliveAReloadAndGoWithTheirChild) {
  constexpr uid_t kUid = 64037;
  ASSERT_TRUE(UseUid(kUid)) << "uid " << kUid << " is in use";
  uint16_t port = FreeTcpPort();
  std::string path = WriteConfig(Daemonizer(port, kUid, ""));
  ASSERT_TRUE(daemon_.StartAndWait(path)) << daemon_.LogText();
  int fd = Daemonized(port);
  ExpectAllRunning(kUid);
  // A reload kills no running child, and nothing a child started.
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=2"}, milliseconds(10000)))
      << daemon_.LogText();
  ExpectAllRunning(kUid);
  // The service's process exits on its own (EOF): its PID namespace, and
  // every process in it, goes with it.
  shutdown(fd, SHUT_WR);
  EXPECT_TRUE(
      daemon_.WaitForLine({"event=end", "service=d ", "status=exit:0"}, milliseconds(10000)))
      << daemon_.LogText();
  EXPECT_TRUE(NoProcessLeft(kUid, milliseconds(5000))) << Pids(ProcessesOf(kUid));
  close(fd);
}

TEST_F(ContainmentTest, AForkBombIsBoundedByNprocAndGoesWithItsChild) {
  // An explicit limit, and the default: max_instances + 64.
  struct Case {
    std::string name;
    uid_t uid;
    std::string extra;
    int nproc;
  };
  const std::vector<Case> cases = {
      {"bomb20", 64038, "rlimits = { nproc = 20 }\n", 20},
      {"bomb", 64039, "max_instances = 4\n", 4 + 64},
  };
  std::string services;
  std::vector<uint16_t> ports;
  for (const auto& c : cases) {
    ASSERT_TRUE(UseUid(c.uid)) << "uid " << c.uid << " is in use";
    ports.push_back(FreeTcpPort());
    services += Service(c.name, ports.back(), c.uid, ", \"fork-bomb\"", "contain", c.extra);
  }
  uint16_t echo_port = FreeTcpPort();
  services += InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(echo_port) + "\"");
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(services))) << daemon_.LogText();
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.name);
    int fd = ConnectTcp("127.0.0.1", ports[i]);
    ASSERT_GE(fd, 0);
    std::string out = ReadUntil(fd, "\n", 2);  // forks=, fork_error=
    // RLIMIT_NPROC counts every process of the uid, the service's own
    // process included.
    EXPECT_EQ(ProbeField(out, "forks"), std::to_string(c.nproc - 1)) << out;
    EXPECT_EQ(ProbeField(out, "fork_error"), "err:EAGAIN") << out;
    auto procs = ProcessesOf(c.uid);
    EXPECT_EQ(procs.size(), static_cast<size_t>(c.nproc)) << Pids(procs);
    // The daemon is not starved: another service answers at once.
    EXPECT_EQ(Exchange("127.0.0.1", echo_port, "still here\n"), "still here\n");
    shutdown(fd, SHUT_WR);
    EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=" + c.name + " ", "status=exit:0"},
                                    milliseconds(10000)))
        << daemon_.LogText();
    EXPECT_TRUE(NoProcessLeft(c.uid, milliseconds(5000))) << Pids(ProcessesOf(c.uid));
    close(fd);
  }
}

// This process as the child subreaper while it lives: orphans below it come
// to it, so that it can reap what it kills.
class Subreaper {
 public:
  Subreaper() { ok_ = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0; }
  ~Subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); }
  Subreaper(const Subreaper&) = delete;
  Subreaper& operator=(const Subreaper&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

// Kills `pid`, a child of this process, and reaps it; false if it does not
// end in time.
bool KillAndReap(pid_t pid, milliseconds timeout) {
  kill(pid, SIGKILL);
  auto deadline = Clock::now() + timeout;
  for (;;) {
    pid_t r = waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));  // polling waitpid; bounded
  }
}

TEST_F(ContainmentTest, WithoutAPidNamespaceAGrandchildOutlivesItsChild) {
  // What the default `namespaces = ["pid"]` protects from: without it, a
  // timeout kills the child's process group, and the daemonized
  // grandchildren, each in a session of its own, live on.
  constexpr uid_t kUid = 64030;
  ASSERT_TRUE(UseUid(kUid)) << "uid " << kUid << " is in use";
  Subreaper subreaper;
  ASSERT_TRUE(subreaper.ok()) << strerror(errno);
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(Daemonizer(port, kUid, "namespaces = []\ntimeout = \"3s\"\n"))))
      << daemon_.LogText();
  std::vector<pid_t> grandchildren;
  int fd = Daemonized(port, &grandchildren);
  ASSERT_EQ(grandchildren.size(), static_cast<size_t>(kGrandchildren));
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=d ", "status=timeout", "signal=TERM"},
                                  milliseconds(10000)))
      << daemon_.LogText();
  // Still there, under the service's uid; orphaned to this process, the
  // nearest subreaper.
  for (pid_t g : grandchildren) {
    EXPECT_EQ(StatusField(g, "Uid").substr(0, 5), std::to_string(kUid)) << g;
    EXPECT_NE(StatusField(g, "State").substr(0, 1), "Z") << g;
    EXPECT_EQ(StatusField(g, "PPid"), std::to_string(getpid())) << g;
  }
  EXPECT_EQ(ProcessesOf(kUid).size(), static_cast<size_t>(kGrandchildren))
      << Pids(ProcessesOf(kUid));
  // Cleaned up by pid: only those checked above to be this process's own.
  for (pid_t g : grandchildren) {
    if (StatusField(g, "PPid") == std::to_string(getpid())) {
      EXPECT_TRUE(KillAndReap(g, milliseconds(5000))) << g;
    }
  }
  EXPECT_TRUE(NoProcessLeft(kUid, milliseconds(5000))) << Pids(ProcessesOf(kUid));
  close(fd);
}

}  // namespace
}  // namespace hinetd::testing
