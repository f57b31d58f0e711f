#pragma once

#include <sys/types.h>

#include "base/result.h"
#include "base/unique_fd.h"
#include "net/address.h"

namespace hinetd::net {

// Owner and mode of a UNIX socket's file (the socket_user, socket_group and
// socket_mode keys).
struct UnixSocketFile {
  mode_t mode = 0666;
  uid_t uid = 0;
  gid_t gid = 0;
};

// A bound, non-blocking, close-on-exec socket: listening for streams, ready
// to receive for UDP. TCP sockets set SO_REUSEADDR (a restart does not wait
// for TIME_WAIT); UDP sockets SO_REUSEPORT (a udp nowait handover binds a
// second socket on the address, which only the same uid may do); IPv6
// sockets are IPV6_V6ONLY so "*:PORT" can bind both families; UDP sockets on
// a wildcard address report each datagram's destination (IP_PKTINFO). A
// UNIX socket replaces a stale socket file (one nobody listens on) but never
// a file of another kind, and gets `file`'s owner and mode with no window in
// which it is more open; if that fails, the file is removed again.
// `udp_owner`: a UDP socket is created under this uid (as file system uid),
// which owns it for SO_REUSEPORT; -1 = the caller's.
[[nodiscard]] base::Result<base::UniqueFd> BindListener(
    const Endpoint& ep, Transport transport, int backlog, const UnixSocketFile& file = {},
    uid_t udp_owner = static_cast<uid_t>(-1));

// Load-time check of a unix: path: its directory exists, and the path is
// free or holds a socket (which BindListener may replace if stale).
[[nodiscard]] base::Status CheckUnixSocketPath(const std::string& path);

}  // namespace hinetd::net
