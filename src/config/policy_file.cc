#include "config/policy_file.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "base/errno_name.h"
#include "base/fs.h"
#include "config/system_checks.h"
#include "config/toml_reader.h"

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

std::vector<std::string> ListPolicies(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string f = e->d_name;
    if (f.size() > 5 && f.ends_with(".toml")) names.push_back(f.substr(0, f.size() - 5));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

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
  if (stat(path.c_str(), &st) != 0) {
    if (stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Error(where, "no policy '" + name + "' (there is no directory " + dir_ +
                              "; set [daemon] sandbox_dir to the folder of the policy files)");
    }
    std::string have;
    for (const auto& n : ListPolicies(dir_)) have += (have.empty() ? "" : ", ") + n;
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
  auto text = ReadTrustedFile(path);
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
  std::set<std::string> own;
  if (auto f = Lookup(scope, "allow")) {
    auto items = AsStringArray(f);
    if (!items.ok()) return items.error();
    for (const auto& item : *items) {
      if (!own.insert(item.value).second) {
        return Error(item.loc, top.context() + ": allow: '" + item.value + "' is listed twice");
      }
      spec.rules.push_back(Rule{item.value, Action{ActionKind::kAllow, 0}, item.loc});
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
      if (own.count(sys) != 0) {
        return entry.KeyErr("'" + sys + "' is also in allow; list it in one place only");
      }
      own.insert(sys);
      auto e = ParseErrnoValue(entry);
      if (!e.ok()) return e.error();
      spec.rules.push_back(Rule{sys, Action{ActionKind::kErrno, *e}, entry.Loc()});
    }
  }
  // Names and groups are checked here so the error points into this file.
  if (auto expanded = sandbox::ExpandRules(spec); !expanded.ok()) return expanded.error();
  return spec;
}

}  // namespace hinetd::config
