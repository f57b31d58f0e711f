#pragma once

#include "base/result.h"
#include "base/unique_fd.h"
#include "net/address.h"

namespace hinetd::net {

// A bound, non-blocking, close-on-exec socket: listening for TCP, ready to
// receive for UDP. SO_REUSEADDR is set so a restart does not wait for
// TIME_WAIT; IPv6 sockets are IPV6_V6ONLY so "*:PORT" can bind both families.
[[nodiscard]] base::Result<base::UniqueFd> BindListener(const Endpoint& ep, Transport transport,
                                                        int backlog);

}  // namespace hinetd::net
