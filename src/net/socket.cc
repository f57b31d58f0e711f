#include "net/socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace hinetd::net {

using base::ErrnoError;
using base::Result;
using base::UniqueFd;

Result<UniqueFd> BindListener(const Endpoint& ep, Transport transport, int backlog) {
  int type = transport == Transport::kTcp ? SOCK_STREAM : SOCK_DGRAM;
  UniqueFd fd(::socket(ep.family(), type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  std::string where = std::string(TransportName(transport)) + " " + ToString(ep);
  if (!fd) return ErrnoError("socket for " + where, errno);
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    return ErrnoError("SO_REUSEADDR on " + where, errno);
  }
  if (ep.family() == AF_INET6 &&
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    return ErrnoError("IPV6_V6ONLY on " + where, errno);
  }
  if (::bind(fd.get(), ep.sa(), ep.len) != 0) return ErrnoError("bind " + where, errno);
  if (transport == Transport::kTcp && ::listen(fd.get(), backlog) != 0) {
    return ErrnoError("listen " + where, errno);
  }
  return fd;
}

}  // namespace hinetd::net
