// The shipped etc/hinetd.toml, as shipped: the jail prepared by the same
// script the README's run command uses, every service tried once.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "common/proc_info.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

TEST(ShippedConfig, EveryServiceAnswersAsTheReadmeSays) {
  HINETD_REQUIRE_ROOT();
  for (uint16_t port : {10007, 10009, 10013, 10019, 10037, 10100, 10101}) {
    int fd = ConnectTcp("127.0.0.1", port, milliseconds(300));
    if (fd >= 0) {
      close(fd);
      GTEST_SKIP() << "port " << port << " is in use (is the demo running?)";
    }
  }
  CommandResult jail = RunCommand({"/bin/bash", SourceDir() + "/scripts/make-jail.sh",
                                   "/var/lib/hinetd/demo", "/usr/bin/tr", "/bin/sh"},
                                  milliseconds(30000));
  ASSERT_EQ(jail.exit_code, 0) << jail.err;
  // The accounts it names, created the way scripts/demo.sh does (nothing
  // happens for those that exist).
  CommandResult users = RunCommand({"/bin/bash", SourceDir() + "/scripts/daemon-user.sh", "hinetd",
                                    "hinetd-internal", "hinetd-upper", "hinetd-hello"},
                                   milliseconds(30000));
  ASSERT_EQ(users.exit_code, 0) << users.err;
  // The shipped files byte for byte, in their layout (etc/ and sandbox/ side
  // by side), in a directory only root can change: hinetd refuses a config
  // that others could, and the checkout may belong to another user.
  TempDir tree;
  ASSERT_TRUE(CopyShippedPolicies(tree.path() + "/sandbox"));
  std::string config = tree.path() + "/etc/hinetd.toml";
  {
    std::ifstream in(SourceDir() + "/etc/hinetd.toml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(text.empty());
    ASSERT_EQ(tree.Write("etc/hinetd.toml", text), config);
  }
  CommandResult check = RunCommand({BinDir() + "/hinetd", "check", "-c", config},
                                   milliseconds(10000));
  ASSERT_EQ(check.exit_code, 0) << check.err;
  // No warning at all: in particular no two services share a uid.
  EXPECT_EQ(check.out.find("warning:"), std::string::npos) << check.out;
  for (const char* user : {"hinetd-internal", "hinetd-upper", "hinetd-hello"}) {
    EXPECT_NE(check.out.find(std::string("  user      ") + user + " (uid "), std::string::npos)
        << user << "\n" << check.out;
  }
  EXPECT_EQ(check.out.find("user      nobody"), std::string::npos) << check.out;

  DaemonProcess daemon;
  ASSERT_TRUE(daemon.StartAndWait(config)) << daemon.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", 10007, "hello\n"), "hello\n");
  EXPECT_EQ(Exchange("127.0.0.1", 10009, "hello\n"), "");
  EXPECT_EQ(Exchange("127.0.0.1", 10013, "").size(), 26u);
  int fd = ConnectTcp("127.0.0.1", 10019);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadN(fd, 74), std::string(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"));
  close(fd);
  EXPECT_EQ(Exchange("127.0.0.1", 10037, "").size(), 4u);
  EXPECT_EQ(Exchange("127.0.0.1", 10100, "hello\n"), "HELLO\n");
  std::string hello = Exchange("127.0.0.1", 10101, "you\n");
  EXPECT_EQ(hello.rfind("hello, you, from 127.0.0.1:", 0), 0u) << hello;
  EXPECT_NE(hello.find(" to 10101\n"), std::string::npos) << hello;
  int udp = UdpSocket();
  ASSERT_TRUE(SendTo(udp, "127.0.0.1", 10007, "over udp"));
  EXPECT_EQ(RecvDatagram(udp, milliseconds(5000)).value_or("<none>"), "over udp");
  ASSERT_TRUE(SendTo(udp, "127.0.0.1", 10013, ""));
  EXPECT_EQ(RecvDatagram(udp, milliseconds(5000)).value_or("").size(), 26u);
  close(udp);
  EXPECT_TRUE(daemon.WaitForCount({"event=end", "status=exit:0"}, 7, milliseconds(10000)))
      << daemon.LogText();
  EXPECT_EQ(daemon.CountLines({"event=setup-failed"}), 0u);
  EXPECT_EQ(daemon.CountLines({"status=seccomp"}), 0u) << daemon.LogText();
}

// Daemon mode: the parent returns the daemon's start-up result.
bool Exited(pid_t pid);

// The daemon started with `config`: the monitor, the one process with it on
// its command line whose parent has not (its namespace maker is a fork of
// it, with the same command line).
pid_t FindDaemonByConfig(const std::string& config) {
  DIR* d = opendir("/proc");
  std::vector<std::pair<pid_t, pid_t>> matches;  // pid, parent
  while (dirent* e = d ? readdir(d) : nullptr) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    pid_t pid = std::stoi(e->d_name);
    if (cmd.find(config) != std::string::npos && cmd.find("hinetd") != std::string::npos &&
        !Exited(pid)) {
      std::string ppid = ProcStatusField(pid, "PPid");
      matches.emplace_back(pid, ppid == "<missing>" ? -1 : std::stoi(ppid));
    }
  }
  if (d) closedir(d);
  for (const auto& [pid, parent] : matches) {
    bool parent_matches = std::any_of(matches.begin(), matches.end(),
                                      [&](const auto& m) { return m.first == parent; });
    if (!parent_matches) return pid;
  }
  return -1;
}

// Gone, or a zombie waiting for init to reap it (the detached daemon is not
// our child, so its exit status is not ours to collect).
bool Exited(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return true;
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

class DaemonModeTest : public E2eTest {};

TEST_F(DaemonModeTest, DetachesAndServesThenStopsOnSigterm) {
  uint16_t port = FreeTcpPort();
  std::string path = WriteConfig(InternalService("e", "echo", "\"127.0.0.1:" + std::to_string(port) + "\""));
  CommandResult r = RunCommand({BinDir() + "/hinetd", "-c", path}, milliseconds(10000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  pid_t pid = FindDaemonByConfig(path);
  ASSERT_GT(pid, 0);
  // It was serving before the parent returned.
  EXPECT_EQ(Exchange("127.0.0.1", port, "detached\n"), "detached\n");
  kill(pid, SIGTERM);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = Exited(pid);
    if (!gone) usleep(10000);  // waiting for another process's exit; bounded (5 s)
  }
  EXPECT_TRUE(gone);
}

TEST_F(DaemonModeTest, BindFailureAtStartExits71) {
  uint16_t port = FreeTcpPort();
  // Hold the port so that hinetd's bind fails.
  int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  ASSERT_EQ(listen(holder, 1), 0);
  std::string path = WriteConfig(InternalService("e", "echo", "\"127.0.0.1:" + std::to_string(port) + "\""));
  CommandResult detached = RunCommand({BinDir() + "/hinetd", "-c", path}, milliseconds(10000));
  EXPECT_EQ(detached.exit_code, 71);
  // The detached daemon has no terminal; its parent prints why it failed.
  EXPECT_NE(detached.err.find("Address already in use (EADDRINUSE)"), std::string::npos)
      << detached.err;
  CommandResult fg = RunCommand({BinDir() + "/hinetd", "-f", "-c", path}, milliseconds(10000));
  EXPECT_EQ(fg.exit_code, 71);
  EXPECT_NE(fg.err.find("event=start-failed"), std::string::npos) << fg.err;
  EXPECT_NE(fg.err.find("Address already in use (EADDRINUSE)"), std::string::npos) << fg.err;
  close(holder);
  EXPECT_EQ(FindDaemonByConfig(path), -1);
}

}  // namespace
}  // namespace hinetd::testing
