// The monitor believes nothing a listener says about a peer and kills a
// listener whose request proves it subverted (tests/integration/
// monitor_test.cc plays that listener). The other side of it: what a
// client can do to an honest listener's connections must never pass for
// such proof, or any client could have the listener killed, again and
// again, with a growing restart back-off; nor a failure of the service, or
// any client could pause it.
#include <sys/socket.h>
#include <unistd.h>

#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

class SubvertedListenerTest : public E2eTest {};

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

}  // namespace
}  // namespace hinetd::testing
