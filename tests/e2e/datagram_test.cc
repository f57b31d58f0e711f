// UDP wait and nowait, the internal services over UDP with their loop
// protection, and UNIX stream sockets — through the real daemon.
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>

#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

std::string Field(const std::string& reply, const std::string& key) {
  std::string needle = key + "=";
  size_t pos = reply.rfind(needle, 0) == 0 ? 0 : reply.find(" " + needle);
  if (pos == std::string::npos) return "<missing>";
  pos = reply.find('=', pos) + 1;
  size_t end = key == "got" ? std::string::npos : reply.find(' ', pos);
  return reply.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

// User plus system CPU time of `pid`, in clock ticks (/proc/PID/stat).
long CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close_paren + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stol(field);
    if (i == 15) {
      stime = std::stol(field);
      break;
    }
  }
  return utime + stime;
}

class UdpTest : public E2eTest {
 protected:
  std::string UdpProbe(const std::string& name, uint16_t port, bool wait, int count,
                       const std::string& extra = "") {
    return UdpService(name, port, wait, "\"udp\", \"" + std::to_string(count) + "\"", extra);
  }
  // A udp service running the probe with `args` (quoted, comma-separated).
  std::string UdpService(const std::string& name, uint16_t port, bool wait,
                         const std::string& args, const std::string& extra = "") {
    return UdpServiceOn(name, "127.0.0.1:" + std::to_string(port), wait, args, extra);
  }
  // The same on `listen` ("0.0.0.0:PORT", "[::1]:PORT", ...).
  std::string UdpServiceOn(const std::string& name, const std::string& listen, bool wait,
                           const std::string& args, const std::string& extra = "") {
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"" + listen +
           "\"\nprotocol = \"udp\"\nwait = " + (wait ? "true" : "false") +
           "\nexec = [\"/probe\", " + args + "]\nuser = \"nobody\"\nchroot = \"" +
           jail_.path() + "\"\nsandbox = \"probe\"\n" + extra + "\n";
  }
  // Sends `data` from `fd` and returns the one reply (or "<none>").
  void CheckWaitServesPeersInTurn(const std::string& ip);
  void CheckNowaitGivesEachPeerItsOwnChild(const std::string& ip);
  std::string Ask(int fd, uint16_t port, const std::string& data,
                  milliseconds timeout = milliseconds(5000)) {
    return AskAt(fd, "127.0.0.1", port, data, timeout);
  }
  std::string AskAt(int fd, const std::string& ip, uint16_t port, const std::string& data,
                    milliseconds timeout = milliseconds(5000)) {
    if (!SendTo(fd, ip, port, data)) return "<send failed>";
    return RecvDatagram(fd, timeout).value_or("<none>");
  }
  // One datagram from each of data.size() fresh peers on 127.0.0.1:`port`,
  // sent while the listener is stopped, so that they queue on the service's
  // socket as a burst (or a busy machine) queues them: the first one's
  // child gets the socket with the others' datagrams behind its own. The
  // peers' sockets, in order (the caller closes them); empty on failure.
  std::vector<int> QueueBehindOne(uint16_t port, const std::vector<std::string>& data) {
    std::vector<int> peers;
    pid_t listener = ListenerPid();
    EXPECT_GT(listener, 0);
    if (listener <= 0 || kill(listener, SIGSTOP) != 0) return peers;
    for (const auto& d : data) {
      int fd = UdpSocket();
      EXPECT_GE(fd, 0);
      if (fd >= 0) peers.push_back(fd);
      EXPECT_TRUE(fd >= 0 && SendTo(fd, "127.0.0.1", port, d));
    }
    EXPECT_EQ(kill(listener, SIGCONT), 0);
    if (peers.size() != data.size()) peers.clear();
    return peers;
  }
};

// The IPv6 loopback, or a visible skip: a host may have IPv6 disabled.
#define HINETD_REQUIRE_IPV6_LOOPBACK()                                      \
  do {                                                                      \
    if (!HaveLoopback("::1")) {                                             \
      GTEST_SKIP() << "::1 cannot be bound on this host (IPv6 disabled?)"; \
    }                                                                       \
  } while (0)

// A wait service on `ip`: one child gets the socket itself and answers
// several peers in turn (hinetd does not watch the socket meanwhile, or it
// would start others); the socket is watched again once the child is gone.
void UdpTest::CheckWaitServesPeersInTurn(const std::string& ip) {
  uint16_t port = FreeUdpPort(ip);
  ASSERT_NE(port, 0);
  std::string listen = ip.find(':') != std::string::npos ? "[" + ip + "]:" : ip + ":";
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      UdpServiceOn("tftp-like", listen + std::to_string(port), true, "\"udp\", \"3\""))))
      << daemon_.LogText();
  int a = UdpSocket(ip), b = UdpSocket(ip), c = UdpSocket(ip);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_GE(c, 0);
  std::string ra = AskAt(a, ip, port, "from a");
  std::string rb = AskAt(b, ip, port, "from b");
  std::string rc = AskAt(c, ip, port, "from c");
  // One child answered all three (its third datagram ends it).
  EXPECT_EQ(Field(ra, "got"), "from a") << ra;
  EXPECT_EQ(Field(rb, "got"), "from b") << rb;
  EXPECT_EQ(Field(rc, "got"), "from c") << rc;
  EXPECT_EQ(Field(ra, "instance"), Field(rb, "instance"));
  EXPECT_EQ(Field(ra, "instance"), Field(rc, "instance"));
  EXPECT_EQ(Field(ra, "proto"), "UDP");
  // The environment names the peer of the datagram that woke hinetd.
  EXPECT_EQ(Field(ra, "remote"), ip + ":" + std::to_string(LocalPort(a)));
  EXPECT_EQ(Field(ra, "local"), ip + ":" + std::to_string(port));
  ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=tftp-like", "status=exit:0"}, 1,
                                   milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=tftp-like"}), 1u) << daemon_.LogText();
  std::string rd = AskAt(a, ip, port, "again");
  EXPECT_EQ(Field(rd, "got"), "again") << rd;
  EXPECT_NE(Field(rd, "instance"), Field(ra, "instance"));
  for (int fd : {a, b, c}) close(fd);
}

// A nowait service on `ip`: two peers interleaved (a, b, a, b) get a child
// each, and each only its own replies.
void UdpTest::CheckNowaitGivesEachPeerItsOwnChild(const std::string& ip) {
  uint16_t port = FreeUdpPort(ip);
  ASSERT_NE(port, 0);
  std::string listen = ip.find(':') != std::string::npos ? "[" + ip + "]:" : ip + ":";
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      UdpServiceOn("per-peer", listen + std::to_string(port), false, "\"udp\", \"2\""))))
      << daemon_.LogText();
  int a = UdpSocket(ip);
  int b = UdpSocket(ip);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::string a1 = AskAt(a, ip, port, "a1");
  std::string b1 = AskAt(b, ip, port, "b1");
  std::string a2 = AskAt(a, ip, port, "a2");
  std::string b2 = AskAt(b, ip, port, "b2");
  EXPECT_EQ(Field(a1, "got"), "a1") << a1;
  EXPECT_EQ(Field(a2, "got"), "a2") << a2;
  EXPECT_EQ(Field(b1, "got"), "b1") << b1;
  EXPECT_EQ(Field(b2, "got"), "b2") << b2;
  EXPECT_EQ(Field(a1, "instance"), Field(a2, "instance"));
  EXPECT_EQ(Field(b1, "instance"), Field(b2, "instance"));
  EXPECT_NE(Field(a1, "instance"), Field(b1, "instance"));
  EXPECT_EQ(Field(a1, "proto"), "UDP");
  EXPECT_EQ(Field(a1, "remote"), ip + ":" + std::to_string(LocalPort(a)));
  EXPECT_EQ(Field(b1, "remote"), ip + ":" + std::to_string(LocalPort(b)));
  EXPECT_EQ(Field(a1, "local"), ip + ":" + std::to_string(port));
  // Nothing else arrived at either peer.
  EXPECT_FALSE(RecvDatagram(a, milliseconds(200)).has_value());
  EXPECT_FALSE(RecvDatagram(b, milliseconds(200)).has_value());
  EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=per-peer", "status=exit:0"}, 2,
                                   milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=per-peer"}), 2u);
  close(a);
  close(b);
}

TEST_F(UdpTest, WaitServiceGetsTheSocketItselfAndServesPeersInTurn) {
  CheckWaitServesPeersInTurn("127.0.0.1");
}

TEST_F(UdpTest, NowaitGivesEachPeerItsOwnChildAndOnlyItsOwnReplies) {
  CheckNowaitGivesEachPeerItsOwnChild("127.0.0.1");
}

TEST_F(UdpTest, WaitServiceOnIpv6LoopbackGetsTheSocketItselfAndServesPeersInTurn) {
  HINETD_REQUIRE_IPV6_LOOPBACK();
  CheckWaitServesPeersInTurn("::1");
}

TEST_F(UdpTest, NowaitOnIpv6LoopbackGivesEachPeerItsOwnChildAndOnlyItsOwnReplies) {
  HINETD_REQUIRE_IPV6_LOOPBACK();
  CheckNowaitGivesEachPeerItsOwnChild("::1");
}

// Datagrams of several peers queued on a nowait socket before the listener
// looks (it is stopped here, as a burst or a busy machine does): the socket
// goes to the first peer's child, the others' datagrams queued behind its
// own. Each peer is served once, with no datagram sent again: the socket
// goes on to the next peer's child when the one before ends. (Before, a
// program that answers one datagram left the others to be lost.)
TEST_F(UdpTest, NowaitServesEveryPeerWhoseDatagramWasQueuedBehindAnother) {
  constexpr int kPeers = 4;
  uint16_t port = FreeUdpPort();
  ASSERT_NE(port, 0);
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(UdpProbe("per-peer", port, false, 1))))
      << daemon_.LogText();
  std::vector<std::string> data;
  for (int i = 0; i < kPeers; ++i) data.push_back("peer " + std::to_string(i));
  std::vector<int> peers = QueueBehindOne(port, data);
  ASSERT_EQ(peers.size(), size_t{kPeers});
  for (int i = 0; i < kPeers; ++i) {
    std::string got = RecvDatagram(peers[i], milliseconds(5000)).value_or("<none>");
    EXPECT_EQ(Field(got, "got"), "peer " + std::to_string(i)) << got << "\n" << daemon_.LogText();
    EXPECT_EQ(Field(got, "remote"), "127.0.0.1:" + std::to_string(LocalPort(peers[i]))) << got;
  }
  for (int fd : peers) close(fd);
  // A child's accept line may follow its answer.
  EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=per-peer"}, kPeers, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=per-peer"}), size_t{kPeers})
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=refuse-request"}), 0u) << daemon_.LogText();
}

// A program that exits without reading its datagram: the socket goes on to
// the next peer's child, never back to the one whose child just ended (its
// datagram is dropped), so every queued datagram starts one child at most.
TEST_F(UdpTest, LeftoverDatagramsOfAFailingProgramStartOneChildEachAndNoLoop) {
  constexpr int kPeers = 3;
  uint16_t port = FreeUdpPort();
  ASSERT_NE(port, 0);
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(UdpService("failing", port, false,
                                                          "\"exit\", \"1\""))))
      << daemon_.LogText();
  std::vector<int> peers = QueueBehindOne(port, std::vector<std::string>(kPeers, "x"));
  ASSERT_EQ(peers.size(), size_t{kPeers});
  ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=failing", "status=exit:1"}, kPeers,
                                   milliseconds(10000)))
      << daemon_.LogText();
  // A datagram after them starts one child more, and its end comes after
  // any child a loop would have started: the count is then exact.
  int late = UdpSocket();
  ASSERT_GE(late, 0);
  ASSERT_TRUE(SendTo(late, "127.0.0.1", port, "late"));
  ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=failing", "status=exit:1"},
                                   kPeers + 1, milliseconds(10000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=failing"}), size_t{kPeers + 1})
      << daemon_.LogText();
  close(late);
  for (int fd : peers) close(fd);
}

// A child that shuts its socket down before it ends (as an attacker who
// took the program over can) leaves nothing that can be handed on: the
// socket reads as empty, not as a datagram from nowhere, so nothing is
// started on it, refused as a reflection, or spun on; the peer queued
// behind sends again, to the fresh socket.
TEST_F(UdpTest, ASocketItsChildShutDownIsNotHandedOn) {
  uint16_t port = FreeUdpPort();
  ASSERT_NE(port, 0);
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(UdpService("spoiler", port, false, "\"udp-spoil\", \"shutdown\""))))
      << daemon_.LogText();
  std::vector<int> peers = QueueBehindOne(port, {"a", "b"});
  ASSERT_EQ(peers.size(), 2u);
  int a = peers[0], b = peers[1];
  EXPECT_EQ(RecvDatagram(a, milliseconds(5000)).value_or("<none>"), "a");  // echoed
  ASSERT_TRUE(daemon_.WaitForLine({"event=end", "service=spoiler", "status=exit:0"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_FALSE(RecvDatagram(b, milliseconds(500)).has_value()) << daemon_.LogText();
  EXPECT_EQ(Ask(b, port, "b again"), "b again") << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=spoiler"}, 2, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=spoiler"}), 2u) << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=reject"}), 0u) << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=refuse-request"}), 0u) << daemon_.LogText();
  close(a);
  close(b);
}

// What a child set on its socket (as an attacker who took the program over
// can) must not reach the next peer's child on that socket: a receive
// timeout that makes its reads fail at once, a tiny receive buffer, a
// filter that drops its peer's datagrams. hinetd undoes them before it
// hands the socket on; a filter that cannot be undone (locked) keeps the
// socket from going on at all.
TEST_F(UdpTest, ASocketHandedOnCarriesNothingItsLastChildSetOnIt) {
  uint16_t port = FreeUdpPort();
  ASSERT_NE(port, 0);
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(UdpService("tainter", port, false, "\"udp-taint\", \"open\""))))
      << daemon_.LogText();
  std::vector<int> peers = QueueBehindOne(port, {"a", "b"});
  ASSERT_EQ(peers.size(), 2u);
  int a = peers[0], b = peers[1];
  std::string first = RecvDatagram(a, milliseconds(5000)).value_or("<none>");
  std::string second = RecvDatagram(b, milliseconds(5000)).value_or("<none>");
  EXPECT_EQ(Field(first, "got"), "a") << first;
  EXPECT_EQ(Field(first, "rcvtimeo_us"), "0") << first;
  EXPECT_EQ(Field(first, "filter"), "0") << first;
  EXPECT_EQ(Field(second, "got"), "b") << second << "\n" << daemon_.LogText();
  EXPECT_EQ(Field(second, "rcvtimeo_us"), "0") << second;
  EXPECT_EQ(Field(second, "filter"), "0") << second;
  EXPECT_EQ(Field(second, "rcvbuf"), Field(first, "rcvbuf")) << first << "\n" << second;
  close(a);
  close(b);
}

TEST_F(UdpTest, ASocketWhoseChildLockedAFilterOnItIsNotHandedOn) {
  uint16_t port = FreeUdpPort();
  ASSERT_NE(port, 0);
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(UdpService("locker", port, false, "\"udp-taint\", \"lock\""))))
      << daemon_.LogText();
  std::vector<int> peers = QueueBehindOne(port, {"a", "b"});
  ASSERT_EQ(peers.size(), 2u);
  int a = peers[0], b = peers[1];
  EXPECT_EQ(Field(RecvDatagram(a, milliseconds(5000)).value_or("<none>"), "got"), "a");
  ASSERT_TRUE(daemon_.WaitForLine({"event=end", "service=locker", "status=exit:0"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_FALSE(RecvDatagram(b, milliseconds(500)).has_value()) << daemon_.LogText();
  std::string again = Ask(b, port, "b again");
  EXPECT_EQ(Field(again, "got"), "b again") << again << "\n" << daemon_.LogText();
  EXPECT_EQ(Field(again, "filter"), "0") << again;
  EXPECT_EQ(daemon_.CountLines({"event=refuse-request"}), 0u) << daemon_.LogText();
  close(a);
  close(b);
}

// Without a PID namespace of its own, a child may leave a process behind
// that holds its socket: that socket never goes to another peer's child
// (the process could read that peer's datagrams), and what was queued
// behind is lost as before; the peers send again, to the fresh socket.
TEST_F(UdpTest, WithoutAPidNamespaceANowaitSocketIsNeverHandedOn) {
  uint16_t port = FreeUdpPort();
  ASSERT_NE(port, 0);
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(UdpProbe("shared-ns", port, false, 1, "namespaces = []"))))
      << daemon_.LogText();
  std::vector<int> peers = QueueBehindOne(port, {"a", "b"});
  ASSERT_EQ(peers.size(), 2u);
  int a = peers[0], b = peers[1];
  EXPECT_EQ(Field(RecvDatagram(a, milliseconds(5000)).value_or("<none>"), "got"), "a");
  ASSERT_TRUE(daemon_.WaitForLine({"event=end", "service=shared-ns"}, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_FALSE(RecvDatagram(b, milliseconds(500)).has_value()) << daemon_.LogText();
  EXPECT_EQ(Field(Ask(b, port, "b again"), "got"), "b again") << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=shared-ns"}, 2, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=shared-ns"}), 2u) << daemon_.LogText();
  close(a);
  close(b);
}

// On a wildcard address the child's TCPLOCALIP is the address the peer sent
// to, which hinetd learns from IP_PKTINFO (wait) or from the connected
// socket it hands over (nowait; for a destination other than the address the
// kernel answers from, see the disabled test below).
TEST_F(UdpTest, ChildOnAWildcardAddressGetsTheDatagramsDestinationAsTcpLocalIp) {
  uint16_t wport = FreeUdpPort("0.0.0.0"), nport = FreeUdpPort("0.0.0.0");
  ASSERT_NE(wport, 0);
  ASSERT_NE(nport, 0);
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      UdpServiceOn("any-wait", "0.0.0.0:" + std::to_string(wport), true, "\"udp\", \"1\"") +
      UdpServiceOn("any-nowait", "0.0.0.0:" + std::to_string(nport), false, "\"udp\", \"1\""))))
      << daemon_.LogText();
  for (const auto& [service, port] :
       {std::pair{"any-wait", wport}, std::pair{"any-nowait", nport}}) {
    SCOPED_TRACE(service);
    int a = UdpSocket();
    ASSERT_GE(a, 0);
    std::string r = AskAt(a, "127.0.0.1", port, "to .1");
    EXPECT_EQ(Field(r, "got"), "to .1") << r;
    EXPECT_EQ(Field(r, "proto"), "UDP") << r;
    EXPECT_EQ(Field(r, "remote"), "127.0.0.1:" + std::to_string(LocalPort(a))) << r;
    EXPECT_EQ(Field(r, "local"), "127.0.0.1:" + std::to_string(port)) << r;
    close(a);
  }
  // 127.0.0.2 is on the loopback too, and 0.0.0.0 hears it: the wait child
  // is told the destination of the datagram that woke hinetd, not the
  // address the kernel would answer from. (A second child: "udp 1" answers
  // one datagram.)
  int b = UdpSocket();
  ASSERT_GE(b, 0);
  std::string r = AskAt(b, "127.0.0.2", wport, "to .2");
  EXPECT_EQ(Field(r, "got"), "to .2") << r;
  EXPECT_EQ(Field(r, "local"), "127.0.0.2:" + std::to_string(wport)) << r;
  close(b);
}

// DISABLED: fails today. A udp nowait service on a wildcard address hands
// its child the listening socket connect()ed to the peer; the kernel then
// picks the socket's local address by route (127.0.0.1), not the address the
// datagram was sent to (127.0.0.2), so the child's TCPLOCALIP is wrong, its
// replies come from the wrong address (a connected client drops them), and
// the peer's next datagram misses the child (the socket now only hears
// 127.0.0.1:PORT) and starts another. A limit hinetd.toml(5) states (UDP
// services: "a reply leaves from the address the kernel routes it from");
// kept here, disabled, as the test a fix must pass.
TEST_F(UdpTest, DISABLED_NowaitChildOnAWildcardAddressAnswersFromTheAddressThePeerSentTo) {
  uint16_t port = FreeUdpPort("0.0.0.0");
  ASSERT_NE(port, 0);
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      UdpServiceOn("any-nowait", "0.0.0.0:" + std::to_string(port), false, "\"udp\", \"2\""))))
      << daemon_.LogText();
  // Connected to 127.0.0.2:PORT, as many UDP clients are: it hears only
  // datagrams from there.
  int c = UdpSocket();
  ASSERT_GE(c, 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  ASSERT_EQ(inet_pton(AF_INET, "127.0.0.2", &dst.sin_addr), 1);
  ASSERT_EQ(connect(c, reinterpret_cast<sockaddr*>(&dst), sizeof dst), 0);
  std::string r1 = AskAt(c, "127.0.0.2", port, "one", milliseconds(2000));
  std::string r2 = AskAt(c, "127.0.0.2", port, "two", milliseconds(2000));
  EXPECT_EQ(Field(r1, "got"), "one") << r1;
  EXPECT_EQ(Field(r1, "local"), "127.0.0.2:" + std::to_string(port)) << r1;
  EXPECT_EQ(Field(r2, "got"), "two") << r2;
  EXPECT_EQ(Field(r2, "instance"), Field(r1, "instance")) << r2;
  EXPECT_TRUE(daemon_.WaitForCount({"event=end", "service=any-nowait"}, 1, milliseconds(5000)));
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=any-nowait"}), 1u) << daemon_.LogText();
  close(c);
}

TEST_F(UdpTest, ChildOnTheIpv6WildcardGetsTheDatagramsDestinationAsTcpLocalIp) {
  HINETD_REQUIRE_IPV6_LOOPBACK();
  uint16_t wport = FreeUdpPort("::"), nport = FreeUdpPort("::");
  ASSERT_NE(wport, 0);
  ASSERT_NE(nport, 0);
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      UdpServiceOn("any6-wait", "[::]:" + std::to_string(wport), true, "\"udp\", \"1\"") +
      UdpServiceOn("any6-nowait", "[::]:" + std::to_string(nport), false, "\"udp\", \"1\""))))
      << daemon_.LogText();
  for (const auto& [service, port] : {std::pair{"any6-wait", wport}, std::pair{"any6-nowait", nport}}) {
    SCOPED_TRACE(service);
    int a = UdpSocket("::1");
    ASSERT_GE(a, 0);
    std::string r = AskAt(a, "::1", port, "over v6");
    EXPECT_EQ(Field(r, "got"), "over v6") << r;
    EXPECT_EQ(Field(r, "proto"), "UDP") << r;
    EXPECT_EQ(Field(r, "remote"), "::1:" + std::to_string(LocalPort(a))) << r;
    EXPECT_EQ(Field(r, "local"), "::1:" + std::to_string(port)) << r;
    close(a);
  }
}

// "*:PORT" is two sockets, 0.0.0.0 and [::] (IPV6_V6ONLY, or the second
// bind would collide with the first), for TCP and for UDP alike.
TEST_F(UdpTest, StarListensOnBothFamiliesForTcpAndUdp) {
  HINETD_REQUIRE_IPV6_LOOPBACK();
  uint16_t tport = FreeTcpPort("0.0.0.0"), uport = FreeUdpPort("0.0.0.0");
  ASSERT_NE(tport, 0);
  ASSERT_NE(uport, 0);
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      "[[service]]\nname = \"echo-tcp\"\nlisten = \"*:" + std::to_string(tport) +
      "\"\ninternal = \"echo\"\n\n[[service]]\nname = \"echo-udp\"\nprotocol = \"udp\"\n"
      "listen = \"*:" + std::to_string(uport) + "\"\ninternal = \"echo\"\n")))
      << daemon_.LogText();
  for (const auto& [service, port] :
       {std::pair{"echo-tcp", tport}, std::pair{"echo-udp", uport}}) {
    EXPECT_EQ(daemon_.CountLines({"event=listen", "service=" + std::string(service)}), 2u)
        << daemon_.LogText();
    EXPECT_EQ(daemon_.CountLines({"event=listen", "service=" + std::string(service),
                                  "address=0.0.0.0:" + std::to_string(port)}),
              1u)
        << daemon_.LogText();
    EXPECT_EQ(daemon_.CountLines({"event=listen", "service=" + std::string(service),
                                  "address=[::]:" + std::to_string(port)}),
              1u)
        << daemon_.LogText();
  }
  for (const std::string ip : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(ip);
    EXPECT_EQ(Exchange(ip, tport, "tcp via " + ip + "\n"), "tcp via " + ip + "\n");
    int fd = UdpSocket(ip);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(AskAt(fd, ip, uport, "udp via " + ip), "udp via " + ip);
    close(fd);
  }
  // One child per exchange, on each family: the accept lines say so.
  EXPECT_TRUE(daemon_.WaitForCount({"event=accept", "service=echo-tcp"}, 2, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForCount({"event=accept", "service=echo-udp"}, 2, milliseconds(5000)))
      << daemon_.LogText();
}

TEST_F(UdpTest, FailingWaitServiceDoesNotSpin) {
  uint16_t port = FreeUdpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      "[[service]]\nname = \"broken\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
      "\"\nprotocol = \"udp\"\nwait = true\nexec = [\"/probe\", \"exit\", \"1\"]\n"
      "user = \"nobody\"\nchroot = \"" + jail_.path() + "\"\nsandbox = \"probe\"\n")))
      << daemon_.LogText();
  int a = UdpSocket();
  ASSERT_TRUE(SendTo(a, "127.0.0.1", port, "one datagram"));
  ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=broken", "status=exit:1"}, 1,
                                   milliseconds(5000)));
  // Over the next second, no respawn on the same datagram.
  EXPECT_FALSE(daemon_.WaitForCount({"event=accept", "service=broken"}, 2, milliseconds(1000)))
      << daemon_.LogText();
  // A setup failure drops its datagram too.
  std::string moved = jail_.path() + ".moved";
  ASSERT_EQ(rename(jail_.path().c_str(), moved.c_str()), 0);
  ASSERT_TRUE(SendTo(a, "127.0.0.1", port, "another"));
  bool failed = daemon_.WaitForCount({"event=setup-failed", "service=broken"}, 1,
                                     milliseconds(5000));
  bool spun = daemon_.WaitForCount({"event=setup-failed", "service=broken"}, 2, milliseconds(1000));
  ASSERT_EQ(rename(moved.c_str(), jail_.path().c_str()), 0);
  EXPECT_TRUE(failed) << daemon_.LogText();
  EXPECT_FALSE(spun) << daemon_.LogText();
  // The listener drops the datagram when the monitor's end report arrives.
  EXPECT_TRUE(daemon_.WaitForCount({"event=drop", "reason=setup-failed"}, 1, milliseconds(5000)));
  EXPECT_EQ(daemon_.CountLines({"event=drop", "reason=setup-failed"}), 1u) << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForCount({"event=drop", "reason=child-failed"}, 1, milliseconds(5000)));
  EXPECT_EQ(daemon_.CountLines({"event=drop", "reason=child-failed"}), 1u) << daemon_.LogText();
  close(a);
}

// The five small services over UDP, all on one loopback address: 127.0.0.1
// here, ::1 in InternalUdp6Test. The checks are shared.
class InternalUdpTest : public E2eTest {
 protected:
  virtual std::string Ip() const { return "127.0.0.1"; }

  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ip_ = Ip();
    bool v6 = ip_.find(':') != std::string::npos;
    if (v6 && !HaveLoopback(ip_)) {
      GTEST_SKIP() << ip_ << " cannot be bound on this host (IPv6 off?)";
    }
    for (auto* p : {&echo_, &discard_, &chargen_, &daytime_, &time_}) {
      *p = FreeUdpPort(ip_);
      ASSERT_NE(*p, 0);
    }
    std::string host = v6 ? "[" + ip_ + "]" : ip_;
    auto svc = [&](const std::string& kind, uint16_t port) {
      return "[[service]]\nname = \"" + kind + "\"\nprotocol = \"udp\"\nlisten = [\"" + host +
             ":" + std::to_string(port) + "\"]\ninternal = \"" + kind + "\"\n\n";
    };
    ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(svc("echo", echo_) + svc("discard", discard_) +
                                                 svc("chargen", chargen_) +
                                                 svc("daytime", daytime_) + svc("time", time_))))
        << daemon_.LogText();
  }

  void CheckEcho() {
    int fd = UdpSocket(ip_);
    ASSERT_GE(fd, 0);
    uint16_t from = 0;
    ASSERT_TRUE(SendTo(fd, ip_, echo_, "ping 1"));
    EXPECT_EQ(RecvDatagram(fd, milliseconds(5000), &from).value_or("<none>"), "ping 1");
    EXPECT_EQ(from, echo_);  // from the service's port, not another socket's
    ASSERT_TRUE(SendTo(fd, ip_, echo_, "ping 2"));
    EXPECT_EQ(RecvDatagram(fd, milliseconds(5000)).value_or("<none>"), "ping 2");
    close(fd);
  }

  void CheckDiscard() {
    int fd = UdpSocket(ip_);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendTo(fd, ip_, discard_, "into the void"));
    ASSERT_TRUE(daemon_.WaitForLine({"event=accept", "service=discard"}, milliseconds(5000)));
    EXPECT_FALSE(RecvDatagram(fd, milliseconds(500)).has_value());
    close(fd);
  }

  void CheckChargen() {
    int fd = UdpSocket(ip_);
    ASSERT_GE(fd, 0);
    std::string pattern;
    for (int line = 0; line < 8; ++line) {
      for (int i = 0; i < 72; ++i) pattern.push_back(static_cast<char>(' ' + (line + i) % 95));
      pattern += "\r\n";
    }
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(SendTo(fd, ip_, chargen_, "x"));
      auto got = RecvDatagram(fd, milliseconds(5000));
      ASSERT_TRUE(got.has_value());
      EXPECT_LE(got->size(), 512u);  // RFC 864: 0 to 512 bytes, 0 included
      EXPECT_EQ(*got, pattern.substr(0, got->size()));
    }
    close(fd);
  }

  void CheckDaytimeAndTime() {
    int fd = UdpSocket(ip_);
    ASSERT_GE(fd, 0);
    time_t before = RealtimeSeconds();
    ASSERT_TRUE(SendTo(fd, ip_, daytime_, ""));
    std::string day = RecvDatagram(fd, milliseconds(5000)).value_or("");
    ASSERT_TRUE(SendTo(fd, ip_, time_, ""));
    std::string t = RecvDatagram(fd, milliseconds(5000)).value_or("");
    time_t after = RealtimeSeconds();
    ASSERT_EQ(day.size(), 26u) << day;
    EXPECT_TRUE(IsDaytimeBetween(day, before, after)) << day;
    ASSERT_EQ(t.size(), 4u);
    uint32_t be;
    memcpy(&be, t.data(), 4);
    EXPECT_GE(ntohl(be), static_cast<uint32_t>(before + 2208988800LL));
    EXPECT_LE(ntohl(be), static_cast<uint32_t>(after + 2208988800LL));
    close(fd);
  }

  // `from` (already bound) sends to `service` on `port` a few times: no
  // answer, one reject line naming `peer`, no child; an ordinary peer on
  // `ordinary_ip` sent to afterwards is still answered (the listener reads
  // the socket in order, so by then the others were dealt with).
  void CheckRefused(int from, const std::string& service, uint16_t port, const std::string& peer,
                    const std::string& ordinary_ip) {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(SendTo(from, ip_, port, "loop?"));
    int ordinary = UdpSocket(ordinary_ip);
    ASSERT_GE(ordinary, 0);
    ASSERT_TRUE(SendTo(ordinary, ip_, port, "fine"));
    auto answer = RecvDatagram(ordinary, milliseconds(5000));
    EXPECT_TRUE(answer.has_value()) << daemon_.LogText();
    if (answer.has_value() && service == "echo") {
      EXPECT_EQ(*answer, "fine");
    }
    close(ordinary);
    EXPECT_TRUE(daemon_.WaitForLine(
        {"event=reject", "service=" + service, "peer=" + peer, "reason=reflection"},
        milliseconds(5000)))
        << daemon_.LogText();
    EXPECT_FALSE(RecvDatagram(from, milliseconds(200)).has_value());
    EXPECT_EQ(daemon_.CountLines({"event=reject", "peer=" + peer}), 1u) << daemon_.LogText();
    // The monitor logs the children in the order the listener asked for
    // them: once the ordinary peer's is there, one for `from` would be too.
    EXPECT_TRUE(daemon_.WaitForCount({"event=accept", "service=" + service}, 1,
                                     milliseconds(5000)));
    EXPECT_EQ(daemon_.CountLines({"event=accept", "service=" + service}), 1u) << daemon_.LogText();
    EXPECT_EQ(daemon_.CountLines({"event=accept", "peer=" + peer}), 0u) << daemon_.LogText();
  }

  std::string ip_;
  uint16_t echo_ = 0, discard_ = 0, chargen_ = 0, daytime_ = 0, time_ = 0;
};

class InternalUdp6Test : public InternalUdpTest {
 protected:
  std::string Ip() const override { return "::1"; }
};

// Sixteen peers at once on a nowait service: in one burst the listener hands
// over the socket with a fresh one, connects that to the next peer and hands
// it over too, before the monitor has read the first request. The monitor
// once took the second handover for a forged one and killed the listener.
TEST_F(InternalUdpTest, PeersAtOnceAreEachServedAndNoHandoverIsRefused) {
  constexpr int kPeers = 16;
  // Bursts first, answers not awaited, so that handovers queue up.
  std::vector<int> burst;
  for (int i = 0; i < 20 * kPeers; ++i) {
    int fd = UdpSocket(ip_);
    ASSERT_GE(fd, 0);
    burst.push_back(fd);
    ASSERT_TRUE(SendTo(fd, ip_, echo_, "burst"));
  }
  std::vector<int> fds;
  for (int i = 0; i < kPeers; ++i) {
    int fd = UdpSocket(ip_);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    ASSERT_TRUE(SendTo(fd, ip_, echo_, "peer " + std::to_string(i)));
  }
  // A datagram queued behind another peer's on a socket the listener hands
  // over waits for its own child on that socket; its peer sends again only
  // if that took longer than the hand-on's 1 s (a slow machine).
  int answered = 0;
  for (int i = 0; i < kPeers; ++i) {
    std::string want = "peer " + std::to_string(i);
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto got = RecvDatagram(fds[i], milliseconds(1000));
      if (got && *got == want) {
        ++answered;
        break;
      }
      ASSERT_TRUE(SendTo(fds[i], ip_, echo_, want));
    }
  }
  for (int fd : fds) close(fd);
  for (int fd : burst) close(fd);
  EXPECT_EQ(answered, kPeers) << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=refuse-request"}), 0u) << daemon_.LogText();
}

TEST_F(InternalUdpTest, EchoAnswersEachDatagram) { CheckEcho(); }
TEST_F(InternalUdp6Test, EchoAnswersEachDatagram) { CheckEcho(); }

TEST_F(InternalUdpTest, DiscardAnswersNothing) { CheckDiscard(); }
TEST_F(InternalUdp6Test, DiscardAnswersNothing) { CheckDiscard(); }

TEST_F(InternalUdpTest, ChargenIsOneDatagramOfAtMost512PatternBytes) { CheckChargen(); }
TEST_F(InternalUdp6Test, ChargenIsOneDatagramOfAtMost512PatternBytes) { CheckChargen(); }

TEST_F(InternalUdpTest, DaytimeAndTimeFormats) { CheckDaytimeAndTime(); }
TEST_F(InternalUdp6Test, DaytimeAndTimeFormats) { CheckDaytimeAndTime(); }

TEST_F(InternalUdp6Test, NoAnswerToASmallServicePort) {
  int from7 = UdpSocket("::1", 7);
  ASSERT_GE(from7, 0) << "binding port 7 needs root";
  CheckRefused(from7, "echo", echo_, "[::1]:7", "::1");
  close(from7);
}

// Not only the well-known ports: those of every internal service in the
// config, so that two of them cannot be set onto each other.
TEST_F(InternalUdpTest, NoAnswerFromThePortOfAnotherInternalService) {
  // 127.0.0.1:daytime is hinetd's (without SO_REUSEADDR); the same port on
  // another loopback address is what a peer "from daytime" looks like.
  int from_daytime = UdpSocket("127.0.0.2", daytime_);
  if (from_daytime < 0) {
    GTEST_SKIP() << "cannot bind 127.0.0.2:" << daytime_ << ": " << strerror(errno);
  }
  // The ordinary peer is on 127.0.0.2 too: it is the port that is refused.
  CheckRefused(from_daytime, "echo", echo_, "127.0.0.2:" + std::to_string(daytime_), "127.0.0.2");
  close(from_daytime);
}

TEST_F(InternalUdpTest, NoAnswerToABroadcastLookingSource) {
  // The x.y.z.255 of a /24 is refused however the network is cut; on the
  // loopback (127.0.0.0/8) it is an ordinary address that can be bound.
  int bcast = UdpSocket("127.0.0.255");
  if (bcast < 0) {
    GTEST_SKIP() << "the kernel does not let 127.0.0.255 be bound here: " << strerror(errno);
  }
  std::string peer = "127.0.0.255:" + std::to_string(LocalPort(bcast));
  // chargen is the amplifier: a short datagram in, up to 512 bytes out.
  CheckRefused(bcast, "chargen", chargen_, peer, "127.0.0.1");
  close(bcast);
}

TEST_F(InternalUdpTest, NoAnswerToASmallServicePortAndOneLogLinePerPeer) {
  // A datagram "from" the echo port of another host's echo service is how
  // two echo services get each other into an endless loop.
  int from7 = UdpSocket("127.0.0.1", 7);
  ASSERT_GE(from7, 0) << "binding port 7 needs root";
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(SendTo(from7, "127.0.0.1", echo_, "loop?"));
  ASSERT_TRUE(daemon_.WaitForLine({"event=reject", "service=echo", "peer=127.0.0.1:7",
                                   "reason=reflection"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_FALSE(RecvDatagram(from7, milliseconds(500)).has_value());
  EXPECT_EQ(daemon_.CountLines({"event=reject", "peer=127.0.0.1:7"}), 1u) << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=echo"}), 0u);
  // An ordinary peer still gets its answer.
  int fd = UdpSocket();
  ASSERT_TRUE(SendTo(fd, "127.0.0.1", echo_, "fine"));
  EXPECT_EQ(RecvDatagram(fd, milliseconds(5000)).value_or("<none>"), "fine");
  close(fd);
  close(from7);
}

TEST_F(InternalUdpTest, DatagramsOfOtherPeersQueuedAtTheHandoverAreCheckedThenServedByTheirOwn) {
  // Freeze the listener so that three datagrams queue on the socket: one
  // from an ordinary peer, one from the chargen port (a reflection
  // attempt), one from another ordinary peer. The socket holding them goes
  // to the first peer's child, which answers its peer only and ends at the
  // next one's datagram; hinetd checks that one (refused: reflection) and
  // the one after it (served by a child of its own).
  int ordinary = UdpSocket();
  int from19 = UdpSocket("127.0.0.1", 19);
  int second = UdpSocket();
  ASSERT_GE(from19, 0) << "binding port 19 needs root";
  ASSERT_GE(ordinary, 0);
  ASSERT_GE(second, 0);
  // The listener reads the socket; stopping it queues the datagrams.
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0);
  ASSERT_EQ(kill(listener, SIGSTOP), 0);
  ASSERT_TRUE(SendTo(ordinary, "127.0.0.1", echo_, "first"));
  ASSERT_TRUE(SendTo(from19, "127.0.0.1", echo_, "reflect me"));
  ASSERT_TRUE(SendTo(second, "127.0.0.1", echo_, "second"));
  ASSERT_EQ(kill(listener, SIGCONT), 0);
  EXPECT_EQ(RecvDatagram(ordinary, milliseconds(5000)).value_or("<none>"), "first");
  EXPECT_EQ(RecvDatagram(second, milliseconds(5000)).value_or("<none>"), "second")
      << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForLine(
      {"event=reject", "service=echo", "peer=127.0.0.1:19", "reason=reflection"},
      milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_FALSE(RecvDatagram(from19, milliseconds(500)).has_value());
  EXPECT_EQ(daemon_.CountLines({"event=accept", "peer=127.0.0.1:19"}), 0u) << daemon_.LogText();
  close(ordinary);
  close(from19);
  close(second);
}

TEST_F(UdpTest, WaitChildThatConnectsTheSharedSocketDoesNotLockOthersOut) {
  // The child connect()s the listening socket to its peer and exits: left
  // so, the socket would hear from that peer only.
  uint16_t port = FreeUdpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      UdpService("spoilt", port, true, "\"udp-spoil\", \"connect\""))))
      << daemon_.LogText();
  int a = UdpSocket(), b = UdpSocket();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_EQ(Ask(a, port, "first"), "first");
  ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=spoilt", "status=exit:0"}, 1,
                                   milliseconds(5000)))
      << daemon_.LogText();
  // The end line is the monitor's; the listener repairs the socket when the
  // end report reaches it, and a datagram sent before that is lost (UDP):
  // ask again, a bounded number of times. Unrepaired, none is answered.
  std::string reply;
  for (int i = 0; i < 5 && reply != "second"; ++i) reply = Ask(b, port, "second", milliseconds(1000));
  EXPECT_EQ(reply, "second") << daemon_.LogText();
  close(a);
  close(b);
}

TEST_F(UdpTest, WaitSocketAChildShutDownIsReplacedAndHinetdDoesNotSpin) {
  uint16_t port = FreeUdpPort();
  uint16_t other = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      UdpService("spoilt", port, true, "\"udp-spoil\", \"shutdown\"") +
      InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(other) + "\""))))
      << daemon_.LogText();
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0);
  int a = UdpSocket();
  ASSERT_GE(a, 0);
  EXPECT_EQ(Ask(a, port, "first"), "first");
  ASSERT_TRUE(daemon_.WaitForLine({"event=socket-broken", "service=spoilt", "replaced"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  ASSERT_TRUE(daemon_.WaitForLine({"event=socket-replaced", "service=spoilt",
                                   "listen=127.0.0.1:" + std::to_string(port)},
                                  milliseconds(5000)))
      << daemon_.LogText();
  // A socket that reads as forever readable, watched, would keep the
  // listener busy: over a second it must stay nearly idle (a spin takes
  // every tick of it).
  long before = CpuTicks(listener);
  ASSERT_GE(before, 0);
  int idle = ConnectTcp("127.0.0.1", other);  // something to wait on, bounded
  std::string none = ReadAll(idle, milliseconds(1000));
  close(idle);
  long used = CpuTicks(listener) - before;
  EXPECT_LT(used, sysconf(_SC_CLK_TCK) / 4) << "the listener spun on the broken socket";
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=spoilt"}), 1u) << daemon_.LogText();
  // The listener is the same, the other services still answer, and the
  // address is served again, from the fresh socket (no listener was killed:
  // the monitor took the replacement as it should).
  EXPECT_EQ(ListenerPid(), listener);
  EXPECT_EQ(Exchange("127.0.0.1", other, "still\n"), "still\n");
  EXPECT_EQ(Ask(a, port, "again"), "again") << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=listener-kill"}), 0u) << daemon_.LogText();
  close(a);
}

TEST_F(UdpTest, AnotherUserCannotBindTheServiceAddress) {
  uint16_t port = FreeUdpPort();
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(UdpProbe("svc", port, false, 1))))
      << daemon_.LogText();
  // As nobody, try to share the port the way SO_REUSEADDR would allow.
  pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    int bound = 0;
    for (int opt : {SO_REUSEADDR, SO_REUSEPORT}) {
      int fd = socket(AF_INET, SOCK_DGRAM, 0);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, opt, &one, sizeof one);
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(port);
      sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0) ++bound;
      close(fd);
    }
    _exit(bound);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "another user bound the service's address";
}

// Socket files go in a directory that is root's and writable by root only,
// on a path that is all so (not under /tmp): hinetd refuses any other.
class UnixTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(sockets_.ok()) << sockets_.error();
  }

  Jail sockets_;
};

TEST_F(UnixTest, ChildSeesThePeerCredentials) {
  // The client below runs as nobody: it reaches the socket's directory
  // (mode 0755).
  std::string path = sockets_.path() + "/probe.sock";
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
      "[[service]]\nname = \"local\"\nlisten = \"unix:" + path +
      "\"\nexec = [\"/probe\"]\nuser = \"nobody\"\nchroot = \"" + jail_.path() +
      "\"\nsandbox = \"probe\"\nsocket_mode = \"0660\"\nsocket_group = \"nogroup\"\n")))
      << daemon_.LogText();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 65534u);
  // Connect from a process running as nobody, and read what the child saw.
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t client = fork();
  if (client == 0) {
    close(p[0]);
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    int fd = ConnectUnix(path);
    if (fd < 0) _exit(3);
    std::string out = ReadAll(fd);
    // A pipe: write(2), not the socket helpers' send(2).
    for (size_t off = 0; off < out.size();) {
      ssize_t n = write(p[1], out.data() + off, out.size() - off);
      if (n <= 0) _exit(4);
      off += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(p[1]);
  std::string report = ReadAll(p[0], milliseconds(10000));
  close(p[0]);
  int status = 0;
  waitpid(client, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(report.find("env=PROTO=UNIX\n"), std::string::npos) << report;
  EXPECT_NE(report.find("env=UNIXREMOTEUID=65534\n"), std::string::npos) << report;
  EXPECT_NE(report.find("env=UNIXREMOTEGID=65534\n"), std::string::npos) << report;
  EXPECT_NE(report.find("env=UNIXREMOTEPID=" + std::to_string(client) + "\n"), std::string::npos)
      << report;
  // ucspi-unix's names for the same values, and the socket's path.
  EXPECT_NE(report.find("env=UNIXREMOTEEUID=65534\nenv=UNIXREMOTEEGID=65534\nenv=UNIXLOCALPATH=" +
                        path + "\n"),
            std::string::npos)
      << report;
  EXPECT_EQ(report.find("TCPREMOTEIP"), std::string::npos);
  EXPECT_TRUE(daemon_.WaitForLine({"event=accept", "service=local",
                                   "peer=uid:65534,gid:65534,pid:" + std::to_string(client)},
                                  milliseconds(5000)))
      << daemon_.LogText();
  // A clean stop removes the socket file it created.
  daemon_.Stop();
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST_F(UnixTest, ReloadKeepsSocketFilesAndCannotGiveANewOneToAnotherUser) {
  std::string a = sockets_.path() + "/a.sock";
  std::string b = sockets_.path() + "/b.sock";
  auto svc = [](const std::string& name, const std::string& path, const std::string& extra) {
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"unix:" + path +
           "\"\ninternal = \"echo\"\n" + extra + "\n";
  };
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(svc("a", a, "socket_mode = \"0600\"\n"))));
  struct stat before {};
  ASSERT_EQ(stat(a.c_str(), &before), 0);
  // A new mode for a kept socket: the file is left alone, and the log says so.
  WriteConfig(svc("a", a, "socket_mode = \"0666\"\n"));
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=2"}, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForLine({"event=warning", "service=a", "apply when the socket is created"},
                                  milliseconds(1000)));
  struct stat after {};
  ASSERT_EQ(stat(a.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mode & 0777, 0600u);
  // A new socket owned by another user needs CAP_CHOWN, which hinetd gave up
  // at start: the reload fails, says why, and leaves no file behind.
  WriteConfig(svc("a", a, "socket_mode = \"0600\"\n") + svc("b", b, "socket_user = \"nobody\"\n"));
  daemon_.Signal(SIGHUP);
  EXPECT_TRUE(daemon_.WaitForLine({"event=reload-failed", "restart hinetd to create this socket"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_NE(access(b.c_str(), F_OK), 0);
  // A new socket with the default owner is fine on reload, with its group.
  WriteConfig(svc("a", a, "socket_mode = \"0600\"\n") +
              svc("b", b, "socket_group = \"nogroup\"\nsocket_mode = \"0660\"\n"));
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=3"}, milliseconds(5000)))
      << daemon_.LogText();
  struct stat st_b {};
  ASSERT_EQ(stat(b.c_str(), &st_b), 0);
  EXPECT_EQ(st_b.st_uid, 0u);
  EXPECT_EQ(st_b.st_gid, 65534u);
  EXPECT_EQ(st_b.st_mode & 0777, 0660u);
  int fd = ConnectUnix(b);
  ASSERT_GE(fd, 0);
  WriteAll(fd, "b\n");
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(ReadAll(fd), "b\n");
  close(fd);
}

TEST_F(UnixTest, StaleSocketIsReplacedButARegularFileIsRefused) {
  std::string path = sockets_.path() + "/stale.sock";
  {
    // What a killed hinetd leaves behind: a socket file nobody listens on.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
    close(fd);
  }
  std::string svc = "[[service]]\nname = \"local\"\nlisten = \"unix:" + path +
                    "\"\ninternal = \"echo\"\n";
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(svc))) << daemon_.LogText();
  int fd = ConnectUnix(path);
  ASSERT_GE(fd, 0);
  WriteAll(fd, "through a replaced socket\n");
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(ReadAll(fd), "through a replaced socket\n");
  close(fd);
  daemon_.Stop();

  std::string file = sockets_.path() + "/precious.txt";
  ASSERT_TRUE(sockets_.Write("/precious.txt", "do not delete\n"));
  std::string cfg = WriteConfig("[[service]]\nname = \"local\"\nlisten = \"unix:" + file +
                                "\"\ninternal = \"echo\"\n");
  CommandResult r = RunCommand({BinDir() + "/hinetd", "-f", "-c", cfg}, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 78);
  EXPECT_NE(r.err.find("hinetd.toml:6:10: service \"local\": listen: " + file +
                       " exists and is not a socket; hinetd never removes it"),
            std::string::npos)
      << r.err;
  int keep = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(ReadAll(keep), "do not delete\n");
  close(keep);
}

}  // namespace
}  // namespace hinetd::testing
