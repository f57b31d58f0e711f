// Services that try to touch each other, or to get more than they were
// given. A `default`-policy service kills another service's child running
// as the same uid (the shipped defaults once ran every service as nobody),
// or, unjailed, opens its /proc/PID/mem;
// an unconfined one takes another child's socket with pidfd_getfd; a
// service without a chroot asks for a user namespace (a full capability set
// inside it); and the opt-in namespaces: a child in an empty network
// namespace keeps its connection and reaches nothing else. Each attack has
// its control: the same attack where the protection is absent succeeds, so
// that the refusal is the protection's doing.
#include <fcntl.h>
#include <grp.h>
#include <linux/landlock.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <iostream>

#include "attack/contain.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kNetnsPolicy = R"(description = "hinetd-probe netns"
include = ["runtime"]
allow = ["read", "write", "poll", "msgget",
  # the attack itself: another connection
  "socket", "connect",
  # SIOCGIFNAME and SIOCGIFFLAGS, to list the interfaces it sees
  "ioctl"]
)";

// The shipped `default`, plus unshare and setns, which it refuses (kills):
// what is left to stop them is the deny list every child inherits.
constexpr const char* kDefaultUnsharePolicy = R"(description = "default, and namespaces too"
include = ["default"]
allow = ["unshare", "setns"]
)";

// The kernel's Landlock ABI version, 0 without one.
int LandlockAbi() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi > 0 ? static_cast<int>(abi) : 0;
}

class IsolationTest : public AttackTest {
 protected:
  void SetUp() override {
    AttackTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_.Write("sandbox/netns.toml", kNetnsPolicy);
    dir_.Write("sandbox/default-unshare.toml", kDefaultUnsharePolicy);
  }

  // Connects to an attacker that reads a pid on its connection, gives it
  // `pid`, and returns what it reports.
  std::string Attack(uint16_t port, pid_t pid) {
    int fd = ConnectTcp("127.0.0.1", port);
    EXPECT_GE(fd, 0);
    std::string line = std::to_string(pid) + "\n";
    EXPECT_TRUE(WriteAll(fd, line));
    std::string out = ReadUntil(fd, "end=1\n");
    close(fd);
    return out;
  }
};

TEST_F(IsolationTest, AServiceCannotReachAnotherServicesChild) {
  // The internal echo and the attacker run as the same uid: the kernel's
  // own check (same uid may signal) lets everything through; the PID
  // namespace of each child is what hides the one from the other.
  constexpr uid_t kUid = 64031;
  ASSERT_TRUE(UseUid(kUid)) << "uid " << kUid << " is in use";
  uint16_t echo_port = FreeTcpPort();
  uint16_t attacker = FreeTcpPort();
  uint16_t unnamespaced = FreeTcpPort();
  uint16_t unjailed = FreeTcpPort();
  std::string id = std::to_string(kUid);
  std::string services =
      "[[service]]\nname = \"echo\"\nlisten = \"127.0.0.1:" + std::to_string(echo_port) +
      "\"\ninternal = \"echo\"\nuser = \"" + id + "\"\ngroup = \"" + id + "\"\n\n" +
      Service("attacker", attacker, kUid, ", \"kill-other\"", "default") +
      Service("unnamespaced", unnamespaced, kUid, ", \"kill-other\"", "default",
              "namespaces = []\n") +
      Service("unjailed", unjailed, kUid, ", \"proc\"", "default", "", /*jailed=*/false);
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(services))) << daemon_.LogText();

  int echo = ConnectTcp("127.0.0.1", echo_port);
  ASSERT_GE(echo, 0);
  ASSERT_TRUE(WriteAll(echo, "one\n"));
  ASSERT_EQ(ReadN(echo, 4), "one\n");
  pid_t victim = AcceptedPid("echo");
  ASSERT_GT(victim, 0) << daemon_.LogText();

  std::string out = Attack(attacker, victim);
  // It cannot even see the pid, nor its process group; and kill(-1), every
  // process it may signal, finds none but itself (which it spares).
  EXPECT_EQ(ProbeField(out, "kill_pid"), "err:ESRCH") << out;
  EXPECT_EQ(ProbeField(out, "kill_group"), "err:ESRCH") << out;
  EXPECT_EQ(ProbeField(out, "kill_all"), "err:ESRCH") << out;
  ASSERT_TRUE(daemon_.WaitForLine({"event=end", "service=attacker ", "status=exit:0"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  // The echo child never noticed.
  ASSERT_TRUE(WriteAll(echo, "two\n"));
  EXPECT_EQ(ReadN(echo, 4), "two\n");
  EXPECT_EQ(daemon_.CountLines({"event=end", "service=echo "}), 0u) << daemon_.LogText();

  // Unjailed, it sees the host's /proc, and the victim's pid there: the
  // kernel's rule (same uid, dumpable) would give it the victim's memory
  // and environment, as a plain process of the uid shows. Each child's
  // Landlock domain refuses; without one, hinetd says so at start.
  size_t warned = daemon_.CountLines({"event=warning", "no Landlock ABI 2"});
  if (LandlockAbi() < 2) {
    EXPECT_EQ(warned, 1u) << daemon_.LogText();
    std::cout << "[  NOTE    ] no Landlock ABI 2 in this kernel: the /proc attack is not "
                 "tried\n";
  } else {
    EXPECT_EQ(warned, 0u) << daemon_.LogText();
    std::string mem = "/proc/" + std::to_string(victim) + "/mem";
    ASSERT_EQ(RunAs(kUid, [&mem] { return open(mem.c_str(), O_RDWR | O_CLOEXEC) >= 0 ? 0 : 1; }),
              0)
        << "uid " << kUid << " cannot open " << mem << " even without hinetd: the attack "
        << "would prove nothing";
    out = Attack(unjailed, victim);
    EXPECT_EQ(ProbeField(out, "proc_mem"), "err:EACCES") << out;
    EXPECT_EQ(ProbeField(out, "proc_environ"), "err:EACCES") << out;
  }

  // The control: the same attack from a child without a PID namespace.
  out = Attack(unnamespaced, victim);
  EXPECT_EQ(ProbeField(out, "kill_pid"), "ok") << out;
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=echo ", "status=signal:KILL"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  close(echo);
}

TEST_F(IsolationTest, AnUnconfinedServiceCannotTakeAnotherChildsSocket) {
  // The victim and the thief run as the same uid, the thief with no policy
  // at all (sandbox = "none"): only the PID namespace and the deny list
  // every child inherits stand between them.
  constexpr uid_t kUid = 64032;
  ASSERT_TRUE(UseUid(kUid)) << "uid " << kUid << " is in use";
  uint16_t victim_port = FreeTcpPort();
  uint16_t thief = FreeTcpPort();
  uint16_t unnamespaced = FreeTcpPort();
  const std::string unconfined = "unconfined = true\n";
  std::string services =
      Service("victim", victim_port, kUid, ", \"sleep\", \"30\"", "probe") +
      Service("thief", thief, kUid, ", \"steal\"", "none", unconfined) +
      Service("unnamespaced", unnamespaced, kUid, ", \"steal\"", "none",
              unconfined + "namespaces = []\n");
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(services))) << daemon_.LogText();
  int victim_conn = ConnectTcp("127.0.0.1", victim_port);
  ASSERT_GE(victim_conn, 0);
  ASSERT_NE(ReadUntil(victim_conn, "end=1\n").find("end=1\n"), std::string::npos);
  pid_t victim = AcceptedPid("victim");
  ASSERT_GT(victim, 0) << daemon_.LogText();

  // The control first: a plain process of the same uid takes the victim's
  // socket (the kernel's own rule, same uid, allows it), so a refusal below
  // is hinetd's doing.
  int taken = RunAs(kUid, [victim] {
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, victim, 0));
    if (pidfd < 0) return errno == ENOSYS ? 2 : 1;
    return syscall(SYS_pidfd_getfd, pidfd, 0, 0) >= 0 ? 0 : (errno == ENOSYS ? 2 : 1);
  });
  if (taken == 2) GTEST_SKIP() << "no pidfd_open/pidfd_getfd (Linux 5.6)";
  ASSERT_EQ(taken, 0) << "uid " << kUid << " cannot take the socket even without hinetd's "
                      << "filters (Yama?): the attack would prove nothing";

  std::string out = Attack(thief, victim);
  EXPECT_EQ(ProbeField(out, "pidfd_open"), "err:ESRCH") << "the victim is visible\n" << out;
  EXPECT_EQ(ProbeField(out, "process_vm_readv"), "err:EPERM") << out;
  EXPECT_EQ(ProbeField(out, "pidfd_open_self"), "ok") << out;
  // Its own descriptor, which the kernel always gives: the deny list refuses.
  EXPECT_EQ(ProbeField(out, "pidfd_getfd_self"), "err:EPERM") << out;

  // Without a PID namespace it sees the victim; the deny list still holds.
  out = Attack(unnamespaced, victim);
  EXPECT_EQ(ProbeField(out, "pidfd_open"), "ok") << out;
  EXPECT_EQ(ProbeField(out, "pidfd_getfd"), "err:EPERM") << out;
  EXPECT_EQ(ProbeField(out, "process_vm_readv"), "err:EPERM") << out;
  EXPECT_EQ(ProbeField(out, "pidfd_getfd_self"), "err:EPERM") << out;

  EXPECT_EQ(daemon_.CountLines({"event=end", "service=victim "}), 0u) << daemon_.LogText();
  close(victim_conn);
}

TEST_F(IsolationTest, NoServiceGetsAUserNamespace) {
  // No service makes a user namespace of its own. (One with drops_privileges
  // = true runs in the one hinetd made for it, which maps only its ids:
  // identity_test.cc; these services have no such key, and stay in the
  // host's.) Unjailed, so that /proc/self/ns/user tells which user
  // namespace the probe is in.
  constexpr uid_t kUid = 64033;
  ASSERT_TRUE(UseUid(kUid)) << "uid " << kUid << " is in use";
  // The control: this kernel gives an unprivileged user a user namespace.
  int made = RunAs(kUid, [] { return unshare(CLONE_NEWUSER) == 0 ? 0 : 1; });
  if (made != 0) {
    GTEST_SKIP() << "the kernel refuses user namespaces to an unprivileged uid here "
                    "(user.max_user_namespaces, a sysctl, or a filter around this test): "
                    "a refusal would prove nothing";
  }
  char own[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/user", own, sizeof own - 1), 0);

  // `default` allows clone (whose flags it cannot check) and kills unshare;
  // the next allows unshare and setns too; the last has no policy at all.
  uint16_t with_default = FreeTcpPort();
  uint16_t with_unshare = FreeTcpPort();
  uint16_t with_none = FreeTcpPort();
  std::string services =
      Service("default", with_default, kUid, ", \"userns\"", "default", "", /*jailed=*/false) +
      Service("unshare", with_unshare, kUid, ", \"userns\"", "default-unshare", "",
              /*jailed=*/false) +
      Service("none", with_none, kUid, ", \"userns\"", "none", "unconfined = true\n",
              /*jailed=*/false);
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(services))) << daemon_.LogText();

  for (uint16_t port : {with_default, with_unshare, with_none}) {
    SCOPED_TRACE(port == with_default ? "default" : port == with_unshare ? "unshare" : "none");
    std::string out = Exchange("127.0.0.1", port, "", /*half_close=*/true, milliseconds(10000));
    // The children's filter: no clone with a namespace flag, no clone3.
    EXPECT_EQ(ProbeField(out, "clone_newuser"), "err:EPERM") << out;
    EXPECT_EQ(ProbeField(out, "clone3_newuser"), "err:ENOSYS") << out;
    EXPECT_EQ(ProbeField(out, "cap_eff"), "0000000000000000") << out;
    EXPECT_EQ(ProbeField(out, "cap_prm"), "0000000000000000") << out;
    EXPECT_EQ(ProbeField(out, "userns"), own) << out;
    if (port == with_default) {
      // Its own policy kills it at unshare, before the deny list could say
      // EPERM.
      EXPECT_EQ(ProbeField(out, "unshare_newuser"), "<missing>") << out;
      // The syscall's name comes from the kernel's audit record, which the
      // kernel's printk rate limit drops when many tests run at once
      // (syscall=unknown then): the kill itself is what this test needs.
      auto end = daemon_.WaitForLine({"event=end", "service=default ", "status=seccomp"},
                                     milliseconds(5000));
      ASSERT_TRUE(end.has_value()) << daemon_.LogText();
      EXPECT_TRUE(LogField(*end, "syscall") == "unshare" || LogField(*end, "syscall") == "unknown")
          << *end;
      continue;
    }
    // The monitor's deny list, which every child inherits.
    EXPECT_EQ(ProbeField(out, "unshare_newuser"), "err:EPERM") << out;
    EXPECT_EQ(ProbeField(out, "cap_eff", 2), "0000000000000000") << out;
    EXPECT_EQ(ProbeField(out, "userns", 2), own) << out;
  }
}

// A System V message queue in this IPC namespace (mode 0666, so that any
// uid could find it); removed at the end.
class MessageQueue {
 public:
  MessageQueue() {
    for (int i = 0; i < 100 && id_ < 0; ++i) {
      key_ = static_cast<key_t>(0x48490000 + (getpid() + i) % 0xffff);
      id_ = msgget(key_, IPC_CREAT | IPC_EXCL | 0666);
    }
  }
  ~MessageQueue() {
    if (id_ >= 0) msgctl(id_, IPC_RMID, nullptr);
  }
  MessageQueue(const MessageQueue&) = delete;
  MessageQueue& operator=(const MessageQueue&) = delete;
  [[nodiscard]] bool ok() const { return id_ >= 0; }
  [[nodiscard]] key_t key() const { return key_; }

 private:
  key_t key_ = 0;
  int id_ = -1;
};

TEST_F(IsolationTest, OptInNamespacesCutTheNetworkIpcAndHostname) {
  constexpr uid_t kUid = 64034;
  ASSERT_TRUE(UseUid(kUid)) << "uid " << kUid << " is in use";
  MessageQueue queue;
  ASSERT_TRUE(queue.ok()) << strerror(errno);
  utsname own{};
  ASSERT_EQ(uname(&own), 0);
  // Another service of the same daemon, which a child with a network of
  // its own must not reach.
  uint16_t echo_port = FreeTcpPort();
  std::string args = ", \"netns\", \"" + std::to_string(echo_port) + "\", \"" +
                     std::to_string(queue.key()) + "\"";
  struct Case {
    std::string name;
    std::string namespaces;
    uint16_t port;
  };
  const std::vector<Case> cases = {
      {"net", "[\"pid\", \"net\"]", FreeTcpPort()},
      {"ipcuts", "[\"pid\", \"ipc\", \"uts\"]", FreeTcpPort()},
      {"control", "[\"pid\"]", FreeTcpPort()},
  };
  std::string services = InternalService("echo", "echo", "\"127.0.0.1:" +
                                                             std::to_string(echo_port) + "\"");
  for (const auto& c : cases) {
    services += Service(c.name, c.port, kUid, args, "netns", "namespaces = " + c.namespaces + "\n");
  }
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(services))) << daemon_.LogText();

  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    int fd = ConnectTcp("127.0.0.1", c.port);
    ASSERT_GE(fd, 0);
    std::string out = ReadUntil(fd, "end=1\n");
    bool own_net = c.name == "net";
    bool own_ipc = c.name == "ipcuts";
    // A new UTS namespace starts as a copy: the same name (and the child,
    // without CAP_SYS_ADMIN, cannot change it).
    EXPECT_EQ(ProbeField(out, "hostname"), own.nodename) << out;
    if (own_net) {
      // Nothing but a loopback that is down, so nothing to reach, not even
      // 127.0.0.1.
      EXPECT_EQ(ProbeField(out, "ifaces"), "lo:down") << out;
      EXPECT_EQ(ProbeField(out, "connect"), "err:ENETUNREACH") << out;
    } else {
      EXPECT_NE(ProbeField(out, "ifaces").find("lo:up"), std::string::npos) << out;
      EXPECT_EQ(ProbeField(out, "connect"), "ok") << out;
    }
    EXPECT_EQ(ProbeField(out, "msgget"), own_ipc ? "err:ENOENT" : "ok") << out;
    // And it still serves its own connection.
    ASSERT_TRUE(WriteAll(fd, "served\n"));
    shutdown(fd, SHUT_WR);
    EXPECT_EQ(ReadAll(fd), "served\n");
    close(fd);
    EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=" + c.name + " ", "status=exit:0"},
                                    milliseconds(5000)))
        << daemon_.LogText();
  }
}

}  // namespace
}  // namespace hinetd::testing
