#include "sandbox/syscall_args.h"

#include <asm/ioctls.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <cstdio>
#include <map>
#include <string_view>
#include <utility>

namespace hinetd::sandbox {

namespace {

// ---- the argument table ----------------------------------------------------

using ArgTable = std::map<std::string, std::vector<ArgInfo>, std::less<>>;

ArgInfo ParseArg(std::string_view word) {
  ArgInfo info;
  auto colon = word.find(':');
  info.name = std::string(word.substr(0, colon));
  std::string_view kind = word.substr(colon + 1);
  if (kind == "p") {
    info.kind = ArgKind::kPointer;
  } else {
    info.kind = kind.substr(1) == "32" ? ArgKind::k32 : ArgKind::k64;
    info.is_signed = kind[0] == 's';
  }
  return info;
}

const ArgTable& Args() {
  static const ArgTable table = [] {
    ArgTable t;
    auto add = [&t](const char* name, std::string_view list) {
      std::vector<ArgInfo> args;
      while (!list.empty()) {
        auto space = list.find(' ');
        args.push_back(ParseArg(list.substr(0, space)));
        list = space == std::string_view::npos ? std::string_view() : list.substr(space + 1);
      }
      t.emplace(name, std::move(args));
    };
#define X(name, list) add(#name, list);
#include "sandbox/syscall_args.inc"
#undef X
    return t;
  }();
  return table;
}

// ---- named constants -------------------------------------------------------

struct Constant {
  const char* name;
  uint64_t value;
};

// A family of constants and how a value of it reads: an enumeration (one
// name) or a bit set (names joined with '|'). The first name listed for a
// value is the one shown.
struct Family {
  const char* prefix;
  bool flags;
  std::vector<Constant> constants;
};

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif

#define C(x) Constant{#x, static_cast<uint64_t>(x)}

const Family kAddressFamilies{"AF_", false,
                              {C(AF_UNSPEC), C(AF_UNIX), C(AF_INET), C(AF_INET6), C(AF_NETLINK),
                               C(AF_PACKET), C(AF_ALG), C(AF_VSOCK), C(AF_BLUETOOTH), C(AF_KEY),
                               C(AF_CAN), C(AF_TIPC), C(AF_XDP), C(AF_RDS), C(AF_LOCAL)}};

const Family kSocketTypes{"SOCK_", false,
                          {C(SOCK_STREAM), C(SOCK_DGRAM), C(SOCK_RAW), C(SOCK_RDM),
                           C(SOCK_SEQPACKET), C(SOCK_PACKET)}};
const Family kSocketTypeFlags{"SOCK_", true, {C(SOCK_NONBLOCK), C(SOCK_CLOEXEC)}};

const Family kCloneFlags{
    "CLONE_",
    true,
    {C(CLONE_VM), C(CLONE_FS), C(CLONE_FILES), C(CLONE_SIGHAND), C(CLONE_PIDFD),
     C(CLONE_PTRACE), C(CLONE_VFORK), C(CLONE_PARENT), C(CLONE_THREAD), C(CLONE_NEWNS),
     C(CLONE_SYSVSEM), C(CLONE_SETTLS), C(CLONE_PARENT_SETTID), C(CLONE_CHILD_CLEARTID),
     C(CLONE_DETACHED), C(CLONE_UNTRACED), C(CLONE_CHILD_SETTID), C(CLONE_NEWCGROUP),
     C(CLONE_NEWUTS), C(CLONE_NEWIPC), C(CLONE_NEWUSER), C(CLONE_NEWPID), C(CLONE_NEWNET),
     C(CLONE_IO), C(CLONE_NEWTIME), C(CLONE_CLEAR_SIGHAND)}};

const Family kProt{"PROT_", true,
                   {C(PROT_NONE), C(PROT_READ), C(PROT_WRITE), C(PROT_EXEC), C(PROT_GROWSDOWN),
                    C(PROT_GROWSUP)}};

const Family kMap{"MAP_", true,
                  {C(MAP_SHARED), C(MAP_PRIVATE), C(MAP_SHARED_VALIDATE), C(MAP_FIXED),
                   C(MAP_ANONYMOUS), C(MAP_GROWSDOWN), C(MAP_DENYWRITE), C(MAP_EXECUTABLE),
                   C(MAP_LOCKED), C(MAP_NORESERVE), C(MAP_POPULATE), C(MAP_NONBLOCK),
                   C(MAP_STACK), C(MAP_HUGETLB), C(MAP_SYNC), C(MAP_FIXED_NOREPLACE),
                   C(MAP_ANON), C(MAP_TYPE)}};

const Family kOpen{"O_", true,
                   {C(O_RDONLY), C(O_WRONLY), C(O_RDWR), C(O_CREAT), C(O_EXCL), C(O_NOCTTY),
                    C(O_TRUNC), C(O_APPEND), C(O_NONBLOCK), C(O_DSYNC), C(O_ASYNC), C(O_DIRECT),
                    C(O_LARGEFILE), C(O_DIRECTORY), C(O_NOFOLLOW), C(O_NOATIME), C(O_CLOEXEC),
                    C(O_SYNC), C(O_PATH), C(O_TMPFILE), C(O_ACCMODE), C(O_NDELAY)}};

const Family kFcntl{"F_", false,
                    {C(F_DUPFD), C(F_GETFD), C(F_SETFD), C(F_GETFL), C(F_SETFL), C(F_GETLK),
                     C(F_SETLK), C(F_SETLKW), C(F_SETOWN), C(F_GETOWN), C(F_SETSIG), C(F_GETSIG),
                     C(F_SETOWN_EX), C(F_GETOWN_EX), C(F_OFD_GETLK), C(F_OFD_SETLK),
                     C(F_OFD_SETLKW), C(F_SETLEASE), C(F_GETLEASE), C(F_NOTIFY),
                     C(F_DUPFD_CLOEXEC), C(F_SETPIPE_SZ), C(F_GETPIPE_SZ), C(F_ADD_SEALS),
                     C(F_GET_SEALS), C(FD_CLOEXEC)}};

const Family kPrctl{
    "PR_",
    false,
    {C(PR_SET_PDEATHSIG), C(PR_GET_PDEATHSIG), C(PR_GET_DUMPABLE), C(PR_SET_DUMPABLE),
     C(PR_GET_UNALIGN), C(PR_SET_UNALIGN), C(PR_GET_KEEPCAPS), C(PR_SET_KEEPCAPS),
     C(PR_GET_FPEMU), C(PR_SET_FPEMU), C(PR_GET_FPEXC), C(PR_SET_FPEXC), C(PR_GET_TIMING),
     C(PR_SET_TIMING), C(PR_SET_NAME), C(PR_GET_NAME), C(PR_GET_ENDIAN), C(PR_SET_ENDIAN),
     C(PR_GET_SECCOMP), C(PR_SET_SECCOMP), C(PR_CAPBSET_READ), C(PR_CAPBSET_DROP),
     C(PR_GET_TSC), C(PR_SET_TSC), C(PR_GET_SECUREBITS), C(PR_SET_SECUREBITS),
     C(PR_SET_TIMERSLACK), C(PR_GET_TIMERSLACK), C(PR_TASK_PERF_EVENTS_DISABLE),
     C(PR_TASK_PERF_EVENTS_ENABLE), C(PR_MCE_KILL), C(PR_MCE_KILL_GET), C(PR_SET_MM),
     C(PR_SET_PTRACER), C(PR_SET_CHILD_SUBREAPER), C(PR_GET_CHILD_SUBREAPER),
     C(PR_SET_NO_NEW_PRIVS), C(PR_GET_NO_NEW_PRIVS), C(PR_GET_TID_ADDRESS),
     C(PR_SET_THP_DISABLE), C(PR_GET_THP_DISABLE), C(PR_SET_FP_MODE), C(PR_GET_FP_MODE),
     C(PR_CAP_AMBIENT), C(PR_SET_SPECULATION_CTRL), C(PR_GET_SPECULATION_CTRL),
     C(PR_SET_TAGGED_ADDR_CTRL), C(PR_GET_TAGGED_ADDR_CTRL), C(PR_SET_IO_FLUSHER),
     C(PR_GET_IO_FLUSHER), C(PR_SET_SYSCALL_USER_DISPATCH), C(PR_SCHED_CORE),
     C(PR_SET_VMA)}};

const Family kIoctl{
    "",  // TIOC*, FIO*, TC*: no one prefix
    false,
    {C(TCGETS), C(TCSETS), C(TCSETSW), C(TCSETSF), C(TCGETA), C(TCSETA), C(TCSETAW),
     C(TCSETAF), C(TCSBRK), C(TCXONC), C(TCFLSH), C(TIOCEXCL), C(TIOCNXCL), C(TIOCSCTTY),
     C(TIOCGPGRP), C(TIOCSPGRP), C(TIOCOUTQ), C(TIOCSTI), C(TIOCGWINSZ), C(TIOCSWINSZ),
     C(TIOCMGET), C(TIOCMBIS), C(TIOCMBIC), C(TIOCMSET), C(TIOCGSOFTCAR), C(TIOCSSOFTCAR),
     C(FIONREAD), C(TIOCINQ), C(TIOCLINUX), C(TIOCCONS), C(TIOCGSERIAL), C(TIOCSSERIAL),
     C(TIOCPKT), C(FIONBIO), C(TIOCNOTTY), C(TIOCSETD), C(TIOCGETD), C(TCSBRKP),
     C(TIOCSBRK), C(TIOCCBRK), C(TIOCGSID), C(TIOCGPTN),
     C(TIOCSPTLCK), C(TIOCGPTPEER), C(FIONCLEX), C(FIOCLEX), C(FIOASYNC), C(FIOQSIZE),
     C(TIOCGLCKTRMIOS), C(TIOCSLCKTRMIOS), C(TIOCMIWAIT), C(TIOCGICOUNT)}};

const Family kSignals{"SIG", false,
                      {C(SIGHUP), C(SIGINT), C(SIGQUIT), C(SIGILL), C(SIGTRAP), C(SIGABRT),
                       C(SIGBUS), C(SIGFPE), C(SIGKILL), C(SIGUSR1), C(SIGSEGV), C(SIGUSR2),
                       C(SIGPIPE), C(SIGALRM), C(SIGTERM), C(SIGSTKFLT), C(SIGCHLD), C(SIGCONT),
                       C(SIGSTOP), C(SIGTSTP), C(SIGTTIN), C(SIGTTOU), C(SIGURG), C(SIGXCPU),
                       C(SIGXFSZ), C(SIGVTALRM), C(SIGPROF), C(SIGWINCH), C(SIGIO), C(SIGPWR),
                       C(SIGSYS), C(SIGIOT), C(SIGPOLL)}};

const Family kAt{"AT_", false, {C(AT_FDCWD)}};

#undef C

const std::vector<const Family*>& AllFamilies() {
  static const std::vector<const Family*> all = {
      &kAddressFamilies, &kSocketTypes, &kSocketTypeFlags, &kCloneFlags, &kProt,   &kMap,
      &kOpen,            &kFcntl,       &kPrctl,           &kIoctl,      &kSignals, &kAt};
  return all;
}

// Which family names the values of an argument (syscall, argument name).
const Family* FamilyOf(const std::string& syscall, const std::string& arg) {
  if (arg == "family" && (syscall == "socket" || syscall == "socketpair")) return &kAddressFamilies;
  if ((syscall == "socket" || syscall == "socketpair") && arg == "type") return &kSocketTypes;
  if (syscall == "clone" && arg == "clone_flags") return &kCloneFlags;
  if ((syscall == "unshare" && arg == "unshare_flags") || (syscall == "setns" && arg == "flags")) {
    return &kCloneFlags;
  }
  if (arg == "prot") return &kProt;
  if (syscall == "mmap" && arg == "flags") return &kMap;
  if ((syscall == "open" || syscall == "openat") && arg == "flags") return &kOpen;
  if ((syscall == "fcntl" || syscall == "fcntl64") && arg == "cmd") return &kFcntl;
  if (syscall == "prctl" && arg == "option") return &kPrctl;
  if (syscall == "ioctl" && arg == "cmd") return &kIoctl;
  if (arg == "sig") return &kSignals;
  if (arg == "dfd") return &kAt;
  return nullptr;
}

std::string Hex(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string DescribeFlags(const Family& family, uint64_t value, uint64_t low_enum_mask) {
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : "|") + part; };
  uint64_t rest = value;
  for (const auto& c : family.constants) {
    // Only single bits: multi-bit masks (O_ACCMODE, MAP_TYPE) are for rules.
    if (c.value == 0 || (c.value & (c.value - 1)) != 0) continue;
    if ((rest & c.value) == c.value && (c.value & low_enum_mask) == 0) {
      add(c.name);
      rest &= ~c.value;
    }
  }
  if (rest != 0) add(Hex(rest));
  return out.empty() ? "0" : out;
}

}  // namespace

const std::vector<ArgInfo>* SyscallArgs(const std::string& syscall) {
  const auto& t = Args();
  auto it = t.find(syscall);
  return it == t.end() ? nullptr : &it->second;
}

std::vector<ArgThatMatters> ArgumentsThatMatter(const std::string& syscall) {
  constexpr uint64_t kNamespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                   CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME;
  if (syscall == "socket" || syscall == "socketpair") return {{0, false, 0}};
  if (syscall == "ioctl") return {{1, false, 0}};
  if (syscall == "prctl" || syscall == "personality") return {{0, false, 0}};
  if (syscall == "clone") return {{0, true, kNamespaces}};
  if (syscall == "mprotect" || syscall == "mmap" || syscall == "pkey_mprotect") {
    return {{2, true, PROT_EXEC}};
  }
  // Whom it signals: its own process group (0), everyone it may (-1), or
  // one process or group by id. (tgkill's and tkill's ids are a thread's
  // and its process's own, as raise() and pthread_kill() pass them, and
  // differ in every run: nothing a rule could name.)
  if (syscall == "kill") return {{0, false, 0, true}};
  return {};
}

std::optional<uint64_t> NamedConstant(const std::string& name) {
  for (const Family* f : AllFamilies()) {
    for (const auto& c : f->constants) {
      if (name == c.name) return c.value;
    }
  }
  return std::nullopt;
}

const char* ConstantFamilies() {
  return "AF_*, SOCK_*, CLONE_*, PROT_*, MAP_*, O_*, F_*, PR_*, TC*/TIOC*/FIO* (ioctl), SIG*, "
         "AT_FDCWD";
}

std::string DescribeValue(const std::string& syscall, int arg, uint64_t value) {
  const auto* args = SyscallArgs(syscall);
  const ArgInfo* info =
      args != nullptr && arg >= 0 && static_cast<size_t>(arg) < args->size() ? &(*args)[arg]
                                                                              : nullptr;
  // What the kernel sees of a 32-bit argument is its lower half.
  if (info != nullptr && info->kind == ArgKind::k32) value &= 0xffffffffu;
  const Family* family = info != nullptr ? FamilyOf(syscall, info->name) : nullptr;
  if (family == &kSocketTypes) {
    // The type, then SOCK_NONBLOCK/SOCK_CLOEXEC.
    uint64_t type = value & 0xf;
    std::string out = Hex(type);
    for (const auto& c : kSocketTypes.constants) {
      if (c.value == type) out = c.name;
    }
    if (value & ~uint64_t{0xf}) out += "|" + DescribeFlags(kSocketTypeFlags, value & ~uint64_t{0xf}, 0);
    return out;
  }
  if (family == &kCloneFlags && syscall == "clone") {
    // The low byte is the signal sent to the parent at exit.
    std::string out = DescribeFlags(kCloneFlags, value & ~uint64_t{0xff}, 0xff);
    if (uint64_t sig = value & 0xff; sig != 0) {
      std::string name = Hex(sig);
      for (const auto& c : kSignals.constants) {
        if (c.value == sig) {
          name = c.name;
          break;
        }
      }
      out = (value & ~uint64_t{0xff}) != 0 ? out + "|" + name : name;
    }
    return out;
  }
  if (family == &kOpen) {
    // The access mode is a two-bit number, not flags.
    uint64_t mode = value & O_ACCMODE;
    std::string out = mode == O_WRONLY ? "O_WRONLY" : mode == O_RDWR ? "O_RDWR" : "O_RDONLY";
    if (mode == O_ACCMODE) out = "O_ACCMODE";
    if (uint64_t rest = value & ~uint64_t{O_ACCMODE}; rest != 0) {
      out += "|" + DescribeFlags(kOpen, rest, O_ACCMODE);
    }
    return out;
  }
  if (family == &kMap) {
    uint64_t type = value & MAP_TYPE;
    std::string out = type == MAP_SHARED            ? "MAP_SHARED"
                      : type == MAP_PRIVATE         ? "MAP_PRIVATE"
                      : type == MAP_SHARED_VALIDATE ? "MAP_SHARED_VALIDATE"
                                                    : Hex(type);
    if (uint64_t rest = value & ~uint64_t{MAP_TYPE}; rest != 0) {
      out += "|" + DescribeFlags(kMap, rest, MAP_TYPE);
    }
    return out;
  }
  if (family != nullptr && family->flags) {
    if (value == 0 && family == &kProt) return "PROT_NONE";
    return DescribeFlags(*family, value, 0);
  }
  if (family != nullptr) {
    for (const auto& c : family->constants) {
      if (c.value == value) return c.name;
    }
  }
  if (info != nullptr && info->is_signed) {
    int64_t s = info->kind == ArgKind::k32 ? static_cast<int32_t>(value)
                                           : static_cast<int64_t>(value);
    // A process id reads as one, whatever its size.
    if (s < 0 || info->name == "pid") return std::to_string(s);
  }
  if (value < 4096) return std::to_string(value);
  return Hex(value);
}

}  // namespace hinetd::sandbox
