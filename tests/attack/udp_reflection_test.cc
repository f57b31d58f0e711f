// UDP loops and reflection (issue 10, item 6). The attacker sends ONE
// spoofed datagram on the loopback, from the port of one of hinetd's UDP
// services to another (two exec echo services, an exec one and the internal
// echo, either way), or from a privileged port to the internal echo. Before
// the fix, two echo services answered each other forever (10,000+
// datagrams in 3 s). Now the datagram starts no child, is logged as a
// reflection, and a sniffer on `lo` sees the spoofed datagram and no
// answer. A udp service also never outlives its default timeout.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <utility>

#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Flows = std::map<std::pair<uint16_t, uint16_t>, int>;  // (from, to) port -> datagrams

// Sends one UDP datagram 127.0.0.1:from -> 127.0.0.1:to, its IP header
// written by hand (a raw socket: root), as an attacker forges a source.
bool Spoof(uint16_t from, uint16_t to, const std::string& payload) {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) return false;
  struct {
    iphdr ip;
    udphdr udp;
    char data[256];
  } pkt{};
  if (payload.size() > sizeof pkt.data) return false;
  size_t total = sizeof pkt.ip + sizeof pkt.udp + payload.size();
  pkt.ip.version = 4;
  pkt.ip.ihl = 5;
  pkt.ip.ttl = 64;
  pkt.ip.protocol = IPPROTO_UDP;
  pkt.ip.saddr = htonl(INADDR_LOOPBACK);
  pkt.ip.daddr = htonl(INADDR_LOOPBACK);
  pkt.ip.tot_len = htons(static_cast<uint16_t>(total));  // the kernel fills the checksum
  pkt.udp.source = htons(from);
  pkt.udp.dest = htons(to);
  pkt.udp.len = htons(static_cast<uint16_t>(sizeof pkt.udp + payload.size()));
  pkt.udp.check = 0;  // none, which IPv4 allows
  std::memcpy(pkt.data, payload.data(), payload.size());
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool sent = sendto(fd, &pkt, total, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) ==
              static_cast<ssize_t>(total);
  close(fd);
  return sent;
}

// Every UDP datagram 127.0.0.1 -> 127.0.0.1 crossing `lo`, counted once
// (as received; the copy on its way out is skipped), by ports.
class LoopbackSniffer {
 public:
  LoopbackSniffer() {
    fd_ = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
    if (fd_ < 0) {
      error_ = std::string("AF_PACKET socket: ") + strerror(errno);
      return;
    }
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_IP);
    sll.sll_ifindex = static_cast<int>(if_nametoindex("lo"));
    if (sll.sll_ifindex == 0 || bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
      error_ = std::string("binding to lo: ") + strerror(errno);
    }
  }
  ~LoopbackSniffer() {
    if (fd_ >= 0) close(fd_);
  }
  [[nodiscard]] const std::string& error() const { return error_; }

  // What crossed from the start until `length` has passed (at most a
  // million datagrams: a loop, counted, not followed forever).
  Flows Watch(milliseconds length) {
    Flows flows;
    auto deadline = Clock::now() + length;
    unsigned char buf[2048];
    for (int seen = 0; seen < 1'000'000; ++seen) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) != 1) continue;
      sockaddr_ll from{};
      socklen_t from_len = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from),
                           &from_len);
      if (n < static_cast<ssize_t>(sizeof(iphdr)) || from.sll_pkttype == PACKET_OUTGOING) continue;
      iphdr ip;
      std::memcpy(&ip, buf, sizeof ip);
      size_t header = ip.ihl * 4u;
      if (ip.protocol != IPPROTO_UDP || ip.saddr != htonl(INADDR_LOOPBACK) ||
          ip.daddr != htonl(INADDR_LOOPBACK) || n < static_cast<ssize_t>(header + sizeof(udphdr))) {
        continue;
      }
      udphdr udp;
      std::memcpy(&udp, buf + header, sizeof udp);
      ++flows[{ntohs(udp.source), ntohs(udp.dest)}];
    }
    return flows;
  }

 private:
  int fd_ = -1;
  std::string error_;
};

class UdpReflectionTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // Four different ports (each was free a moment ago).
    for (uint16_t* port : {&a_, &b_, &i_, &w_}) {
      for (int tries = 0; tries < 16 && (*port == 0 || Taken(*port, port)); ++tries) {
        *port = FreeUdpPort();
      }
    }
    std::string services = UdpEcho("ea", a_) + UdpEcho("eb", b_) +
                           UdpEcho("ew", w_, "wait = true\n") +
                           "[[service]]\nname = \"ie\"\nlisten = \"127.0.0.1:" +
                           std::to_string(i_) + "\"\nprotocol = \"udp\"\ninternal = \"echo\"\n";
    ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(services))) << daemon_.LogText();
    ASSERT_GT(ListenerPid(), 0) << daemon_.LogText();
  }

  bool Taken(uint16_t port, const uint16_t* self) const {
    for (const uint16_t* other : {&a_, &b_, &i_, &w_}) {
      if (other != self && *other == port) return true;
    }
    return false;
  }

  // An exec echo service (hinetd-probe udp-echo) in the jail: what any
  // stdin/stdout echo program does.
  std::string UdpEcho(const std::string& name, uint16_t port, const std::string& extra = "") {
    return ProbeService(name, port, ", \"udp-echo\", \"1000000\"", "protocol = \"udp\"\n" + extra);
  }

  // One datagram spoofed from `from` to `to` (service `to_name`): refused as
  // a reflection, no child for it, and within 3 s nothing goes back and
  // forth (the sniffer sees the spoofed datagram itself, and no answer).
  void ExpectNoLoop(uint16_t from, uint16_t to, const std::string& to_name,
                    const std::string& from_name) {
    LoopbackSniffer sniffer;
    if (!sniffer.error().empty()) GTEST_SKIP() << "cannot watch lo: " << sniffer.error();
    ASSERT_TRUE(Spoof(from, to, "ping")) << "raw socket: " << strerror(errno);
    Flows flows = sniffer.Watch(milliseconds(3000));
    std::string peer = "peer=127.0.0.1:" + std::to_string(from) + " ";
    EXPECT_TRUE(daemon_.WaitForLine({"event=reject", "service=" + to_name + " ", peer,
                                     "reason=reflection"},
                                    milliseconds(5000)))
        << daemon_.LogText();
    EXPECT_EQ(flows[std::make_pair(from, to)], 1) << "the spoofed datagram, seen once";
    EXPECT_EQ(flows[std::make_pair(to, from)], 0) << "answers to it";
    // At most one child for the pair (this design starts none).
    size_t children = daemon_.CountLines({"event=accept", "service=" + to_name + " "}) +
                      daemon_.CountLines({"event=accept", "service=" + from_name + " "});
    EXPECT_LE(children, 1u) << daemon_.LogText();
    EXPECT_EQ(children, 0u) << daemon_.LogText();
  }

  // An ordinary client from an ephemeral port is still echoed.
  void ExpectServed(uint16_t port, const std::string& payload) {
    int fd = UdpSocket();
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendTo(fd, "127.0.0.1", port, payload));
    EXPECT_EQ(RecvDatagram(fd, milliseconds(5000)).value_or("<none>"), payload)
        << daemon_.LogText();
    close(fd);
  }

  uint16_t a_ = 0, b_ = 0, i_ = 0, w_ = 0;
};

TEST_F(UdpReflectionTest, ASpoofedDatagramBetweenTwoExecEchoServicesStartsNoLoop) {
  ExpectNoLoop(a_, b_, "eb", "ea");
  if (HasFatalFailure() || IsSkipped()) return;
  ExpectNoLoop(b_, a_, "ea", "eb");
  if (HasFatalFailure()) return;
  ExpectServed(a_, "still served a");
  ExpectServed(b_, "still served b");
}

TEST_F(UdpReflectionTest, ASpoofedDatagramBetweenAnExecAndTheInternalEchoStartsNoLoop) {
  ExpectNoLoop(a_, i_, "ie", "ea");
  if (HasFatalFailure() || IsSkipped()) return;
  ExpectNoLoop(i_, a_, "ea", "ie");
  if (HasFatalFailure()) return;
  ExpectServed(i_, "still served i");
}

TEST_F(UdpReflectionTest, APrivilegedSourcePortGetsNoAnswerFromAnInternalService) {
  // From port 53, as another host's DNS server answering a forged query
  // would: the internal echo refuses it (OpenBSD's rule for built-ins)...
  LoopbackSniffer sniffer;
  if (!sniffer.error().empty()) GTEST_SKIP() << "cannot watch lo: " << sniffer.error();
  ASSERT_TRUE(Spoof(53, i_, "ping")) << "raw socket: " << strerror(errno);
  Flows flows = sniffer.Watch(milliseconds(3000));
  EXPECT_TRUE(daemon_.WaitForLine({"event=reject", "service=ie ", "peer=127.0.0.1:53 ",
                                   "reason=reflection"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(flows[std::make_pair(uint16_t{53}, i_)], 1);
  EXPECT_EQ(flows[std::make_pair(i_, uint16_t{53})], 0);
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=ie "}), 0u) << daemon_.LogText();
  // ...while an exec service may have clients on privileged ports: one
  // bound to a free one below 1024 (root) is answered.
  int client = -1;
  uint16_t port = 0;
  for (uint16_t p = 900; p < 1000 && client < 0; ++p) {
    client = UdpSocket("127.0.0.1", p);
    port = p;
  }
  ASSERT_GE(client, 0) << "no free udp port in 900..999";
  ASSERT_TRUE(SendTo(client, "127.0.0.1", a_, "from a privileged port"));
  EXPECT_EQ(RecvDatagram(client, milliseconds(5000)).value_or("<none>"), "from a privileged port")
      << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForLine({"event=accept", "service=ea ",
                                   "peer=127.0.0.1:" + std::to_string(port) + " "},
                                  milliseconds(5000)))
      << daemon_.LogText();
  close(client);
}

TEST_F(UdpReflectionTest, AWaitServiceStartsNoChildForASpoofedFirstDatagram) {
  // The first datagram a wait child would start on is checked, and dropped:
  // the child that the next, ordinary one starts reads that one first.
  ExpectNoLoop(a_, w_, "ew", "ea");
  if (HasFatalFailure() || IsSkipped()) return;
  ExpectServed(w_, "ordinary");
  // The accept line follows the child's execve, which its answer can
  // overtake: wait for it, then count.
  EXPECT_TRUE(daemon_.WaitForCount({"event=accept", "service=ew "}, 1, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=ew "}), 1u) << daemon_.LogText();
}

TEST_F(UdpReflectionTest, EveryUdpChildHasALifetimeByDefault) {
  // What the table above gets without a `timeout` of its own, as `hinetd
  // check` shows it: 30 s per peer (nowait), 15 min for a wait child; TCP
  // services keep none.
  std::string path = WriteConfig(UdpEcho("nowait", a_) + UdpEcho("wait", w_, "wait = true\n") +
                                 UdpEcho("set", b_, "timeout = \"2m\"\n") +
                                 ProbeService("tcp", FreeTcpPort(), ""));
  CommandResult check = RunCommand({BinDir() + "/hinetd", "check", "-c", path}, milliseconds(10000));
  ASSERT_EQ(check.exit_code, 0) << check.err;
  auto admit = [&](const std::string& service) {
    size_t at = check.out.find("service \"" + service + "\"\n");
    if (at == std::string::npos) return std::string("<no service>");
    size_t line = check.out.find("  admit", at);
    size_t next = check.out.find("service \"", at + 1);
    if (line == std::string::npos || (next != std::string::npos && line > next)) return std::string();
    return check.out.substr(line, check.out.find('\n', line) - line);
  };
  EXPECT_NE(admit("nowait").find("timeout 30s"), std::string::npos) << check.out;
  EXPECT_NE(admit("wait").find("timeout 15m"), std::string::npos) << check.out;
  EXPECT_NE(admit("set").find("timeout 2m"), std::string::npos) << check.out;
  EXPECT_EQ(admit("tcp").find("timeout"), std::string::npos) << check.out;
}

TEST_F(UdpReflectionTest, AUdpChildThatNeverExitsIsKilledAtItsTimeout) {
  // A hostile (or stuck) udp nowait service that never exits: the monitor
  // ends it at its timeout (1 s here stands in for the default's 30 s).
  ASSERT_TRUE(daemon_.Stop().has_value());
  uint16_t port = FreeUdpPort();
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.StartAndWait(WriteConfig(ProbeService(
      "stuck", port, ", \"sleep\", \"600\"", "protocol = \"udp\"\ntimeout = \"1s\"\n"))))
      << daemon.LogText();
  int fd = UdpSocket();
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendTo(fd, "127.0.0.1", port, "hello"));
  auto accepted = daemon.WaitForLine({"event=accept", "service=stuck "}, milliseconds(5000));
  ASSERT_TRUE(accepted) << daemon.LogText();
  auto start = Clock::now();
  EXPECT_TRUE(daemon.WaitForLine({"event=end", "service=stuck ", "status=timeout"},
                                 milliseconds(10000)))
      << daemon.LogText();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(8));
  close(fd);
  ASSERT_TRUE(daemon.Stop().has_value());
}

}  // namespace
}  // namespace hinetd::testing
