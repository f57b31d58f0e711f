// Policies learned for real programs: `hinetd learn` records the program in
// its jail while its real client drives it; the written policy then runs it
// ENFORCING (default_action kill), the same client session passes again, and
// the policy allows fewer syscalls than the shipped `default` it replaces
// (counted through the project's loader and ExpandRules).
#include <sys/stat.h>
#include <sys/wait.h>

#include "realprog/programs.h"
#include "realprog/realprog.h"

namespace hinetd::testing {
namespace {

class LearnedPolicy : public RealProgTest {
 protected:
  void SetUp() override {
    RealProgTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!KernelCanLearn()) {
      GTEST_SKIP() << "needs seccomp user notification with SECCOMP_USER_NOTIF_FLAG_CONTINUE "
                      "(Linux 5.5)";
    }
  }

  std::string Scratch() {
    std::string s = dir_.path() + "/client" + std::to_string(++scratches_);
    EXPECT_EQ(mkdir(s.c_str(), 0700), 0) << s;
    return s;
  }

  // Learns p over `sessions` client sessions (p.connections each) in place of
  // `default`, then serves it under the learned policy and runs a session.
  void LearnThenEnforce(const RealProgram& p, int sessions) {
    ASSERT_TRUE(Build(p));
    if (!p.policy_text.empty()) dir_.Write("sandbox/" + p.policy + ".toml", p.policy_text);
    std::unique_ptr<NetnsScope> netns;
    if (p.port != 0) {
      netns = std::make_unique<NetnsScope>();
      if (!netns->ok()) GTEST_SKIP() << "needs a network namespace: " << netns->error();
    }
    uint16_t port = p.port != 0 ? p.port : p.udp ? FreeUdpPort() : FreeTcpPort();
    std::string listen = "127.0.0.1:" + std::to_string(port);
    std::string config = WriteConfig(Service(p.name, listen, p.exec, p.policy, p.extra));
    std::string out = dir_.path() + "/" + p.name + "-learned.toml";

    DaemonProcess learn;
    ASSERT_TRUE(Learn(learn, config, p.name, sessions * p.connections, out)) << learn.LogText();
    for (int i = 0; i < sessions; ++i) {
      EXPECT_TRUE(p.session(port, Scratch())) << "session " << i << " while learning\n"
                                              << learn.LogText();
    }
    auto status = learn.WaitExit(milliseconds(20000));
    ASSERT_TRUE(status.has_value()) << learn.LogText();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << learn.LogText();
    ASSERT_TRUE(learn.WaitForLine({"policy written to " + out}, milliseconds(2000)))
        << learn.LogText();
    std::string policy = ReadText(out);
    SCOPED_TRACE(policy);
    ASSERT_NE(policy.find("default_action = \"kill\""), std::string::npos);

    std::string name = p.name + "-learned";
    dir_.Write("sandbox/" + name + ".toml", policy);
    int learned = AllowedSyscalls(name);
    int shipped = AllowedSyscalls("default");
    // The numbers the README's table quotes.
    std::cout << "[ realprog ] " << p.name << ": learned policy allows " << learned
              << " syscalls, default " << shipped << "\n";
    for (const auto& line : learn.Lines()) {
      if (line.rfind("allows: ", 0) == 0 || line.find("learned allows, ") != std::string::npos) {
        std::cout << "[ realprog ] " << p.name << ": " << line << "\n";
      }
    }
    RecordProperty("learned_syscalls", learned);
    RecordProperty("default_syscalls", shipped);
    EXPECT_GT(learned, 0);
    EXPECT_LT(learned, shipped);

    config = WriteConfig(Service(p.name, listen, p.exec, name, p.extra));
    DaemonProcess enforcing;
    ASSERT_TRUE(Serve(enforcing, config)) << enforcing.LogText();
    EXPECT_TRUE(p.session(port, Scratch())) << "session under the learned policy\n"
                                            << enforcing.LogText();
    ExpectSessionEnds(enforcing, p.name, p.connections, p.statuses);
    enforcing.Stop();
  }

  int scratches_ = 0;
};

TEST_F(LearnedPolicy, RsyncDaemonRunsUnderItsLearnedPolicy) {
  RealProgram p = RsyncDaemon();
  REALPROG_NEED(p.needs);
  LearnThenEnforce(p, 2);
}

TEST_F(LearnedPolicy, GitDaemonRunsUnderItsLearnedPolicy) {
  RealProgram p = GitDaemon();
  REALPROG_NEED(p.needs);
  LearnThenEnforce(p, 2);
}

TEST_F(LearnedPolicy, FingerdRunsUnderItsLearnedPolicy) {
  RealProgram p = Fingerd();
  REALPROG_NEED(p.needs);
  LearnThenEnforce(p, 2);
}

TEST_F(LearnedPolicy, BusyboxHttpdRunsUnderItsLearnedPolicy) {
  RealProgram p = BusyboxHttpd();
  REALPROG_NEED(p.needs);
  LearnThenEnforce(p, 2);
}

}  // namespace
}  // namespace hinetd::testing
