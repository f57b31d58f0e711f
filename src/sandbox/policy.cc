#include "sandbox/policy.h"

#include <errno.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "base/errno_name.h"
#include "base/unique_fd.h"

namespace hinetd::sandbox {

using base::Error;
using base::Result;

std::string Action::ToString() const {
  switch (kind) {
    case ActionKind::kAllow: return "allow";
    case ActionKind::kKill: return "kill";
    case ActionKind::kLog: return "log";
    case ActionKind::kErrno: return "errno:" + base::ErrnoName(err);
  }
  return "?";
}

bool IsKnownSyscall(const std::string& name) {
  // __NR_SCMP_ERROR means libseccomp knows the name on no architecture;
  // a negative pseudo-number means it exists elsewhere but not natively.
  return seccomp_syscall_resolve_name(name.c_str()) != __NR_SCMP_ERROR;
}

const std::vector<std::string>& NativeSyscallNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    // Native numbers are dense and below 1024 on every architecture hinetd
    // builds for.
    for (int nr = 0; nr < 1024; ++nr) {
      char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
      if (name == nullptr) continue;
      out.emplace_back(name);
      std::free(name);
    }
    std::sort(out.begin(), out.end());
    return out;
  }();
  return names;
}

int NativeSyscallNumber(const std::string& name) {
  int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, name.c_str());
  return nr < 0 ? -1 : nr;
}

namespace {

std::string NameOrNumber(char* name, int nr) {
  if (name == nullptr) return "syscall#" + std::to_string(nr);
  std::string out(name);
  std::free(name);
  return out;
}

uint32_t ToScmpAction(const Action& a) {
  switch (a.kind) {
    case ActionKind::kAllow: return SCMP_ACT_ALLOW;
    case ActionKind::kKill: return SCMP_ACT_KILL_PROCESS;
    case ActionKind::kLog: return SCMP_ACT_LOG;
    case ActionKind::kErrno: return SCMP_ACT_ERRNO(static_cast<uint16_t>(a.err));
  }
  return SCMP_ACT_KILL_PROCESS;
}

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

Error LibError(const std::string& what, int rc) {
  return base::ErrnoError("libseccomp: " + what, -rc);
}

// The policy key a rule was written under, for error messages.
std::string RuleKey(const Rule& rule) {
  return rule.action.kind == ActionKind::kAllow ? "allow" : "errno";
}

}  // namespace

std::string SyscallName(int nr) {
  return NameOrNumber(seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr), nr);
}

std::string SyscallNameForAuditArch(uint32_t audit_arch, int nr) {
  // libseccomp's arch tokens are the AUDIT_ARCH_* values.
  return NameOrNumber(seccomp_syscall_resolve_num_arch(audit_arch, nr), nr);
}

bool SyscallRules::AllowsSome() const {
  for (const auto& r : rules) {
    if (r.action.kind == ActionKind::kAllow || r.action.kind == ActionKind::kLog) return true;
  }
  return false;
}

namespace {

// Where a syscall's current rules came from, while precedence is resolved.
struct Pending {
  std::string origin;
  bool explicit_name = false;  // named itself, not through a group
  SyscallRules rules;
};

}  // namespace

Result<ExpandedPolicy> ExpandRules(const PolicySpec& spec) {
  std::map<std::string, Pending> pending;
  auto apply = [&](const std::string& name, const Rule& rule, bool explicit_name) -> base::Status {
    SyscallRule one{rule.action, rule.when, rule.when_text, rule.loc};
    auto [it, fresh] = pending.try_emplace(name);
    Pending& p = it->second;
    // A later file replaces an earlier one's rules; within one file, a
    // syscall named itself overrides what a group gave it.
    if (fresh || p.origin != rule.origin || (explicit_name && !p.explicit_name)) {
      p = Pending{rule.origin, explicit_name, SyscallRules{{one}}};
      return {};
    }
    if (!explicit_name) {
      if (!p.explicit_name) p.rules = SyscallRules{{one}};  // a later group, same file
      return {};
    }
    // Named twice in one file: only argument rules add up.
    if (one.when.empty() || p.rules.whole()) {
      return Error(rule.loc,
                   "policy \"" + spec.name + "\": " + RuleKey(rule) + ": '" + name +
                       "' has rules for every call and argument rules in the same file; a "
                       "filter gives calls that match no argument rule the default action, so "
                       "write each action with its own `when`");
    }
    p.rules.rules.push_back(std::move(one));
    return {};
  };
  for (const Rule& rule : spec.rules) {
    if (!rule.name.empty() && rule.name[0] == '@') {
      const auto* members = FindGroup(rule.name);
      if (members == nullptr) {
        std::string valid;
        for (const auto& g : GroupNames()) valid += (valid.empty() ? "" : ", ") + g;
        return Error(rule.loc, "policy \"" + spec.name + "\": " + RuleKey(rule) +
                                   ": unknown syscall group '" + rule.name + "' (groups: " +
                                   valid + ")");
      }
      for (const auto& name : *members) {
        if (NativeSyscallNumber(name) < 0) continue;
        if (auto s = apply(name, rule, false); !s.ok()) return s.error();
      }
      continue;
    }
    if (!IsKnownSyscall(rule.name)) {
      return Error(rule.loc, "policy \"" + spec.name + "\": " + RuleKey(rule) +
                                 ": unknown system call '" + rule.name +
                                 "' (names are those of the kernel, e.g. \"openat\", "
                                 "\"newfstatat\"; see syscalls(2))");
    }
    if (NativeSyscallNumber(rule.name) < 0) continue;
    if (auto s = apply(rule.name, rule, true); !s.ok()) return s.error();
  }
  ExpandedPolicy out;
  for (auto& [name, p] : pending) out.emplace(name, std::move(p.rules));
  // clone3 takes its flags through a pointer no filter can read: where
  // clone's flags are checked, clone3 must not be a way around the check.
  if (auto clone = out.find("clone");
      clone != out.end() && !clone->second.whole() && NativeSyscallNumber("clone3") >= 0) {
    out["clone3"] = SyscallRules{{SyscallRule{Action{ActionKind::kErrno, ENOSYS}, {}, {},
                                              clone->second.rules[0].loc}}};
  }
  return out;
}

namespace {

scmp_compare ToScmpOp(CompareOp op) {
  switch (op) {
    case CompareOp::kEq: return SCMP_CMP_EQ;
    case CompareOp::kNe: return SCMP_CMP_NE;
    case CompareOp::kLt: return SCMP_CMP_LT;
    case CompareOp::kLe: return SCMP_CMP_LE;
    case CompareOp::kGt: return SCMP_CMP_GT;
    case CompareOp::kGe: return SCMP_CMP_GE;
    case CompareOp::kMaskedEq: return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

}  // namespace

Result<std::unique_ptr<BpfProgram>> Compile(const PolicySpec& spec) {
  if (spec.default_action.kind == ActionKind::kAllow) {
    return Error(spec.default_action_loc,
                 "default_action = \"allow\" is not a sandbox; use sandbox = \"none\" with "
                 "unconfined = true to run a service without a filter");
  }
  auto rules = ExpandRules(spec);
  if (!rules.ok()) return rules.error();

  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(ToScmpAction(spec.default_action)));
  if (!ctx) return Error("libseccomp: seccomp_init failed");
  // Any architecture but the native one (x32 and i386 on x86_64, say) is a
  // way around the filter: kill it. hinetd sets no_new_privs itself, just
  // before installing the filter, so libseccomp must not.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc == 0) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  // A binary tree keeps the per-syscall cost logarithmic in the allow list.
  if (rc == 0) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (rc != 0) return LibError("setting filter attributes", rc);

  for (const auto& [name, entry] : *rules) {
    int nr = NativeSyscallNumber(name);
    for (const SyscallRule& rule : entry.rules) {
      if (rule.action == spec.default_action) continue;  // libseccomp rejects no-op rules
      if (rule.when.empty()) {
        rc = seccomp_rule_add(ctx.get(), ToScmpAction(rule.action), nr, 0);
        if (rc != 0) return LibError("adding a rule for " + name, rc);
        continue;
      }
      for (const ArgCondition& alt : rule.when) {
        std::vector<scmp_arg_cmp> cmps;
        for (const ArgCompare& c : alt.all) {
          scmp_arg_cmp cmp{};
          cmp.arg = static_cast<unsigned>(c.arg);
          cmp.op = ToScmpOp(c.op);
          cmp.datum_a = c.op == CompareOp::kMaskedEq ? c.mask : c.value;
          cmp.datum_b = c.op == CompareOp::kMaskedEq ? c.value : 0;
          cmps.push_back(cmp);
        }
        rc = seccomp_rule_add_array(ctx.get(), ToScmpAction(rule.action), nr,
                                    static_cast<unsigned>(cmps.size()), cmps.data());
        if (rc != 0) {
          return Error(rule.loc, "policy \"" + spec.name + "\": libseccomp refused the rule '" +
                                     name + " when " + ToString(name, alt) +
                                     "': " + base::ErrnoName(-rc));
        }
      }
    }
  }

  // The kernel resumes a call with a timeout (poll, nanosleep, ...) that a
  // stop signal interrupted with restart_syscall, which the program never
  // calls itself. hinetd stops children itself (SIGSTOP, then SIGCONT, when
  // it looks whether a stale udp wait child is idle), so a policy without it
  // would let hinetd's own look kill the child: allowed unless the policy
  // names it.
  if (rules->find("restart_syscall") == rules->end()) {
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(restart_syscall), 0);
    if (rc != 0) return LibError("adding a rule for restart_syscall", rc);
  }

  return ExportBpf(ctx.get(), "policy '" + spec.name + "'");
}

Result<std::unique_ptr<BpfProgram>> ExportBpf(void* ctx, const std::string& what) {
  // libseccomp 2.5 exports only to a file descriptor; a memfd keeps it in
  // memory.
  base::UniqueFd mem(memfd_create("hinetd-bpf", MFD_CLOEXEC));
  if (!mem) return base::ErrnoError("memfd_create", errno);
  int rc = seccomp_export_bpf(ctx, mem.get());
  if (rc != 0) return LibError("exporting the filter", rc);
  off_t size = lseek(mem.get(), 0, SEEK_END);
  if (size < 0 || size % sizeof(sock_filter) != 0) {
    return Error("libseccomp: exported filter has an odd size");
  }
  std::vector<sock_filter> insns(static_cast<size_t>(size) / sizeof(sock_filter));
  if (pread(mem.get(), insns.data(), static_cast<size_t>(size), 0) != size) {
    return base::ErrnoError("reading the exported filter", errno);
  }
  if (insns.empty() || insns.size() > BPF_MAXINSNS) {
    return Error(what + " compiles to " + std::to_string(insns.size()) +
                 " BPF instructions; the kernel accepts 1 to " + std::to_string(BPF_MAXINSNS));
  }
  return std::make_unique<BpfProgram>(std::move(insns));
}

}  // namespace hinetd::sandbox
