// Which udp wait children a reload leaves stale (supervisor/stale_wait.h):
// one is fresh only while a service of its name still serves its address
// as a wait service from the same plan; the idle check is due at once when
// there is a stale one, and never when there is none.
#include "supervisor/stale_wait.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace hinetd::supervisor {
namespace {

net::Endpoint Loopback(uint16_t port) {
  in_addr a{};
  inet_pton(AF_INET, "127.0.0.1", &a);
  return net::Endpoint::Inet4(a, port);
}

struct Reloaded {
  Reloaded() {
    config.services.resize(2);
    config.services[0].name = "tftp";
    config.services[0].transport = net::Transport::kUdp;
    config.services[0].wait = true;
    config.services[1].name = "dns";
    config.services[1].transport = net::Transport::kUdp;
    identities = {std::make_shared<const std::string>("plan-a"),
                  std::make_shared<const std::string>("")};
    for (size_t i = 0; i < 2; ++i) {
      auto s = std::make_shared<ListenSocket>();
      s->ep = Loopback(static_cast<uint16_t>(6900 + i));
      s->transport = net::Transport::kUdp;
      s->service = i;
      s->wait = config.services[i].wait;
      sockets.push_back(std::move(s));
    }
  }
  // A wait child of `service` on `port`, started from `plan`.
  Child& Add(pid_t pid, const std::string& service, uint16_t port, const std::string& plan) {
    Child& c = children[pid];
    c.service = service;
    c.wait = true;
    c.wait_ep = Loopback(port);
    c.plan_identity = std::make_shared<const std::string>(plan);
    return c;
  }

  config::Config config;
  std::vector<std::shared_ptr<const std::string>> identities;
  SocketList sockets;
  Children children;
  base::Logger log;
  int ended = 0;
  StaleWaitChildren stale{log, children, std::chrono::milliseconds(250),
                          std::chrono::milliseconds(500), [this](pid_t, Child&) { ++ended; }};
};

TEST(StaleWaitTest, FreshOnlyWithTheSameNameAddressAndPlan) {
  Reloaded r;
  r.Add(1, "tftp", 6900, "plan-a");
  r.Add(2, "tftp", 6900, "plan-b");  // its plan changed
  r.Add(3, "tftp", 6999, "plan-a");  // its address is gone
  r.Add(4, "old", 6900, "plan-a");   // its service is gone (renamed)
  r.Add(5, "dns", 6901, "");         // its service is not a wait one any more
  r.children[6].service = "tftp";    // not a wait child at all
  Child& ended = r.Add(7, "tftp", 6999, "plan-b");
  ended.stale_ended = true;  // being ended: left as it is
  auto before = Clock::now();
  r.stale.Mark(r.config, r.identities, r.sockets);
  EXPECT_FALSE(r.children[1].stale);
  EXPECT_TRUE(r.children[2].stale);
  EXPECT_TRUE(r.children[3].stale);
  EXPECT_TRUE(r.children[4].stale);
  EXPECT_TRUE(r.children[5].stale);
  EXPECT_FALSE(r.children[6].stale);
  EXPECT_FALSE(r.children[7].stale);
  // The first look is due at once.
  EXPECT_GE(r.stale.next_check(), before);
  EXPECT_LE(r.stale.next_check(), Clock::now());
  EXPECT_EQ(r.ended, 0);  // marking ends nothing
}

TEST(StaleWaitTest, APlanThatCameBackMakesItFreshAgain) {
  Reloaded r;
  r.Add(1, "tftp", 6900, "plan-b");
  r.stale.Mark(r.config, r.identities, r.sockets);
  EXPECT_TRUE(r.children[1].stale);
  r.identities[0] = std::make_shared<const std::string>("plan-b");
  r.stale.Mark(r.config, r.identities, r.sockets);
  EXPECT_FALSE(r.children[1].stale);
}

TEST(StaleWaitTest, NoStaleChildNoCheck) {
  Reloaded r;
  r.Add(1, "tftp", 6900, "plan-a");
  r.stale.Mark(r.config, r.identities, r.sockets);
  EXPECT_EQ(r.stale.next_check(), Clock::time_point::max());
  // Nothing stale to look at: a check finds nothing due and stops nothing.
  r.stale.Check(r.sockets, 1);
  EXPECT_EQ(r.stale.next_check(), Clock::time_point::max());
  EXPECT_EQ(r.ended, 0);
}

}  // namespace
}  // namespace hinetd::supervisor
