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
// Counts `calls` calls; true if the syscall or this combination of values is
// new.
bool Observe(Observations& obs, const std::string& syscall, const std::vector<uint64_t>& values,
             uint64_t calls = 1);

// "family=AF_INET type=SOCK_STREAM" as (name, described value) pairs, the
// names the kernel's (or argN).
[[nodiscard]] std::vector<std::pair<std::string, std::string>> DescribeValues(
    const std::string& syscall, const std::vector<uint64_t>& values);

struct WriterInput {
  std::string service;
  // A comment at the top: where the observations come from.
  std::vector<std::string> header;
  // The syscalls `runtime` allows (included, so not repeated).
  std::set<std::string> runtime;
  // --from-log: the current policy's errno table (syscall -> "EPERM"),
  // kept as it is.
  std::map<std::string, std::string> errno_table;
};

// The policy file: include = ["runtime"], then what was used beyond it,
// grouped where a whole group was used, with argument rules where the
// values were a small fixed set; each entry commented with its counts,
// dangerous ones marked for review.
[[nodiscard]] std::string WriteLearnedPolicy(const Observations& obs, const WriterInput& in);

// The syscalls (native names) a learned policy allows beyond runtime, and
// whether each is narrowed by an argument rule.
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
