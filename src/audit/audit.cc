#include "audit/audit.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <functional>
#include <set>

#include "base/errno_name.h"
#include "base/unique_fd.h"
#include "config/units.h"
#include "sandbox/bpf.h"
#include "sandbox/daemon_filters.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif

namespace hinetd::audit {

using base::Error;
using base::Result;

namespace {

// The table the man page documents (hinetd(8), AUDIT): keep the two equal.
const std::vector<CheckInfo> kChecks = {
    // identity
    {"identity.root", "identity", 30, "runs as root: a compromise of the service is root on the host",
     "user"},
    {"identity.gid0", "identity", 10,
     "runs with group 0 (primary or supplementary): it can write what root's group may", "group"},
    {"identity.unconfined", "identity", 10,
     "marked unconfined: hinetd accepts root or no policy for it without complaint", "unconfined"},
    {"identity.shared-uid", "identity", 5,
     "shares its uid with another service or the listener: a compromise can signal them and "
     "write their files",
     "user"},
    {"identity.groups", "identity", 3,
     "has supplementary groups: it can reach whatever those groups may", "groups"},
    {"identity.drops-privileges", "identity", 3,
     "changes its own identity (drops_privileges): it holds CAP_SETUID, CAP_SETGID and "
     "CAP_SYS_CHROOT in a user namespace of its own, kernel code other services never reach",
     "drops_privileges"},
    // filesystem
    {"fs.chroot", "filesystem", 20,
     "no chroot (or chroot /): the service sees the whole file system", "chroot"},
    {"fs.setid", "filesystem", 3,
     "set-user-ID or set-group-ID files in the jail (no_new_privs makes them inert for this "
     "service, not for whatever else uses the directory)",
     "chroot"},
    {"fs.writable", "filesystem", 10,
     "files or directories in the jail its uid can write: it can change what it or the next "
     "connection runs",
     "chroot"},
    {"fs.devices", "filesystem", 10, "device nodes in the jail: direct access to kernel drivers",
     "chroot"},
    {"fs.shell", "filesystem", 5,
     "a shell or interpreter in the jail: an attacker gets a language to run", "chroot"},
    {"fs.owner", "filesystem", 3,
     "files in the jail not owned by root: their owner can change what the service runs",
     "chroot"},
    // seccomp
    {"seccomp.policy", "seccomp", 20,
     "no policy of its own (sandbox = \"none\"): every system call but hinetd's base deny list",
     "sandbox"},
    {"seccomp.default", "seccomp", 15,
     "the policy is in trial mode (default_action = \"log\"): calls outside it are allowed",
     "sandbox (the policy's default_action)"},
    {"seccomp.exec", "seccomp", 5,
     "can execute programs (execve/execveat): whatever its jail holds runs under this policy",
     "sandbox"},
    {"seccomp.egress", "seccomp", 15,
     "can open network connections: the policy allows socket (AF_INET/AF_INET6) and connect or "
     "sendto",
     "sandbox, or namespaces = [\"net\"]"},
    {"seccomp.namespaces", "seccomp", 15,
     "can create namespaces (clone/unshare with CLONE_NEW*, setns): a user namespace opens the "
     "kernel's namespaced-root surface",
     "sandbox"},
    {"seccomp.ptrace", "seccomp", 15,
     "can trace processes (ptrace): read and change another process's memory and registers",
     "sandbox"},
    {"seccomp.process-vm", "seccomp", 15,
     "can read or write another process's memory (process_vm_readv/writev)", "sandbox"},
    {"seccomp.kill", "seccomp", 5,
     "can signal processes beyond its own (kill, tgkill, tkill, rt_sigqueueinfo outside a pid "
     "namespace)",
     "sandbox, or namespaces = [\"pid\"]"},
    {"seccomp.ioctl", "seccomp", 10,
     "ioctl without argument rules: TIOCSTI can type into a terminal, and every driver is reachable",
     "sandbox"},
    {"seccomp.exec-memory", "seccomp", 10,
     "can make memory executable (mmap or mprotect with PROT_EXEC on anonymous or writable memory): "
     "injected code runs",
     "sandbox"},
    {"seccomp.prctl", "seccomp", 5,
     "prctl options that weaken the process (PR_SET_DUMPABLE, PR_SET_PTRACER, PR_SET_MM, "
     "PR_SET_SECUREBITS)",
     "sandbox"},
    {"seccomp.io-uring", "seccomp", 10,
     "io_uring: system calls the filter never sees, and a large kernel surface", "sandbox"},
    {"seccomp.bpf", "seccomp", 10, "bpf: loads programs into the kernel", "sandbox"},
    {"seccomp.perf", "seccomp", 10, "perf_event_open: a large kernel surface, side channels",
     "sandbox"},
    {"seccomp.keyctl", "seccomp", 5, "the kernel keyring (keyctl, add_key, request_key)",
     "sandbox"},
    {"seccomp.personality", "seccomp", 5,
     "personality(READ_IMPLIES_EXEC): every readable mapping becomes executable", "sandbox"},
    {"seccomp.arch", "seccomp", 10,
     "system calls of another architecture (32-bit, x32) pass: the filter checks the wrong numbers",
     "sandbox"},
    // resources
    {"resources.timeout", "resources", 5, "no timeout: a child can hold its slot forever",
     "timeout"},
    {"resources.nproc", "resources", 3, "no nproc limit: it can fork without bound",
     "rlimits.nproc"},
    {"resources.as", "resources", 3, "no address-space limit: it can take all memory",
     "rlimits.as"},
    {"resources.cpu", "resources", 3, "no CPU-time limit: it can spin forever", "rlimits.cpu"},
    {"resources.nofile", "resources", 2, "no descriptor limit", "rlimits.nofile"},
    // admission
    {"admission.allow", "admission", 10,
     "listens beyond loopback with no allow list: anyone who can reach the host can connect",
     "allow"},
    {"admission.max-instances", "admission", 3,
     "no max_instances: one service can take every slot of max_children", "max_instances"},
    {"admission.per-source", "admission", 3,
     "no per_source: one client can take every instance", "per_source"},
    {"admission.rate", "admission", 3, "no rate: nothing slows a flood of new children", "rate"},
    // exposure
    {"exposure.udp", "exposure", 5,
     "a UDP service beyond loopback: spoofed sources make it a reflector (hinetd drops sources "
     "on served and small-service ports, which stops loops, not reflection)",
     "listen, allow"},
    {"exposure.stderr", "exposure", 3,
     "stderr = \"socket\": error messages (paths, versions) go to the client", "stderr"},
    {"exposure.unix-mode", "exposure", 5,
     "a world-writable unix: socket: every local user can connect", "socket_mode"},
    // isolation
    {"isolation.pid", "isolation", 5,
     "no pid namespace: it sees every process, and what it starts can outlive it", "namespaces"},
    {"isolation.net", "isolation", 3,
     "no network namespace: it shares the host's network stack", "namespaces"},
    {"isolation.ipc", "isolation", 2,
     "no IPC namespace: it shares System V IPC and POSIX message queues with the host",
     "namespaces"},
    {"isolation.uts", "isolation", 1,
     "no UTS namespace: it shares the host's host name and NIS domain name", "namespaces"},
    {"isolation.landlock", "isolation", 3,
     "no Landlock domain (kernel before 5.19): children of one uid can reach each other's "
     "memory through /proc",
     "(kernel)"},
};

constexpr uint32_t kRetAction(uint32_t r) { return r & SECCOMP_RET_ACTION_FULL; }

// The kernel runs every filter and takes the most restrictive action: the
// lowest value, read as signed (KILL_PROCESS is negative).
uint32_t MoreRestrictive(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(kRetAction(a)) <= static_cast<int32_t>(kRetAction(b)) ? a : b;
}

bool Allows(uint32_t ret) {
  uint32_t act = kRetAction(ret);
  return act == SECCOMP_RET_ALLOW || act == SECCOMP_RET_LOG;
}

// A system call number no kernel has (below x32's bit): no policy can name
// it, so a compiled program returns its default action for it.
constexpr int kNoSuchSyscall = 0x3fff;

// A SECCOMP_RET_* value in the syntax of default_action.
std::string DefaultActionName(uint32_t ret) {
  switch (kRetAction(ret)) {
    case SECCOMP_RET_ALLOW: return "allow";
    case SECCOMP_RET_LOG: return "log";
    case SECCOMP_RET_KILL_PROCESS:
    case SECCOMP_RET_KILL_THREAD: return "kill";
    case SECCOMP_RET_ERRNO: return "errno:" + base::ErrnoName(ret & SECCOMP_RET_DATA);
    case SECCOMP_RET_TRAP: return "trap";
  }
  return "action " + std::to_string(ret);
}

seccomp_data Call(const std::string& name, std::initializer_list<uint64_t> args,
                  uint32_t arch = 0) {
  seccomp_data d{};
  d.nr = sandbox::NativeSyscallNumber(name);
  d.arch = arch != 0 ? arch : sandbox::NativeAuditArch();
  size_t i = 0;
  for (uint64_t a : args) d.args[i++] = a;
  return d;
}

std::string Join(const std::vector<std::string>& parts, const char* sep = ", ") {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// One attempted call and what the layers make of it.
struct Attempt {
  std::string label;  // "socket(AF_INET)"
  std::string syscall;
  seccomp_data data;
};

class Evaluator {
 public:
  Evaluator(const BaseLayers& base, const sandbox::BpfProgram* policy,
            const sandbox::ExpandedPolicy* rules)
      : base_(base), policy_(policy), rules_(rules) {}

  // What the kernel does; an absent syscall (not on this architecture) is
  // reported as not allowed.
  Verdict Run(const Attempt& a) const {
    if (static_cast<int>(a.data.nr) < 0) return {false, "no such system call here"};
    auto r = Effective(base_, policy_, a.data);
    if (!r.ok()) return {false, "unreadable filter: " + r.error().message()};
    return {Allows(*r), ActionText(*r)};
  }

  // Fail if any attempt is allowed; pass with how each is refused, saying
  // "narrowed by an argument rule" where the policy lists the syscall
  // with conditions that exclude these arguments.
  CheckResult Judge(const CheckInfo* info, const std::vector<Attempt>& attempts) const {
    CheckResult c{info, Outcome::kPass, ""};
    std::vector<std::string> allowed;
    std::vector<std::pair<std::string, std::vector<std::string>>> refused;  // how -> calls
    std::set<std::string> narrowed;
    for (const auto& a : attempts) {
      Verdict v = Run(a);
      if (v.allowed) {
        allowed.push_back(a.label);
        continue;
      }
      auto it = std::find_if(refused.begin(), refused.end(),
                             [&](const auto& r) { return r.first == v.how; });
      if (it == refused.end()) {
        refused.push_back({v.how, {a.label}});
      } else {
        it->second.push_back(a.label);
      }
      if (rules_ != nullptr) {
        auto it = rules_->find(a.syscall);
        if (it != rules_->end() && !it->second.whole() && it->second.AllowsSome()) {
          narrowed.insert(a.syscall);
        }
      }
    }
    if (!allowed.empty()) {
      c.outcome = Outcome::kFail;
      c.detail = "allowed: " + Join(allowed);
      return c;
    }
    std::vector<std::string> parts;
    for (const auto& [how, calls] : refused) parts.push_back(how + ": " + Join(calls));
    c.detail = Join(parts, "; ");
    if (!narrowed.empty()) {
      c.detail += " (narrowed by an argument rule: " +
                  Join(std::vector<std::string>(narrowed.begin(), narrowed.end())) + ")";
    }
    return c;
  }

 private:
  const BaseLayers& base_;
  const sandbox::BpfProgram* policy_;
  const sandbox::ExpandedPolicy* rules_;
};

// The jail, walked once (bounded): what the filesystem checks look for.
struct JailScan {
  std::vector<std::string> setid, writable, devices, shells, not_root, skipped;
  size_t entries = 0;
  bool truncated = false;
  std::string error;
};

constexpr size_t kMaxEntries = 200000;
constexpr int kMaxDepth = 64;

bool IsInterpreter(const std::string& base) {
  static const char* kNames[] = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh",
                                 "fish", "ash", "busybox", "perl", "python", "python2",
                                 "python3", "ruby", "php", "lua", "node", "nodejs", "tclsh",
                                 "wish", "awk", "gawk", "mawk", "nawk", "expect", "guile"};
  for (const char* n : kNames) {
    if (base == n) return true;
  }
  // Versioned names: python3.11, perl5.36.0, lua5.4, php8.2.
  for (const char* n : {"python", "perl", "lua", "php", "ruby", "tclsh"}) {
    size_t len = strlen(n);
    if (base.size() > len && base.compare(0, len, n) == 0 &&
        (isdigit(static_cast<unsigned char>(base[len])) != 0)) {
      return true;
    }
  }
  return false;
}

void Note(std::vector<std::string>& list, const std::string& path) { list.push_back(path); }

bool CanWrite(const struct stat& st, uid_t uid, const std::vector<gid_t>& gids) {
  if (uid == 0) return true;
  if (st.st_uid == uid) return (st.st_mode & S_IWUSR) != 0;
  if (std::find(gids.begin(), gids.end(), st.st_gid) != gids.end()) {
    return (st.st_mode & S_IWGRP) != 0;
  }
  return (st.st_mode & S_IWOTH) != 0;
}

void Walk(int dirfd, const std::string& path, int depth, uid_t uid,
          const std::vector<gid_t>& gids, JailScan& scan) {
  if (depth > kMaxDepth) {
    scan.truncated = true;
    return;
  }
  int fd = dup(dirfd);
  if (fd < 0) return;
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    close(fd);
    return;
  }
  while (dirent* e = readdir(dir)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (++scan.entries > kMaxEntries) {
      scan.truncated = true;
      break;
    }
    std::string child = path + (path == "/" ? "" : "/") + e->d_name;
    struct stat st {};
    if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (st.st_uid != 0) Note(scan.not_root, child);
    if (S_ISLNK(st.st_mode)) continue;
    if (S_ISREG(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) != 0) Note(scan.setid, child);
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      Note(scan.devices, child);
    } else if ((S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) && CanWrite(st, uid, gids)) {
      Note(scan.writable, child + (S_ISDIR(st.st_mode) ? "/" : ""));
    }
    if (S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0 && IsInterpreter(e->d_name)) {
      Note(scan.shells, child);
    }
    if (S_ISDIR(st.st_mode)) {
      base::UniqueFd sub(openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) continue;
      struct statfs fs {};
      if (fstatfs(sub.get(), &fs) == 0 &&
          (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC)) {
        Note(scan.skipped, child);  // a kernel view, not files of the jail
        continue;
      }
      Walk(sub.get(), child, depth + 1, uid, gids, scan);
    }
  }
  closedir(dir);
}

JailScan ScanJail(const std::string& root, uid_t uid, const std::vector<gid_t>& gids) {
  JailScan scan;
  base::UniqueFd fd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    scan.error = root + ": " + base::ErrnoName(errno);
    return scan;
  }
  struct stat st {};
  if (fstat(fd.get(), &st) == 0) {
    if (st.st_uid != 0) Note(scan.not_root, "/");
    if (CanWrite(st, uid, gids)) Note(scan.writable, "/");
  }
  Walk(fd.get(), "/", 0, uid, gids, scan);
  return scan;
}

std::string Examples(const std::vector<std::string>& list) {
  std::string out;
  for (size_t i = 0; i < list.size() && i < 3; ++i) out += (i ? ", " : "") + list[i];
  if (list.size() > 3) out += " (" + std::to_string(list.size()) + " in all)";
  return out;
}

bool IsLoopback(const net::Endpoint& ep) {
  if (ep.IsUnix()) return true;
  if (ep.family() == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(ep.sa());
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (ep.family() == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(ep.sa());
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

int LandlockAbi() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, 1U << 0);
  return abi > 0 ? static_cast<int>(abi) : 0;
}

// A limit as the table writes it: sizes in K/M/G when exact, seconds with s.
std::string LimitText(const std::string& key, rlim_t v) {
  if (key == "cpu") return std::to_string(v) + "s";
  if (key == "as" && v != 0) {
    for (auto [unit, shift] : {std::pair{"G", 30}, {"M", 20}, {"K", 10}}) {
      if (v % (rlim_t{1} << shift) == 0) return std::to_string(v >> shift) + unit;
    }
  }
  return std::to_string(v);
}

const config::Rlimit* FindLimit(const config::Service& s, const std::string& key) {
  for (const auto& r : s.rlimits) {
    if (r.key == key && r.soft != RLIM_INFINITY) return &r;
  }
  return nullptr;
}

bool Exists(const std::string& path, bool executable = false) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return false;
  return !executable || (S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0);
}

class ServiceAuditor {
 public:
  ServiceAuditor(const config::Config& config, const config::Service& s,
                 const spawn::PlanSet& plans, const BaseLayers& base, int landlock_abi)
      : config_(config), s_(s), plans_(plans), base_(base), landlock_abi_(landlock_abi) {}

  Result<ServiceAudit> Run() {
    ServiceAudit a;
    a.name = s_.name;
    a.user = s_.user;
    a.uid = s_.uid;
    a.gid = s_.gid;
    a.chroot = s_.chroot.value_or("");
    a.policy = s_.sandbox;
    const sandbox::BpfProgram* program = nullptr;
    if (s_.sandbox != "none") {
      auto rules = sandbox::ExpandRules(config_.policies.at(s_.sandbox));
      if (!rules.ok()) return rules.error();
      rules_ = std::move(*rules);
      program = plans_.programs.at(s_.sandbox).get();
      for (const auto& [name, entry] : rules_) {
        if (!entry.AllowsSome()) continue;
        auto& conds = a.allowed[name];
        for (const auto& r : entry.rules) {
          if (r.action.kind != sandbox::ActionKind::kAllow &&
              r.action.kind != sandbox::ActionKind::kLog) {
            continue;
          }
          for (const auto& t : r.when_text) conds.push_back(t);
        }
      }
    } else {
      a.all_allowed = true;
    }
    Evaluator eval(base_, program, s_.sandbox != "none" ? &rules_ : nullptr);
    Identity(a);
    Filesystem(a);
    Seccomp(a, eval);
    Resources(a);
    Admission(a);
    Exposure(a);
    Isolation(a);
    Predict(a, eval);
    int sum = 0;
    for (const auto& c : a.checks) sum += c.counted();
    a.score = std::min(sum, 100);
    a.bucket = Bucket(a.score);
    return a;
  }

 private:
  void Add(ServiceAudit& a, const char* id, Outcome o, std::string detail) {
    a.checks.push_back({FindCheck(id), o, std::move(detail)});
  }
  void Add(ServiceAudit& a, CheckResult c) { a.checks.push_back(std::move(c)); }

  std::vector<gid_t> Gids() const {
    std::vector<gid_t> g = s_.groups;
    g.push_back(s_.gid);
    return g;
  }

  void Identity(ServiceAudit& a) {
    Add(a, "identity.root", s_.uid == 0 ? Outcome::kFail : Outcome::kPass,
        s_.uid == 0 ? "runs as uid 0" : "runs as " + s_.user + " (uid " + std::to_string(s_.uid) + ")");
    bool gid0 = s_.gid == 0 || std::find(s_.groups.begin(), s_.groups.end(), 0) != s_.groups.end();
    Add(a, "identity.gid0", gid0 ? Outcome::kFail : Outcome::kPass,
        gid0 ? "group 0 among its groups" : "group " + s_.group + " (gid " + std::to_string(s_.gid) + ")");
    Add(a, "identity.unconfined", s_.unconfined ? Outcome::kFail : Outcome::kPass,
        s_.unconfined ? "unconfined = true" : "not unconfined");
    std::vector<std::string> sharing;
    if (config_.daemon.uid == s_.uid && !config_.daemon.user.empty() && config_.daemon.uid != 0) {
      sharing.push_back("the listener (" + config_.daemon.user + ")");
    }
    for (const auto& o : config_.services) {
      if (&o != &s_ && o.uid == s_.uid) sharing.push_back("\"" + o.name + "\"");
    }
    if (s_.uid == 0) {
      Add(a, "identity.shared-uid", Outcome::kNa, "uid 0 is counted by identity.root");
    } else {
      Add(a, "identity.shared-uid", sharing.empty() ? Outcome::kPass : Outcome::kFail,
          sharing.empty() ? "uid " + std::to_string(s_.uid) + " is its own"
                          : "uid " + std::to_string(s_.uid) + " is also " + Examples(sharing));
    }
    std::string groups;
    for (gid_t g : s_.groups) groups += (groups.empty() ? "" : ",") + std::to_string(g);
    Add(a, "identity.groups", s_.groups.empty() ? Outcome::kPass : Outcome::kFail,
        s_.groups.empty() ? "no supplementary groups" : "supplementary groups " + groups);
    if (s_.drops_privileges) {
      std::string ids = "uid " + std::to_string(s_.uid) + " and gid " + std::to_string(s_.gid);
      if (!groups.empty()) ids += " (and groups " + groups + ")";
      Add(a, "identity.drops-privileges", Outcome::kFail,
          "may change its identity, but its user namespace maps only " + ids +
              ": it cannot become anyone else" +
              (s_.chroot ? "; chroot stays in its jail, the root of its mount namespace"
                         : "; no jail, so chroot confines nothing"));
    } else {
      Add(a, "identity.drops-privileges", Outcome::kPass,
          "holds no capability (drops_privileges = false)");
    }
  }

  void Filesystem(ServiceAudit& a) {
    bool jailed = s_.chroot && *s_.chroot != "/";
    Add(a, "fs.chroot", jailed ? Outcome::kPass : Outcome::kFail,
        jailed ? "chroot " + *s_.chroot + (s_.implicit_chroot ? " (empty)" : "")
               : (s_.chroot ? "chroot /" : "no chroot"));
    const char* ids[] = {"fs.setid", "fs.writable", "fs.devices", "fs.shell", "fs.owner"};
    if (!jailed) {
      for (const char* id : ids) Add(a, id, Outcome::kNa, "no jail to look in (fs.chroot)");
      return;
    }
    scan_ = ScanJail(*s_.chroot, s_.uid, Gids());
    if (!scan_.error.empty()) {
      // A jail table's tree exists once the daemon has built it.
      std::string why = s_.jail && access(s_.chroot->c_str(), F_OK) != 0
                            ? "the jail is not built yet (hinetd builds it when it starts or "
                              "reloads): " + scan_.error
                            : "could not read the jail: " + scan_.error;
      for (const char* id : ids) Add(a, id, Outcome::kNa, why);
      return;
    }
    std::string where = scan_.truncated ? " (walk stopped after " +
                                              std::to_string(kMaxEntries) + " entries)"
                                        : "";
    auto judge = [&](const char* id, const std::vector<std::string>& list, const char* none) {
      Add(a, id, list.empty() ? Outcome::kPass : Outcome::kFail,
          list.empty() ? std::string(none) + where : Examples(list));
    };
    judge("fs.setid", scan_.setid, "none");
    judge("fs.writable", scan_.writable, "none writable by its uid");
    judge("fs.devices", scan_.devices, "none");
    judge("fs.shell", scan_.shells, "none");
    judge("fs.owner", scan_.not_root, "everything root-owned");
  }

  void Seccomp(ServiceAudit& a, const Evaluator& eval) {
    bool none = s_.sandbox == "none";
    Add(a, "seccomp.policy", none ? Outcome::kFail : Outcome::kPass,
        none ? "sandbox = \"none\"" : "policy \"" + s_.sandbox + "\"");
    if (none) {
      Add(a, "seccomp.default", Outcome::kNa, "no policy (seccomp.policy)");
    } else {
      // As compiled: what the program returns for a system call number no
      // policy can name.
      seccomp_data d{};
      d.nr = kNoSuchSyscall;
      d.arch = sandbox::NativeAuditArch();
      auto r = sandbox::RunBpf(plans_.programs.at(s_.sandbox)->insns(), d);
      if (!r.ok()) {
        Add(a, "seccomp.default", Outcome::kFail, "unreadable filter: " + r.error().message());
      } else {
        Add(a, "seccomp.default", Allows(*r) ? Outcome::kFail : Outcome::kPass,
            "default_action = \"" + DefaultActionName(*r) + "\"");
      }
    }
    const uint64_t kAtFdcwd = static_cast<uint32_t>(AT_FDCWD);
    Add(a, eval.Judge(FindCheck("seccomp.exec"),
                      {{"execve", "execve", Call("execve", {0, 0, 0})},
                       {"execveat", "execveat", Call("execveat", {kAtFdcwd, 0, 0, 0, 0})}}));
    {
      CheckResult c = eval.Judge(
          FindCheck("seccomp.egress"),
          {{"socket(AF_INET)", "socket", Call("socket", {AF_INET, SOCK_STREAM, 0})},
           {"socket(AF_INET6)", "socket", Call("socket", {AF_INET6, SOCK_DGRAM, 0})}});
      if (c.outcome == Outcome::kFail) {
        CheckResult out = eval.Judge(FindCheck("seccomp.egress"),
                                     {{"connect", "connect", Call("connect", {3, 0, 16})},
                                      {"sendto", "sendto", Call("sendto", {3, 0, 1, 0, 1, 16})}});
        if (out.outcome == Outcome::kPass) {
          c.outcome = Outcome::kPass;
          c.detail += "; but " + out.detail;
        } else if ((s_.namespaces & config::kNsNet) != 0) {
          c.outcome = Outcome::kPass;
          c.detail += ", " + out.detail.substr(9) +
                      "; contained: its network namespace has no interface but lo";
        } else {
          c.detail += ", " + out.detail.substr(9);
        }
      }
      Add(a, std::move(c));
    }
    const uint64_t kNew = CLONE_NEWUSER;
    Add(a, eval.Judge(FindCheck("seccomp.namespaces"),
                      {{"clone(CLONE_NEWUSER)", "clone", Call("clone", {kNew | SIGCHLD, 0, 0, 0, 0})},
                       {"clone(CLONE_NEWNET)", "clone", Call("clone", {CLONE_NEWNET | SIGCHLD})},
                       {"clone3", "clone3", Call("clone3", {0, 88})},
                       {"unshare(CLONE_NEWUSER)", "unshare", Call("unshare", {kNew})},
                       {"setns", "setns", Call("setns", {3, 0})}}));
    Add(a, eval.Judge(FindCheck("seccomp.ptrace"),
                      {{"ptrace(PTRACE_ATTACH)", "ptrace", Call("ptrace", {16, 1, 0, 0})}}));
    Add(a, eval.Judge(FindCheck("seccomp.process-vm"),
                      {{"process_vm_readv", "process_vm_readv",
                        Call("process_vm_readv", {1, 0, 1, 0, 1, 0})},
                       {"process_vm_writev", "process_vm_writev",
                        Call("process_vm_writev", {1, 0, 1, 0, 1, 0})}}));
    {
      CheckResult c = eval.Judge(
          FindCheck("seccomp.kill"),
          {{"kill(1, SIGKILL)", "kill", Call("kill", {1, SIGKILL})},
           {"tgkill", "tgkill", Call("tgkill", {1, 1, SIGKILL})},
           {"tkill", "tkill", Call("tkill", {1, SIGKILL})},
           {"rt_sigqueueinfo", "rt_sigqueueinfo", Call("rt_sigqueueinfo", {1, SIGKILL, 0})},
           {"pidfd_send_signal", "pidfd_send_signal",
            Call("pidfd_send_signal", {3, SIGKILL, 0, 0})}});
      if (c.outcome == Outcome::kFail && (s_.namespaces & config::kNsPid) != 0) {
        c.outcome = Outcome::kPass;
        c.detail += "; contained: in its pid namespace it reaches only its own processes";
      }
      Add(a, std::move(c));
    }
    Add(a, eval.Judge(FindCheck("seccomp.ioctl"),
                      {{"ioctl(TIOCSTI)", "ioctl", Call("ioctl", {0, TIOCSTI, 0})}}));
    const uint64_t kAnon = MAP_PRIVATE | MAP_ANONYMOUS;
    const uint64_t kNoFd = ~0ULL;
    Add(a, eval.Judge(
               FindCheck("seccomp.exec-memory"),
               {{"mmap(PROT_WRITE|PROT_EXEC)", "mmap",
                 Call("mmap", {0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, kAnon, kNoFd, 0})},
                {"mmap(anonymous, PROT_EXEC)", "mmap",
                 Call("mmap", {0, 4096, PROT_READ | PROT_EXEC, kAnon, kNoFd, 0})},
                {"mprotect(PROT_EXEC)", "mprotect",
                 Call("mprotect", {0x10000, 4096, PROT_READ | PROT_EXEC})},
                {"pkey_mprotect(PROT_EXEC)", "pkey_mprotect",
                 Call("pkey_mprotect", {0x10000, 4096, PROT_READ | PROT_EXEC, 0})}}));
    Add(a, eval.Judge(FindCheck("seccomp.prctl"),
                      {{"prctl(PR_SET_DUMPABLE)", "prctl", Call("prctl", {PR_SET_DUMPABLE, 1})},
                       {"prctl(PR_SET_PTRACER)", "prctl",
                        Call("prctl", {PR_SET_PTRACER, static_cast<uint64_t>(PR_SET_PTRACER_ANY)})},
                       {"prctl(PR_SET_MM)", "prctl", Call("prctl", {PR_SET_MM, 1})},
                       {"prctl(PR_SET_SECUREBITS)", "prctl", Call("prctl", {PR_SET_SECUREBITS, 0})}}));
    Add(a, eval.Judge(FindCheck("seccomp.io-uring"),
                      {{"io_uring_setup", "io_uring_setup", Call("io_uring_setup", {8, 0})},
                       {"io_uring_enter", "io_uring_enter", Call("io_uring_enter", {3, 1})},
                       {"io_uring_register", "io_uring_register",
                        Call("io_uring_register", {3, 0})}}));
    Add(a, eval.Judge(FindCheck("seccomp.bpf"),
                      {{"bpf(BPF_PROG_LOAD)", "bpf", Call("bpf", {5, 0, 0})}}));
    Add(a, eval.Judge(FindCheck("seccomp.perf"),
                      {{"perf_event_open", "perf_event_open",
                        Call("perf_event_open", {0, 0, ~0ULL, ~0ULL, 0})}}));
    Add(a, eval.Judge(FindCheck("seccomp.keyctl"),
                      {{"keyctl", "keyctl", Call("keyctl", {0, 0})},
                       {"add_key", "add_key", Call("add_key", {0, 0, 0, 0, 0})},
                       {"request_key", "request_key", Call("request_key", {0, 0, 0, 0})}}));
    Add(a, eval.Judge(FindCheck("seccomp.personality"),
                      {{"personality(READ_IMPLIES_EXEC)", "personality",
                        Call("personality", {0x0400000})}}));
    Foreign(a);
  }

  // Calls of another architecture the kernel also runs on this one.
  void Foreign(ServiceAudit& a) {
    std::vector<Attempt> attempts;
#if defined(__x86_64__)
    attempts.push_back({"i386 write", "write", Call("write", {1, 0, 1})});
    attempts.back().data.arch = AUDIT_ARCH_I386;
    attempts.back().data.nr = 4;  // write on i386
    attempts.push_back({"x32 write", "write", Call("write", {1, 0, 1})});
    attempts.back().data.nr = 0x40000000 | 1;  // __X32_SYSCALL_BIT | write
#elif defined(__aarch64__)
    attempts.push_back({"arm write", "write", Call("write", {1, 0, 1})});
    attempts.back().data.arch = AUDIT_ARCH_ARM;
    attempts.back().data.nr = 4;
#endif
    if (attempts.empty()) {
      Add(a, "seccomp.arch", Outcome::kNa, "no second architecture here");
      return;
    }
    Evaluator eval(base_, s_.sandbox == "none" ? nullptr : plans_.programs.at(s_.sandbox).get(),
                   nullptr);
    Add(a, eval.Judge(FindCheck("seccomp.arch"), attempts));
  }

  void Resources(ServiceAudit& a) {
    Add(a, "resources.timeout", s_.timeout ? Outcome::kPass : Outcome::kFail,
        s_.timeout ? "timeout " + config::FormatDuration(*s_.timeout) : "no timeout");
    for (const char* key : {"nproc", "as", "cpu", "nofile"}) {
      const config::Rlimit* r = FindLimit(s_, key);
      std::string id = std::string("resources.") + key;
      Add(a, id.c_str(), r ? Outcome::kPass : Outcome::kFail,
          r ? std::string(key) + " " + LimitText(key, r->soft) : std::string("no ") + key + " limit");
    }
  }

  void Admission(ServiceAudit& a) {
    std::vector<std::string> open;
    bool unix_only = true;
    for (const auto& l : s_.listen) {
      for (const auto& ep : l.endpoints) {
        if (!ep.IsUnix()) unix_only = false;
        if (!IsLoopback(ep)) open.push_back(net::ToString(ep));
      }
    }
    if (open.empty()) {
      Add(a, "admission.allow", Outcome::kNa, "loopback or unix: only this host can connect");
    } else if (s_.acl.allow()) {
      Add(a, "admission.allow", Outcome::kPass, "allow list on " + Examples(open));
    } else {
      Add(a, "admission.allow", Outcome::kFail, "no allow list on " + Examples(open));
    }
    Add(a, "admission.max-instances", s_.max_instances > 0 ? Outcome::kPass : Outcome::kFail,
        s_.max_instances > 0 ? "max_instances " + std::to_string(s_.max_instances)
                             : "no max_instances");
    if (unix_only) {
      Add(a, "admission.per-source", Outcome::kNa, "unix: sockets only: no source address");
    } else {
      Add(a, "admission.per-source", s_.per_source > 0 ? Outcome::kPass : Outcome::kFail,
          s_.per_source > 0 ? "per_source " + std::to_string(s_.per_source) : "no per_source");
    }
    Add(a, "admission.rate", s_.rate ? Outcome::kPass : Outcome::kFail,
        s_.rate ? "rate " + std::to_string(s_.rate->count) +
                      (s_.rate->period.count() == 1000 ? "/s" : "/m")
                : "no rate");
  }

  void Exposure(ServiceAudit& a) {
    if (s_.transport != net::Transport::kUdp) {
      Add(a, "exposure.udp", Outcome::kNa, "not udp");
    } else {
      std::vector<std::string> open;
      for (const auto& l : s_.listen) {
        for (const auto& ep : l.endpoints) {
          if (!IsLoopback(ep)) open.push_back(net::ToString(ep));
        }
      }
      Add(a, "exposure.udp", open.empty() ? Outcome::kPass : Outcome::kFail,
          open.empty() ? "udp on loopback only" : "udp on " + Examples(open));
    }
    bool sock = s_.stderr_mode == config::StderrMode::kSocket;
    Add(a, "exposure.stderr", sock ? Outcome::kFail : Outcome::kPass,
        std::string("stderr = \"") + config::StderrModeName(s_.stderr_mode) + "\"");
    bool has_unix = false;
    for (const auto& l : s_.listen) has_unix |= l.endpoints[0].IsUnix();
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", s_.unix_file.mode);
    if (!has_unix) {
      Add(a, "exposure.unix-mode", Outcome::kNa, "no unix: address");
    } else {
      bool world = (s_.unix_file.mode & S_IWOTH) != 0;
      Add(a, "exposure.unix-mode", world ? Outcome::kFail : Outcome::kPass,
          std::string("socket_mode ") + mode);
    }
  }

  void Isolation(ServiceAudit& a) {
    std::string list;
    for (const auto& [name, flag] : config::kNamespaceNames) {
      if (s_.namespaces & flag) list += (list.empty() ? "\"" : ", \"") + std::string(name) + "\"";
    }
    list = "namespaces = [" + list + "]";
    auto ns = [&](const char* id, uint32_t flag, const char* name) {
      bool on = (s_.namespaces & flag) != 0;
      Add(a, id, on ? Outcome::kPass : Outcome::kFail,
          on ? std::string("its own ") + name + " namespace" : list);
    };
    ns("isolation.pid", config::kNsPid, "pid");
    ns("isolation.net", config::kNsNet, "network");
    ns("isolation.ipc", config::kNsIpc, "IPC");
    ns("isolation.uts", config::kNsUts, "UTS");
    bool ll = landlock_abi_ >= 2;
    Add(a, "isolation.landlock", ll ? Outcome::kPass : Outcome::kFail,
        ll ? "a Landlock domain of its own (ABI " + std::to_string(landlock_abi_) + ")"
           : "this kernel has no Landlock ABI 2");
  }

  // What each escape --prove attempts should meet, by this analysis.
  void Predict(ServiceAudit& a, const Evaluator& eval) {
    bool jailed = s_.chroot && *s_.chroot != "/";
    auto filter = [&](const std::vector<Attempt>& calls) -> std::optional<Verdict> {
      for (const auto& c : calls) {
        Verdict v = eval.Run(c);
        if (!v.allowed) return Verdict{false, c.label + " " + v.how + " by the filter"};
      }
      return std::nullopt;
    };
    auto put = [&](const char* id, std::optional<Verdict> f, bool blocked, std::string how) {
      a.predictions[id] = f ? *f : Verdict{!blocked, std::move(how)};
    };
    const uint64_t kAtFdcwd = static_cast<uint32_t>(AT_FDCWD);
    auto open_write = Attempt{"openat", "openat",
                              Call("openat", {kAtFdcwd, 0, O_WRONLY | O_CREAT | O_EXCL, 0600})};
    auto open_read = Attempt{"openat", "openat", Call("openat", {kAtFdcwd, 0, O_RDONLY, 0})};
    put("write-outside", filter({open_write}), jailed,
        jailed ? "the path does not exist in the jail" : "no chroot: it writes where its uid may");
    put("dotdot", filter({Attempt{"chdir", "chdir", Call("chdir", {0})}, open_read}), jailed,
        jailed ? ".. stops at the jail's root" : "no chroot: .. reaches the host");
    bool proc = !jailed || Exists(*s_.chroot + "/proc/1");
    bool ll = landlock_abi_ >= 2;
    put("proc1", filter({open_read}), !proc || s_.uid != 0 || ll,
        !proc ? "no /proc in the jail"
        : s_.uid != 0 ? "pid 1's environ belongs to another uid"
        : ll ? "its Landlock domain does not reach pid 1"
             : "uid 0 without a Landlock domain can read pid 1");
    bool sh = !jailed ? Exists("/bin/sh", true) : Exists(*s_.chroot + "/bin/sh", true);
    put("exec-sh", filter({Attempt{"execve", "execve", Call("execve", {0, 0, 0})}}), !sh,
        sh ? "/bin/sh exists and execve is allowed" : "no /bin/sh where it runs");
    {
      auto f = filter({Attempt{"socket(AF_INET)", "socket", Call("socket", {AF_INET, SOCK_STREAM, 0})},
                       Attempt{"connect", "connect", Call("connect", {3, 0, 16})}});
      bool netns = (s_.namespaces & config::kNsNet) != 0;
      put("connect", f, netns,
          netns ? "its network namespace has no route to 127.0.0.1 of the host"
                : "socket and connect are allowed on the host's network");
    }
    put("userns",
        filter({Attempt{"unshare(CLONE_NEWUSER)", "unshare", Call("unshare", {CLONE_NEWUSER})}}),
        true, "");
    put("ptrace", filter({Attempt{"ptrace(PTRACE_ATTACH)", "ptrace", Call("ptrace", {16, 1})}}),
        true, "");
    {
      bool pidns = (s_.namespaces & config::kNsPid) != 0;
      put("signal", filter({Attempt{"kill", "kill", Call("kill", {1, SIGKILL})}}), pidns,
          pidns ? "the other process is outside its pid namespace"
                : "kill is allowed and the other process has its uid");
    }
    {
      auto f = s_.uid != 0 ? filter({Attempt{"setresuid", "setresuid", Call("setresuid", {0, 0, 0})}})
                           : std::nullopt;
      if (!f) f = filter({Attempt{"capset", "capset", Call("capset", {0, 0})}});
      put("regain-root", f, true,
          s_.drops_privileges
              ? "its user namespace maps no uid 0 (EINVAL), and capset adds no capability "
                "it lacks (EPERM)"
              : "no capability to regain them with (EPERM)");
    }
    put("setgroups-root",
        filter({Attempt{"setgroups", "setgroups", Call("setgroups", {1, 0})}}), true,
        s_.drops_privileges ? "its user namespace maps no group 0 (EINVAL)"
                            : "no CAP_SETGID (EPERM)");
    put("chroot-escape",
        filter({Attempt{"chdir", "chdir", Call("chdir", {0})},
                Attempt{"chroot", "chroot", Call("chroot", {0})}, open_read}),
        !s_.drops_privileges || jailed,
        !s_.drops_privileges ? "no CAP_SYS_CHROOT (EPERM)"
        : jailed ? "the jail is the root of its mount namespace: .. stops there"
                 : "no chroot: it reads the host's files anyway");
    put("raise-limit",
        filter({Attempt{"prlimit64(0, RLIMIT_NOFILE)", "prlimit64",
                        Call("prlimit64", {0, RLIMIT_NOFILE, 1, 0})}}),
        true, "no CAP_SYS_RESOURCE (EPERM)");
  }

  const config::Config& config_;
  const config::Service& s_;
  const spawn::PlanSet& plans_;
  const BaseLayers& base_;
  int landlock_abi_;
  sandbox::ExpandedPolicy rules_;
  JailScan scan_;
};

}  // namespace

const char* OutcomeText(Outcome o) {
  switch (o) {
    case Outcome::kPass: return "ok";
    case Outcome::kFail: return "FAIL";
    case Outcome::kNa: return "n/a";
  }
  return "?";
}

const char* OutcomeJson(Outcome o) {
  switch (o) {
    case Outcome::kPass: return "pass";
    case Outcome::kFail: return "fail";
    case Outcome::kNa: return "n/a";
  }
  return "?";
}

const std::vector<CheckInfo>& Checks() { return kChecks; }

const CheckInfo* FindCheck(const std::string& id) {
  for (const auto& c : kChecks) {
    if (id == c.id) return &c;
  }
  return nullptr;
}

const char* Bucket(int tenths) {
  if (tenths == 0) return "PERFECT";
  if (tenths < 20) return "LOW";
  if (tenths < 50) return "MEDIUM";
  if (tenths < 75) return "EXPOSED";
  if (tenths < 90) return "UNSAFE";
  return "DANGEROUS";
}

Result<BaseLayers> CompileBaseLayers() {
  BaseLayers b;
  auto m = sandbox::MonitorFilter();
  if (!m.ok()) return m.error();
  auto c = sandbox::ChildrenFilter();
  if (!c.ok()) return c.error();
  b.monitor = std::move(*m);
  b.children = std::move(*c);
  return b;
}

Result<uint32_t> Effective(const BaseLayers& base, const sandbox::BpfProgram* policy,
                           const seccomp_data& data) {
  uint32_t out = SECCOMP_RET_ALLOW;
  for (const sandbox::BpfProgram* p :
       {static_cast<const sandbox::BpfProgram*>(base.monitor.get()),
        static_cast<const sandbox::BpfProgram*>(base.children.get()), policy}) {
    if (p == nullptr) continue;
    auto r = sandbox::RunBpf(p->insns(), data);
    if (!r.ok()) return r.error();
    out = MoreRestrictive(out, *r);
  }
  return out;
}

std::string ActionText(uint32_t ret) {
  switch (kRetAction(ret)) {
    case SECCOMP_RET_ALLOW: return "allowed";
    case SECCOMP_RET_LOG: return "allowed and logged (trial mode)";
    case SECCOMP_RET_KILL_PROCESS:
    case SECCOMP_RET_KILL_THREAD: return "killed";
    case SECCOMP_RET_TRAP: return "trapped (SIGSYS)";
    case SECCOMP_RET_ERRNO: return "errno " + base::ErrnoName(ret & SECCOMP_RET_DATA);
    case SECCOMP_RET_USER_NOTIF: return "sent to a supervisor";
    case SECCOMP_RET_TRACE: return "sent to a tracer";
  }
  return "action " + std::to_string(ret);
}

Result<std::vector<ServiceAudit>> AuditTable(const config::Config& config,
                                             const spawn::PlanSet& plans,
                                             const std::vector<std::string>& only,
                                             const AuditOptions& options) {
  for (const auto& name : only) {
    bool found = std::any_of(config.services.begin(), config.services.end(),
                             [&](const auto& s) { return s.name == name; });
    if (!found) {
      std::vector<std::string> names;
      for (const auto& s : config.services) names.push_back(s.name);
      return Error("no service \"" + name + "\" in " + config.path + " (it has " + Join(names) +
                   ")");
    }
  }
  BaseLayers compiled;
  const BaseLayers* base = options.base_layers;
  if (base == nullptr) {
    auto b = CompileBaseLayers();
    if (!b.ok()) return b.error();
    compiled = std::move(*b);
    base = &compiled;
  }
  int landlock = options.landlock_abi >= 0 ? options.landlock_abi : LandlockAbi();
  std::vector<ServiceAudit> out;
  for (const auto& s : config.services) {
    if (!only.empty() && std::find(only.begin(), only.end(), s.name) == only.end()) continue;
    ServiceAuditor auditor(config, s, plans, *base, landlock);
    auto a = auditor.Run();
    if (!a.ok()) return a.error().Wrap("service \"" + s.name + "\"");
    out.push_back(std::move(*a));
  }
  return out;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace hinetd::audit
