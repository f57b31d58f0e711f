// Load-time checks against the running system: accounts, the chroot's
// ownership and modes, and that the program exists and is executable inside
// the jail. All of this happens before anything binds, and never per
// connection.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"

namespace hinetd::config {

struct Account {
  uid_t uid = 0;
  gid_t primary_gid = 0;
  std::string name;      // the passwd name, or the number as text
  bool has_entry = false;  // false for a bare uid with no passwd entry
};

// A user name or a decimal uid.
[[nodiscard]] base::Result<Account> ResolveUser(const std::string& text);
// A group name or a decimal gid; fills `name` with the group's name.
[[nodiscard]] base::Result<gid_t> ResolveGroup(const std::string& text, std::string& name);

// Like OpenSSH's ChrootDirectory check: the canonical path, every component
// of which is a root-owned directory that is not group- or world-writable.
[[nodiscard]] base::Result<std::string> CheckChroot(const std::string& path);

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

}  // namespace hinetd::config
