// What `hinetd learn` observed, and the policy file it writes from it. Pure
// functions (observations in, text out), so that the writer is tested
// without running anything; the recorder (supervisor/recorder.h) fills the
// observations, `hinetd learn --from-log` fills them from trial-mode log
// lines.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sandbox/policy.h"

namespace hinetd::sandbox {

// Distinct combinations of argument values kept per syscall; past it the
// syscall is noted as too varied for an argument rule.
inline constexpr size_t kMaxDistinctValues = 64;
// Alternatives an enumeration rule may have (one `==` per value); more and
// the syscall is allowed whole.
inline constexpr size_t kMaxRuleValues = 8;

// One syscall as seen.
struct Observed {
  uint64_t count = 0;
  // The values of its arguments that matter (ArgumentsThatMatter, in that
  // order), per distinct combination, with how many calls had it.
  std::map<std::vector<uint64_t>, uint64_t> values;
  bool too_varied = false;  // more than kMaxDistinctValues combinations
  // Calls that `runtime` (which a learned policy includes) does not allow
  // with their arguments, though it allows the syscall for others: an
  // mmap with PROT_EXEC of anonymous memory, prlimit64 on another pid. A
  // syscall of runtime is written into the learned policy only then.
  uint64_t beyond_runtime = 0;
  // --from-log: allowed by the current policy, not observed (no count);
  // with the conditions of its argument rules, if it has some (each one
  // alternative, as written), which the values seen in the log extend.
  bool from_policy = false;
  std::vector<std::string> policy_when;
};
using Observations = std::map<std::string, Observed>;

// The values of `syscall`'s arguments that matter, from the six registers
// (an int argument is the low 32 bits: the kernel ignores the rest).
[[nodiscard]] std::vector<uint64_t> ValuesThatMatter(const std::string& syscall,
                                                     const uint64_t args[6]);
// Counts `calls` calls (`beyond_runtime`: runtime's rules do not allow
// them with their arguments); true if the syscall, this combination of
// values, or its first call beyond runtime is new.
bool Observe(Observations& obs, const std::string& syscall, const std::vector<uint64_t>& values,
             uint64_t calls = 1, bool beyond_runtime = false);

// The values that tell trial lines apart: ValuesThatMatter, with a process
// id (kill's pid) other than 0 and -1 folded into one value, so that a
// service that signals its children logs one line, not one per child.
[[nodiscard]] std::vector<uint64_t> TrialKey(const std::string& syscall,
                                             std::vector<uint64_t> values);

// "family=AF_INET type=SOCK_STREAM" as (name, described value) pairs, the
// names the kernel's (or argN).
[[nodiscard]] std::vector<std::pair<std::string, std::string>> DescribeValues(
    const std::string& syscall, const std::vector<uint64_t>& values);

struct WriterInput {
  std::string service;
  // A comment at the top: where the observations come from.
  std::vector<std::string> header;
  // The syscalls `runtime` allows, for some arguments at least (included,
  // so not repeated unless a call went beyond runtime's rules).
  std::set<std::string> runtime;
  // runtime's argument rules of those it allows only with some (syscall ->
  // its rules): a syscall written into the learned policy for calls beyond
  // runtime replaces runtime's rules for it, so where its entry has
  // argument rules they are kept in it. `err` empty: an allow rule.
  struct RuntimeRule {
    std::string err;
    std::string when;
  };
  std::map<std::string, std::vector<RuntimeRule>> runtime_rules;
  // --from-log: the current policy's errno table (syscall -> "EPERM"),
  // kept as it is.
  std::map<std::string, std::string> errno_table;
};

// Fills `runtime` and `runtime_rules` from runtime's expanded rules.
void SetRuntime(WriterInput& in, const ExpandedPolicy& runtime);

// The policy file: include = ["runtime"], then what was used beyond it,
// grouped where a whole group was used, with argument rules where the
// values were a small fixed set; each entry commented with its counts,
// dangerous ones marked for review. Its [errno] table answers the calls
// hinetd's base layers refuse every service (BaseLayerRefusals in
// sandbox/daemon_filters.h) with their errno, as they were answered while
// it was learned, instead of the default kill.
[[nodiscard]] std::string WriteLearnedPolicy(const Observations& obs, const WriterInput& in);

// The syscalls (native names) a learned policy lists beyond runtime, each
// with its argument rules as written (empty: the whole syscall).
[[nodiscard]] std::map<std::string, std::vector<std::string>> LearnedRules(
    const Observations& obs, const WriterInput& in);
// The same, and whether each is narrowed by an argument rule.
[[nodiscard]] std::map<std::string, bool> LearnedAllows(const Observations& obs,
                                                        const WriterInput& in);

// One `event=policy-trial` log line, as the monitor writes it.
struct TrialRecord {
  std::string service;
  std::string syscall;
  std::vector<uint64_t> values;  // from its raw= field
};
// Parses a trial line (anything before "event=" is ignored: a syslog or
// journal prefix); nullopt for any other line. An error text for a trial
// line that does not parse.
[[nodiscard]] std::optional<TrialRecord> ParseTrialLine(std::string_view line,
                                                        std::string* error = nullptr);

}  // namespace hinetd::sandbox
