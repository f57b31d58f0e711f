#include "sandbox/learned.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "base/errno_name.h"
#include "sandbox/daemon_filters.h"
#include "sandbox/policy.h"
#include "sandbox/syscall_args.h"

namespace hinetd::sandbox {

namespace {

std::string ArgName(const std::string& syscall, int index) {
  const auto* args = SyscallArgs(syscall);
  if (args != nullptr && index >= 0 && static_cast<size_t>(index) < args->size()) {
    return (*args)[static_cast<size_t>(index)].name;
  }
  return "arg" + std::to_string(index);
}

bool Is32(const std::string& syscall, int index) {
  const auto* args = SyscallArgs(syscall);
  return args != nullptr && index >= 0 && static_cast<size_t>(index) < args->size() &&
         (*args)[static_cast<size_t>(index)].kind == ArgKind::k32;
}

std::string Plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The quoted TOML string of `s` (names and conditions: no quotes or
// backslashes in them, but escape anyway).
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// A process id argument's values a rule may name: 0 and -1.
bool IsSelfOrAll(uint64_t v) {
  v &= 0xffffffffULL;
  return v == 0 || v == 0xffffffffULL;
}

// One entry of the allow list, with what the comment above it says.
struct Entry {
  std::string name;               // syscall or @group
  std::vector<std::string> when;  // alternatives; empty: the whole syscall
  std::string comment;
  bool dangerous = false;
  std::string why_whole;  // a note when values were seen but no rule fits
};

// The argument rule for one syscall: alternatives (each a conjunction),
// empty when the values seen do not make a small fixed set.
std::vector<std::string> RuleFromValues(const std::string& name, const Observed& o,
                                        std::string* why_whole);

// A rule of the current policy (--from-log), extended by the values seen:
// its alternatives, then those of the values; whole when either is.
std::vector<std::string> RuleFor(const std::string& name, const Observed& o,
                                 std::string* why_whole) {
  if (o.from_policy && o.policy_when.empty()) return {};  // whole in the policy
  std::vector<std::string> out = o.policy_when;
  if (o.values.empty() && o.count == 0) return out;
  std::vector<std::string> seen = RuleFromValues(name, o, why_whole);
  if (seen.empty() && !out.empty()) {
    // Calls seen that no rule covers: the syscall whole.
    return {};
  }
  for (auto& alt : seen) {
    if (std::find(out.begin(), out.end(), alt) == out.end()) out.push_back(alt);
  }
  return out;
}

std::vector<std::string> RuleFromValues(const std::string& name, const Observed& o,
                                        std::string* why_whole) {
  auto matter = ArgumentsThatMatter(name);
  if (matter.empty() || o.values.empty()) return {};
  if (o.too_varied) {
    *why_whole = "more than " + std::to_string(kMaxDistinctValues) +
                 " distinct argument values: no rule";
    return {};
  }
  for (size_t i = 0; i < matter.size(); ++i) {
    if (!matter[i].is_pid) continue;
    for (const auto& [values, n] : o.values) {
      if (i >= values.size() || IsSelfOrAll(values[i])) continue;
      *why_whole = ArgName(name, matter[i].index) + "=" +
                   DescribeValue(name, matter[i].index, values[i]) +
                   " names a process by its id, which differs from run to run: no rule";
      return {};
    }
  }
  // Flag arguments: a condition that no danger bit is set, when no call
  // had one.
  std::string flags;
  for (size_t i = 0; i < matter.size(); ++i) {
    if (!matter[i].is_flags || matter[i].danger_mask == 0) continue;
    uint64_t seen = 0;
    for (const auto& [values, n] : o.values) {
      if (i < values.size()) seen |= values[i];
    }
    if ((seen & matter[i].danger_mask) != 0) continue;
    std::string mask = DescribeValue(name, matter[i].index, matter[i].danger_mask);
    if (mask.find('|') != std::string::npos) mask = "(" + mask + ")";
    flags += (flags.empty() ? "" : " && ") + ArgName(name, matter[i].index) + " & " + mask +
             " == 0";
  }
  // Enumerations: one alternative per distinct combination of their values.
  std::set<std::vector<uint64_t>> combos;
  bool any_enum = false;
  for (const auto& m : matter) any_enum = any_enum || !m.is_flags;
  if (any_enum) {
    for (const auto& [values, n] : o.values) {
      std::vector<uint64_t> e;
      for (size_t i = 0; i < matter.size() && i < values.size(); ++i) {
        if (!matter[i].is_flags) e.push_back(values[i]);
      }
      combos.insert(e);
    }
  }
  std::vector<std::string> out;
  if (any_enum && combos.size() <= kMaxRuleValues) {
    for (const auto& e : combos) {
      std::string cond;
      size_t k = 0;
      for (const auto& m : matter) {
        if (m.is_flags) continue;
        cond += (cond.empty() ? "" : " && ") + ArgName(name, m.index) +
                " == " + DescribeValue(name, m.index, e[k++]);
      }
      if (!flags.empty()) cond += " && " + flags;
      out.push_back(cond);
    }
  } else {
    if (any_enum) {
      *why_whole = std::to_string(combos.size()) + " distinct values (more than " +
                   std::to_string(kMaxRuleValues) + ")";
    }
    if (!flags.empty()) out.push_back(flags);
  }
  return out;
}

// "family=AF_UNIX 3, family=AF_INET 1" (the most frequent first, at most 6).
std::string ValuesComment(const std::string& name, const Observed& o) {
  std::vector<std::pair<uint64_t, const std::vector<uint64_t>*>> by_count;
  for (const auto& [values, n] : o.values) by_count.emplace_back(n, &values);
  std::stable_sort(by_count.begin(), by_count.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  size_t shown = 0;
  for (const auto& [n, values] : by_count) {
    if (shown++ == 6) {
      out += ", ...";
      break;
    }
    std::string text;
    for (const auto& [k, v] : DescribeValues(name, *values)) {
      text += (text.empty() ? "" : " ") + k + "=" + v;
    }
    out += (out.empty() ? "" : ", ") + text + " " + std::to_string(n);
  }
  return out;
}

std::string CountComment(const Observed& o, bool of_runtime) {
  std::string out;
  if (o.from_policy && o.count > 0) {
    out = "from the current policy; seen " + Plural(o.count, "time", "times") + " in the log";
  } else if (o.from_policy) {
    out = "from the current policy";
  } else {
    out = "seen " + Plural(o.count, "time", "times");
  }
  if (of_runtime && o.beyond_runtime > 0) {
    out += ", " + std::to_string(o.beyond_runtime) + " of them beyond what runtime allows";
  }
  return out;
}

// Whether the learned policy lists the syscall itself: it is native, and
// runtime does not already allow every call of it that was seen.
bool Listed(const std::string& name, const Observed& o, const WriterInput& in) {
  if (NativeSyscallNumber(name) < 0) return false;
  return in.runtime.count(name) == 0 || o.beyond_runtime > 0;
}

// Its argument rules (empty: whole). A syscall of runtime's listed here
// replaces runtime's rules for it: where it gets argument rules, runtime's
// allow rules are among them (its errno rules go to the errno table).
std::vector<std::string> WhenFor(const std::string& name, const Observed& o,
                                 const WriterInput& in, std::string* why_whole) {
  std::vector<std::string> when = RuleFor(name, o, why_whole);
  auto rt = in.runtime_rules.find(name);
  if (when.empty() || in.runtime.count(name) == 0 || rt == in.runtime_rules.end()) return when;
  std::vector<std::string> out;
  for (const auto& r : rt->second) {
    if (r.err.empty()) out.push_back(r.when);
  }
  for (auto& w : when) {
    if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
  }
  return out;
}

}  // namespace

std::vector<uint64_t> ValuesThatMatter(const std::string& syscall, const uint64_t args[6]) {
  std::vector<uint64_t> out;
  for (const auto& m : ArgumentsThatMatter(syscall)) {
    if (m.index < 0 || m.index > 5) continue;
    uint64_t v = args[m.index];
    if (Is32(syscall, m.index)) v &= 0xffffffffULL;
    out.push_back(v);
  }
  return out;
}

bool Observe(Observations& obs, const std::string& syscall, const std::vector<uint64_t>& values,
             uint64_t calls, bool beyond_runtime) {
  auto [it, fresh] = obs.try_emplace(syscall);
  Observed& o = it->second;
  o.count += calls;
  if (beyond_runtime) {
    fresh = fresh || o.beyond_runtime == 0;
    o.beyond_runtime += calls;
  }
  if (values.empty()) return fresh;
  if (auto v = o.values.find(values); v != o.values.end()) {
    v->second += calls;
    return fresh;
  }
  if (o.values.size() >= kMaxDistinctValues) {
    bool was = o.too_varied;
    o.too_varied = true;
    return fresh || !was;
  }
  o.values.emplace(values, calls);
  return true;
}

std::vector<std::pair<std::string, std::string>> DescribeValues(
    const std::string& syscall, const std::vector<uint64_t>& values) {
  std::vector<std::pair<std::string, std::string>> out;
  auto matter = ArgumentsThatMatter(syscall);
  for (size_t i = 0; i < matter.size() && i < values.size(); ++i) {
    out.emplace_back(ArgName(syscall, matter[i].index),
                     DescribeValue(syscall, matter[i].index, values[i]));
  }
  return out;
}

void SetRuntime(WriterInput& in, const ExpandedPolicy& runtime) {
  in.runtime.clear();
  in.runtime_rules.clear();
  for (const auto& [name, r] : runtime) {
    if (!r.AllowsSome()) continue;
    in.runtime.insert(name);
    if (r.whole()) continue;
    auto& kept = in.runtime_rules[name];
    for (const auto& one : r.rules) {
      std::string err;
      if (one.action.kind == ActionKind::kErrno) {
        err = base::ErrnoName(one.action.err);
      } else if (one.action.kind != ActionKind::kAllow) {
        continue;
      }
      for (const auto& w : one.when_text) kept.push_back({err, w});
    }
  }
}

std::vector<uint64_t> TrialKey(const std::string& syscall, std::vector<uint64_t> values) {
  auto matter = ArgumentsThatMatter(syscall);
  for (size_t i = 0; i < matter.size() && i < values.size(); ++i) {
    if (matter[i].is_pid && !IsSelfOrAll(values[i])) values[i] = 1;
  }
  return values;
}

std::map<std::string, std::vector<std::string>> LearnedRules(const Observations& obs,
                                                             const WriterInput& in) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [name, o] : obs) {
    if (!Listed(name, o, in)) continue;
    std::string ignored;
    out[name] = WhenFor(name, o, in, &ignored);
  }
  return out;
}

std::map<std::string, bool> LearnedAllows(const Observations& obs, const WriterInput& in) {
  std::map<std::string, bool> out;
  for (const auto& [name, when] : LearnedRules(obs, in)) out[name] = !when.empty();
  return out;
}

std::string WriteLearnedPolicy(const Observations& obs, const WriterInput& in) {
  // What to allow beyond runtime: whole, or with a rule.
  std::map<std::string, Entry> entries;
  std::set<std::string> whole;  // candidates for a group
  for (const auto& [name, o] : obs) {
    if (!Listed(name, o, in)) continue;
    Entry e;
    e.name = name;
    e.when = WhenFor(name, o, in, &e.why_whole);
    e.dangerous = IsDangerous(name);
    e.comment = name + ": " + CountComment(o, in.runtime.count(name) != 0);
    if (!o.values.empty()) e.comment += "; " + ValuesComment(name, o);
    if (e.when.empty() && !e.dangerous) whole.insert(name);
    entries.emplace(name, std::move(e));
  }
  // An @group where every native member was used (runtime's members
  // included), largest first, each syscall in one group at most.
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  for (const auto& g : GroupNames()) {
    const auto* members = FindGroup(g);
    if (members == nullptr) continue;
    std::vector<std::string> native;
    for (const auto& m : *members) {
      if (NativeSyscallNumber(m) >= 0) native.push_back(m);
    }
    if (!native.empty()) groups.emplace_back(g, native);
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  for (const auto& [g, members] : groups) {
    bool all = true;
    bool adds = false;
    for (const auto& m : members) {
      bool used = obs.count(m) != 0;
      bool by_runtime = in.runtime.count(m) != 0 && entries.count(m) == 0;
      if (!used || (!by_runtime && whole.count(m) == 0)) all = false;
      if (whole.count(m) != 0) adds = true;
    }
    if (!all || !adds) continue;
    Entry e;
    e.name = g;
    e.comment = g + ", every member used:";
    for (const auto& m : members) {
      if (auto it = entries.find(m); it != entries.end()) {
        e.comment += " " + m + " " + std::to_string(obs.at(m).count);
        entries.erase(it);
        whole.erase(m);
      }
    }
    entries.emplace(g, std::move(e));
  }

  std::string out;
  out += "# Learned by `hinetd learn` for service \"" + in.service + "\".\n";
  for (const auto& h : in.header) out += "# " + h + "\n";
  out +=
      "# It allows what the service was seen to do, and nothing else: review it, run it\n"
      "# in trial mode (default_action = \"log\") on live traffic, then set \"kill\".\n";
  out += "description = " + Quote("learned for " + in.service + " (hinetd learn)") + "\n";
  out += "default_action = \"kill\"\n";
  out += "include = [\"runtime\"]\n";
  out += "allow = [\n";
  for (const auto& [key, e] : entries) {
    if (e.dangerous) {
      out += "  # REVIEW: " + e.name +
             " reaches beyond the connection the service was given (dangerous)\n";
    }
    out += "  # " + e.comment + "\n";
    if (!e.why_whole.empty()) out += "  # (" + e.why_whole + ")\n";
    if (e.when.empty()) {
      out += "  " + Quote(e.name) + ",\n";
    } else if (e.when.size() == 1) {
      out += "  { syscall = " + Quote(e.name) + ", when = " + Quote(e.when[0]) + " },\n";
    } else {
      out += "  { syscall = " + Quote(e.name) + ", when = [";
      for (size_t i = 0; i < e.when.size(); ++i) out += (i ? ", " : "") + Quote(e.when[i]);
      out += "] },\n";
    }
  }
  out += "]\n";
  out += "\n[errno]\n";
  bool any_errno = false;
  for (const auto& [name, err] : in.errno_table) any_errno = any_errno || obs.count(name) == 0;
  if (any_errno) {
    out += "# From the current policy, as it was.\n";
    for (const auto& [name, err] : in.errno_table) {
      // Seen and allowed now: the allow entry replaces it.
      if (obs.count(name) != 0) continue;
      out += name + " = " + Quote(err) + "\n";
    }
  }
  // runtime's errno rules of a syscall listed above with argument rules
  // (the entry replaces all of runtime's rules for it).
  for (const auto& [key, e] : entries) {
    if (e.when.empty() || in.runtime.count(key) == 0) continue;
    auto rt = in.runtime_rules.find(key);
    if (rt == in.runtime_rules.end()) continue;
    for (const auto& r : rt->second) {
      if (r.err.empty()) continue;
      out += "# " + key + ": runtime's rule, kept with its allow rules above\n";
      out += key + " = { errno = " + Quote(r.err) + ", when = " + Quote(r.when) + " }\n";
    }
  }
  // What the base layers refuse, as they refused it while learning.
  std::string refused;
  for (const auto& r : BaseLayerRefusals()) {
    auto e = entries.find(r.syscall);
    // Allowed whole here: the base layer's errno outranks an allow, so the
    // call fails with it as it did. Kept from the current policy: as is.
    if (e != entries.end() && e->second.when.empty()) continue;
    if (in.errno_table.count(r.syscall) != 0) continue;
    // runtime's own rules for it stand (this file does not list it), or
    // this file allows it with argument rules and the refusal is for every
    // call: a file cannot give one syscall both.
    if (e == entries.end() && in.runtime.count(r.syscall) != 0) continue;
    if (e != entries.end() && r.when.empty()) continue;
    if (r.when.empty()) {
      refused += r.syscall + " = " + Quote(base::ErrnoName(r.err)) + "\n";
    } else {
      refused += r.syscall + " = { errno = " + Quote(base::ErrnoName(r.err)) +
              ", when = " + Quote(r.when) + " }\n";
    }
  }
  if (!refused.empty()) {
    out +=
        "# hinetd's base layers (the monitor's deny list, which every child inherits, and\n"
        "# the children's own filter) refuse these calls to every service with this errno,\n"
        "# whatever its policy says: they can never succeed. The kernel ranks an errno above\n"
        "# the notification learning records with, so learning never sees them; and it ranks\n"
        "# a kill above an errno, so without these lines a call the service made, and\n"
        "# survived the errno of, while it was learned would kill it under this policy.\n";
    out += refused;
  }
  return out;
}

namespace {

// The next `key=value` of a logfmt line from `pos`; values may be quoted
// (with \" and \\ inside).
bool NextField(std::string_view line, size_t& pos, std::string& key, std::string& value) {
  while (pos < line.size() && line[pos] == ' ') ++pos;
  if (pos >= line.size()) return false;
  size_t eq = line.find('=', pos);
  if (eq == std::string_view::npos) return false;
  key.assign(line.substr(pos, eq - pos));
  pos = eq + 1;
  value.clear();
  if (pos < line.size() && line[pos] == '"') {
    ++pos;
    while (pos < line.size() && line[pos] != '"') {
      if (line[pos] == '\\' && pos + 1 < line.size()) ++pos;
      value.push_back(line[pos++]);
    }
    ++pos;  // the closing quote
  } else {
    while (pos < line.size() && line[pos] != ' ') value.push_back(line[pos++]);
  }
  return true;
}

}  // namespace

std::optional<TrialRecord> ParseTrialLine(std::string_view line, std::string* error) {
  size_t start = line.find("event=policy-trial ");
  if (start == std::string_view::npos) return std::nullopt;
  line = line.substr(start);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  TrialRecord r;
  bool have_raw = false;
  size_t pos = 0;
  std::string key;
  std::string value;
  while (NextField(line, pos, key, value)) {
    if (key == "service") {
      r.service = value;
    } else if (key == "syscall") {
      r.syscall = value;
    } else if (key == "raw") {
      have_raw = true;
      size_t p = 0;
      while (p < value.size()) {
        size_t comma = value.find(',', p);
        std::string item = value.substr(p, comma == std::string::npos ? std::string::npos
                                                                      : comma - p);
        char* end = nullptr;
        unsigned long long v = strtoull(item.c_str(), &end, 0);
        if (item.empty() || end == nullptr || *end != '\0') {
          if (error != nullptr) *error = "raw= holds '" + item + "', not a number";
          return std::nullopt;
        }
        r.values.push_back(v);
        if (comma == std::string::npos) break;
        p = comma + 1;
      }
    }
  }
  if (r.service.empty() || r.syscall.empty()) {
    if (error != nullptr) *error = "a policy-trial line without service= or syscall=";
    return std::nullopt;
  }
  if (!IsKnownSyscall(r.syscall)) {
    if (error != nullptr) *error = "unknown system call '" + r.syscall + "'";
    return std::nullopt;
  }
  size_t want = ArgumentsThatMatter(r.syscall).size();
  if ((want > 0 && !have_raw) || r.values.size() != want) {
    if (error != nullptr) {
      *error = "syscall=" + r.syscall + " needs " + std::to_string(want) +
               " values in raw=, the line has " + std::to_string(r.values.size());
    }
    return std::nullopt;
  }
  return r;
}

}  // namespace hinetd::sandbox
