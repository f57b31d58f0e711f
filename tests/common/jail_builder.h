// Fills a Jail with what a real program needs to run chrooted: the program
// and its ELF closure (the shared libraries ldd resolves and the
// interpreter), the helper programs it executes, named files and trees,
// the device nodes /dev/null, /dev/zero and /dev/urandom, and a minimal
// /etc/passwd and /etc/group. Each file keeps its host path inside the jail.
#pragma once

#include <sys/types.h>

#include <set>
#include <string>

#include "common/jail.h"

namespace hinetd::testing {

class JailBuilder {
 public:
  explicit JailBuilder(Jail& jail) : jail_(jail) {}

  // Copies the program at `path` (absolute, on the host) to the same path in
  // the jail, with every shared library and the interpreter it needs.
  bool AddProgram(const std::string& path);
  // Copies a regular file to the same path in the jail, keeping its mode.
  bool AddFile(const std::string& path);
  // Copies a directory tree (regular files, directories and symlinks) from
  // `from` on the host to `inner` in the jail; ownership becomes uid/gid.
  bool AddTree(const std::string& from, const std::string& inner, uid_t uid = 0, gid_t gid = 0);
  // mknod /dev/null, /dev/zero, /dev/urandom (0666, as on the host); on
  // failure errno is mknod's (EPERM without CAP_MKNOD).
  bool AddDevices();
  // /etc/passwd and /etc/group with root and one account (its home in the
  // passwd line only; not created).
  bool AddAccount(const std::string& user, uid_t uid, const std::string& group, gid_t gid,
                  const std::string& gecos = "", const std::string& home = "/nonexistent",
                  const std::string& shell = "/usr/sbin/nologin");

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] const std::string& root() const { return jail_.path(); }

 private:
  bool CopyPreserving(const std::string& from, const std::string& inner);
  bool Fail(const std::string& what);

  Jail& jail_;
  std::set<std::string> copied_;
  std::string error_;
};

}  // namespace hinetd::testing
