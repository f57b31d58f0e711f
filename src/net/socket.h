#pragma once

#include <sys/types.h>

#include "base/result.h"
#include "base/unique_fd.h"
#include "net/address.h"

namespace hinetd::net {

// Owner and mode of a UNIX socket's file (the socket_user, socket_group and
// socket_mode keys). By default root and its group may connect, nobody else:
// socket_group (and socket_mode) open it to more.
struct UnixSocketFile {
  mode_t mode = 0660;
  uid_t uid = 0;
  gid_t gid = 0;
};

// A bound, non-blocking, close-on-exec socket: listening for streams, ready
// to receive for UDP. TCP sockets set SO_REUSEADDR (a restart does not wait
// for TIME_WAIT); UDP sockets SO_REUSEPORT (a udp nowait handover binds a
// second socket on the address, which only the same uid may do); IPv6
// sockets are IPV6_V6ONLY so "*:PORT" can bind both families; UDP sockets on
// a wildcard address report each datagram's destination (IP_PKTINFO). A
// UNIX socket's directory must pass the checks of CheckUnixSocketPath (again
// here: the directory may have changed since the load); the socket replaces
// a stale socket file (one a non-blocking connect finds nobody listening on:
// ECONNREFUSED) but never a file of another kind or one that may be live,
// and gets `file`'s owner and mode with no window in which it is more open,
// acting on the file it created, never on the path again; if that fails,
// the file is removed again.
// `udp_owner`: a UDP socket is created under this uid (as file system uid),
// which owns it for SO_REUSEPORT; -1 = the caller's.
[[nodiscard]] base::Result<base::UniqueFd> BindListener(
    const Endpoint& ep, Transport transport, int backlog, const UnixSocketFile& file = {},
    uid_t udp_owner = static_cast<uid_t>(-1));

// Load-time check of a unix: path: its directory exists; every directory
// the path goes through (symlinks followed) is owned by root and writable by
// root only (a sticky directory such as /tmp is refused too: other users can
// create names in it), so that no other user can swap the socket file; and
// the path is free or holds a socket (which
// BindListener may replace if stale).
[[nodiscard]] base::Status CheckUnixSocketPath(const std::string& path);

}  // namespace hinetd::net
