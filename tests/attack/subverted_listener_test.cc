// The monitor believes nothing a listener says about a peer and kills a
// listener whose request proves it subverted (tests/integration/
// monitor_test.cc plays that listener). The other side of it: what a
// client, or a service, can do to an honest listener's descriptors must
// never pass for such proof, or it could have the listener killed again
// and again, with a growing restart back-off, for every service; nor count
// as a failure of the service, or any client could pause it.
#include <sys/socket.h>
#include <unistd.h>

#include "attack/contain.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

class SubvertedListenerTest : public AttackTest {};

constexpr const char* kLeftoverPolicy = R"(description = "hinetd-probe udp-leftover"
include = ["runtime"]
allow = ["read", "write", "poll", "recvfrom", "sendto", "clock_nanosleep", "wait4", "setsid",
  # the attack itself: a process left behind
  "clone", "fork", "vfork"]
)";

TEST_F(SubvertedListenerTest, ClientsThatResetTheirConnectionsCannotGetTheListenerKilled) {
  // A connection reset in the listener's accept queue, or just after
  // accept, reaches the monitor without a peer.
  uint16_t port = FreeTcpPort();
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(port) + "\""))))
      << daemon_.LogText();
  pid_t listener = ListenerPid();
  ASSERT_GT(listener, 0) << daemon_.LogText();
  int resets = 0;
  auto deadline = Clock::now() + milliseconds(10000);
  for (; resets < 500 && Clock::now() < deadline; ++resets) {
    int fd = ConnectTcp("127.0.0.1", port);
    ASSERT_GE(fd, 0) << "after " << resets << " resets\n" << daemon_.LogText();
    linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(fd);
  }
  EXPECT_GE(resets, 100) << "too few in the time";
  // The listener passes connections on in order, and the monitor reads them
  // in order: once this one is served, every reset one has been judged.
  EXPECT_EQ(Exchange("127.0.0.1", port, "after\n"), "after\n") << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=listener-kill"}), 0u) << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=listener-exit"}), 0u) << daemon_.LogText();
  // Nor paused: a connection gone before its child started is no failure
  // of the service's.
  EXPECT_EQ(daemon_.CountLines({"event=pause"}), 0u) << daemon_.LogText();
  EXPECT_EQ(ListenerPid(), listener);
}

TEST_F(SubvertedListenerTest, ALeftoverProcessStealingWaitDatagramsCannotGetTheListenerKilled) {
  // Without a PID namespace (namespaces = []) a udp wait child can leave a
  // process behind that shares the listening socket and reads it: a
  // datagram the listener saw can be gone when the monitor looks. That
  // service's own loss, not the listener's forgery.
  constexpr uid_t kUid = 64029;
  ASSERT_TRUE(UseUid(kUid)) << "uid " << kUid << " is in use";
  dir_.Write("sandbox/leftover.toml", kLeftoverPolicy);
  uint16_t port = FreeUdpPort();
  uint16_t echo_port = FreeTcpPort();
  std::string service = Service("w", port, kUid, ", \"udp-leftover\", \"20\"", "leftover",
                                "protocol = \"udp\"\nwait = true\nnamespaces = []\n");
  service += InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(echo_port) + "\"");
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(service))) << daemon_.LogText();
  int client = UdpSocket();
  ASSERT_GE(client, 0);
  ASSERT_TRUE(SendTo(client, "127.0.0.1", port, "first"));
  ASSERT_TRUE(RecvDatagram(client, milliseconds(5000)).has_value()) << daemon_.LogText();
  ASSERT_TRUE(daemon_.WaitForLine({"event=end", "service=w "}, milliseconds(5000)))
      << daemon_.LogText();
  // The leftover reads on; every datagram now races it.
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(SendTo(client, "127.0.0.1", port, "more"));
    // Paced, so that each datagram is a race of its own (nothing waits on
    // this; the whole loop is bounded at about 0.5 s).
    std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_EQ(Exchange("127.0.0.1", echo_port, "after\n"), "after\n") << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=listener-kill"}), 0u) << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=listener-exit"}), 0u) << daemon_.LogText();
  close(client);
}

}  // namespace
}  // namespace hinetd::testing
