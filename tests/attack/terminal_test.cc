// A service must not reach the terminal hinetd was started from: with it, a
// compromised service could read the administrator's keystrokes or, where
// the kernel still allows TIOCSTI, type commands into their shell. The
// children no longer get a session of their own (a scheduler autogroup per
// child, which costs every client latency: spawn/child.cc, step 2), so the
// daemon gives its terminal up at start and no child inherits it; only a
// session leader could acquire one, and no child is one.
//
// Each case starts the real daemon in the foreground with a pseudo-terminal
// as its controlling terminal, as `hinetd -f` typed in a shell has, and
// runs hinetd-probe (no chroot: the host's /dev/tty is there to open) as a
// service. A control first shows that a process started the same way
// without hinetd reaches the terminal, so the attack is real.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "attack/contain.h"
#include "common/process.h"

namespace hinetd::testing {
namespace {

// Runs as the terminal's session leader and starts its arguments as a
// member of its session (as a login shell starts `hinetd -f`); passes on
// the signals a test sends, and exits with the command's status.
constexpr const char* kSessionShell = R"(#!/bin/sh
"$@" &
p=$!
trap 'kill -TERM $p' TERM INT
trap 'kill -HUP $p' HUP
trap 'kill -USR1 $p' USR1
while :; do
  wait $p
  s=$?
  kill -0 $p 2>/dev/null || exit $s
done
)";

class TerminalTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (access("/usr/bin/setsid", X_OK) != 0) GTEST_SKIP() << "needs setsid (util-linux)";
    master_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_ < 0) GTEST_SKIP() << "no pseudo-terminal here (posix_openpt failed)";
    ASSERT_EQ(grantpt(master_), 0);
    ASSERT_EQ(unlockpt(master_), 0);
    const char* name = ptsname(master_);
    ASSERT_NE(name, nullptr);
    pts_ = name;
    script_ = dir_.Write("session.sh", kSessionShell);
  }
  void TearDown() override {
    daemon_.Stop();
    if (master_ >= 0) close(master_);
  }

  // The wrapper: `setsid --ctty` makes the pseudo-terminal (fd 0) the
  // controlling terminal of a new session, whose leader is hinetd itself or,
  // with `member`, the session shell that starts hinetd.
  std::vector<std::string> OnTerminal(bool member) const {
    std::string run = member ? "/bin/sh " + script_ + " " : "";
    return {"/bin/sh", "-c",
            "exec /usr/bin/setsid --ctty " + run + "\"$0\" \"$@\" <'" + pts_ + "'"};
  }

  std::string TtyService(uint16_t port) {
    return "[[service]]\nname = \"tty\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
           "\"\nexec = [\"" + BinDir() + "/hinetd-probe\", \"tty\"]\nuser = \"nobody\"\n" +
           "sandbox = \"probe\"\n\n";
  }

  // Starts hinetd on the terminal, connects to the probe, returns its lines.
  std::string Attack(bool member, uint16_t port) {
    daemon_.WrapIn(OnTerminal(member));
    EXPECT_TRUE(daemon_.StartAndWait(WriteConfig(TtyService(port)))) << daemon_.LogText();
    int fd = ConnectTcp("127.0.0.1", port);
    EXPECT_GE(fd, 0);
    std::string out = ReadUntil(fd, "end=1");
    close(fd);
    return out;
  }

  int master_ = -1;
  std::string pts_;
  std::string script_;
};

// The control: the probe run the same way, without hinetd, opens the
// terminal.
TEST_F(TerminalTest, ControlAProcessStartedOnTheTerminalReachesIt) {
  for (bool member : {false, true}) {
    std::vector<std::string> argv = OnTerminal(member);
    argv.push_back(BinDir() + "/hinetd-probe");
    argv.push_back("tty");
    auto r = RunCommand(argv, milliseconds(10000));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ProbeField(r.out, "tty_open"), "ok") << (member ? "member\n" : "leader\n") << r.out;
  }
}

// hinetd a member of the terminal's session (`hinetd -f` from a shell).
TEST_F(TerminalTest, AChildOfADaemonStartedFromAShellCannotOpenItsTerminal) {
  uint16_t port = FreeTcpPort();
  std::string out = Attack(true, port);
  EXPECT_EQ(ProbeField(out, "tty_open"), "err:ENXIO") << out << daemon_.LogText();
  // Not a session leader (its session's leader is outside its PID
  // namespace: 0), so it cannot acquire a terminal either; a process group
  // of its own, which hinetd signals.
  EXPECT_EQ(ProbeField(out, "sid"), "0") << out;
  EXPECT_EQ(ProbeField(out, "pgid"), "1") << out;
}

// hinetd the terminal's session leader: giving the terminal up sends the
// foreground group, hinetd's own, SIGHUP and SIGCONT, which it ignores
// then: no reload, no exit, and it goes on serving.
TEST_F(TerminalTest, ADaemonThatLedTheTerminalsSessionGivesItUpWithoutReloading) {
  uint16_t port = FreeTcpPort();
  std::string out = Attack(false, port);
  EXPECT_EQ(ProbeField(out, "tty_open"), "err:ENXIO") << out << daemon_.LogText();
  EXPECT_EQ(ProbeField(out, "sid"), "0") << out;
  int fd = ConnectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ProbeField(ReadUntil(fd, "end=1"), "tty_open"), "err:ENXIO");
  close(fd);
  EXPECT_EQ(daemon_.CountLines({"event=reload"}), 0u) << daemon_.LogText();
  EXPECT_EQ(kill(daemon_.pid(), 0), 0) << "hinetd is gone\n" << daemon_.LogText();
}

}  // namespace
}  // namespace hinetd::testing
