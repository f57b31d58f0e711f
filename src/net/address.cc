#include "net/address.h"

#include <arpa/inet.h>
#include <netdb.h>
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

bool FormatIp(const sockaddr* sa, char* buf, size_t size) {
  if (sa->sa_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    return inet_ntop(AF_INET, &sin->sin_addr, buf, static_cast<socklen_t>(size)) != nullptr;
  }
  if (sa->sa_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      // A v4 client of a dual-stack socket: report it as the v4 address it is.
      return inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf,
                       static_cast<socklen_t>(size)) != nullptr;
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

namespace {

Result<uint16_t> ParsePort(std::string_view text, Transport transport) {
  if (text.empty()) return Error("missing port after ':' (expected 1-65535 or a service name)");
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value == 0 || value > 65535) {
      return Error("port " + std::string(text) + " is out of range (expected 1-65535)");
    }
    return static_cast<uint16_t>(value);
  }
  // A service name: resolved here, at load, never per connection.
  std::string name(text);
  servent entry{};
  servent* found = nullptr;
  char buf[1024];
  if (getservbyname_r(name.c_str(), TransportName(transport), &entry, buf, sizeof buf, &found) !=
          0 ||
      found == nullptr) {
    return Error("unknown service name '" + name + "' for " + TransportName(transport) +
                 " (not in /etc/services; use a port number 1-65535)");
  }
  return static_cast<uint16_t>(ntohs(static_cast<uint16_t>(found->s_port)));
}

constexpr const char* kListenForms =
    " (expected \"HOST:PORT\" with a numeric IPv4 HOST, \"[IPV6]:PORT\", \"*:PORT\", or "
    "\"unix:/PATH\")";

}  // namespace

Result<std::vector<Endpoint>> ParseListen(std::string_view text, Transport transport) {
  if (text.starts_with("unix:")) {
    std::string path(text.substr(5));
    if (transport != Transport::kTcp) {
      return Error("'" + std::string(text) +
                   "': unix: addresses are stream sockets; they need protocol = \"tcp\"");
    }
    if (path.empty() || path[0] != '/') {
      return Error("'" + std::string(text) + "': the socket path must be absolute, as unix:/run/NAME.sock");
    }
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
      return Error("'" + std::string(text) + "': the socket path is longer than " +
                   std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    if (path.find('\0') != std::string::npos) return Error("the socket path holds a NUL byte");
    return std::vector<Endpoint>{Endpoint::Unix(path)};
  }
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      return Error("'" + std::string(text) + "': missing ']' after the IPv6 address" +
                   kListenForms);
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return Error("'" + std::string(text) + "': missing ':PORT' after ']'" + kListenForms);
    }
    port = rest.substr(1);
    in6_addr a6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
      return Error("'" + std::string(host) + "' is not a numeric IPv6 address" + kListenForms);
    }
    // Every IPv6 socket is IPV6_V6ONLY (so that *:PORT can bind both
    // families), and such a socket cannot bind an IPv4-mapped address.
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      char v4[INET_ADDRSTRLEN] = "";
      inet_ntop(AF_INET, &a6.s6_addr[12], v4, sizeof v4);
      return Error("'" + std::string(text) + "': an IPv4-mapped address cannot be listened on; use " +
                   v4 + ":" + std::string(port));
    }
    auto p = ParsePort(port, transport);
    if (!p.ok()) return p.error();
    return std::vector<Endpoint>{Endpoint::Inet6(a6, *p)};
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Error("'" + std::string(text) + "': missing ':PORT'" + kListenForms);
  }
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  if (host.find(':') != std::string_view::npos) {
    return Error("'" + std::string(text) + "': an IPv6 address must be in brackets, as [" +
                 std::string(host) + "]:" + std::string(port));
  }
  auto p = ParsePort(port, transport);
  if (!p.ok()) return p.error();
  if (host == "*") {
    return std::vector<Endpoint>{Endpoint::Inet4(in_addr{htonl(INADDR_ANY)}, *p),
                                 Endpoint::Inet6(in6addr_any, *p)};
  }
  in_addr a4{};
  if (host.empty() || inet_pton(AF_INET, std::string(host).c_str(), &a4) != 1) {
    return Error("'" + std::string(host) +
                 "' is not a numeric IPv4 address (hostnames are not resolved)" + kListenForms);
  }
  return std::vector<Endpoint>{Endpoint::Inet4(a4, *p)};
}

}  // namespace hinetd::net
