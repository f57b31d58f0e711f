#include "common/jail.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/test_env.h"

namespace hinetd::testing {

namespace {

// Root-owned, 0755, not under a world-writable directory.
constexpr const char* kJailBase = "/var/lib/hinetd-tests";

bool CopyFile(const std::string& from, const std::string& to, unsigned mode) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return false;
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  if (!out) return false;
  out << in.rdbuf();
  out.close();
  return chmod(to.c_str(), mode) == 0;
}

}  // namespace

void RemoveTree(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        RemoveTree(path + "/" + name);
      }
      closedir(d);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

Jail::Jail() {
  mkdir("/var/lib", 0755);
  if (mkdir(kJailBase, 0755) != 0 && errno != EEXIST) {
    error_ = std::string("mkdir ") + kJailBase + ": " + strerror(errno);
    return;
  }
  chmod(kJailBase, 0755);
  std::string tmpl = std::string(kJailBase) + "/jail.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    error_ = std::string("mkdtemp: ") + strerror(errno);
    return;
  }
  chmod(tmpl.c_str(), 0755);
  path_ = tmpl;
}

Jail::~Jail() {
  if (!path_.empty()) RemoveTree(path_);
}

bool Jail::MakeDir(const std::string& inner, unsigned mode) {
  std::string full = path_;
  std::stringstream parts(inner);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    full += "/" + part;
    if (mkdir(full.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return chmod(full.c_str(), mode) == 0;
}

bool Jail::Install(const std::string& from, const std::string& inner, unsigned mode) {
  auto slash = inner.rfind('/');
  if (slash != std::string::npos && slash > 0 && !MakeDir(inner.substr(0, slash))) return false;
  return CopyFile(from, path_ + inner, mode);
}

bool Jail::Write(const std::string& inner, const std::string& content, unsigned mode) {
  auto slash = inner.rfind('/');
  if (slash != std::string::npos && slash > 0 && !MakeDir(inner.substr(0, slash))) return false;
  std::string full = path_ + inner;
  std::ofstream out(full, std::ios::binary | std::ios::trunc);
  if (!out) return false;
  out << content;
  out.close();
  return out.good() && chmod(full.c_str(), mode) == 0;
}

TempDir::TempDir() {
  // hinetd loads a config or policy only from a chain of directories that
  // only root (or, unprivileged, the user running it) can change: not under
  // /tmp. As root, next to the jails; otherwise in the build tree.
  std::string base;
  if (IsRoot()) {
    mkdir("/var/lib", 0755);
    mkdir(kJailBase, 0755);
    chmod(kJailBase, 0755);
    base = kJailBase;
  } else {
    std::string bin = BinDir();
    base = bin.substr(0, bin.find_last_of('/')) + "/test-tmp";
    mkdir(base.c_str(), 0755);
  }
  std::string tmpl = base + "/tmp.XXXXXX";
  if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  if (!path_.empty()) RemoveTree(path_);
}

std::string TempDir::Write(const std::string& name, const std::string& text) {
  std::string full = path_ + "/" + name;
  auto slash = full.rfind('/');
  mkdir(full.substr(0, slash).c_str(), 0755);
  {
    std::ofstream out(full, std::ios::trunc);
    out << text;
  }
  // Whatever the umask: a group-writable policy would not load.
  chmod(full.c_str(), 0644);
  return full;
}

bool CopyShippedPolicies(const std::string& dir) {
  mkdir(dir.c_str(), 0755);
  DIR* d = opendir(ShippedSandboxDir().c_str());
  if (d == nullptr) return false;
  bool ok = true;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 5 && name.ends_with(".toml")) {
      ok = ok && CopyFile(ShippedSandboxDir() + "/" + name, dir + "/" + name, 0644);
    }
  }
  closedir(d);
  return ok;
}

}  // namespace hinetd::testing
