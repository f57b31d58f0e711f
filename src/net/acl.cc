#include "net/acl.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace hinetd::net {

using base::Error;
using base::Result;

namespace {

// The peer's address as (family, 16 bytes), IPv4-mapped IPv6 unwrapped.
bool PeerAddress(const Endpoint& peer, int& family, std::array<uint8_t, 16>& out) {
  out.fill(0);
  if (peer.family() == AF_INET) {
    family = AF_INET;
    std::memcpy(out.data(), &reinterpret_cast<const sockaddr_in*>(&peer.addr)->sin_addr, 4);
    return true;
  }
  if (peer.family() == AF_INET6) {
    const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(&peer.addr)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      family = AF_INET;
      std::memcpy(out.data(), &a6.s6_addr[12], 4);
    } else {
      family = AF_INET6;
      std::memcpy(out.data(), &a6, 16);
    }
    return true;
  }
  return false;
}

bool PrefixMatches(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b,
                   int prefix) {
  int full = prefix / 8;
  if (std::memcmp(a.data(), b.data(), static_cast<size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[static_cast<size_t>(full)] & mask) == (b[static_cast<size_t>(full)] & mask);
}

}  // namespace

std::string Cidr::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family, addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

Result<Cidr> ParseCidr(std::string_view text) {
  const std::string forms =
      " (expected an address or a CIDR block: \"192.0.2.7\", \"10.0.0.0/8\", \"::1\", "
      "\"2001:db8::/32\")";
  std::string_view addr = text;
  std::string_view bits;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    bits = text.substr(slash + 1);
  }
  Cidr c;
  std::string a(addr);
  if (inet_pton(AF_INET, a.c_str(), c.addr.data()) == 1) {
    c.family = AF_INET;
  } else if (inet_pton(AF_INET6, a.c_str(), c.addr.data()) == 1) {
    c.family = AF_INET6;
  } else {
    return Error("'" + std::string(text) + "' is not an address" + forms);
  }
  int max = c.family == AF_INET ? 32 : 128;
  c.prefix = max;
  if (text.find('/') != std::string_view::npos) {
    auto [ptr, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), c.prefix);
    if (bits.empty() || ec != std::errc() || ptr != bits.data() + bits.size() || c.prefix < 0 ||
        c.prefix > max) {
      return Error("'" + std::string(text) + "': the prefix length must be 0 to " +
                   std::to_string(max));
    }
  }
  // "::ffff:192.0.2.0/120" is how some write an IPv4 block; peers are matched
  // as IPv4, so the block is too.
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (c.family == AF_INET6 && c.prefix >= 96 && std::memcmp(c.addr.data(), kMapped, 12) == 0) {
    std::array<uint8_t, 16> v4{};
    std::memcpy(v4.data(), c.addr.data() + 12, 4);
    c.family = AF_INET;
    c.addr = v4;
    c.prefix -= 96;
  }
  // Host bits set below the prefix: refuse rather than guess what was meant.
  std::array<uint8_t, 16> zeroed{};
  for (int i = 0; i < c.prefix; ++i) {
    size_t byte = static_cast<size_t>(i / 8);
    zeroed[byte] |= static_cast<uint8_t>(c.addr[byte] & (0x80 >> (i % 8)));
  }
  if (zeroed != c.addr) {
    Cidr network = c;
    network.addr = zeroed;
    return Error("'" + std::string(text) + "' has host bits set below /" +
                 std::to_string(c.prefix) + " (did you mean " + network.ToString() + "?)");
  }
  return c;
}

bool Contains(const Cidr& cidr, const Endpoint& peer) {
  int family = 0;
  std::array<uint8_t, 16> a;
  if (!PeerAddress(peer, family, a) || family != cidr.family) return false;
  return PrefixMatches(a, cidr.addr, cidr.prefix);
}

bool AccessList::Admits(const Endpoint& peer) const {
  for (const auto& c : deny_) {
    if (Contains(c, peer)) return false;
  }
  if (!allow_) return true;
  for (const auto& c : *allow_) {
    if (Contains(c, peer)) return true;
  }
  return false;
}

}  // namespace hinetd::net
