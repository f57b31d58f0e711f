// ParseListen, apart from the rest of address.cc: it resolves service names
// (getservbyname_r, glibc's NSS), which the static hinetd-listener, which
// never parses an address, must not link.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/un.h>

#include <charconv>
#include <cstring>

#include "net/address.h"

namespace hinetd::net {

using base::Error;
using base::Result;

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
