// The monitor against a forged listener: every request it must refuse
// (malformed, stale generation, no such service, missing or foreign
// descriptors, a protocol mismatch) is refused, logged, answered with an
// end report, and starts nothing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/jail.h"
#include "common/net.h"
#include "common/test_env.h"
#include "config/config.h"
#include "spawn/plan.h"
#include "supervisor/monitor.h"
#include "supervisor/protocol.h"

namespace hinetd::supervisor {
namespace {

using std::chrono::milliseconds;
using testing::BinDir;
using testing::TempDir;

class ForgedListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HINETD_REQUIRE_ROOT();
    ASSERT_TRUE(testing::CopyShippedPolicies(dir_.path() + "/sandbox"));
    port_ = testing::FreeTcpPort();
    std::string text = "[daemon]\nsandbox_dir = \"sandbox\"\n[[service]]\nname = \"echo\"\n"
                       "listen = \"127.0.0.1:" + std::to_string(port_) + "\"\ninternal = \"echo\"\n"
                       "max_instances = 1\n";
    std::string path = dir_.Write("hinetd.toml", text);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    int log_pipe[2];
    ASSERT_EQ(pipe2(log_pipe, O_CLOEXEC), 0);
    monitor_ = fork();
    if (monitor_ == 0) {
      // The child is a monitor whose listener is this test.
      close(sv[0]);
      close(log_pipe[0]);
      base::Logger log(base::LogSink::kStderr, log_pipe[1]);
      auto config = config::LoadConfig(path);
      if (!config.ok()) _exit(78);
      spawn::PlanOptions plan_options;
      plan_options.internal_helper = BinDir() + "/hinetd-internal";
      auto plans = spawn::BuildPlans(*config, plan_options);
      if (!plans.ok()) _exit(78);
      Options options;
      options.config_path = path;
      options.plan_options = plan_options;
      options.external_listener_fd = sv[1];
      options.harden_self = false;
      Monitor monitor(log, options);
      if (!monitor.Start(std::make_unique<config::Config>(std::move(*config)),
                         std::move(*plans)).ok()) {
        _exit(71);
      }
      _exit(monitor.Run());
    }
    close(sv[1]);
    close(log_pipe[1]);
    control_ = sv[0];
    log_fd_ = log_pipe[0];
    ASSERT_TRUE(WaitForLog("event=start")) << log_;
  }

  void TearDown() override {
    if (monitor_ <= 0) return;
    close(control_);  // the monitor stops when its listener goes
    int status = 0;
    for (int i = 0; i < 500 && waitpid(monitor_, &status, WNOHANG) == 0; ++i) {
      usleep(10000);  // waiting for the child's exit; bounded (5 s)
    }
    if (waitpid(monitor_, &status, WNOHANG) == 0) {
      kill(monitor_, SIGKILL);
      waitpid(monitor_, &status, 0);
    }
    close(log_fd_);
  }

  bool WaitForLog(const std::string& needle, milliseconds timeout = milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (log_.find(needle, log_seen_) == std::string::npos) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline -
                                                           std::chrono::steady_clock::now());
      pollfd p{log_fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
      char buf[4096];
      ssize_t n = read(log_fd_, buf, sizeof buf);
      if (n <= 0) return false;
      log_.append(buf, static_cast<size_t>(n));
    }
    log_seen_ = log_.find(needle, log_seen_) + needle.size();
    return true;
  }

  void Send(const void* msg, size_t len, const std::vector<int>& fds) {
    iovec iov{const_cast<void*>(msg), len};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    if (!fds.empty()) {
      m.msg_control = control;
      m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ASSERT_EQ(sendmsg(control_, &m, MSG_NOSIGNAL), static_cast<ssize_t>(len));
  }

  // The end report the monitor owes for a refused request, naming it.
  bool ReceivesRefusal(const SpawnRequest& req) {
    pollfd p{control_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return false;
    EndReport end;
    ssize_t n = recv(control_, &end, sizeof end, 0);
    return n == static_cast<ssize_t>(sizeof end) && end.h.type == MsgType::kEnd &&
           end.outcome == Outcome::kRefused && end.request == req.id;
  }

  SpawnRequest Request(uint64_t generation, uint32_t service, uint32_t flags = 0) {
    SpawnRequest req;
    req.id = ++next_id_;
    req.generation = generation;
    req.service = service;
    req.flags = flags;
    return req;
  }

  // As a listener does: accepts the next connection on `listening` and
  // passes it on in a valid spawn request, which it returns.
  SpawnRequest AcceptAndRequest(int listening) {
    int conn = accept4(listening, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(conn, 0);
    auto req = Request(1, 0);
    Send(&req, sizeof req, {conn});
    close(conn);
    return req;
  }

  TempDir dir_;
  uint16_t port_ = 0;
  pid_t monitor_ = -1;
  int control_ = -1;
  int log_fd_ = -1;
  std::string log_;
  size_t log_seen_ = 0;
  uint64_t next_id_ = 100;
};

TEST_F(ForgedListenerTest, EveryForgedRequestIsRefusedAndLogged) {
  // A connection from elsewhere: a socket that is not the service's.
  int other_listen = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(other_listen, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  ASSERT_EQ(listen(other_listen, 1), 0);
  socklen_t len = sizeof sin;
  getsockname(other_listen, reinterpret_cast<sockaddr*>(&sin), &len);
  int foreign = testing::ConnectTcp("127.0.0.1", ntohs(sin.sin_port));
  ASSERT_GE(foreign, 0);
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  int pipes[2];
  ASSERT_EQ(pipe2(pipes, O_CLOEXEC), 0);

  const char garbage[] = "not a message";
  Send(garbage, sizeof garbage, {});
  EXPECT_TRUE(WaitForLog("event=refuse-request reason=\"malformed message\"")) << log_;

  // Each forged request, its descriptors, and what the log must say.
  struct Forged {
    SpawnRequest req;
    std::vector<int> fds;
    std::string logged;
  };
  const std::vector<Forged> forged = {
      {Request(99, 0), {foreign}, "reason=\"stale generation\" service=0 generation=99"},
      {Request(1, 7), {foreign}, "reason=\"no such service\" service=7"},
      {Request(1, 0), {}, "reason=\"missing descriptor\""},
      {Request(1, 0), {foreign, pair[0]}, "reason=\"too many descriptors\""},
      {Request(1, 0), {pipes[0]}, "reason=\"descriptor is not the right kind of socket\""},
      {Request(1, 0), {pair[0]}, "reason=\"descriptor does not belong to the service\""},
      {Request(1, 0), {foreign}, "reason=\"descriptor does not belong to the service\""},
      {Request(1, 0), {other_listen}, "reason=\"descriptor is not a connection\""},
      {Request(1, 0, SpawnRequest::kUdpWait), {foreign},
       "reason=\"request does not match the service's protocol\""},
  };
  for (const Forged& f : forged) {
    Send(&f.req, sizeof f.req, f.fds);
    EXPECT_TRUE(WaitForLog("event=refuse-request " + f.logged)) << log_;
    EXPECT_TRUE(ReceivesRefusal(f.req)) << f.logged;
  }

  // Nothing was started for any of them.
  EXPECT_EQ(log_.find("event=accept"), std::string::npos) << log_;
  EXPECT_EQ(log_.find("event=setup-failed"), std::string::npos) << log_;
  for (int fd : {other_listen, foreign, pair[0], pair[1], pipes[0], pipes[1]}) close(fd);
}

// Playing the listener for real: the monitor's listening socket, as a
// listener inherits it (taken with pidfd_getfd), or -1.
int TakeListeningSocket(pid_t monitor, uint16_t port) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, monitor, 0));
  if (pidfd < 0) return -1;
  int listening = -1;
  for (int fd = 3; fd < 256 && listening < 0; ++fd) {
    int got = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
    if (got < 0) continue;
    int accepting = 0;
    socklen_t optlen = sizeof accepting;
    if (getsockopt(got, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &optlen) == 0 && accepting != 0 &&
        testing::LocalPort(got) == port) {
      listening = got;
    } else {
      close(got);
    }
  }
  close(pidfd);
  return listening;
}

TEST_F(ForgedListenerTest, AValidRequestStillSpawns) {
  int listening = TakeListeningSocket(monitor_, port_);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int client = testing::ConnectTcp("127.0.0.1", port_);
  ASSERT_GE(client, 0);
  AcceptAndRequest(listening);
  EXPECT_TRUE(WaitForLog("event=accept service=echo")) << log_;
  ASSERT_EQ(write(client, "still served\n", 13), 13);
  shutdown(client, SHUT_WR);
  EXPECT_EQ(testing::ReadAll(client, milliseconds(5000)), "still served\n");
  EXPECT_EQ(log_.find("event=refuse-request"), std::string::npos) << log_;
  close(client);
  close(listening);
}

TEST_F(ForgedListenerTest, MonitorHoldsMaxInstancesItself) {
  // The listener enforces the limits; a subverted one that ignores them
  // still cannot make the monitor start more than max_instances children.
  int listening = TakeListeningSocket(monitor_, port_);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int first = testing::ConnectTcp("127.0.0.1", port_);
  int second = testing::ConnectTcp("127.0.0.1", port_);
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  AcceptAndRequest(listening);
  ASSERT_TRUE(WaitForLog("event=accept service=echo")) << log_;
  // The first child still runs (its client is connected): max_instances = 1.
  auto two = AcceptAndRequest(listening);
  EXPECT_TRUE(WaitForLog("event=refuse-request reason=\"over max_instances\"")) << log_;
  EXPECT_TRUE(ReceivesRefusal(two));
  EXPECT_EQ(testing::ReadAll(second, milliseconds(5000)), "") << "closed, not served";
  close(first);
  close(second);
  close(listening);
}

}  // namespace
}  // namespace hinetd::supervisor
