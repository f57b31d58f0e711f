// Seccomp policies as values, and their compilation to a BPF program.
// Policy *files* are parsed by the config module into a PolicySpec; this
// module expands @groups, checks syscall names and compiles with libseccomp
// for the native architecture (any other architecture kills the process).
#pragma once

#include <linux/filter.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "sandbox/arg_rules.h"

namespace hinetd::sandbox {

enum class ActionKind { kAllow, kKill, kErrno, kLog };

struct Action {
  ActionKind kind = ActionKind::kKill;
  int err = 0;  // for kErrno

  bool operator==(const Action&) const = default;
  // "allow", "kill", "log", "errno:EPERM" (the syntax of default_action).
  [[nodiscard]] std::string ToString() const;
};

// One entry of a policy: a syscall name or an @group, and what it gets —
// for every call, or (argument rules) only for calls whose arguments match.
struct Rule {
  std::string name;  // "read" or "@io-basic"
  Action action;
  base::SourceLoc loc;  // where it was written, for errors
  // Argument rules: any of these alternatives; empty = every call.
  std::vector<ArgCondition> when;
  std::vector<std::string> when_text;  // each condition as written
  std::string origin;     // the file it was written in
};

// A policy with its includes already flattened by the loader. Rules are in
// precedence order: a later file's rules for a syscall replace an earlier
// file's (the loader puts included policies first, then the file's own allow
// list, then its errno table). Within one file, a syscall named explicitly
// overrides the same syscall reached through a group, and several argument
// rules for one syscall add up.
struct PolicySpec {
  std::string name;
  std::string description;
  Action default_action;
  base::SourceLoc default_action_loc;
  std::vector<Rule> rules;
  std::vector<std::string> files;  // every file that contributed, for `check`
};

// The syscalls a group stands for, or nullptr if there is no such group.
[[nodiscard]] const std::vector<std::string>* FindGroup(const std::string& name);
// True for syscalls that reach beyond the service's own connection (other
// processes, new sockets, namespaces, executable memory, ...). No group
// contains one; `hinetd check` lists the ones a policy allows.
[[nodiscard]] bool IsDangerous(const std::string& name);
// All group names, sorted (for error messages and documentation).
[[nodiscard]] std::vector<std::string> GroupNames();

// True if libseccomp knows the name on any architecture. A name that exists
// but not on this architecture (e.g. "socketcall" on x86_64) is valid and
// simply has no effect here.
[[nodiscard]] bool IsKnownSyscall(const std::string& name);
// Every syscall name of the native architecture, sorted (for did-you-mean).
[[nodiscard]] const std::vector<std::string>& NativeSyscallNames();
// Native syscall number, or -1 if the name does not exist on this architecture.
[[nodiscard]] int NativeSyscallNumber(const std::string& name);
// Name of a native syscall number, or "syscall#N".
[[nodiscard]] std::string SyscallName(int nr);
// Name for a syscall number on an AUDIT_ARCH_* architecture (as logged by the
// kernel's seccomp audit records), or "syscall#N".
[[nodiscard]] std::string SyscallNameForAuditArch(uint32_t audit_arch, int nr);

// What a policy gives one syscall: one rule for every call, or argument
// rules (each with its conditions); calls that match no rule get the
// policy's default action.
struct SyscallRule {
  Action action;
  std::vector<ArgCondition> when;  // empty: every call
  std::vector<std::string> when_text;  // each condition as written
  base::SourceLoc loc;
};
struct SyscallRules {
  std::vector<SyscallRule> rules;
  // Whole: one rule without conditions.
  [[nodiscard]] bool whole() const { return rules.size() == 1 && rules[0].when.empty(); }
  // The action of a whole rule, or nullptr when the syscall has argument rules.
  [[nodiscard]] const Action* whole_action() const { return whole() ? &rules[0].action : nullptr; }
  // Whether some call of it is allowed (by a whole or an argument rule).
  [[nodiscard]] bool AllowsSome() const;
};
using ExpandedPolicy = std::map<std::string, SyscallRules>;

// Expands groups and resolves precedence: native syscall name -> its rules,
// for every syscall the policy lists. Where clone has argument rules, clone3
// (whose flags sit behind a pointer) fails with ENOSYS so that the C library
// falls back to clone. Errors (unknown name or group, a syscall both whole
// and with argument rules in one file) carry the rule's position.
[[nodiscard]] base::Result<ExpandedPolicy> ExpandRules(const PolicySpec& spec);

// A compiled classic-BPF seccomp program.
class BpfProgram {
 public:
  BpfProgram() = default;
  explicit BpfProgram(std::vector<sock_filter> insns) : insns_(std::move(insns)) {
    prog_.len = static_cast<unsigned short>(insns_.size());
    prog_.filter = insns_.data();
  }
  BpfProgram(const BpfProgram&) = delete;
  BpfProgram& operator=(const BpfProgram&) = delete;

  [[nodiscard]] const std::vector<sock_filter>& insns() const { return insns_; }
  // Stable for the object's lifetime: the spawn plan hands it to the child.
  [[nodiscard]] const sock_fprog* fprog() const { return &prog_; }

 private:
  std::vector<sock_filter> insns_;
  sock_fprog prog_{};
};

// Compiles for the native architecture with libseccomp; other architectures
// (including x32 on x86_64) kill the process.
[[nodiscard]] base::Result<std::unique_ptr<BpfProgram>> Compile(const PolicySpec& spec);

// The BPF program of a libseccomp filter context (a scmp_filter_ctx,
// passed as void* to keep libseccomp's header out of this one).
[[nodiscard]] base::Result<std::unique_ptr<BpfProgram>> ExportBpf(void* ctx,
                                                                 const std::string& what);

}  // namespace hinetd::sandbox
