// The jail hinetd builds for a service (`jail = { ... }`): a plan listing
// every entry of the tree, computed and checked at load (pure: it reads the
// host's files, it writes nothing), and named by a hash of its content so
// that the same inputs always give the same tree (src/jail/ builds it).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"

namespace hinetd::config {

// Where jails are built unless [daemon] jail_dir says otherwise.
inline constexpr const char* kDefaultJailDir = "/var/lib/hinetd/jails";

// The device nodes a jail may hold (devices = [...]), and the default set.
struct JailDevice {
  const char* name;
  unsigned major;
  unsigned minor;
};
inline constexpr JailDevice kJailDevices[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}};
inline constexpr const char* kDefaultJailDevices[] = {"null", "zero", "urandom"};

// One item of the table as written, with its position for errors.
struct JailItem {
  std::string value;  // a host path (programs), a device name, a path in the jail (writable)
  std::string to;     // files only: where it goes in the jail (= value unless { from, to })
  base::SourceLoc loc;
};

// A host account the jail's /etc/passwd lists besides root and the
// service's own (`users`), resolved at load: its passwd fields (never a
// password) and its primary group.
struct JailAccount {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string group;  // the primary group's name
  std::string gecos;
  std::string home;
  std::string shell;
  base::SourceLoc loc;
};

struct JailSpec {
  base::SourceLoc loc;  // the jail table
  std::vector<JailItem> programs;
  std::vector<JailAccount> users;
  std::vector<JailItem> files;
  std::vector<JailItem> devices;  // kDefaultJailDevices when not written
  std::vector<JailItem> writable;
};

enum class JailEntryKind { kDir, kFile, kSymlink, kDevice, kText };

struct JailEntry {
  JailEntryKind kind = JailEntryKind::kDir;
  std::string path;    // inside the jail, absolute, normalized
  std::string source;  // kFile: host path it is copied from; kSymlink: the link's target
  std::string text;    // kText: the content (passwd, group)
  std::string digest;  // kFile: SHA-256 of the content at load
  uint64_t size = 0;   // kFile, kText
  mode_t mode = 0755;  // permission bits only
  uid_t uid = 0;
  gid_t gid = 0;
  unsigned major = 0, minor = 0;  // kDevice (character)
  bool writable = false;          // a `writable` directory: the service's own
};

// Whose jail, and what hinetd must know about the service to build it.
struct JailOwner {
  std::string service;
  std::string context;  // "service \"git\"" for messages
  std::string program;  // exec[0], always in the jail
  base::SourceLoc program_loc;
  std::string user;
  uid_t uid = 0;
  std::string group;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

struct JailPlan {
  std::string service;
  std::string jail_dir;  // where trees are built
  std::string hash;      // SHA-256 of every entry (content included)
  std::string root;      // jail_dir/SERVICE-<hash prefix>: the child's chroot
  // For `hinetd check`: what went in, and why.
  std::vector<std::string> programs;   // host paths
  std::vector<std::string> libraries;  // interpreters and shared libraries
  std::vector<std::string> files;      // "FROM" or "FROM -> TO"
  std::vector<std::string> devices;    // names
  std::vector<std::string> users;      // "root 0", "nobody 65534"
  std::vector<std::string> groups;     // "root 0", "nogroup 65534"
  std::vector<std::string> writable;   // paths in the jail
  std::vector<JailEntry> entries;      // sorted by path: parents first
  uint64_t bytes = 0;                  // content copied
};

// Plans the jail of one service: validates every item (absolute, no "." or
// ".." components, present on the host, a known device), resolves every
// program's ELF closure, reads and hashes every file. Errors name the item's
// file:line:column and say how to fix it.
[[nodiscard]] base::Result<JailPlan> PlanJail(const JailSpec& spec, const JailOwner& owner,
                                              const std::string& jail_dir);

// A path is absolute and normalized: no empty, "." or ".." component, no
// trailing '/'. "" if so, else why not.
[[nodiscard]] std::string JailPathProblem(const std::string& path);

}  // namespace hinetd::config
