// The filters of hinetd's own two processes, run in the user-space cBPF
// evaluator: the listener's allowlist lets through exactly the calls (and
// arguments) its loop makes and kills the rest; the monitor's deny list
// refuses administration and introspection with EPERM and lets spawning be.
#include "sandbox/daemon_filters.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <signal.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <set>

#include "sandbox/arg_rules.h"
#include "sandbox/bpf.h"
#include "sandbox/policy.h"

namespace hinetd::sandbox {
namespace {

constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t kKill = SECCOMP_RET_KILL_PROCESS;
constexpr uint32_t kEperm = SECCOMP_RET_ERRNO | EPERM;

// One syscall as the filter sees it: name, arguments, architecture.
struct Call {
  std::string name;
  std::vector<uint64_t> args;
};

std::string Describe(const Call& c) {
  std::string out = c.name + "(";
  for (size_t i = 0; i < c.args.size(); ++i) out += (i ? ", " : "") + std::to_string(c.args[i]);
  return out + ")";
}

uint32_t Verdict(const BpfProgram& prog, const Call& call, uint32_t arch = NativeAuditArch()) {
  int nr = NativeSyscallNumber(call.name);
  EXPECT_GE(nr, 0) << call.name << " is not a native system call";
  seccomp_data d{};
  d.nr = nr;
  d.arch = arch;
  for (size_t i = 0; i < call.args.size() && i < 6; ++i) d.args[i] = call.args[i];
  auto r = RunBpf(prog.insns(), d);
  EXPECT_TRUE(r.ok()) << Describe(call) << ": " << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : 0;
}

const BpfProgram& Listener() {
  static auto prog = [] {
    auto p = ListenerFilter();
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message());
    return std::move(*p);
  }();
  return *prog;
}

const BpfProgram& Monitor() {
  static auto prog = [] {
    auto p = MonitorFilter();
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message());
    return std::move(*p);
  }();
  return *prog;
}

constexpr uint64_t kFd = 5;
constexpr uint64_t kPtr = 0x7ffd12345000;
constexpr uint64_t kUdp = SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK;

// Every call the listener makes once its filter is in place, with the
// arguments it makes it with (from strace of the real daemon; see
// daemon_filters.cc), plus the ones the kernel or glibc make for it.
std::vector<Call> ListenerCalls() {
  return {
#ifdef __NR_epoll_wait
      {"epoll_wait", {4, kPtr, 64, static_cast<uint64_t>(-1)}},
#else
      {"epoll_pwait", {4, kPtr, 64, static_cast<uint64_t>(-1), 0, 8}},
#endif
      {"epoll_ctl", {4, 1, kFd, kPtr}},
      {"read", {3, kPtr, 128}},
      {"write", {2, kPtr, 80}},
      {"close", {kFd}},
      {"fcntl", {kFd, F_GETFL}},
      {"fcntl", {kFd, F_SETFL, O_RDWR | O_NONBLOCK}},
      {"fcntl", {kFd, F_DUPFD_CLOEXEC, 3}},
      {"clock_gettime", {1, kPtr}},
      {"restart_syscall", {}},
#ifdef __NR_poll
      {"poll", {kPtr, 1, 2000}},
#else
      {"ppoll", {kPtr, 1, kPtr, 0, 8}},
#endif
      {"accept4", {kFd, kPtr, kPtr, SOCK_CLOEXEC}},
      {"recvmsg", {kFd, kPtr, MSG_PEEK | MSG_DONTWAIT}},
      {"recvmsg", {kFd, kPtr, MSG_DONTWAIT | MSG_CMSG_CLOEXEC}},
      {"recvmmsg", {kFd, kPtr, 4, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, 0}},
      {"recvfrom", {kFd, kPtr, 65536, MSG_DONTWAIT, 0, 0}},
      {"getsockopt", {kFd, SOL_SOCKET, SO_PEERCRED, kPtr, kPtr}},
      {"getsockopt", {kFd, SOL_SOCKET, SO_ERROR, kPtr, kPtr}},
      {"socket", {AF_INET, kUdp, 0}},
      {"socket", {AF_INET6, kUdp, 0}},
      {"socket", {AF_INET, SOCK_DGRAM, 0}},  // the flags are optional
      {"setsockopt", {kFd, SOL_SOCKET, SO_REUSEPORT, kPtr, 4}},
      {"setsockopt", {kFd, IPPROTO_IPV6, IPV6_V6ONLY, kPtr, 4}},
      {"setsockopt", {kFd, IPPROTO_IP, IP_PKTINFO, kPtr, 4}},
      {"setsockopt", {kFd, IPPROTO_IPV6, IPV6_RECVPKTINFO, kPtr, 4}},
      {"bind", {kFd, kPtr, 16}},
      {"connect", {kFd, kPtr, 28}},
      {"sendmsg", {kFd, kPtr, MSG_DONTWAIT | MSG_NOSIGNAL}},
      {"brk", {0}},
      {"mmap", {0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                static_cast<uint64_t>(-1), 0}},
      {"mmap", {0, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, static_cast<uint64_t>(-1), 0}},
      {"munmap", {kPtr, 1 << 20}},
      {"madvise", {kPtr, 1 << 21, MADV_HUGEPAGE}},
      {"futex", {kPtr, FUTEX_WAKE_PRIVATE, INT_MAX}},
      {"getpid", {}},
      {"exit_group", {0}},
#ifdef HINETD_SANITIZE
      {"sigaltstack", {0, kPtr}},  // the sanitizer runtime's (test build only)
#endif
  };
}

TEST(ListenerFilter, AllowsEveryCallOfTheListener) {
  for (const Call& c : ListenerCalls()) {
    EXPECT_EQ(Verdict(Listener(), c), kAllow) << Describe(c);
  }
}

TEST(ListenerFilter, EveryAllowedSyscallIsExercisedAbove) {
  // A syscall added to the allowlist gets a call in ListenerCalls() (and a
  // reason in daemon_filters.cc), or this fails.
  std::set<std::string> exercised;
  for (const Call& c : ListenerCalls()) exercised.insert(c.name);
  std::vector<std::string> allowed = ListenerSyscalls();
  EXPECT_EQ(std::set<std::string>(allowed.begin(), allowed.end()), exercised);
  EXPECT_EQ(allowed.size(), std::set<std::string>(allowed.begin(), allowed.end()).size())
      << "a syscall is listed twice";
}

TEST(ListenerFilter, SizeIsTheDocumentedOne) {
  // README.md (twice) and man/hinetd.8 give this number: change them with it.
#ifdef HINETD_SANITIZE
  // The sanitizer build adds the runtime's sigaltstack (daemon_filters.cc).
  EXPECT_EQ(ListenerSyscalls().size(), 27u);
#else
  EXPECT_EQ(ListenerSyscalls().size(), 26u);
#endif
}

TEST(ListenerFilter, KillsEverythingElse) {
  const std::vector<Call> forbidden = {
      // New programs, files, processes.
      {"execve", {kPtr, kPtr, kPtr}},
      {"execveat", {3, kPtr, kPtr, kPtr, 0}},
      {"openat", {static_cast<uint64_t>(AT_FDCWD), kPtr, O_RDONLY}},
      {"clone", {SIGCHLD}},
      {"clone3", {kPtr, 88}},
      {"recvmmsg", {kFd, kPtr, 4, MSG_CMSG_CLOEXEC, 0}},  // one that would wait
      {"recvmmsg", {kFd, kPtr, 1024, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, 0}},
      {"ptrace", {PTRACE_ATTACH, 1}},
      {"kill", {1, 9}},
      {"prctl", {4, 1}},
      {"seccomp", {1, 0, kPtr}},
      {"setresuid", {0, 0, 0}},
      {"chroot", {kPtr}},
      {"mount", {kPtr, kPtr, kPtr, 0, 0}},
      {"bpf", {0, kPtr, 128}},
      {"io_uring_setup", {8, kPtr}},
      {"memfd_create", {kPtr, 0}},
      // Executable memory: neither a new mapping nor a changed one.
      {"mmap", {0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                static_cast<uint64_t>(-1), 0}},
      {"mmap", {0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                static_cast<uint64_t>(-1), 0}},
      {"mprotect", {kPtr, 4096, PROT_READ | PROT_EXEC}},
      {"mprotect", {kPtr, 4096, PROT_READ}},
      {"mremap", {kPtr, 4096, 8192, 1}},
      // Sockets of other domains, types and protocols.
      {"socket", {AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0}},
      {"socket", {AF_NETLINK, SOCK_DGRAM, 0}},
      {"socket", {AF_PACKET, SOCK_RAW, 0x0300}},
      {"socket", {AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0}},
      {"socket", {AF_INET6, SOCK_STREAM, 0}},
      {"socket", {AF_INET, SOCK_RAW, IPPROTO_ICMP}},
      {"socket", {AF_INET6, SOCK_RAW, IPPROTO_RAW}},
      {"socket", {AF_INET, SOCK_DGRAM, IPPROTO_ICMP}},  // ping sockets
      // No unix socket of any type: its log goes to stderr or the monitor's
      // relay, never to syslog's /dev/log (nor to any other socket file,
      // abstract or not).
      {"socket", {AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0}},
      {"socket", {AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0}},
      {"socket", {AF_UNIX, SOCK_DGRAM, 0}},
      {"socket", {AF_UNIX, SOCK_SEQPACKET, 0}},
      {"socket", {AF_VSOCK, SOCK_DGRAM, 0}},
      {"socket", {AF_ALG, SOCK_SEQPACKET, 0}},
      // A type with a bit other than SOCK_CLOEXEC and SOCK_NONBLOCK.
      {"socket", {AF_INET, SOCK_DGRAM | 0x100, 0}},
      // Socket options and operations it never uses.
      {"setsockopt", {kFd, SOL_SOCKET, SO_BINDTODEVICE, kPtr, 4}},
      {"setsockopt", {kFd, SOL_SOCKET, SO_REUSEADDR, kPtr, 4}},
      {"setsockopt", {kFd, IPPROTO_IP, IP_ADD_MEMBERSHIP, kPtr, 8}},
      {"setsockopt", {kFd, IPPROTO_IP, SO_REUSEPORT, kPtr, 4}},  // right name, wrong level
      {"getsockopt", {kFd, IPPROTO_IP, IP_PKTINFO, kPtr, kPtr}},
      {"getsockname", {kFd, kPtr, kPtr}},
      {"getpeername", {kFd, kPtr, kPtr}},
      {"listen", {kFd, 128}},
      {"socketpair", {AF_UNIX, SOCK_STREAM, 0, kPtr}},
      // sendto, with a destination or without (syslog's send(), gone).
      {"sendto", {kFd, kPtr, 10, 0, kPtr, 16}},
      {"sendto", {kFd, kPtr, 97, MSG_NOSIGNAL, 0, 0}},
      // fcntl beyond the three commands.
      {"fcntl", {kFd, F_SETOWN, 1}},
      {"fcntl", {kFd, F_SETLK, kPtr}},
      {"fcntl", {kFd, F_SETFD, 0}},
      // futex beyond waking, madvise beyond huge pages.
      {"futex", {kPtr, FUTEX_WAIT_PRIVATE, 0, 0}},
      {"futex", {kPtr, FUTEX_LOCK_PI, 0, 0}},
      {"futex", {kPtr, FUTEX_WAKE, 1}},
      {"madvise", {kPtr, 4096, MADV_DONTFORK}},
      {"madvise", {kPtr, 4096, MADV_HWPOISON}},
      // What the 39-syscall list had and the listener never calls.
#ifdef __NR_epoll_wait
      {"epoll_pwait", {4, kPtr, 64, 0, 0, 8}},
#endif
      {"gettimeofday", {kPtr, 0}},
      {"rt_sigreturn", {}},
      {"rt_sigprocmask", {SIG_BLOCK, kPtr, 0, 8}},
      {"gettid", {}},
      {"exit", {0}},
      {"newfstatat", {static_cast<uint64_t>(AT_FDCWD), kPtr, kPtr, 0}},
      {"fstat", {3, kPtr}},
      {"lseek", {3, 0, 0}},
#ifdef __NR_poll
      {"ppoll", {kPtr, 1, kPtr, 0, 8}},
#endif
  };
  for (const Call& c : forbidden) {
    EXPECT_EQ(Verdict(Listener(), c), kKill) << Describe(c);
  }
}

TEST(ListenerFilter, TheSocketTypeMaskIsOnTheLow32BitsOnly) {
  // SCMP_CMP_MASKED_EQ with a 32-bit mask: the kernel reads an int, so bits
  // 32-63 of the register do not change what it does, and cannot change the
  // verdict either.
  EXPECT_EQ(Verdict(Listener(), {"socket", {AF_INET, (1ull << 40) | kUdp, 0}}), kAllow);
  EXPECT_EQ(Verdict(Listener(), {"socket", {AF_INET, (1ull << 40) | SOCK_STREAM, 0}}), kKill);
}

#if defined(__x86_64__)
TEST(ListenerFilter, KillsOtherArchitectures) {
  // read is 0 on x86_64 and 3 on i386; x32 numbers carry bit 30.
  seccomp_data d{};
  d.arch = AUDIT_ARCH_I386;
  d.nr = 3;
  EXPECT_EQ(*RunBpf(Listener().insns(), d), kKill);
  d.arch = AUDIT_ARCH_X86_64;
  d.nr = 0x40000000 | 0;  // x32 read
  EXPECT_EQ(*RunBpf(Listener().insns(), d), kKill);
  d.nr = 0;
  EXPECT_EQ(*RunBpf(Listener().insns(), d), kAllow);
}
#endif

TEST(MonitorFilter, RefusesTheDenyListWithEperm) {
  size_t checked = 0;
  for (const auto& name : MonitorDenyList()) {
    if (NativeSyscallNumber(name) < 0) continue;  // not on this architecture
    EXPECT_EQ(Verdict(Monitor(), {name, {}}), kEperm) << name;
    ++checked;
  }
  EXPECT_GT(checked, 30u);
  for (const char* name : {"mount", "ptrace", "bpf", "unshare", "setns", "init_module",
                           "kexec_load", "perf_event_open", "io_uring_setup", "keyctl"}) {
    EXPECT_EQ(Verdict(Monitor(), {name, {}}), kEperm) << name;
  }
  // Whatever the arguments: ptrace(PTRACE_TRACEME) as much as an attach.
  EXPECT_EQ(Verdict(Monitor(), {"ptrace", {PTRACE_TRACEME}}), kEperm);
  EXPECT_EQ(Verdict(Monitor(), {"mount", {0, kPtr, kPtr, 0, 0}}), kEperm);
}

TEST(MonitorFilter, AllowsWhatSpawningAndServicesNeed) {
  // The monitor forks, sandboxes and execs children; children inherit the
  // filter, so what services do must pass too (their own policy decides).
  for (const char* name :
       {"clone", "execve", "execveat", "wait4", "waitid", "kill", "setsid", "setresuid",
        "setresgid", "setgroups", "chroot", "chdir", "capset", "prctl", "seccomp", "close_range",
        "setrlimit", "prlimit64", "umask", "pipe2", "dup3", "read", "write", "openat", "socket",
        "sendmsg", "recvmsg", "epoll_wait", "signalfd4", "mmap", "mprotect", "exit_group"}) {
    if (NativeSyscallNumber(name) < 0) continue;
    EXPECT_EQ(Verdict(Monitor(), {name, {}}), kAllow) << name;
  }
}

TEST(MonitorFilter, LetsTheRecorderWork) {
  // Learning and trial mode (supervisor/recorder.h): the listeners come by
  // recvmsg, and are answered with these ioctls; the child installs its
  // recording filter with a listener.
  EXPECT_EQ(Verdict(Monitor(), {"recvmsg", {kFd, kPtr, MSG_CMSG_CLOEXEC | MSG_DONTWAIT}}), kAllow);
  for (uint64_t request : {static_cast<uint64_t>(SECCOMP_IOCTL_NOTIF_RECV),
                           static_cast<uint64_t>(SECCOMP_IOCTL_NOTIF_SEND)}) {
    EXPECT_EQ(Verdict(Monitor(), {"ioctl", {kFd, request, kPtr}}), kAllow) << request;
  }
  EXPECT_EQ(Verdict(Monitor(), {"seccomp", {SECCOMP_SET_MODE_FILTER,
                                            SECCOMP_FILTER_FLAG_NEW_LISTENER, kPtr}}),
            kAllow);
  EXPECT_EQ(Verdict(Monitor(), {"seccomp", {SECCOMP_GET_NOTIF_SIZES, 0, kPtr}}), kAllow);
}

TEST(MonitorFilter, CreatesOnlyTheNamespacesOfItsChildren) {
  // PID, network, IPC and UTS namespaces for children; never a user, mount
  // or cgroup namespace; clone3 hides its flags: ENOSYS, and libc falls back.
  for (uint64_t ns : {CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS}) {
    EXPECT_EQ(Verdict(Monitor(), {"clone", {SIGCHLD | ns}}), kAllow) << std::hex << ns;
  }
  for (uint64_t ns : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWCGROUP}) {
    EXPECT_EQ(Verdict(Monitor(), {"clone", {SIGCHLD | CLONE_NEWPID | ns}}), kEperm)
        << std::hex << ns;
  }
  EXPECT_EQ(Verdict(Monitor(), {"clone3", {kPtr, 88}}), SECCOMP_RET_ERRNO | ENOSYS);
  EXPECT_EQ(Verdict(Monitor(), {"pidfd_getfd", {3, 4, 0}}), kEperm);
}

TEST(MonitorFilter, LetsAChildJoinOnlyAUserOrAMountNamespace) {
  // drops_privileges children join the namespaces made for them (setns
  // with exactly CLONE_NEWUSER, then CLONE_NEWNS); no other type, no "any".
  EXPECT_EQ(Verdict(Monitor(), {"setns", {kFd, CLONE_NEWUSER}}), kAllow);
  EXPECT_EQ(Verdict(Monitor(), {"setns", {kFd, CLONE_NEWNS}}), kAllow);
  for (uint64_t ns : {0UL, static_cast<uint64_t>(CLONE_NEWUSER | CLONE_NEWNS),
                      static_cast<uint64_t>(CLONE_NEWNET), static_cast<uint64_t>(CLONE_NEWPID),
                      static_cast<uint64_t>(CLONE_NEWCGROUP)}) {
    EXPECT_EQ(Verdict(Monitor(), {"setns", {kFd, ns}}), kEperm) << std::hex << ns;
  }
  // The monitor itself still makes none of them, and mounts nothing.
  EXPECT_EQ(Verdict(Monitor(), {"unshare", {CLONE_NEWUSER}}), kEperm);
  EXPECT_EQ(Verdict(Monitor(), {"mount", {kPtr, kPtr, 0, MS_BIND | MS_REC, 0}}), kEperm);
  EXPECT_EQ(Verdict(Monitor(), {"pivot_root", {kPtr, kPtr}}), kEperm);
}

TEST(NamespaceMakerFilter, MakesTheNamespacesAndNothingMore) {
  auto filter = NamespaceMakerFilter();
  ASSERT_TRUE(filter.ok()) << filter.error().ToString();
  const BpfProgram& maker = **filter;
  EXPECT_EQ(Verdict(maker, {"unshare", {CLONE_NEWUSER}}), kAllow);
  EXPECT_EQ(Verdict(maker, {"unshare", {CLONE_NEWNS}}), kAllow);
  EXPECT_EQ(Verdict(maker, {"mount", {kPtr, kPtr, 0, MS_BIND | MS_REC, 0}}), kAllow);
  EXPECT_EQ(Verdict(maker, {"pivot_root", {kPtr, kPtr}}), kAllow);
  EXPECT_EQ(Verdict(maker, {"umount2", {kPtr, MNT_DETACH}}), kAllow);
  // The rest of the monitor's deny list stands.
  for (const char* name : {"ptrace", "bpf", "init_module", "kexec_load", "keyctl"}) {
    if (NativeSyscallNumber(name) < 0) continue;
    EXPECT_EQ(Verdict(maker, {name, {}}), kEperm) << name;
  }
  EXPECT_EQ(Verdict(maker, {"setns", {kFd, CLONE_NEWNET}}), kEperm);
}

TEST(ChildrenFilter, NoNamespaceOfAnyKind) {
  auto filter = ChildrenFilter();
  ASSERT_TRUE(filter.ok()) << filter.error().ToString();
  const BpfProgram& children = **filter;
  EXPECT_EQ(Verdict(children, {"clone", {SIGCHLD}}), kAllow);  // fork()
  EXPECT_EQ(Verdict(children, {"clone", {CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                                         CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS |
                                         CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID}}),
            kAllow);  // pthread_create()
  for (uint64_t ns : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWPID, CLONE_NEWNET,
                      CLONE_NEWIPC, CLONE_NEWUTS}) {
    EXPECT_EQ(Verdict(children, {"clone", {SIGCHLD | ns}}), kEperm) << std::hex << ns;
  }
  EXPECT_EQ(Verdict(children, {"clone3", {kPtr, 88}}), SECCOMP_RET_ERRNO | ENOSYS);
  EXPECT_EQ(Verdict(children, {"execve", {kPtr, kPtr, kPtr}}), kAllow);
  // The setns the monitor's filter lets through for drops_privileges
  // children is refused before any service code runs.
  for (uint64_t ns : {CLONE_NEWUSER, CLONE_NEWNS}) {
    EXPECT_EQ(Verdict(children, {"setns", {kFd, ns}}), kEperm) << std::hex << ns;
  }
}

// What both layers above a service's policy make of a call: the more
// restrictive answer, as the kernel takes it.
uint32_t BaseVerdict(const Call& call) {
  static auto children = [] {
    auto p = ChildrenFilter();
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message());
    return std::move(*p);
  }();
  uint32_t a = Verdict(Monitor(), call);
  uint32_t b = Verdict(*children, call);
  auto action = [](uint32_t r) { return static_cast<int32_t>(r & SECCOMP_RET_ACTION_FULL); };
  return action(a) <= action(b) ? a : b;
}

TEST(BaseLayerRefusals, SayExactlyWhatTheTwoLayersRefuse) {
  std::set<std::string> listed;
  for (const auto& r : BaseLayerRefusals()) {
    listed.insert(r.syscall);
    uint32_t want = SECCOMP_RET_ERRNO | static_cast<uint32_t>(r.err);
    if (r.when.empty()) {
      // Any arguments.
      EXPECT_EQ(BaseVerdict({r.syscall, {}}), want) << r.syscall;
      EXPECT_EQ(BaseVerdict({r.syscall, {CLONE_NEWUSER, CLONE_NEWNS, kPtr}}), want) << r.syscall;
      continue;
    }
    // Its condition, parsed as a policy would: each alternative refused,
    // and the call without any of them let through.
    auto alternatives = ParseCondition(r.syscall, r.when);
    ASSERT_TRUE(alternatives.ok()) << r.when << ": " << alternatives.error().ToString();
    ASSERT_EQ(r.syscall, "clone");
    EXPECT_EQ(alternatives->size(), 7u) << r.when;
    for (const auto& alt : *alternatives) {
      ASSERT_EQ(alt.all.size(), 1u);
      EXPECT_EQ(BaseVerdict({"clone", {SIGCHLD | alt.all[0].mask}}), want) << r.when;
    }
    EXPECT_EQ(BaseVerdict({"clone", {SIGCHLD}}), kAllow);
  }
  EXPECT_EQ(listed.count("unshare"), 1u);
  EXPECT_EQ(listed.count("setns"), 1u);
  EXPECT_EQ(listed.count("personality"), 1u);
  EXPECT_EQ(listed.count("clone3"), 1u);
  // Nothing else: every native syscall, with no arguments and with each
  // namespace flag in its first, is refused only if listed.
  for (const auto& name : NativeSyscallNames()) {
    for (uint64_t first : {0UL, static_cast<uint64_t>(CLONE_NEWUSER),
                           static_cast<uint64_t>(CLONE_NEWNET)}) {
      uint32_t v = BaseVerdict({name, {first}});
      if ((v & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO) {
        EXPECT_EQ(listed.count(name), 1u) << name << "(" << first << ") is refused, not listed";
      } else {
        EXPECT_EQ(v, kAllow) << name;
      }
    }
  }
}

#if defined(__x86_64__)
TEST(MonitorFilter, KillsOtherArchitectures) {
  seccomp_data d{};
  d.arch = AUDIT_ARCH_I386;
  d.nr = 26;  // ptrace on i386, and anything else
  EXPECT_EQ(*RunBpf(Monitor().insns(), d), kKill);
  d.nr = 3;
  EXPECT_EQ(*RunBpf(Monitor().insns(), d), kKill);
  d.arch = AUDIT_ARCH_X86_64;
  d.nr = 0x40000000 | 101;  // x32 ptrace
  EXPECT_EQ(*RunBpf(Monitor().insns(), d), kKill);
}
#endif

}  // namespace
}  // namespace hinetd::sandbox
