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

namespace hinetd::sandbox {

enum class ActionKind { kAllow, kKill, kErrno, kLog };

struct Action {
  ActionKind kind = ActionKind::kKill;
  int err = 0;  // for kErrno

  bool operator==(const Action&) const = default;
  // "allow", "kill", "log", "errno:EPERM" (the syntax of default_action).
  [[nodiscard]] std::string ToString() const;
};

// One entry of a policy: a syscall name or an @group, and what it gets.
struct Rule {
  std::string name;  // "read" or "@io-basic"
  Action action;
  base::SourceLoc loc;  // where it was written, for errors
};

// A policy with its includes already flattened by the loader. Rules are in
// precedence order: a later rule for the same syscall overrides an earlier one
// (the loader puts included policies first, then the file's own allow list,
// then its errno table).
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
// Native syscall number, or -1 if the name does not exist on this architecture.
[[nodiscard]] int NativeSyscallNumber(const std::string& name);
// Name of a native syscall number, or "syscall#N".
[[nodiscard]] std::string SyscallName(int nr);
// Name for a syscall number on an AUDIT_ARCH_* architecture (as logged by the
// kernel's seccomp audit records), or "syscall#N".
[[nodiscard]] std::string SyscallNameForAuditArch(uint32_t audit_arch, int nr);

// Expands groups and resolves precedence: native syscall name -> action, for
// every syscall whose action differs from nothing (i.e. all listed ones).
// Errors (unknown name or group) carry the rule's position.
[[nodiscard]] base::Result<std::map<std::string, Action>> ExpandRules(const PolicySpec& spec);

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
