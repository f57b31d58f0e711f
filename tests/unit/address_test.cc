#include "net/address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

namespace hinetd::net {
namespace {

TEST(ParseListen, Ipv4) {
  auto r = ParseListen("127.0.0.1:7", Transport::kTcp);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].family(), AF_INET);
  EXPECT_EQ((*r)[0].port(), 7);
  EXPECT_EQ(ToString((*r)[0]), "127.0.0.1:7");
}

TEST(ParseListen, Ipv6InBrackets) {
  auto r = ParseListen("[::1]:8080", Transport::kTcp);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].family(), AF_INET6);
  EXPECT_EQ(ToString((*r)[0]), "[::1]:8080");
}

TEST(ParseListen, WildcardIsBothFamilies) {
  auto r = ParseListen("*:9", Transport::kTcp);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].family(), AF_INET);
  EXPECT_EQ((*r)[1].family(), AF_INET6);
  EXPECT_TRUE((*r)[0].IsWildcard());
  EXPECT_TRUE((*r)[1].IsWildcard());
  EXPECT_EQ((*r)[1].port(), 9);
}

TEST(ParseListen, ServiceNameFromEtcServices) {
  // /etc/services comes from Debian's netbase; skip where it is absent.
  if (access("/etc/services", R_OK) != 0) GTEST_SKIP() << "no /etc/services on this host";
  auto r = ParseListen("127.0.0.1:echo", Transport::kTcp);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)[0].port(), 7);
}

TEST(ParseListen, Errors) {
  const char* forms =
      " (expected \"HOST:PORT\" with a numeric IPv4 HOST, \"[IPV6]:PORT\", \"*:PORT\", or "
      "\"unix:/PATH\")";
  struct {
    const char* in;
    std::string err;
  } cases[] = {
      {"127.0.0.1", "'127.0.0.1': missing ':PORT'" + std::string(forms)},
      {"127.0.0.1:", "missing port after ':' (expected 1-65535 or a service name)"},
      {"127.0.0.1:0", "port 0 is out of range (expected 1-65535)"},
      {"127.0.0.1:65536", "port 65536 is out of range (expected 1-65535)"},
      {"127.0.0.1:99999999999999999999", "port 99999999999999999999 is out of range (expected 1-65535)"},
      {"1.2.3:7", "'1.2.3' is not a numeric IPv4 address (hostnames are not resolved)" +
                      std::string(forms)},
      {":7", "'' is not a numeric IPv4 address (hostnames are not resolved)" + std::string(forms)},
      {"[::1:7", "'[::1:7': missing ']' after the IPv6 address" + std::string(forms)},
      {"[::1]7", "'[::1]7': missing ':PORT' after ']'" + std::string(forms)},
      {"[1.2.3.4]:7", "'1.2.3.4' is not a numeric IPv6 address" + std::string(forms)},
      {"fe80::1:7", "'fe80::1:7': an IPv6 address must be in brackets, as [fe80::1]:7"},
      {"[::ffff:127.0.0.1]:7",
       "'[::ffff:127.0.0.1]:7': an IPv4-mapped address cannot be listened on; use 127.0.0.1:7"},
  };
  for (const auto& c : cases) {
    auto r = ParseListen(c.in, Transport::kTcp);
    ASSERT_FALSE(r.ok()) << c.in;
    EXPECT_EQ(r.error().message(), c.err) << c.in;
  }
}

TEST(Overlaps, WildcardAndSpecific) {
  auto any = (*ParseListen("*:7", Transport::kTcp))[0];
  auto lo = (*ParseListen("127.0.0.1:7", Transport::kTcp))[0];
  auto lo8 = (*ParseListen("127.0.0.1:8", Transport::kTcp))[0];
  auto lo2 = (*ParseListen("127.0.0.2:7", Transport::kTcp))[0];
  auto v6 = (*ParseListen("[::1]:7", Transport::kTcp))[0];
  EXPECT_TRUE(Overlaps(any, lo));
  EXPECT_TRUE(Overlaps(lo, lo));
  EXPECT_FALSE(Overlaps(lo, lo8));
  EXPECT_FALSE(Overlaps(lo, lo2));
  EXPECT_FALSE(Overlaps(lo, v6));  // other family: IPV6_V6ONLY keeps them apart
}

TEST(FormatIp, MappedIpv4IsShownAsIpv4) {
  sockaddr_in6 s6{};
  s6.sin6_family = AF_INET6;
  s6.sin6_port = htons(4242);
  inet_pton(AF_INET6, "::ffff:192.0.2.7", &s6.sin6_addr);
  char ip[64];
  char port[16];
  ASSERT_TRUE(FormatIp(reinterpret_cast<sockaddr*>(&s6), ip, sizeof ip));
  ASSERT_TRUE(FormatPort(reinterpret_cast<sockaddr*>(&s6), port, sizeof port));
  EXPECT_STREQ(ip, "192.0.2.7");
  EXPECT_STREQ(port, "4242");
  Endpoint ep = Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&s6), sizeof s6);
  EXPECT_EQ(ToString(ep), "192.0.2.7:4242");
}

TEST(FormatIp, Ipv4AsInetNtopWritesIt) {
  for (const char* text : {"0.0.0.0", "255.255.255.255", "127.0.0.1", "10.20.3.100", "192.0.2.7"}) {
    sockaddr_in s4{};
    s4.sin_family = AF_INET;
    ASSERT_EQ(inet_pton(AF_INET, text, &s4.sin_addr), 1) << text;
    char ip[INET_ADDRSTRLEN];
    ASSERT_TRUE(FormatIp(reinterpret_cast<sockaddr*>(&s4), ip, sizeof ip)) << text;
    EXPECT_STREQ(ip, text);
    // Exactly its length and the terminator fit; one byte less does not.
    size_t n = std::strlen(text);
    char exact[INET_ADDRSTRLEN];
    EXPECT_TRUE(FormatIp(reinterpret_cast<sockaddr*>(&s4), exact, n + 1)) << text;
    EXPECT_STREQ(exact, text);
    EXPECT_FALSE(FormatIp(reinterpret_cast<sockaddr*>(&s4), exact, n)) << text;
  }
}

TEST(FormatIp, TooSmallBufferFails) {
  auto ep = (*ParseListen("[2001:db8::1234:5678]:7", Transport::kTcp))[0];
  char tiny[4];
  EXPECT_FALSE(FormatIp(ep.sa(), tiny, sizeof tiny));
}

}  // namespace
}  // namespace hinetd::net
