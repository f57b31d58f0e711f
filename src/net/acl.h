// Access lists: `allow` and `deny` of CIDR blocks or single addresses.
// IPv4-mapped IPv6 peers (::ffff:a.b.c.d) are matched as the IPv4 address
// they are. Pure code: no lookups, no allocation per check.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "net/address.h"

namespace hinetd::net {

struct Cidr {
  int family = 0;                  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};  // network byte order; IPv4 in the first 4
  int prefix = 0;                  // 0..32 or 0..128

  [[nodiscard]] std::string ToString() const;
};

// "10.0.0.0/8", "192.0.2.7" (= /32), "2001:db8::/32", "::1" (= /128).
// Host bits below the prefix must be zero ("10.1.0.0/8" is an error: it is
// almost always a typo for /16).
[[nodiscard]] base::Result<Cidr> ParseCidr(std::string_view text);

// True if the peer's address falls in `cidr`.
[[nodiscard]] bool Contains(const Cidr& cidr, const Endpoint& peer);

class AccessList {
 public:
  AccessList() = default;
  // `allow` absent: everybody not denied; present (even empty): only those.
  AccessList(std::optional<std::vector<Cidr>> allow, std::vector<Cidr> deny)
      : allow_(std::move(allow)), deny_(std::move(deny)) {}

  // deny is checked first and wins; then allow, if there is one.
  [[nodiscard]] bool Admits(const Endpoint& peer) const;
  [[nodiscard]] bool empty() const { return !allow_ && deny_.empty(); }
  [[nodiscard]] const std::optional<std::vector<Cidr>>& allow() const { return allow_; }
  [[nodiscard]] const std::vector<Cidr>& deny() const { return deny_; }

 private:
  std::optional<std::vector<Cidr>> allow_;
  std::vector<Cidr> deny_;
};

}  // namespace hinetd::net
