// The listener's lives as the monitor keeps them (supervisor/listener_life.h):
// the restart back-off after crashes in a row, its reset after a stable
// run, the wait after a start that failed; and what a new listener is told
// of the children that run (busy wait sockets, per-service counts).
#include "supervisor/listener_life.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace hinetd::supervisor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ListenerLife, CrashesInARowWaitTwiceAsLongEachUpToTenSeconds) {
  ListenerLife life;
  Clock::time_point t{seconds(1000)};
  std::vector<Clock::duration> delays;
  for (int i = 0; i < 12; ++i) {
    life.Started(100 + i, t);
    t += milliseconds(50);  // dies soon after each start
    life.Exited();
    Clock::duration d = life.Crashed(t);
    EXPECT_EQ(life.restart_at(), t + d);
    delays.push_back(d);
    t += d;
  }
  std::vector<Clock::duration> expected = {
      milliseconds(0),    milliseconds(100),  milliseconds(200),  milliseconds(400),
      milliseconds(800),  milliseconds(1600), milliseconds(3200), milliseconds(6400),
      milliseconds(10000), milliseconds(10000), milliseconds(10000), milliseconds(10000)};
  EXPECT_EQ(delays, expected);
  EXPECT_EQ(life.crashes_in_a_row(), 12);
  EXPECT_EQ(life.starts(), 12u);
}

TEST(ListenerLife, ACrashAfterAStableRunRestartsAtOnce) {
  ListenerLife life;
  Clock::time_point t{seconds(1000)};
  for (int i = 0; i < 3; ++i) {
    life.Started(100 + i, t);
    life.Exited();
    t += life.Crashed(t);
  }
  ASSERT_EQ(life.crashes_in_a_row(), 3);
  life.Started(200, t);
  t += ListenerLife::kStable;
  life.Exited();
  EXPECT_EQ(life.Crashed(t), Clock::duration{0});
  EXPECT_EQ(life.crashes_in_a_row(), 1);
  EXPECT_EQ(life.restart_at(), t);
}

TEST(ListenerLife, ThePidsOfTheRunningAndTheLastListener) {
  ListenerLife life;
  EXPECT_FALSE(life.running());
  EXPECT_EQ(life.pid(), -1);
  EXPECT_EQ(life.last_pid(), -1);
  EXPECT_EQ(life.restart_at(), Clock::time_point::max());
  Clock::time_point t{seconds(5)};
  life.Started(41, t);
  EXPECT_TRUE(life.running());
  EXPECT_EQ(life.pid(), 41);
  life.Exited();
  EXPECT_FALSE(life.running());
  EXPECT_EQ(life.last_pid(), 41);
  life.Started(42, t);
  EXPECT_EQ(life.last_pid(), 41);  // a late record may still name the last one
  EXPECT_EQ(life.restart_at(), Clock::time_point::max());
}

TEST(ListenerLife, AStartThatFailedIsRetriedAfterTheLongestWait) {
  ListenerLife life;
  Clock::time_point t{seconds(5)};
  life.StartFailed(t);
  EXPECT_FALSE(life.running());
  EXPECT_EQ(life.restart_at(), t + ListenerLife::kMaxBackoff);
  EXPECT_EQ(life.starts(), 0u);
  life.Started(7, t + ListenerLife::kMaxBackoff);
  EXPECT_EQ(life.restart_at(), Clock::time_point::max());
}

net::Endpoint Loopback(uint16_t port) {
  in_addr a{};
  inet_pton(AF_INET, "127.0.0.1", &a);
  return net::Endpoint::Inet4(a, port);
}

std::shared_ptr<ListenSocket> Socket(net::Transport t, uint16_t port, bool busy) {
  auto s = std::make_shared<ListenSocket>();
  s->transport = t;
  s->ep = Loopback(port);
  s->busy = busy;
  return s;
}

std::shared_ptr<ServiceState> Service(const std::string& name) {
  auto s = std::make_shared<ServiceState>();
  s->name = name;
  s->active = 99;  // what a last listener handed over: replaced
  s->per_source["stale"] = 5;
  return s;
}

Child Of(const std::string& service, const std::string& source) {
  Child c;
  c.service = service;
  c.source.len = static_cast<uint8_t>(source.size());
  for (size_t i = 0; i < source.size(); ++i) c.source.bytes[i] = static_cast<uint8_t>(source[i]);
  return c;
}

TEST(CountChildren, CountsEachServicesChildrenPerSourceAndMarksHeldWaitSockets) {
  SocketList sockets = {Socket(net::Transport::kUdp, 69, false),
                        Socket(net::Transport::kUdp, 70, true),  // its child is gone
                        Socket(net::Transport::kTcp, 69, false)};
  ServiceStates services = {Service("tftp"), Service("echo"), Service("idle")};
  Children children;
  children[10] = Of("echo", "a");
  children[11] = Of("echo", "a");
  children[12] = Of("echo", "b");
  Child wait = Of("tftp", "");
  wait.wait = true;
  wait.wait_ep = Loopback(69);
  children[13] = std::move(wait);
  // A wait child of a service a reload renamed: its socket is still held.
  Child renamed = Of("old-name", "");
  renamed.wait = true;
  renamed.wait_ep = Loopback(69);
  children[14] = std::move(renamed);

  EXPECT_EQ(CountChildren(children, sockets, services), 5);
  EXPECT_TRUE(sockets[0]->busy);
  EXPECT_FALSE(sockets[1]->busy);
  EXPECT_FALSE(sockets[2]->busy);  // a tcp socket of the same address is no wait socket
  EXPECT_EQ(services[0]->active, 1);
  EXPECT_TRUE(services[0]->per_source.empty());  // no source: not counted per source
  EXPECT_EQ(services[1]->active, 3);
  EXPECT_EQ(services[1]->per_source, (std::unordered_map<std::string, int>{{"a", 2}, {"b", 1}}));
  EXPECT_EQ(services[2]->active, 0);
  EXPECT_TRUE(services[2]->per_source.empty());
}

}  // namespace
}  // namespace hinetd::supervisor
