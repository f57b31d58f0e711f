// `hinetd audit`: how exposed each service's child is, as a score that can
// be recomputed by hand from the checks behind it (hinetd(8), AUDIT).
//
// Every check is pass, fail or n/a; a failed check counts its weight, the
// others nothing, and the score is the sum, capped at 10:
//   score = min(10.0, sum of the weights of the failed checks)
// Weights are in tenths, so sums are exact. The system-call checks run the
// compiled programs (the monitor's layer, the children's layer and the
// service's policy) in the BPF interpreter on crafted seccomp_data, and
// take what the kernel would: the most restrictive of the three results.
#pragma once

#include <linux/seccomp.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/types.h"
#include "sandbox/policy.h"
#include "spawn/plan.h"

namespace hinetd::audit {

enum class Outcome { kPass, kFail, kNa };

// "ok", "FAIL", "n/a" (text), "pass", "fail", "n/a" (JSON).
[[nodiscard]] const char* OutcomeText(Outcome o);
[[nodiscard]] const char* OutcomeJson(Outcome o);

// A check as documented: what it looks at and what it weighs.
struct CheckInfo {
  const char* id;        // "identity.root"
  const char* category;  // identity, filesystem, seccomp, resources, admission, exposure, isolation
  int weight;            // tenths of a point
  const char* risk;      // what a failure means, one sentence
  const char* fix;       // the configuration key that fixes it
};

// Every check, in report order.
[[nodiscard]] const std::vector<CheckInfo>& Checks();
[[nodiscard]] const CheckInfo* FindCheck(const std::string& id);

struct CheckResult {
  const CheckInfo* info = nullptr;
  Outcome outcome = Outcome::kNa;
  std::string detail;  // what was found, one sentence
  [[nodiscard]] int counted() const { return outcome == Outcome::kFail ? info->weight : 0; }
};

// What the kernel does with one attempted call, from the compiled programs.
struct Verdict {
  bool allowed = false;
  std::string how;  // "allowed", "killed by the filter", "errno EPERM", "logged (trial mode)"
};

struct ServiceAudit {
  std::string name;
  int score = 0;  // tenths, 0..100
  std::string bucket;
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string chroot;  // empty: none
  std::string policy;  // name, or "none"
  bool all_allowed = false;  // no policy: every syscall the base layers leave
  // Syscalls the policy allows for some or every call, and each one's
  // argument rules as written (empty: every call).
  std::map<std::string, std::vector<std::string>> allowed;
  std::vector<CheckResult> checks;
  // What the static analysis says about each escape --prove attempts
  // (prove.h's Escapes()): possible or not, and why.
  std::map<std::string, Verdict> predictions;
};

// The score's bucket: PERFECT (0.0), LOW (< 2.0), MEDIUM (< 5.0),
// EXPOSED (< 7.5), UNSAFE (< 9.0), DANGEROUS.
[[nodiscard]] const char* Bucket(int tenths);

// The filters every child runs under, whatever its policy: the monitor's
// (inherited) and the children's layer.
struct BaseLayers {
  std::unique_ptr<sandbox::BpfProgram> monitor;
  std::unique_ptr<sandbox::BpfProgram> children;
};

struct AuditOptions {
  // Landlock ABI of the running kernel (every child gets a domain from 2);
  // negative: ask the kernel.
  int landlock_abi = -1;
  // The base layers to evaluate calls under; nullptr: hinetd's own
  // (CompileBaseLayers). A null program in them is a layer that allows
  // everything.
  const BaseLayers* base_layers = nullptr;
};

// Audits every service of a loaded table (or only `only`, by name).
[[nodiscard]] base::Result<std::vector<ServiceAudit>> AuditTable(
    const config::Config& config, const spawn::PlanSet& plans,
    const std::vector<std::string>& only = {}, const AuditOptions& options = {});

[[nodiscard]] base::Result<BaseLayers> CompileBaseLayers();

// What the kernel returns for `data` under the base layers and `policy`
// (nullptr: none): the most restrictive SECCOMP_RET_* of them.
[[nodiscard]] base::Result<uint32_t> Effective(const BaseLayers& base,
                                               const sandbox::BpfProgram* policy,
                                               const seccomp_data& data);

// Text for a SECCOMP_RET_* value: "allowed", "killed by the filter",
// "errno EACCES", "logged (trial mode)".
[[nodiscard]] std::string ActionText(uint32_t ret);

// The report as JSON (schema "hinetd-audit/1", hinetd(8) JSON OUTPUT).
[[nodiscard]] std::string JsonString(const std::string& s);

}  // namespace hinetd::audit
