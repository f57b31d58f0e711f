#include "fake_system.h"

#include <errno.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace hinetd::fuzz {

using base::Error;
using base::Result;
using base::Status;

namespace {

// A decimal id, as the real resolvers accept it.
std::optional<uint32_t> Number(const std::string& text) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// Names that look like accounts exist; the rest do not (so both paths run).
bool Exists(const std::string& name) {
  return !name.empty() && name.size() <= 32 && name[0] != '-' && name.find('/') == std::string::npos;
}

uint32_t IdOf(const std::string& name) {
  if (name == "root") return 0;
  return 1000 + static_cast<uint32_t>(std::hash<std::string>()(name) % 60000);
}

}  // namespace

FakeSystem::FakeSystem() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(HINETD_SOURCE_DIR "/sandbox", ec)) {
    if (e.path().extension() != ".toml") continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    files_[std::string(kFakeSandboxDir) + "/" + e.path().filename().string()] = text.str();
  }
}

void FakeSystem::SetPolicy(const std::string& name, std::string text) {
  files_[std::string(kFakeSandboxDir) + "/" + name + ".toml"] = std::move(text);
}

Result<config::Account> FakeSystem::ResolveUser(const std::string& text) const {
  config::Account a;
  if (auto n = Number(text)) {
    a.uid = *n;
    a.name = text;
    a.has_entry = *n < 70000;
    if (a.has_entry) {
      a.primary_gid = *n;
      a.login = "u" + text;
    }
    return a;
  }
  if (!Exists(text)) return Error("no user '" + text + "'");
  a.uid = IdOf(text);
  a.primary_gid = a.uid;
  a.name = a.login = text;
  a.has_entry = true;
  return a;
}

Result<gid_t> FakeSystem::ResolveGroup(const std::string& text, std::string& name) const {
  if (auto n = Number(text)) {
    name = text;
    return static_cast<gid_t>(*n);
  }
  if (!Exists(text)) return Error("no group '" + text + "'");
  name = text;
  return static_cast<gid_t>(IdOf(text));
}

Result<std::string> FakeSystem::CheckChroot(const std::string& path) const {
  if (path.empty() || path[0] != '/') return Error("'" + path + "' is not an absolute path");
  return std::filesystem::path(path).lexically_normal().string();
}

Status FakeSystem::CheckProgram(const std::string&, const std::string& path,
                                const config::Identity&) const {
  if (path.empty() || path[0] != '/') return Error("'" + path + "' is not an absolute path");
  return Status();
}

Status FakeSystem::CheckDirectory(const std::string&, const std::string& path,
                                  const config::Identity&) const {
  if (path.empty() || path[0] != '/') return Error("'" + path + "' is not an absolute path");
  return Status();
}

Result<std::string> FakeSystem::ReadTrustedFile(const std::string& path) const {
  auto it = files_.find(path);
  if (it == files_.end()) return Error(path + ": No such file or directory (ENOENT)");
  return it->second;
}

int FakeSystem::Stat(const std::string& path, struct stat& st) const {
  st = {};
  if (path == kFakeDir || path == kFakeSandboxDir) {
    st.st_mode = S_IFDIR | 0755;
    return 0;
  }
  if (files_.count(path) != 0) {
    st.st_mode = S_IFREG | 0644;
    return 0;
  }
  return ENOENT;
}

std::optional<std::string> FakeSystem::RealPath(const std::string& path) const {
  struct stat st {};
  if (Stat(path, st) != 0) return std::nullopt;
  return path;
}

std::vector<std::string> FakeSystem::ListPolicies(const std::string& dir) const {
  std::vector<std::string> names;
  std::string prefix = dir + "/";
  for (const auto& [path, text] : files_) {
    if (path.starts_with(prefix) && path.ends_with(".toml") &&
        path.find('/', prefix.size()) == std::string::npos) {
      names.push_back(path.substr(prefix.size(), path.size() - prefix.size() - 5));
    }
  }
  return names;
}

}  // namespace hinetd::fuzz
