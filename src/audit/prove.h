// `hinetd audit --prove`: the audit's claims checked against the kernel.
// For each service, hinetd starts the real child exactly as for a
// connection (the same spawn plan and spawner: chroot, ids, capabilities,
// limits, namespaces, Landlock, environment, the base filter layers), but
// executes the static escape probe (hinetd-probe-escape, by descriptor, like
// hinetd-internal) instead of the service. The probe installs the service's
// compiled program itself, as its first act: hinetd installs it just before
// its execve of the service, and executing the probe by descriptor would
// otherwise need execveat in every policy. One fresh child per attempt, so
// that a kill by the filter does not end the run.
#pragma once

#include <string>
#include <vector>

#include "audit/audit.h"
#include "base/result.h"
#include "config/types.h"
#include "spawn/plan.h"

namespace hinetd::audit {

struct Escape {
  const char* id;    // "connect"
  const char* what;  // "open a socket and connect to 127.0.0.1"
};
// The attempts, in order.
[[nodiscard]] const std::vector<Escape>& Escapes();

enum class ProveOutcome {
  kVerified,      // the audit said blocked, and the kernel refused
  kContradicted,  // the audit said blocked, and the kernel allowed it
  kAllowed,       // the audit said possible, and it was
  kRefused,       // the audit said possible, and the kernel refused (stricter)
  kError,         // the child could not start, or the probe failed
};
[[nodiscard]] const char* ProveOutcomeText(ProveOutcome o);

// The verdict of one attempt: what the audit predicted against what the
// kernel did (`error`: the attempt could not be made).
[[nodiscard]] ProveOutcome Classify(bool predicted_allowed, bool kernel_allowed, bool error);

struct ProveLine {
  const Escape* escape = nullptr;
  ProveOutcome outcome = ProveOutcome::kError;
  std::string kernel;     // what happened: "killed by the filter at socket", "errno ENOENT at openat"
  std::string predicted;  // what the audit said
};

struct ProveReport {
  std::string service;
  std::vector<ProveLine> lines;
};

// Where hinetd-probe-escape is looked for, in order: next to this program,
// then the libexec directory (like hinetd-internal).
[[nodiscard]] std::vector<std::string> ProbeCandidates();

// Runs every escape for each audited service. Needs root. Installs the
// monitor's seccomp filter on this process first (every child inherits it
// from the monitor), so call it last.
[[nodiscard]] base::Result<std::vector<ProveReport>> Prove(const config::Config& config,
                                                           const spawn::PlanSet& plans,
                                                           const std::vector<ServiceAudit>& audits);

}  // namespace hinetd::audit
