// The listener's setup as bytes (listener_setup.h): what the monitor
// encodes, hinetd-listener decodes to the same table, state, sockets and
// filter; a truncated, extended, foreign or corrupted setup is an error
// that says what was wrong, never a crash, a huge allocation, or a
// descriptor taken over.
#include "supervisor/listener_setup.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace hinetd::supervisor {
namespace {

using std::chrono::milliseconds;

net::Cidr V4(const char* a, int prefix) {
  net::Cidr c;
  c.family = AF_INET;
  inet_pton(AF_INET, a, c.addr.data());
  c.prefix = prefix;
  return c;
}

net::Endpoint Ip4(const char* a, uint16_t port) {
  in_addr addr{};
  inet_pton(AF_INET, a, &addr);
  return net::Endpoint::Inet4(addr, port);
}

// Two services, one of each kind of field; states with something in every
// counter; a socket of each; a small filter. Descriptors are dups of
// /dev/null, theirs to close.
class ListenerSetupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.daemon.user = "hinetd";
    config_.daemon.uid = 4242;
    config_.daemon.gid = 4343;
    config_.daemon.max_children = 77;
    config_.daemon.log_peers = false;
    config_.services.resize(2);
    config::Service& a = config_.services[0];
    a.name = "echo";
    a.max_instances = 16;
    a.per_source = 4;
    a.rate = config::Service::Rate{50, milliseconds(1000)};
    a.backoff = milliseconds(5000);
    a.acl = net::AccessList(std::vector<net::Cidr>{V4("127.0.0.0", 8)},
                            std::vector<net::Cidr>{V4("127.0.0.66", 32)});
    in6_addr any6{};
    a.listen.push_back({"127.0.0.1:7", {Ip4("127.0.0.1", 7)}, {}});
    a.listen.push_back({"[::]:7", {net::Endpoint::Inet6(any6, 7)}, {}});
    config::Service& b = config_.services[1];
    b.name = "time-udp";
    b.transport = net::Transport::kUdp;
    b.wait = true;
    b.internal = config::Internal::kTime;
    b.listen.push_back({"unix:/run/t.sock", {net::Endpoint::Unix("/run/t.sock")}, {}});

    auto now = Clock::now();
    for (const auto& svc : config_.services) {
      auto s = std::make_shared<ServiceState>();
      s->name = svc.name;
      states_.push_back(s);
    }
    ServiceState& s = *states_[0];
    s.active = 3;
    s.per_source["\x7f\x00\x00\x01"] = 2;
    s.per_source["\x7f\x00\x00\x02"] = 1;
    s.rate.emplace(50, milliseconds(1000), now);
    s.rate->SetTokens(12.5, now);
    s.rate_config = config_.services[0].rate;
    s.failures.Restore(4);
    s.pause = Pause::kRate;
    s.paused_at = now - milliseconds(100);
    s.paused_until = now + milliseconds(900);
    s.capacity_logged = now - milliseconds(5);
    uint64_t n = 1;
    for (uint64_t* c : {&s.accepted, &s.refused_acl, &s.refused_per_source, &s.refused_reflection,
                        &s.paused_rate, &s.paused_failing, &s.held_capacity, &s.setup_failures,
                        &s.seccomp_kills, &s.timeouts}) {
      *c = n++ * 1000;
    }

    for (size_t i = 0; i < 2; ++i) {
      auto sock = std::make_shared<ListenSocket>();
      sock->fd.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
      sock->ep = config_.services[i].listen[0].endpoints[0];
      sock->transport = config_.services[i].transport;
      sock->service = i;
      sock->wait = i == 1;
      sock->busy = i == 1;
      sock->systemd_fd = i == 1 ? 3 : -1;
      sockets_.push_back(sock);
    }
    filter_ = std::make_unique<sandbox::BpfProgram>(std::vector<sock_filter>{
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 60, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0x7fff0000U), BPF_STMT(BPF_RET | BPF_K, 0x80000000U)});

    setup_.config = &config_;
    setup_.generation = 9;
    setup_.sockets = sockets_;
    setup_.services = states_;
    setup_.children = 5;
    setup_.control_fd = 11;
    setup_.doorbell_fd = 12;
    setup_.log_fd = -1;
    setup_.filter = filter_.get();
    setup_.monitor_pid = 4321;
  }

  // What a failed decode must leave alone: the descriptors it names.
  void ExpectSocketsOpen() {
    for (const auto& s : sockets_) EXPECT_GE(fcntl(s->fd.get(), F_GETFD), 0) << s->fd.get();
  }

  // Decodes `bytes`, which must fail; returns the error.
  std::string DecodeError(const std::string& bytes) {
    auto image = DecodeListenerSetup(bytes);
    EXPECT_FALSE(image.ok());
    if (image.ok()) {
      for (auto& s : image->setup.sockets) (void)s->fd.release();  // ours, not the decoder's
      return "";
    }
    return image.error().message();
  }

  config::Config config_;
  ServiceStates states_;
  SocketList sockets_;
  std::unique_ptr<sandbox::BpfProgram> filter_;
  ListenerSetup setup_;
};

TEST_F(ListenerSetupTest, WhatTheMonitorEncodesTheListenerDecodes) {
  std::string bytes = EncodeListenerSetup(setup_);
  auto image = DecodeListenerSetup(bytes);
  ASSERT_TRUE(image.ok()) << image.error().message();
  const ListenerSetup& got = image->setup;
  EXPECT_EQ(got.config, image->config.get());
  EXPECT_EQ(got.filter, image->filter.get());
  EXPECT_EQ(got.generation, 9u);
  EXPECT_EQ(got.children, 5);
  EXPECT_EQ(got.control_fd, 11);
  EXPECT_EQ(got.doorbell_fd, 12);
  EXPECT_EQ(got.log_fd, -1);
  EXPECT_EQ(got.monitor_pid, 4321);

  const config::Config& c = *got.config;
  EXPECT_EQ(c.daemon.user, "hinetd");
  EXPECT_EQ(c.daemon.uid, 4242u);
  EXPECT_EQ(c.daemon.gid, 4343u);
  EXPECT_EQ(c.daemon.max_children, 77);
  EXPECT_FALSE(c.daemon.log_peers);
  ASSERT_EQ(c.services.size(), 2u);
  const config::Service& a = c.services[0];
  EXPECT_EQ(a.name, "echo");
  EXPECT_EQ(a.max_instances, 16);
  EXPECT_EQ(a.per_source, 4);
  ASSERT_TRUE(a.rate.has_value());
  EXPECT_EQ(a.rate->count, 50u);
  EXPECT_EQ(a.rate->period, milliseconds(1000));
  EXPECT_EQ(a.backoff, milliseconds(5000));
  ASSERT_TRUE(a.acl.allow().has_value());
  ASSERT_EQ(a.acl.allow()->size(), 1u);
  EXPECT_EQ((*a.acl.allow())[0].ToString(), "127.0.0.0/8");
  ASSERT_EQ(a.acl.deny().size(), 1u);
  EXPECT_EQ(a.acl.deny()[0].ToString(), "127.0.0.66/32");
  EXPECT_TRUE(a.acl.Admits(Ip4("127.0.0.9", 1)));
  EXPECT_FALSE(a.acl.Admits(Ip4("127.0.0.66", 1)));
  EXPECT_FALSE(a.acl.Admits(Ip4("10.0.0.1", 1)));
  ASSERT_EQ(a.listen.size(), 2u);
  EXPECT_EQ(a.listen[1].text, "[::]:7");
  ASSERT_EQ(a.listen[1].endpoints.size(), 1u);
  EXPECT_TRUE(a.listen[1].endpoints[0] == config_.services[0].listen[1].endpoints[0]);
  const config::Service& b = c.services[1];
  EXPECT_EQ(b.transport, net::Transport::kUdp);
  EXPECT_TRUE(b.wait);
  EXPECT_EQ(b.internal, config::Internal::kTime);
  EXPECT_FALSE(b.rate.has_value());
  EXPECT_FALSE(b.acl.allow().has_value());
  EXPECT_EQ(b.listen[0].endpoints[0].UnixPath(), "/run/t.sock");

  ASSERT_EQ(got.services.size(), 2u);
  const ServiceState& s = *got.services[0];
  const ServiceState& want = *states_[0];
  EXPECT_EQ(s.name, "echo");
  EXPECT_EQ(s.active, 3);
  EXPECT_EQ(s.per_source, want.per_source);
  ASSERT_TRUE(s.rate.has_value());
  ASSERT_TRUE(s.rate_config.has_value());
  EXPECT_EQ(s.rate_config->count, 50u);
  auto now = Clock::now();
  RateLimiter bucket = *s.rate;
  EXPECT_GE(bucket.tokens(now), 12.5);
  EXPECT_LT(bucket.tokens(now), 50.0);
  EXPECT_EQ(s.failures.streak(), 4);
  EXPECT_EQ(s.pause, Pause::kRate);
  EXPECT_EQ(s.paused_at, want.paused_at);
  EXPECT_EQ(s.paused_until, want.paused_until);
  EXPECT_EQ(s.capacity_logged, want.capacity_logged);
  EXPECT_EQ(s.accepted, 1000u);
  EXPECT_EQ(s.timeouts, 10000u);
  EXPECT_EQ(got.services[1]->name, "time-udp");
  EXPECT_FALSE(got.services[1]->rate.has_value());

  ASSERT_EQ(got.sockets.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const ListenSocket& gs = *got.sockets[i];
    const ListenSocket& ws = *sockets_[i];
    EXPECT_EQ(gs.fd.get(), ws.fd.get());
    EXPECT_TRUE(gs.ep == ws.ep);
    EXPECT_EQ(gs.transport, ws.transport);
    EXPECT_EQ(gs.service, ws.service);
    EXPECT_EQ(gs.wait, ws.wait);
    EXPECT_EQ(gs.busy, ws.busy);
    EXPECT_FALSE(gs.broken);
    EXPECT_EQ(gs.systemd_fd, ws.systemd_fd);
    EXPECT_EQ(gs.unix_ino, 0u);  // a listener never removes a socket file
  }
  for (auto& s : image->setup.sockets) (void)s->fd.release();  // the fixture's to close

  const auto& insns = got.filter->insns();
  ASSERT_EQ(insns.size(), filter_->insns().size());
  EXPECT_EQ(std::memcmp(insns.data(), filter_->insns().data(), insns.size() * sizeof insns[0]), 0);
  EXPECT_EQ(got.filter->fprog()->len, insns.size());
}

TEST_F(ListenerSetupTest, ASetupOfAnotherBuildIsRefusedAndSaysSo) {
  std::string bytes = EncodeListenerSetup(setup_);
  // The build's version follows the magic line, as a length and its bytes.
  const std::string magic = "hinetd-listener-setup 1\n";
  ASSERT_EQ(bytes.compare(0, magic.size(), magic), 0);
  size_t version_at = magic.size() + sizeof(uint64_t);
  bytes[version_at] = bytes[version_at] == '9' ? '8' : '9';
  std::string error = DecodeError(bytes);
  EXPECT_NE(error.find("install the two from one build"), std::string::npos) << error;
  EXPECT_NE(DecodeError("GET / HTTP/1.0\r\n\r\n").find("not a listener setup"), std::string::npos);
  ExpectSocketsOpen();
}

TEST_F(ListenerSetupTest, EveryTruncationAndAnyTrailingByteIsAnError) {
  std::string bytes = EncodeListenerSetup(setup_);
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string error = DecodeError(bytes.substr(0, n));
    EXPECT_FALSE(error.empty()) << "prefix of " << n << " bytes";
  }
  EXPECT_NE(DecodeError(bytes + '\0').find("bytes left after the setup"), std::string::npos);
  ExpectSocketsOpen();
}

TEST_F(ListenerSetupTest, AHugeCountAllocatesNothingAndIsAnError) {
  std::string bytes = EncodeListenerSetup(setup_);
  // The count of services: after the magic, the version, the generation,
  // five numbers, the user, uid, gid, max_children and log_peers.
  const size_t magic = std::strlen("hinetd-listener-setup 1\n");
  uint64_t version_len;
  std::memcpy(&version_len, bytes.data() + magic, sizeof version_len);
  size_t at = magic + 8 + version_len + 8 * 6 + 8 + config_.daemon.user.size() + 8 * 3 + 1;
  uint64_t services;
  std::memcpy(&services, bytes.data() + at, sizeof services);
  ASSERT_EQ(services, 2u) << "the layout this test knows has changed";
  uint64_t huge = uint64_t{1} << 60;
  std::memcpy(bytes.data() + at, &huge, sizeof huge);
  std::string error = DecodeError(bytes);
  EXPECT_NE(error.find("a count of services larger than the setup"), std::string::npos) << error;
  ExpectSocketsOpen();
}

TEST_F(ListenerSetupTest, CorruptedBytesAreDecodedOrRefusedNeverMisread) {
  // Seeded: the same corruptions every run. Each decodes to something (a
  // flipped counter is still a counter) or is an error; under the
  // sanitizers, no read goes out of bounds.
  std::string bytes = EncodeListenerSetup(setup_);
  std::mt19937 random(20261207);
  std::uniform_int_distribution<size_t> where(0, bytes.size() - 1);
  int refused = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string b = bytes;
    for (int k = 0; k < 3; ++k) b[where(random)] ^= static_cast<char>(1 + random() % 255);
    auto image = DecodeListenerSetup(b);
    if (!image.ok()) {
      ++refused;
      EXPECT_FALSE(image.error().message().empty());
      continue;
    }
    for (auto& s : image->setup.sockets) {
      EXPECT_LT(s->service, image->setup.services.size());
      (void)s->fd.release();
    }
    EXPECT_EQ(image->setup.services.size(), image->config->services.size());
    EXPECT_GT(image->filter->insns().size(), 0u);
  }
  EXPECT_GT(refused, 0);
  ExpectSocketsOpen();
}

}  // namespace
}  // namespace hinetd::supervisor
