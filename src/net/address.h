// Socket addresses: parsing the `listen` syntax, and turning peers into text
// for logs and the child's environment (no name lookups, ever).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hinetd::net {

// How a service's sockets carry data: a stream (TCP, or a UNIX stream
// socket) or datagrams (UDP).
enum class Transport { kTcp, kUdp };

[[nodiscard]] const char* TransportName(Transport t);  // "tcp" / "udp"

// A socket address of any family we use.
struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;

  static Endpoint FromSockaddr(const sockaddr* sa, socklen_t len);
  static Endpoint Inet4(in_addr a, uint16_t port);
  static Endpoint Inet6(const in6_addr& a, uint16_t port);
  static Endpoint Unix(const std::string& path);

  [[nodiscard]] int family() const { return addr.ss_family; }
  [[nodiscard]] const sockaddr* sa() const {
    return reinterpret_cast<const sockaddr*>(&addr);
  }
  [[nodiscard]] bool IsWildcard() const;
  [[nodiscard]] bool IsUnix() const { return family() == AF_UNIX; }
  // The socket file's path of an AF_UNIX endpoint ("" otherwise).
  [[nodiscard]] std::string UnixPath() const;
  // Port in host order (0 for non-IP families).
  [[nodiscard]] uint16_t port() const;

  bool operator==(const Endpoint& other) const;
};

// Writes the IP of an AF_INET/AF_INET6 address into buf without allocating;
// an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is written as IPv4. Returns
// false if the family is not IP or buf is too small. Used on the
// per-connection path, so it must stay allocation-free.
bool FormatIp(const sockaddr* sa, char* buf, size_t size);
// Decimal port of an IP address into buf; false on error.
bool FormatPort(const sockaddr* sa, char* buf, size_t size);

[[nodiscard]] std::string IpString(const Endpoint& ep);
// "127.0.0.1:7", "[::1]:7" (mapped IPv4 shown as IPv4), "unix:/run/x.sock".
[[nodiscard]] std::string ToString(const Endpoint& ep);
// "tcp", "udp" or "unix", as logs and the child's PROTO name it.
[[nodiscard]] const char* ProtocolName(const Endpoint& ep, Transport transport);

// Parses one `listen` entry: "HOST:PORT", "[V6]:PORT", "*:PORT", or
// "unix:/PATH" (a stream socket; not for udp).
// HOST is a numeric address (a listener must not depend on DNS); "*" yields
// two endpoints, 0.0.0.0 and [::]. PORT is 1-65535 or a service name looked
// up in /etc/services for the given transport. The error message says what
// the valid forms are; the caller adds the position.
[[nodiscard]] base::Result<std::vector<Endpoint>> ParseListen(std::string_view text,
                                                              Transport transport);

// True if a socket bound to `a` would collide with one bound to `b`
// (same family and port, and equal addresses or one of them a wildcard).
[[nodiscard]] bool Overlaps(const Endpoint& a, const Endpoint& b);

}  // namespace hinetd::net
