// The real daemon under a service manager, played by the test (no systemd
// runs in CI): it creates the listening sockets itself and passes them as
// descriptors 3.. with LISTEN_FDS and LISTEN_PID (set by a tiny sh wrapper
// to its own pid, which exec keeps for hinetd), and reads the sd_notify
// datagrams hinetd sends to a NOTIFY_SOCKET it bound.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <optional>

#include "common/proc_info.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

// The service manager's end of NOTIFY_SOCKET: an abstract datagram socket
// (a path one is tested by Notifier's unit test).
class NotifySocket {
 public:
  NotifySocket() {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    name_ = "@hinetd-test-notify-" + std::to_string(getpid()) + "-" +
            std::to_string(Clock::now().time_since_epoch().count());
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path + 1, name_.data() + 1, name_.size() - 1);
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&un), len) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
  }
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] const std::string& address() const { return name_; }
  // The next datagram, or nullopt at the deadline.
  std::optional<std::string> Next(milliseconds timeout = milliseconds(10000)) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int ms = static_cast<int>(
          std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count());
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, std::max(ms, 0)) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n >= 0) return std::string(buf, static_cast<size_t>(n));
    }
    return std::nullopt;
  }
  // True if nothing arrives within `wait` (a bounded check for extras).
  bool Quiet(milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, static_cast<int>(wait.count())) == 0;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string name_;
};

// A socket as systemd's ListenStream= makes it: bound, listening, kept open
// by the test (so hinetd could not bind the address itself).
int ListeningSocket(uint16_t port) { return ListenTcp("127.0.0.1", port); }

class SystemdTest : public E2eTest {
 protected:
  // Starts hinetd as systemd would: the sockets as 3.., LISTEN_PID = its
  // pid, NOTIFY_SOCKET if given.
  void StartActivated(const std::string& config, const std::vector<int>& fds,
                      const std::string& names, const std::string& notify) {
    daemon_.WrapIn({"/bin/sh", "-c", "export LISTEN_PID=$$; exec \"$0\" \"$@\""});
    std::vector<std::string> env = {"LISTEN_FDS=" + std::to_string(fds.size())};
    if (!names.empty()) env.push_back("LISTEN_FDNAMES=" + names);
    if (!notify.empty()) env.push_back("NOTIFY_SOCKET=" + notify);
    daemon_.SetEnv(env);
    daemon_.PassFds(fds);
    ASSERT_TRUE(daemon_.Start(config));
  }
  void TearDown() override {
    for (int fd : owned_) close(fd);
  }
  int Own(int fd) {
    if (fd >= 0) owned_.push_back(fd);
    return fd;
  }
  std::vector<int> owned_;
};

// Readiness, reload and stop notifications around a daemon whose every
// socket came from "systemd": READY=1 only once the listener serves, a
// connection served on the passed socket, a listener without any
// capability, RELOADING=1/READY=1 around a SIGHUP (and STATUS= when the
// reload failed), STOPPING=1 at the stop; nothing of it in a child's
// environment.
TEST_F(SystemdTest, NotifyAndSocketActivation) {
  NotifySocket notify;
  ASSERT_TRUE(notify.ok());
  uint16_t echo_port = FreeTcpPort();
  uint16_t probe_port = FreeTcpPort();
  int echo_fd = Own(ListeningSocket(echo_port));
  int probe_fd = Own(ListeningSocket(probe_port));
  ASSERT_GE(echo_fd, 0);
  ASSERT_GE(probe_fd, 0);
  std::string services =
      InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(echo_port) + "\"") +
      ProbeService("probe", probe_port, "");
  std::string path = WriteConfig(services);
  StartActivated(path, {echo_fd, probe_fd}, "echo:probe", notify.address());

  auto first = notify.Next();
  ASSERT_TRUE(first.has_value()) << daemon_.LogText();
  // The first message is READY=1: nothing before the listener serves.
  EXPECT_EQ(first->rfind("READY=1\n", 0), 0u) << *first;
  EXPECT_NE(first->find("STATUS=serving 2 services"), std::string::npos) << *first;
  // The listener logged its readiness before the monitor was told (the
  // line is in the pipe already; the reader thread may still be on it).
  pid_t listener = ListenerPid(1);
  ASSERT_GT(listener, 0) << daemon_.LogText();
  EXPECT_NE(daemon_.LogText().find("capabilities=none"), std::string::npos) << daemon_.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", echo_port, "hello\n"), "hello\n");
  // No capability at all: every socket came from systemd, nothing to bind.
  for (const char* set : {"CapEff", "CapPrm", "CapBnd"}) {
    EXPECT_EQ(ProcStatusField(listener, set), "0000000000000000") << set;
  }
  // hinetd bound nothing itself: a log line per listen address, each the
  // passed socket (the test holds the addresses, a bind would have failed).
  EXPECT_EQ(daemon_.CountLines({"event=listen", "service=echo"}), 1u);
  // The child's environment: none of the service manager's variables.
  std::string report = Exchange("127.0.0.1", probe_port, "");
  ASSERT_NE(report.find("end=1"), std::string::npos) << report;
  EXPECT_EQ(report.find("env=LISTEN_"), std::string::npos) << report;
  EXPECT_EQ(report.find("env=NOTIFY_SOCKET"), std::string::npos) << report;
  EXPECT_NE(report.find("env=PROTO=TCP"), std::string::npos) << report;

  // A reload: RELOADING=1 with the monotonic time, then READY=1 once the
  // new listener serves. The passed sockets stay.
  timespec before{};
  clock_gettime(CLOCK_MONOTONIC, &before);
  daemon_.Signal(SIGHUP);
  auto reloading = notify.Next();
  ASSERT_TRUE(reloading.has_value()) << daemon_.LogText();
  EXPECT_EQ(reloading->rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << *reloading;
  uint64_t usec = std::stoull(reloading->substr(reloading->find('=', 12) + 1));
  uint64_t before_usec = static_cast<uint64_t>(before.tv_sec) * 1000000u +
                         static_cast<uint64_t>(before.tv_nsec) / 1000u;
  EXPECT_GE(usec, before_usec);
  auto ready = notify.Next();
  ASSERT_TRUE(ready.has_value()) << daemon_.LogText();
  EXPECT_EQ(ready->rfind("READY=1\n", 0), 0u) << *ready;
  EXPECT_NE(ready->find("generation 2"), std::string::npos) << *ready;
  pid_t second = ListenerPid(2);
  ASSERT_GT(second, 0);
  EXPECT_EQ(ProcStatusField(second, "CapEff"), "0000000000000000");
  EXPECT_EQ(Exchange("127.0.0.1", echo_port, "again\n"), "again\n");

  // A reload that fails: READY=1 again at once (the old table serves) and
  // STATUS= saying so.
  dir_.Write("hinetd.toml", "[daemon]\nsandbox_dir = \"sandbox\"\n\n[[service]]\nname = 1\n");
  daemon_.Signal(SIGHUP);
  reloading = notify.Next();
  ASSERT_TRUE(reloading.has_value());
  EXPECT_EQ(reloading->rfind("RELOADING=1\n", 0), 0u) << *reloading;
  ready = notify.Next();
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->rfind("READY=1\nSTATUS=reload failed, generation 2 kept: ", 0), 0u) << *ready;
  EXPECT_NE(ready->find("hinetd.toml:"), std::string::npos) << *ready;
  EXPECT_EQ(Exchange("127.0.0.1", echo_port, "still\n"), "still\n");

  // The stop.
  pid_t pid = daemon_.pid();
  ASSERT_TRUE(daemon_.Stop().has_value());
  auto stopping = notify.Next();
  ASSERT_TRUE(stopping.has_value());
  EXPECT_EQ(*stopping, "STOPPING=1");
  EXPECT_TRUE(notify.Quiet(milliseconds(100)));
  EXPECT_NE(pid, -1);
}

// One passed socket, one address hinetd binds itself: the listener keeps
// CAP_NET_BIND_SERVICE, as without systemd.
TEST_F(SystemdTest, MixedSocketsKeepBindCapability) {
  uint16_t passed_port = FreeTcpPort();
  uint16_t bound_port = FreeTcpPort();
  int fd = Own(ListeningSocket(passed_port));
  ASSERT_GE(fd, 0);
  std::string path = WriteConfig(
      InternalService("a", "echo", "\"127.0.0.1:" + std::to_string(passed_port) + "\"") +
      InternalService("b", "echo", "\"127.0.0.1:" + std::to_string(bound_port) + "\""));
  StartActivated(path, {fd}, "", "");
  pid_t listener = ListenerPid(1);
  ASSERT_GT(listener, 0) << daemon_.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", passed_port, "x\n"), "x\n");
  EXPECT_EQ(Exchange("127.0.0.1", bound_port, "y\n"), "y\n");
  EXPECT_EQ(ProcStatusField(listener, "CapEff"), "0000000000000400");
  EXPECT_EQ(ProcStatusField(listener, "CapBnd"), "0000000000000000");
}

// A passed socket no service listens on is refused before anything starts:
// exit 78, and the error names the descriptor, its address and the fixes.
TEST_F(SystemdTest, UnmatchedSocketRefused) {
  uint16_t port = FreeTcpPort();
  uint16_t other = FreeTcpPort();
  int fd = Own(ListeningSocket(other));
  ASSERT_GE(fd, 0);
  std::string path =
      WriteConfig(InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(port) + "\""));
  StartActivated(path, {fd}, "web", "");
  auto status = daemon_.WaitExit(milliseconds(10000));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 78);
  std::string log = daemon_.LogText();
  EXPECT_NE(log.find("the socket systemd passed as fd 3 (name \"web\", tcp 127.0.0.1:" +
                     std::to_string(other) + ") matches no listen address in " + path),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("add \"127.0.0.1:" + std::to_string(other) + "\" to the listen list"),
            std::string::npos)
      << log;
  // Nothing was served: the port hinetd would have bound is still free.
  EXPECT_EQ(ConnectTcp("127.0.0.1", port, milliseconds(500)), -1);
}

// Accept=yes passes a connected socket, not a listening one: refused, and
// the error says which setting to change.
TEST_F(SystemdTest, NonListeningSocketRefused) {
  uint16_t port = FreeTcpPort();
  int fd = Own(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_GE(fd, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  std::string path =
      WriteConfig(InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(port) + "\""));
  StartActivated(path, {fd}, "", "");
  auto status = daemon_.WaitExit(milliseconds(10000));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 78);
  EXPECT_NE(daemon_.LogText().find("fd 3: a stream socket that is not listening"),
            std::string::npos)
      << daemon_.LogText();
  EXPECT_NE(daemon_.LogText().find("Accept=no"), std::string::npos);
}

// udp nowait cannot run on a socket systemd created (it binds a fresh one
// per peer): refused with the fix, before anything starts.
TEST_F(SystemdTest, UdpNowaitOnPassedSocketRefused) {
  int fd = Own(UdpSocket());
  ASSERT_GE(fd, 0);
  uint16_t port = LocalPort(fd);
  std::string path = WriteConfig("[[service]]\nname = \"daytime\"\nlisten = \"127.0.0.1:" +
                                 std::to_string(port) +
                                 "\"\nprotocol = \"udp\"\ninternal = \"daytime\"\n");
  StartActivated(path, {fd}, "", "");
  auto status = daemon_.WaitExit(milliseconds(10000));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 78);
  EXPECT_NE(daemon_.LogText().find("udp nowait cannot serve the socket systemd passed as fd 3"),
            std::string::npos)
      << daemon_.LogText();
  EXPECT_NE(daemon_.LogText().find("set wait = true"), std::string::npos);
}

// systemd's own launcher, where it is installed: systemd-socket-activate
// binds the address, waits for the first connection, then executes hinetd
// with the socket (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES); that first
// connection, queued in the backlog, is served.
TEST_F(SystemdTest, UnderSystemdSocketActivate) {
  const std::string tool = "/usr/bin/systemd-socket-activate";
  if (access(tool.c_str(), X_OK) != 0) {
    GTEST_SKIP() << tool << " is not installed (package systemd); the other SystemdTest cases "
                            "play its part";
  }
  uint16_t port = FreeTcpPort();
  std::string path =
      WriteConfig(InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(port) + "\""));
  daemon_.WrapIn({tool, "-l", "127.0.0.1:" + std::to_string(port), "--fdname=echo"});
  ASSERT_TRUE(daemon_.Start(path));
  // The launcher listens before it executes anything: connect until it does.
  int fd = -1;
  auto deadline = Clock::now() + milliseconds(10000);
  while (fd < 0 && Clock::now() < deadline) {
    fd = ConnectTcp("127.0.0.1", port, milliseconds(200));
    if (fd < 0) {
      pollfd none{-1, 0, 0};
      poll(&none, 0, 20);  // the launcher is still starting; bounded by the deadline
    }
  }
  ASSERT_GE(fd, 0) << daemon_.LogText();
  Own(fd);
  ASSERT_TRUE(WriteAll(fd, "first\n"));
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(ReadAll(fd, milliseconds(10000)), "first\n") << daemon_.LogText();
  pid_t listener = ListenerPid(1);
  ASSERT_GT(listener, 0);
  EXPECT_EQ(ProcStatusField(listener, "CapEff"), "0000000000000000");
  EXPECT_NE(daemon_.LogText().find("capabilities=none"), std::string::npos);
}

}  // namespace
}  // namespace hinetd::testing
