#include "config/policy_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "base/errno_name.h"
#include "base/fs.h"
#include "config/system_checks.h"
#include "config/suggest.h"
#include "config/toml_reader.h"
#include "sandbox/arg_rules.h"

namespace hinetd::config {

using base::Error;
using base::Result;
using base::SourceLoc;
using sandbox::Action;
using sandbox::ActionKind;
using sandbox::PolicySpec;
using sandbox::Rule;

bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  });
}

namespace {

Result<int> ParseErrnoValue(const Found& f) {
  if (f.node->is_integer()) {
    auto v = AsInt(f, 1, 4095);
    if (!v.ok()) return v.error();
    return static_cast<int>(*v);
  }
  auto s = AsString(f);
  if (!s.ok()) return f.Err("expected an errno name such as \"EPERM\", got " + TypeName(*f.node));
  auto e = base::ErrnoFromName(*s);
  if (!e) return f.Err("'" + *s + "' is not an errno name (e.g. \"EPERM\", \"EACCES\")");
  return *e;
}


// An unknown syscall or group, with the closest known name when it looks
// like a typo.
base::Status CheckName(const Rule& rule, const std::string& context) {
  std::string key = rule.action.kind == ActionKind::kAllow ? "allow" : "errno";
  if (!rule.name.empty() && rule.name[0] == '@') {
    if (sandbox::FindGroup(rule.name) != nullptr) return {};
    std::string valid;
    for (const auto& g : sandbox::GroupNames()) valid += (valid.empty() ? "" : ", ") + g;
    std::string near = ClosestMatch(rule.name, sandbox::GroupNames());
    return Error(rule.loc, context + ": " + key + ": unknown syscall group '" + rule.name + "'" +
                               (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                               " (groups: " + valid + ")");
  }
  if (sandbox::IsKnownSyscall(rule.name)) return {};
  std::string near = ClosestMatch(rule.name, sandbox::NativeSyscallNames());
  return Error(rule.loc, context + ": " + key + ": unknown system call '" + rule.name + "'" +
                             (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                             " (names are those of the kernel, e.g. \"openat\", "
                             "\"newfstatat\"; see syscalls(2))");
}

// One condition string at `node`, parsed for `syscall`; errors point at the
// column inside the string.
Result<std::vector<sandbox::ArgCondition>> ParseWhen(const TableReader& reader,
                                                     const toml::node& node,
                                                     const std::string& syscall) {
  std::string text(node.as_string()->get());
  auto parsed = sandbox::ParseCondition(syscall, text);
  if (parsed.ok()) return parsed;
  SourceLoc loc = reader.Loc(node);
  // Past the opening quote (exact for strings without escapes).
  loc.column += parsed.error().loc().column;
  return Error(loc, reader.context() + ": " + syscall + " when \"" + text +
                        "\": " + parsed.error().message());
}

// An argument rule: { syscall = "NAME", when = ... } in allow (`name_key` is
// "syscall"), or { errno = "E...", when = ... } under [errno] (the syscall
// is the key, `syscall`).
Result<Rule> ReadArgRule(const TableReader& reader, const std::string& name_key, Action action,
                         const std::string& path, std::string syscall = "") {
  std::vector<std::string> keys{"when"};
  keys.push_back(name_key.empty() ? "errno" : name_key);
  if (auto s = reader.CheckKeys(keys); !s.ok()) return s.error();
  std::vector<const TableReader*> scope{&reader};
  if (!name_key.empty()) {
    Found f = Lookup(scope, name_key);
    if (!f) {
      return Error(reader.TableLoc(), reader.context() +
                                          ": an argument rule needs `syscall = \"NAME\"`");
    }
    auto v = AsString(f);
    if (!v.ok()) return v.error();
    if (!v->empty() && (*v)[0] == '@') {
      return f.Err("argument rules are for one syscall; '" + *v +
                   "' is a group (list its syscalls one by one)");
    }
    if (!sandbox::IsKnownSyscall(*v)) {
      std::string near = ClosestMatch(*v, sandbox::NativeSyscallNames());
      return f.Err("unknown system call '" + *v + "'" +
                   (near.empty() ? "" : " (did you mean '" + near + "'?)") + " (see syscalls(2))");
    }
    syscall = *v;
  } else {
    Found f = Lookup(scope, "errno");
    if (!f) {
      return Error(reader.TableLoc(),
                   reader.context() + ": needs `errno = \"ENAME\"` and `when = \"CONDITION\"`");
    }
    auto e = ParseErrnoValue(f);
    if (!e.ok()) return e.error();
    action.err = *e;
  }
  Found when = Lookup(scope, "when");
  if (!when) {
    return Error(reader.TableLoc(),
                 reader.context() + ": " + syscall +
                     ": an argument rule needs `when = \"CONDITION\"` (e.g. \"family == "
                     "AF_UNIX\"); without conditions, list the syscall by its name");
  }
  Rule rule{syscall, action, when.Loc(), {}, {}, path};
  std::vector<const toml::node*> conditions;
  if (when.node->is_string()) {
    conditions.push_back(when.node);
  } else if (const toml::array* list = when.node->as_array(); list != nullptr && !list->empty()) {
    for (const toml::node& n : *list) {
      if (!n.is_string()) {
        return Error(reader.Loc(n), reader.context() + ": when: expected a condition string, got " +
                                        TypeName(n));
      }
      conditions.push_back(&n);
    }
  } else {
    return when.Err("expected a condition string or a non-empty array of them (any may hold)");
  }
  for (const toml::node* n : conditions) {
    auto alternatives = ParseWhen(reader, *n, syscall);
    if (!alternatives.ok()) return alternatives.error();
    rule.when.insert(rule.when.end(), alternatives->begin(), alternatives->end());
    rule.when_text.emplace_back(n->as_string()->get());
  }
  return rule;
}

}  // namespace

Result<Action> ParseAction(const std::string& text) {
  if (text == "kill") return Action{ActionKind::kKill, 0};
  if (text == "log") return Action{ActionKind::kLog, 0};
  if (text == "allow") return Action{ActionKind::kAllow, 0};
  if (text.starts_with("errno:")) {
    auto e = base::ErrnoFromName(text.substr(6));
    if (e) return Action{ActionKind::kErrno, *e};
    return Error("'" + text.substr(6) + "' is not an errno name (e.g. \"errno:EPERM\")");
  }
  return Error("'" + text + "' is not an action (expected \"kill\", \"log\" or \"errno:NAME\")");
}

Result<PolicySpec> PolicyLoader::Load(const std::string& name, const SourceLoc& where) {
  if (auto it = done_.find(name); it != done_.end()) return it->second;
  if (!IsValidName(name)) {
    return Error(where, "'" + name + "' is not a policy name (letters, digits, '_' and '-')");
  }
  if (std::find(stack_.begin(), stack_.end(), name) != stack_.end()) {
    std::string chain;
    for (const auto& n : stack_) chain += n + " -> ";
    return Error(where, "policy include cycle: " + chain + name);
  }
  std::string path = dir_ + "/" + name + ".toml";
  struct stat st {};
  if (system_->Stat(path, st) != 0) {
    if (system_->Stat(dir_, st) != 0 || !S_ISDIR(st.st_mode)) {
      return Error(where, "no policy '" + name + "' (there is no directory " + dir_ +
                              "; set [daemon] sandbox_dir to the folder of the policy files)");
    }
    std::string have;
    for (const auto& n : system_->ListPolicies(dir_)) have += (have.empty() ? "" : ", ") + n;
    return Error(where, "no policy '" + name + "' (no file " + path + "; policies in " + dir_ +
                            ": " + (have.empty() ? "none" : have) + ")");
  }
  stack_.push_back(name);
  auto spec = LoadFile(name);
  stack_.pop_back();
  if (!spec.ok()) return spec.error();
  done_[name] = *spec;
  return spec;
}

Result<PolicySpec> PolicyLoader::LoadFile(const std::string& name) {
  std::string path = dir_ + "/" + name + ".toml";
  // A policy decides what a service may do: only root may be able to
  // change it (and the directories above it).
  auto text = system_->ReadTrustedFile(path);
  if (!text.ok()) return text.error();
  auto doc = ParseToml(*text, path);
  if (!doc.ok()) return doc.error();
  TableReader top(*doc, path, "policy \"" + name + "\"");
  if (auto s = top.CheckKeys({"description", "default_action", "include", "allow", "errno"});
      !s.ok()) {
    return s.error();
  }
  std::vector<const TableReader*> scope{&top};

  PolicySpec spec;
  spec.name = name;
  spec.default_action = Action{ActionKind::kKill, 0};
  spec.default_action_loc = top.TableLoc();
  spec.default_action_loc.line = 1;
  spec.default_action_loc.column = 1;
  if (auto f = Lookup(scope, "description")) {
    auto v = AsString(f);
    if (!v.ok()) return v.error();
    spec.description = *v;
  }
  if (auto f = Lookup(scope, "default_action")) {
    auto v = AsString(f);
    if (!v.ok()) return v.error();
    auto a = ParseAction(*v);
    if (!a.ok()) return f.Err(a.error().message());
    if (a->kind == ActionKind::kAllow) {
      return f.Err(
          "\"allow\" is not a sandbox; a policy denies by default (use \"kill\", "
          "\"errno:NAME\", or \"log\" to only record)");
    }
    spec.default_action = *a;
    spec.default_action_loc = f.Loc();
  }
  spec.files.push_back(path);

  // Included policies first: the file's own entries override them.
  if (auto f = Lookup(scope, "include")) {
    auto items = AsStringOrArray(f);
    if (!items.ok()) return items.error();
    for (const auto& item : *items) {
      auto inc = Load(item.value, item.loc);
      if (!inc.ok()) {
        // About the reference written here (no such policy, a cycle): say
        // where; an error inside the included file already names it.
        const base::Error& e = inc.error();
        if (e.loc().file != path) return e;
        return base::Error(e.loc(), top.context() + ": include: " + e.message());
      }
      spec.rules.insert(spec.rules.end(), inc->rules.begin(), inc->rules.end());
      for (const auto& file : inc->files) {
        if (std::find(spec.files.begin(), spec.files.end(), file) == spec.files.end()) {
          spec.files.push_back(file);
        }
      }
    }
  }
  std::set<std::string> whole;  // syscalls and groups given for every call
  if (auto f = Lookup(scope, "allow")) {
    const toml::array* items = f.node->as_array();
    if (items == nullptr) {
      return f.Err("expected an array of syscall names, groups and argument rules, got " +
                   TypeName(*f.node));
    }
    for (const toml::node& item : *items) {
      SourceLoc loc = top.Loc(item);
      if (const auto* name = item.as_string()) {
        std::string value(name->get());
        if (!whole.insert(value).second) {
          return Error(loc, top.context() + ": allow: '" + value + "' is listed twice");
        }
        spec.rules.push_back(Rule{value, Action{ActionKind::kAllow, 0}, loc, {}, {}, path});
        continue;
      }
      const toml::table* t = item.as_table();
      if (t == nullptr) {
        return Error(loc, top.context() + ": allow: expected a syscall name, an @group or "
                                          "{ syscall = \"NAME\", when = \"CONDITION\" }, got " +
                              TypeName(item));
      }
      TableReader rule(*t, path, top.context() + ": allow");
      auto r = ReadArgRule(rule, "syscall", Action{ActionKind::kAllow, 0}, path);
      if (!r.ok()) return r.error();
      spec.rules.push_back(std::move(*r));
    }
  }
  if (auto f = Lookup(scope, "errno")) {
    const toml::table* t = f.node->as_table();
    if (t == nullptr) {
      return f.Err("expected a table such as { socket = \"EACCES\" }, got " + TypeName(*f.node));
    }
    TableReader errnos(*t, path, top.context() + ": errno");
    for (auto&& [key, node] : *t) {
      std::string sys(key.str());
      Found entry = Entry(errnos, key, node);
      // socket = "EACCES" (every call), or socket = { errno = "EACCES",
      // when = "family != AF_UNIX" } (argument rules).
      if (const toml::table* rt = node.as_table()) {
        TableReader rule(*rt, path, top.context() + ": errno: " + sys);
        auto r = ReadArgRule(rule, "", Action{ActionKind::kErrno, 0}, path, sys);
        if (!r.ok()) return r.error();
        spec.rules.push_back(std::move(*r));
        continue;
      }
      if (whole.count(sys) != 0) {
        return entry.KeyErr("'" + sys + "' is also in allow; list it in one place only");
      }
      whole.insert(sys);
      auto e = ParseErrnoValue(entry);
      if (!e.ok()) return e.error();
      spec.rules.push_back(Rule{sys, Action{ActionKind::kErrno, *e}, entry.Loc(), {}, {}, path});
    }
  }
  // Names and groups are checked here so the error points into this file,
  // with the likely name when it is a typo.
  for (const Rule& rule : spec.rules) {
    if (rule.origin != path) continue;
    if (auto s = CheckName(rule, top.context()); !s.ok()) return s.error();
  }
  if (auto expanded = sandbox::ExpandRules(spec); !expanded.ok()) return expanded.error();
  return spec;
}

}  // namespace hinetd::config
