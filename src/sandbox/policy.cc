#include "sandbox/policy.h"

#include <errno.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

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

Result<std::map<std::string, Action>> ExpandRules(const PolicySpec& spec) {
  std::map<std::string, Action> out;
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
        if (NativeSyscallNumber(name) >= 0) out[name] = rule.action;
      }
      continue;
    }
    if (!IsKnownSyscall(rule.name)) {
      return Error(rule.loc, "policy \"" + spec.name + "\": " + RuleKey(rule) +
                                 ": unknown system call '" + rule.name +
                                 "' (names are those of the kernel, e.g. \"openat\", "
                                 "\"newfstatat\"; see syscalls(2))");
    }
    if (NativeSyscallNumber(rule.name) >= 0) out[rule.name] = rule.action;
  }
  return out;
}

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

  for (const auto& [name, action] : *rules) {
    if (action == spec.default_action) continue;  // libseccomp rejects no-op rules
    int nr = NativeSyscallNumber(name);
    rc = seccomp_rule_add(ctx.get(), ToScmpAction(action), nr, 0);
    if (rc != 0) return LibError("adding a rule for " + name, rc);
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
