// Load-time checks against the running system: accounts, the chroot's
// ownership and modes, and that the program exists and is executable inside
// the jail. All of this happens before anything binds, and never per
// connection.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace hinetd::config {

struct Account {
  uid_t uid = 0;
  gid_t primary_gid = 0;
  std::string name;      // the passwd name, or the number as text
  bool has_entry = false;  // false for a bare uid with no passwd entry
  std::string login;     // the passwd name, when there is an entry
  // From the passwd entry, when there is one (a jail's `users`).
  std::string gecos;
  std::string home;
  std::string shell;
};

// A user name or a decimal uid.
[[nodiscard]] base::Result<Account> ResolveUser(const std::string& text);
// True if `gid` is among the groups of user `name` (getgrouplist: the
// primary group `primary` and every supplementary group in /etc/group).
[[nodiscard]] base::Result<bool> InGroup(const std::string& name, gid_t primary, gid_t gid);
// A group name or a decimal gid; fills `name` with the group's name.
[[nodiscard]] base::Result<gid_t> ResolveGroup(const std::string& text, std::string& name);

// Like OpenSSH's ChrootDirectory check: the canonical path, every component
// of which is a root-owned directory that is not group- or world-writable.
[[nodiscard]] base::Result<std::string> CheckChroot(const std::string& path);

// Creates kEmptyChroot (types.h) if it is missing: its parent 0755, the
// directory itself 0555, both root's, then checks it as a chroot. The root
// of every listener and the jail of internal services; the monitor makes it
// at start and reload, `hinetd audit --prove` before it starts an internal
// service's child.
[[nodiscard]] base::Status EnsureEmptyChroot();

// Like OpenSSH's StrictModes, for the files that decide what runs as root
// (the services table and every policy): reads `path` only if the file and
// every directory on its canonical path up to "/" are owned by root and not
// group- or world-writable. Run unprivileged (`hinetd check` as a user on
// files of their own), the running uid is accepted as an owner too. The
// content comes from the descriptor that was checked (opened component by
// component, no symlink followed after the path was resolved), so nothing
// can be swapped in between. Errors name `path`, the owner and mode of what
// failed, and the fix.
[[nodiscard]] base::Result<std::string> ReadTrustedFile(const std::string& path);

// Who the child will be, to decide whether it may execute/search a path.
struct Identity {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

// `path` (absolute) resolved inside `root` (as the child will see it after
// chroot; "/" for no chroot) is a regular file the identity may execute, every
// directory on the way is searchable, and an ELF interpreter or #! interpreter
// it names exists inside `root` too.
[[nodiscard]] base::Status CheckProgram(const std::string& root, const std::string& path,
                                        const Identity& who);

// `path` resolved inside `root` is a directory the identity may enter.
[[nodiscard]] base::Status CheckDirectory(const std::string& root, const std::string& path,
                                          const Identity& who);

// Everything the loaders (LoadConfigText, PolicyLoader) ask of the running
// system, in one place: the real one is this class itself; a fuzzer
// (fuzz/) overrides it to load any text without accounts or files.
class SystemView {
 public:
  virtual ~SystemView() = default;
  [[nodiscard]] virtual base::Result<Account> ResolveUser(const std::string& text) const;
  [[nodiscard]] virtual base::Result<gid_t> ResolveGroup(const std::string& text,
                                                         std::string& name) const;
  [[nodiscard]] virtual base::Result<std::string> CheckChroot(const std::string& path) const;
  [[nodiscard]] virtual base::Status CheckProgram(const std::string& root,
                                                  const std::string& path,
                                                  const Identity& who) const;
  [[nodiscard]] virtual base::Status CheckDirectory(const std::string& root,
                                                    const std::string& path,
                                                    const Identity& who) const;
  [[nodiscard]] virtual base::Result<std::string> ReadTrustedFile(const std::string& path) const;
  // stat(2): 0, or the errno.
  [[nodiscard]] virtual int Stat(const std::string& path, struct stat& st) const;
  // realpath(3), nullopt if it fails.
  [[nodiscard]] virtual std::optional<std::string> RealPath(const std::string& path) const;
  // The names of the *.toml files in `dir`, without the suffix, sorted.
  [[nodiscard]] virtual std::vector<std::string> ListPolicies(const std::string& dir) const;
};

// The running system's.
[[nodiscard]] const SystemView& RealSystem();

}  // namespace hinetd::config
