// A chroot directory that passes hinetd's ownership check: root-owned, not
// group/world-writable, on a path whose every component is the same (so not
// under /tmp). Removed with everything in it when the object goes.
#pragma once

#include <string>

namespace hinetd::testing {

class Jail {
 public:
  Jail();
  ~Jail();
  Jail(const Jail&) = delete;
  Jail& operator=(const Jail&) = delete;

  [[nodiscard]] bool ok() const { return !path_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] const std::string& path() const { return path_; }

  // Copies `from` to `inner` (absolute, inside the jail) with `mode`,
  // creating parent directories (0755).
  bool Install(const std::string& from, const std::string& inner, unsigned mode = 0755);
  bool MakeDir(const std::string& inner, unsigned mode = 0755);
  // Writes `content` to `inner` (absolute, inside the jail) with `mode`,
  // creating parent directories (0755).
  bool Write(const std::string& inner, const std::string& content, unsigned mode = 0644);

 private:
  std::string path_;
  std::string error_;
};

// A scratch directory (not a jail) for configs and policies, where hinetd
// trusts them (not under /tmp): /var/lib/hinetd-tests/tmp.XXXXXX as root,
// else test-tmp/ in the build tree. Removed at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  [[nodiscard]] const std::string& path() const { return path_; }
  // Writes `text` to path()/name and returns the full path.
  std::string Write(const std::string& name, const std::string& text);

 private:
  std::string path_;
};

// Recursively removes a directory tree (no symlink following).
void RemoveTree(const std::string& path);

// Copies every *.toml of the shipped sandbox/ into dir (so tests can add
// their own policies next to them).
bool CopyShippedPolicies(const std::string& dir);

}  // namespace hinetd::testing
