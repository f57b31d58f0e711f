#include "net/acl.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace hinetd::net {
namespace {

Endpoint V4(const char* ip) {
  in_addr a{};
  inet_pton(AF_INET, ip, &a);
  return Endpoint::Inet4(a, 4242);
}
Endpoint V6(const char* ip) {
  in6_addr a{};
  inet_pton(AF_INET6, ip, &a);
  return Endpoint::Inet6(a, 4242);
}
Cidr C(const char* text) {
  auto c = ParseCidr(text);
  EXPECT_TRUE(c.ok()) << text << ": " << (c.ok() ? "" : c.error().message());
  return c.ok() ? *c : Cidr{};
}

TEST(Cidr, Ipv4PrefixEdges) {
  Cidr net = C("10.1.0.0/16");
  EXPECT_TRUE(Contains(net, V4("10.1.0.0")));
  EXPECT_TRUE(Contains(net, V4("10.1.255.255")));
  EXPECT_FALSE(Contains(net, V4("10.0.255.255")));
  EXPECT_FALSE(Contains(net, V4("10.2.0.0")));
  // A prefix that ends inside a byte.
  Cidr odd = C("192.0.2.64/27");
  EXPECT_FALSE(Contains(odd, V4("192.0.2.63")));
  EXPECT_TRUE(Contains(odd, V4("192.0.2.64")));
  EXPECT_TRUE(Contains(odd, V4("192.0.2.95")));
  EXPECT_FALSE(Contains(odd, V4("192.0.2.96")));
  EXPECT_TRUE(Contains(C("0.0.0.0/0"), V4("203.0.113.9")));
  EXPECT_TRUE(Contains(C("192.0.2.7"), V4("192.0.2.7")));  // a bare address is /32
  EXPECT_FALSE(Contains(C("192.0.2.7"), V4("192.0.2.8")));
}

TEST(Cidr, Ipv6AndMappedIpv4) {
  Cidr net = C("2001:db8::/32");
  EXPECT_TRUE(Contains(net, V6("2001:db8:ffff::1")));
  EXPECT_FALSE(Contains(net, V6("2001:db9::1")));
  EXPECT_TRUE(Contains(C("::1"), V6("::1")));
  EXPECT_FALSE(Contains(C("::1"), V6("::2")));
  // A v4 client of a dual-stack socket is matched as IPv4, both ways.
  EXPECT_TRUE(Contains(C("127.0.0.0/8"), V6("::ffff:127.0.0.1")));
  // An IPv4 block written in its mapped form is an IPv4 block.
  Cidr mapped = C("::ffff:127.0.0.0/104");
  EXPECT_EQ(mapped.ToString(), "127.0.0.0/8");
  EXPECT_TRUE(Contains(mapped, V4("127.0.0.1")));
  EXPECT_TRUE(Contains(mapped, V6("::ffff:127.0.0.1")));
  // Families never match each other.
  EXPECT_FALSE(Contains(C("0.0.0.0/0"), V6("2001:db8::1")));
  EXPECT_FALSE(Contains(C("::/0"), V4("192.0.2.1")));
}

TEST(Cidr, Errors) {
  EXPECT_EQ(ParseCidr("10.1.0.0/8").error().message(),
            "'10.1.0.0/8' has host bits set below /8 (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(ParseCidr("10.0.0.0/33").error().message(),
            "'10.0.0.0/33': the prefix length must be 0 to 32");
  EXPECT_EQ(ParseCidr("::/129").error().message(), "'::/129': the prefix length must be 0 to 128");
  EXPECT_EQ(ParseCidr("10.0.0.0/").error().message(),
            "'10.0.0.0/': the prefix length must be 0 to 32");
  EXPECT_EQ(ParseCidr("localhost").error().message(),
            "'localhost' is not an address (expected an address or a CIDR block: \"192.0.2.7\", "
            "\"10.0.0.0/8\", \"::1\", \"2001:db8::/32\")");
}

TEST(AccessList, DenyWinsAndAnEmptyAllowAdmitsNobody) {
  AccessList open;
  EXPECT_TRUE(open.Admits(V4("192.0.2.1")));
  AccessList lo({{C("127.0.0.0/8"), C("::1")}}, {C("127.0.0.2")});
  EXPECT_TRUE(lo.Admits(V4("127.0.0.1")));
  EXPECT_FALSE(lo.Admits(V4("127.0.0.2")));  // denied, though allowed
  EXPECT_TRUE(lo.Admits(V6("::1")));
  EXPECT_FALSE(lo.Admits(V4("192.0.2.1")));
  AccessList nobody(std::vector<Cidr>{}, {});
  EXPECT_FALSE(nobody.Admits(V4("127.0.0.1")));
  AccessList deny_only(std::nullopt, {C("192.0.2.0/24")});
  EXPECT_FALSE(deny_only.Admits(V6("::ffff:192.0.2.9")));
  EXPECT_TRUE(deny_only.Admits(V4("198.51.100.1")));
}

}  // namespace
}  // namespace hinetd::net
