// The loop and reflection rules every udp service of hinetd applies to the
// datagram that would start a child (supervisor/reflection.h).
#include "supervisor/reflection.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace hinetd::supervisor {
namespace {

net::Endpoint V4(const char* ip, uint16_t port) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, ip, &a), 1) << ip;
  return net::Endpoint::Inet4(a, port);
}

net::Endpoint V6(const char* ip, uint16_t port) {
  in6_addr a{};
  EXPECT_EQ(inet_pton(AF_INET6, ip, &a), 1) << ip;
  return net::Endpoint::Inet6(a, port);
}

config::ListenAddr Listen(const std::string& text, net::Transport t) {
  config::ListenAddr addr;
  addr.text = text;
  auto eps = net::ParseListen(text, t);
  EXPECT_TRUE(eps.ok()) << text;
  if (eps.ok()) addr.endpoints = *eps;
  return addr;
}

// A table: tcp 127.0.0.1:2000, udp *:3000 (both families), udp [::1]:4000,
// and a unix: service (no port).
config::Config Table() {
  config::Config c;
  config::Service tcp;
  tcp.name = "tcp";
  tcp.listen = {Listen("127.0.0.1:2000", net::Transport::kTcp)};
  config::Service udp;
  udp.name = "udp";
  udp.transport = net::Transport::kUdp;
  udp.listen = {Listen("*:3000", net::Transport::kUdp), Listen("[::1]:4000", net::Transport::kUdp)};
  config::Service local;
  local.name = "local";
  local.listen = {Listen("unix:/run/x.sock", net::Transport::kTcp)};
  c.services = {tcp, udp, local};
  return c;
}

TEST(ServedPorts, EveryListenAddressOfEveryServiceAndNothingElse) {
  PortSet served = ServedPorts(Table());
  EXPECT_EQ(served.count(), 3u);
  EXPECT_TRUE(served.test(2000));  // tcp counts too: a udp reply to it is no client
  EXPECT_TRUE(served.test(3000));
  EXPECT_TRUE(served.test(4000));
  EXPECT_FALSE(served.test(0));
}

TEST(ReflectionRisk, AnOrdinaryClientIsAnswered) {
  PortSet served = ServedPorts(Table());
  for (bool internal : {false, true}) {
    EXPECT_FALSE(ReflectionRisk(V4("127.0.0.1", 40000), served, internal));
    EXPECT_FALSE(ReflectionRisk(V4("192.0.2.7", 1024), served, internal));
    EXPECT_FALSE(ReflectionRisk(V6("::1", 50000), served, internal));
    EXPECT_FALSE(ReflectionRisk(V6("::ffff:192.0.2.7", 50000), served, internal));
  }
}

TEST(ReflectionRisk, APortThisHinetdServesIsRefusedForEveryService) {
  PortSet served = ServedPorts(Table());
  for (bool internal : {false, true}) {
    for (uint16_t port : {2000, 3000, 4000}) {
      // From any host and family: the port is what makes the loop.
      EXPECT_TRUE(ReflectionRisk(V4("127.0.0.1", port), served, internal)) << port;
      EXPECT_TRUE(ReflectionRisk(V4("198.51.100.1", port), served, internal)) << port;
      EXPECT_TRUE(ReflectionRisk(V6("2001:db8::1", port), served, internal)) << port;
      EXPECT_TRUE(ReflectionRisk(V6("::ffff:127.0.0.1", port), served, internal)) << port;
    }
    EXPECT_FALSE(ReflectionRisk(V4("127.0.0.1", 2001), served, internal));
  }
}

TEST(ReflectionRisk, TheClassicSmallServicesAreRefusedForEveryService) {
  PortSet none;
  for (bool internal : {false, true}) {
    for (uint16_t port : {7, 9, 13, 19, 37}) {
      EXPECT_TRUE(ReflectionRisk(V4("203.0.113.9", port), none, internal)) << port;
    }
  }
}

TEST(ReflectionRisk, PortZeroAndBadAddressesAreRefused) {
  PortSet none;
  for (bool internal : {false, true}) {
    EXPECT_TRUE(ReflectionRisk(V4("127.0.0.1", 0), none, internal));
    EXPECT_TRUE(ReflectionRisk(V6("::1", 0), none, internal));
    EXPECT_TRUE(ReflectionRisk(V4("0.0.0.0", 40000), none, internal));
    EXPECT_TRUE(ReflectionRisk(V4("255.255.255.255", 40000), none, internal));
    EXPECT_TRUE(ReflectionRisk(V4("224.0.0.1", 40000), none, internal));
    EXPECT_TRUE(ReflectionRisk(V4("192.168.1.255", 40000), none, internal));
    EXPECT_TRUE(ReflectionRisk(V6("::", 40000), none, internal));
    EXPECT_TRUE(ReflectionRisk(V6("ff02::1", 40000), none, internal));
    EXPECT_TRUE(ReflectionRisk(V6("::ffff:224.0.0.1", 40000), none, internal));
    // Not an IP peer at all.
    EXPECT_TRUE(ReflectionRisk(net::Endpoint(), none, internal));
  }
}

TEST(ReflectionRisk, APrivilegedPortIsRefusedForInternalServicesOnly) {
  PortSet none;
  for (uint16_t port : {1, 53, 123, 161, 1023}) {
    EXPECT_TRUE(ReflectionRisk(V4("127.0.0.1", port), none, /*internal=*/true)) << port;
    EXPECT_TRUE(ReflectionRisk(V6("::1", port), none, /*internal=*/true)) << port;
    // An exec service may have clients on privileged ports (a DNS server
    // forwarding from 53, NTP peers on 123).
    EXPECT_FALSE(ReflectionRisk(V4("127.0.0.1", port), none, /*internal=*/false)) << port;
  }
  EXPECT_FALSE(ReflectionRisk(V4("127.0.0.1", 1024), none, /*internal=*/true));
}

}  // namespace
}  // namespace hinetd::supervisor
