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

TEST(Cidr, Ipv6PrefixesThatEndInsideAByte) {
  // /127: the last bit of the last byte.
  Cidr p127 = C("2001:db8::10/127");
  EXPECT_FALSE(Contains(p127, V6("2001:db8::f")));
  EXPECT_TRUE(Contains(p127, V6("2001:db8::10")));
  EXPECT_TRUE(Contains(p127, V6("2001:db8::11")));
  EXPECT_FALSE(Contains(p127, V6("2001:db8::12")));
  // /65: the first bit of byte 8.
  Cidr p65 = C("2001:db8:0:1:8000::/65");
  EXPECT_FALSE(Contains(p65, V6("2001:db8:0:1:7fff:ffff:ffff:ffff")));
  EXPECT_TRUE(Contains(p65, V6("2001:db8:0:1:8000::")));
  EXPECT_TRUE(Contains(p65, V6("2001:db8:0:1:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(Contains(p65, V6("2001:db8:0:2::")));
  // /121: the top bit of the last byte.
  Cidr p121 = C("2001:db8::80/121");
  EXPECT_FALSE(Contains(p121, V6("2001:db8::7f")));
  EXPECT_TRUE(Contains(p121, V6("2001:db8::80")));
  EXPECT_TRUE(Contains(p121, V6("2001:db8::ff")));
  EXPECT_FALSE(Contains(p121, V6("2001:db8::100")));
  // And the lower half of a /121 split, so that the mask is not simply
  // "any value of the byte": ::0 .. ::7f.
  Cidr low121 = C("2001:db8::/121");
  EXPECT_TRUE(Contains(low121, V6("2001:db8::")));
  EXPECT_TRUE(Contains(low121, V6("2001:db8::7f")));
  EXPECT_FALSE(Contains(low121, V6("2001:db8::80")));
  EXPECT_FALSE(Contains(low121, V6("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")));
  // Host bits below an in-byte prefix are refused, with the network named.
  EXPECT_EQ(ParseCidr("2001:db8::11/127").error().message(),
            "'2001:db8::11/127' has host bits set below /127 (did you mean 2001:db8::10/127?)");
  EXPECT_EQ(ParseCidr("2001:db8::c0/121").error().message(),
            "'2001:db8::c0/121' has host bits set below /121 (did you mean 2001:db8::80/121?)");
}

TEST(Cidr, WholeFamiliesAndSingleAddresses) {
  Cidr all6 = C("::/0");
  EXPECT_EQ(all6.family, AF_INET6);
  EXPECT_EQ(all6.prefix, 0);
  EXPECT_TRUE(Contains(all6, V6("::")));
  EXPECT_TRUE(Contains(all6, V6("::1")));
  EXPECT_TRUE(Contains(all6, V6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  Cidr all4 = C("0.0.0.0/0");
  EXPECT_EQ(all4.family, AF_INET);
  EXPECT_TRUE(Contains(all4, V4("0.0.0.0")));
  EXPECT_TRUE(Contains(all4, V4("255.255.255.255")));
  // A v4 /32 and a v6 /128, written with and without the prefix: the
  // address alone, neighbours on both sides out.
  for (const char* text : {"192.0.2.7/32", "192.0.2.7"}) {
    Cidr one = C(text);
    EXPECT_EQ(one.prefix, 32) << text;
    EXPECT_TRUE(Contains(one, V4("192.0.2.7"))) << text;
    EXPECT_FALSE(Contains(one, V4("192.0.2.6"))) << text;
    EXPECT_FALSE(Contains(one, V4("192.0.2.8"))) << text;
  }
  for (const char* text : {"2001:db8::7/128", "2001:db8::7"}) {
    Cidr one = C(text);
    EXPECT_EQ(one.prefix, 128) << text;
    EXPECT_TRUE(Contains(one, V6("2001:db8::7"))) << text;
    EXPECT_FALSE(Contains(one, V6("2001:db8::6"))) << text;
    EXPECT_FALSE(Contains(one, V6("2001:db8::8"))) << text;
  }
  EXPECT_FALSE(Contains(C("255.255.255.255/32"), V4("255.255.255.254")));
  EXPECT_FALSE(Contains(C("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"),
                        V6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")));
}

TEST(Cidr, MappedPeersAreIpv4AndOnlyIpv4) {
  // acl.h: an IPv4-mapped peer is matched as the IPv4 address it is.
  Endpoint mapped = V6("::ffff:192.0.2.9");
  EXPECT_TRUE(Contains(C("192.0.2.0/24"), mapped));
  EXPECT_TRUE(Contains(C("192.0.2.9"), mapped));
  EXPECT_TRUE(Contains(C("0.0.0.0/0"), mapped));
  EXPECT_FALSE(Contains(C("192.0.2.8/32"), mapped));
  EXPECT_FALSE(Contains(C("198.51.100.0/24"), mapped));
  // So IPv6 blocks that cover ::ffff:0:0/96 as IPv6 do not match it.
  EXPECT_FALSE(Contains(C("::/0"), mapped));
  EXPECT_FALSE(Contains(C("::/80"), mapped));
  EXPECT_FALSE(Contains(C("::/64"), mapped));
  // A block written in the mapped form (prefix >= 96) is taken as the IPv4
  // block it is (acl.cc, ParseCidr): ::ffff:0:0/96 is 0.0.0.0/0, which does
  // match the mapped peer and a plain IPv4 one, and no real IPv6 address.
  Cidr all_mapped = C("::ffff:0:0/96");
  EXPECT_EQ(all_mapped.ToString(), "0.0.0.0/0");
  EXPECT_TRUE(Contains(all_mapped, mapped));
  EXPECT_TRUE(Contains(all_mapped, V4("203.0.113.1")));
  EXPECT_FALSE(Contains(all_mapped, V6("2001:db8::1")));
  Cidr one_mapped = C("::ffff:192.0.2.9/128");
  EXPECT_EQ(one_mapped.ToString(), "192.0.2.9/32");
  EXPECT_TRUE(Contains(one_mapped, V4("192.0.2.9")));
  EXPECT_FALSE(Contains(one_mapped, V4("192.0.2.10")));
  // The IPv4-compatible form (::a.b.c.d, deprecated) is not mapped: it is
  // an IPv6 address like any other.
  Endpoint compat = V6("::192.0.2.9");
  EXPECT_FALSE(Contains(C("192.0.2.0/24"), compat));
  EXPECT_TRUE(Contains(C("::/64"), compat));
  // Nor does a mapped peer match a v6 block that merely ends in the same
  // 32 bits.
  EXPECT_FALSE(Contains(C("2001:db8::c000:209/128"), mapped));
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

TEST(AccessList, DenyWinsAtTheSameAndAtAWiderPrefix) {
  // The same block in both lists: denied, for v4, v6 and a mapped peer.
  AccessList same({{C("192.0.2.0/24"), C("2001:db8::/64")}},
                  {C("192.0.2.0/24"), C("2001:db8::/64")});
  EXPECT_FALSE(same.Admits(V4("192.0.2.1")));
  EXPECT_FALSE(same.Admits(V6("::ffff:192.0.2.1")));
  EXPECT_FALSE(same.Admits(V6("2001:db8::1")));
  EXPECT_FALSE(same.Admits(V4("198.51.100.1")));  // in neither: allow is a list
  // A wider deny over a narrower allow: denied, even the allowed address.
  AccessList wider({{C("10.1.2.3"), C("2001:db8::1")}}, {C("10.0.0.0/8"), C("2001:db8::/32")});
  EXPECT_FALSE(wider.Admits(V4("10.1.2.3")));
  EXPECT_FALSE(wider.Admits(V6("::ffff:10.1.2.3")));
  EXPECT_FALSE(wider.Admits(V6("2001:db8::1")));
  // The whole family denied: no allow entry gets through.
  AccessList all_denied({{C("127.0.0.1"), C("::1")}}, {C("0.0.0.0/0")});
  EXPECT_FALSE(all_denied.Admits(V4("127.0.0.1")));
  EXPECT_TRUE(all_denied.Admits(V6("::1")));  // another family: not denied
  // A narrower deny inside a wider allow takes only its own addresses out.
  AccessList hole({{C("2001:db8::/120")}}, {C("2001:db8::10/127")});
  EXPECT_TRUE(hole.Admits(V6("2001:db8::f")));
  EXPECT_FALSE(hole.Admits(V6("2001:db8::10")));
  EXPECT_FALSE(hole.Admits(V6("2001:db8::11")));
  EXPECT_TRUE(hole.Admits(V6("2001:db8::12")));
  EXPECT_FALSE(hole.Admits(V6("2001:db8::100")));  // outside allow
}

}  // namespace
}  // namespace hinetd::net
