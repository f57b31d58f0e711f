// The namespaces of a service whose program changes its own identity
// (drops_privileges = true; README "Programs that drop privileges"),
// prepared by the root monitor at load, never per connection.
//
// The user namespace maps only the service's uid onto itself, and only its
// gid and supplementary groups onto themselves: whatever capabilities a
// child holds there, the kernel refuses every id that is not mapped
// (EINVAL), so the program can become no one but the configured account.
// It is created by a process of uid 0, which owns it: no process of the
// service's uid outside it has any capability inside it.
//
// The mount namespace (only with a chroot) belongs to that user namespace
// and its root IS the jail (pivot_root, the old root detached): ".." at
// its root stays there, so CAP_SYS_CHROOT cannot escape (the classic
// chroot(subdir), chdir("..") escape stops at the jail). Its mounts are
// locked (copied into a less privileged user namespace), and the child
// keeps no CAP_SYS_ADMIN to change them.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace hinetd::spawn {

struct IdentityNamespaces {
  base::UniqueFd user;  // /proc/HOLDER/ns/user, close-on-exec
  base::UniqueFd mnt;   // /proc/HOLDER/ns/mnt; invalid without a jail
};

// Makes both with a short-lived holder process (fork; it unshares and
// waits; this process writes its uid_map and gid_map, leaving setgroups
// allowed; it pivots into `jail`; this process opens its ns files and ends
// it). `jail` empty: no mount namespace. Needs uid 0 with CAP_SETUID and
// CAP_SETGID, and a kernel that lets it create user namespaces.
[[nodiscard]] base::Result<IdentityNamespaces> MakeIdentityNamespaces(
    uid_t uid, gid_t gid, const std::vector<gid_t>& groups, const std::string& jail,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

// A process that makes them on the monitor's behalf. The monitor's own
// filter refuses mount, umount2, pivot_root and unshare (with CAP_SYS_ADMIN
// it could otherwise mount in the host's namespace); the maker is forked
// before that filter, installs its own (the same list without those four),
// and does nothing but MakeIdentityNamespaces for the monitor, whose
// requests it reads from a socket only the monitor holds. It ends when the
// monitor closes that socket, or dies.
class NamespaceMaker {
 public:
  // `filter` null: none (tests, and a daemon that does not harden itself).
  [[nodiscard]] static base::Result<std::unique_ptr<NamespaceMaker>> Start(
      const sock_fprog* filter);
  ~NamespaceMaker();
  NamespaceMaker(const NamespaceMaker&) = delete;
  NamespaceMaker& operator=(const NamespaceMaker&) = delete;

  [[nodiscard]] base::Result<IdentityNamespaces> Make(uid_t uid, gid_t gid,
                                                      const std::vector<gid_t>& groups,
                                                      const std::string& jail);
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  NamespaceMaker() = default;
  base::UniqueFd sock_;
  pid_t pid_ = -1;
};

}  // namespace hinetd::spawn
