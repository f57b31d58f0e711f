// Seccomp kills of processes hinetd did not start itself: a service's
// forked child (tftpd's per-request child), and a daemon that double-forked
// and called setsid. The kernel's record names only the killed process's
// pid; whatever the service does, hinetd's log must still have a line with
// the service, that pid and the syscall's name, even though the service
// reaps the process at once (so /proc has forgotten it by the time the
// record arrives). Both with the default PID namespace and without one
// (then the daemon is not even a descendant of the child any more, only of
// what it forked).
#include <sys/syscall.h>

#include "attack/contain.h"

namespace hinetd::testing {
namespace {

constexpr const char* kForkerPolicy = R"(description = "hinetd-probe forking a victim"
include = ["runtime"]
allow = ["read", "write", "poll", "wait4", "setsid", "clone", "fork", "vfork"]
)";

class SeccompAttributionTest : public AttackTest {
 protected:
  void SetUp() override {
    AttackTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_.Write("sandbox/forker.toml", kForkerPolicy);
  }

  // Runs `mode` (grandchild-syscall or daemon-syscall) once as `uid` and
  // checks hinetd's line for the kill. `own_pid_ns`: the default
  // namespaces; else none, and the pid the victim reports is the one the
  // log must name.
  void Attack(const std::string& mode, uid_t uid, bool own_pid_ns) {
    ASSERT_TRUE(UseUid(uid)) << "uid " << uid << " is in use";
    uint16_t port = FreeTcpPort();
    std::string extra = own_pid_ns ? "" : "namespaces = []\n";
    ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(
        Service("victim", port, uid, ", \"" + mode + "\", \"socket\"", "forker", extra))))
        << daemon_.LogText();
    if (daemon_.CountLines({"cannot read the kernel's audit records"}) > 0) {
      GTEST_SKIP() << "the kernel's audit records cannot be read here";
    }
    int fd = ConnectTcp("127.0.0.1", port);
    ASSERT_GE(fd, 0);
    // To EOF: a daemon outside the probe's PID namespace may report after
    // the probe's "end=1", and holds the connection until it is killed.
    std::string out = ReadUntil(fd, "\n(never printed)\n");
    close(fd);
    ASSERT_NE(ProbeField(out, "victim"), "<missing>") << out;
    EXPECT_EQ(out.find("after=socket"), std::string::npos) << "socket() ran\n" << out;
    if (mode == "grandchild-syscall") {
      EXPECT_EQ(ProbeField(out, "victim_status"), "signal:" + std::to_string(SIGSYS)) << out;
    }
    pid_t child = AcceptedPid("victim");
    ASSERT_GT(child, 0) << daemon_.LogText();
    auto line = daemon_.WaitForLine({"event=seccomp", "service=victim ", "syscall=socket"},
                                    milliseconds(10000));
    ASSERT_TRUE(line.has_value()) << out << daemon_.LogText();
    EXPECT_EQ(LogField(*line, "child"), std::to_string(child)) << *line;
    EXPECT_EQ(LogField(*line, "nr"), std::to_string(SYS_socket)) << *line;
    EXPECT_EQ(LogField(*line, "comm"), "probe") << *line;
    EXPECT_NE(LogField(*line, "pid"), std::to_string(child)) << *line;
    if (!own_pid_ns) {
      // Outside a PID namespace the victim knows its pid as the log does.
      EXPECT_EQ(LogField(*line, "pid"), ProbeField(out, "victim")) << *line << "\n" << out;
    }
    // The service's own process was not killed: its end is an exit.
    EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=victim ", "pid=" +
                                     std::to_string(child) + " ", "status=exit:0"},
                                    milliseconds(10000)))
        << daemon_.LogText();
    EXPECT_EQ(daemon_.CountLines({"event=seccomp"}), 1u) << daemon_.LogText();
  }
};

TEST_F(SeccompAttributionTest, ForkedGrandchildInAPidNamespace) {
  Attack("grandchild-syscall", 64051, true);
}

TEST_F(SeccompAttributionTest, ForkedGrandchildWithoutNamespaces) {
  Attack("grandchild-syscall", 64052, false);
}

TEST_F(SeccompAttributionTest, DoubleForkedDaemonInAPidNamespace) {
  Attack("daemon-syscall", 64053, true);
}

// The daemon's parent exits before it: reparented to the system's init, it
// descends from the child only in the fork events hinetd recorded.
TEST_F(SeccompAttributionTest, DoubleForkedDaemonWithoutNamespaces) {
  Attack("daemon-syscall", 64054, false);
}

}  // namespace
}  // namespace hinetd::testing
