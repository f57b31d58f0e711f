// Real programs Debian ships for inetd, each in a jail built for it (by the
// test, or by hinetd from the service's jail table: rsync, git), run by
// the real hinetd binary on loopback under the shipped `default` policy, and
// driven by their real clients.
#include <sys/stat.h>

#include "realprog/realprog.h"

#include "realprog/programs.h"

namespace hinetd::testing {
namespace {

class RealProgRun : public RealProgTest {
 protected:
  // Builds p's jail, serves it under `policy`, runs one client session.
  void RunSession(const RealProgram& p, const std::string& policy) {
    ASSERT_TRUE(Build(p));
    if (!p.policy_text.empty()) dir_.Write("sandbox/" + p.policy + ".toml", p.policy_text);
    std::unique_ptr<NetnsScope> netns;
    if (p.port != 0) {
      netns = std::make_unique<NetnsScope>();
      if (!netns->ok()) GTEST_SKIP() << "needs a network namespace: " << netns->error();
    }
    uint16_t port = p.port != 0 ? p.port : p.udp ? FreeUdpPort() : FreeTcpPort();
    std::string config = WriteConfig(
        Service(p.name, "127.0.0.1:" + std::to_string(port), p.exec, policy, p.extra));
    DaemonProcess d;
    ASSERT_TRUE(Serve(d, config)) << d.LogText();
    // A jail hinetd builds: built by the monitor at start, before serving.
    if (p.jail) {
      EXPECT_EQ(d.CountLines({"event=jail ", "service=" + p.name + " ", "action=built"}), 1u)
          << d.LogText();
    }
    std::string scratch = dir_.path() + "/client";
    ASSERT_EQ(mkdir(scratch.c_str(), 0700), 0);
    EXPECT_TRUE(p.session(port, scratch)) << d.LogText();
    ExpectSessionEnds(d, p.name, p.connections, p.statuses);
    d.Stop();
  }
};

TEST_F(RealProgRun, RsyncDaemonListsAndServesAModule) {
  RealProgram p = RsyncDaemon();
  REALPROG_NEED(p.needs);
  RunSession(p, p.policy);
}

TEST_F(RealProgRun, GitDaemonServesAClone) {
  RealProgram p = GitDaemon();
  REALPROG_NEED(p.needs);
  RunSession(p, p.policy);
}

TEST_F(RealProgRun, FingerdAnswersTheFingerClient) {
  RealProgram p = Fingerd();
  REALPROG_NEED(p.needs);
  RunSession(p, p.policy);
}

TEST_F(RealProgRun, BusyboxHttpdServesCurl) {
  RealProgram p = BusyboxHttpd();
  REALPROG_NEED(p.needs);
  RunSession(p, p.policy);
}

// in.tftpd drops privileges itself: for each request it forks a child that
// calls initgroups (setgroups), chroot(".") into /srv/tftp (--secure), then
// setregid and setreuid to --user. Under drops_privileges that child may,
// in a user namespace that maps only nobody and nogroup, inside a mount
// namespace whose root is the jail (README "Programs that drop
// privileges"); without it, setgroups fails with EPERM and tftpd exits
// ("cannot set groups for user nobody").
TEST_F(RealProgRun, TftpdHpaServesTheTftpClient) {
  RealProgram p = Tftpd();
  REALPROG_NEED(p.needs);
  RunSession(p, p.policy);
}

}  // namespace
}  // namespace hinetd::testing
