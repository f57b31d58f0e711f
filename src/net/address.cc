#include "net/address.h"

#include <arpa/inet.h>
#include <string.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstring>

namespace hinetd::net {

using base::Error;
using base::Result;

const char* TransportName(Transport t) { return t == Transport::kTcp ? "tcp" : "udp"; }

Endpoint Endpoint::FromSockaddr(const sockaddr* sa, socklen_t len) {
  Endpoint ep;
  if (len > sizeof ep.addr) len = sizeof ep.addr;
  std::memcpy(&ep.addr, sa, len);
  ep.len = len;
  return ep;
}

Endpoint Endpoint::Inet4(in_addr a, uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr = a;
  sin.sin_port = htons(port);
  return FromSockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
}

Endpoint Endpoint::Inet6(const in6_addr& a, uint16_t port) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_addr = a;
  sin6.sin6_port = htons(port);
  return FromSockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
}

Endpoint Endpoint::Unix(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), std::min(path.size(), sizeof sun.sun_path - 1));
  return FromSockaddr(reinterpret_cast<const sockaddr*>(&sun),
                      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                             strnlen(sun.sun_path, sizeof sun.sun_path) + 1));
}

std::string Endpoint::UnixPath() const {
  if (!IsUnix()) return "";
  const auto* sun = reinterpret_cast<const sockaddr_un*>(&addr);
  size_t max = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
  return std::string(sun->sun_path, strnlen(sun->sun_path, std::min(max, sizeof sun->sun_path)));
}

const char* ProtocolName(const Endpoint& ep, Transport transport) {
  if (ep.IsUnix()) return "unix";
  return TransportName(transport);
}

uint16_t Endpoint::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  return 0;
}

bool Endpoint::IsWildcard() const {
  if (family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (family() == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr);
  }
  return false;
}

bool Endpoint::operator==(const Endpoint& other) const {
  if (family() != other.family()) return false;
  if (family() == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    auto* b = reinterpret_cast<const sockaddr_in*>(&other.addr);
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (family() == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    auto* b = reinterpret_cast<const sockaddr_in6*>(&other.addr);
    return a->sin6_port == b->sin6_port &&
           std::memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0 &&
           a->sin6_scope_id == b->sin6_scope_id;
  }
  if (family() == AF_UNIX) return UnixPath() == other.UnixPath();
  return len == other.len && std::memcmp(&addr, &other.addr, len) == 0;
}

bool Overlaps(const Endpoint& a, const Endpoint& b) {
  if (a.family() != b.family() || a.port() != b.port()) return false;
  if (a.family() != AF_INET && a.family() != AF_INET6) return a == b;
  return a.IsWildcard() || b.IsWildcard() || a == b;
}

namespace {

// Dotted quad, as inet_ntop writes it (decimal, no leading zeros), without
// the C library's sprintf (one per byte there): every TCP connection
// formats two, for its child's environment and its log line.
bool FormatIpv4(const unsigned char* a, char* buf, size_t size) {
  char text[INET_ADDRSTRLEN];  // at most 4 x 3 digits and 3 dots, and the terminator
  size_t n = 0;
  for (int i = 0; i < 4; ++i) {
    unsigned v = a[i];
    if (i > 0) text[n++] = '.';
    if (v >= 100) text[n++] = static_cast<char>('0' + v / 100);
    if (v >= 10) text[n++] = static_cast<char>('0' + v / 10 % 10);
    text[n++] = static_cast<char>('0' + v % 10);
  }
  if (n + 1 > size) return false;
  std::memcpy(buf, text, n);
  buf[n] = '\0';
  return true;
}

}  // namespace

bool FormatIp(const sockaddr* sa, char* buf, size_t size) {
  if (sa->sa_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    return FormatIpv4(reinterpret_cast<const unsigned char*>(&sin->sin_addr), buf, size);
  }
  if (sa->sa_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      // A v4 client of a dual-stack socket: report it as the v4 address it is.
      return FormatIpv4(&sin6->sin6_addr.s6_addr[12], buf, size);
    }
    return inet_ntop(AF_INET6, &sin6->sin6_addr, buf, static_cast<socklen_t>(size)) != nullptr;
  }
  return false;
}

bool FormatPort(const sockaddr* sa, char* buf, size_t size) {
  uint16_t port;
  if (sa->sa_family == AF_INET) {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  } else {
    return false;
  }
  auto [end, ec] = std::to_chars(buf, buf + size - 1, port);
  if (ec != std::errc()) return false;
  *end = '\0';
  return true;
}

std::string IpString(const Endpoint& ep) {
  char buf[INET6_ADDRSTRLEN];
  if (!FormatIp(ep.sa(), buf, sizeof buf)) return "?";
  return buf;
}

std::string ToString(const Endpoint& ep) {
  if (ep.IsUnix()) return "unix:" + ep.UnixPath();
  char ip[INET6_ADDRSTRLEN];
  if (!FormatIp(ep.sa(), ip, sizeof ip)) return "?";
  std::string out;
  bool v6 = ep.family() == AF_INET6 && std::strchr(ip, ':') != nullptr;
  if (v6) out.push_back('[');
  out.append(ip);
  if (v6) out.push_back(']');
  out.push_back(':');
  out.append(std::to_string(ep.port()));
  return out;
}

}  // namespace hinetd::net
