// The monitor against a forged listener. A request no honest listener can
// make (malformed, no such service, missing or foreign descriptors, a
// protocol mismatch, a busy wait socket, a bad udp handover) is refused,
// logged, and ends the listener: a real one is killed and a fresh one
// started from the monitor's table; the test's own (external) listener has
// its channel closed, and the monitor stops. A request an honest listener
// can meet (a stale generation, a limit) is refused with an end report and
// nothing more. A listener that never reads its channel is dropped too. What
// a listener says about a peer is never believed: a udp wait child gets the
// peer of the datagram itself.
#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/jail.h"
#include "common/net.h"
#include "common/proc_info.h"
#include "common/test_env.h"
#include "spawn/plan.h"
#include "supervisor/monitor.h"
#include "supervisor/protocol.h"

namespace hinetd::supervisor {
namespace {

using std::chrono::milliseconds;
using testing::BinDir;
using testing::TempDir;

// Service indexes of the table below.
constexpr uint32_t kEcho = 0;   // tcp, max_instances = 1
constexpr uint32_t kOther = 1;  // tcp, a second service
constexpr uint32_t kUecho = 2;  // udp nowait
constexpr uint32_t kUwait = 3;  // udp wait, a child that sleeps
constexpr int kMaxChildren = 8;
// What the monitor lets wait in its queue to the listener (monitor.cc:
// max_children + kChannelSlack).
constexpr int kQueueLimit = kMaxChildren + 64;

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

bool SendMessage(int fd, const void* msg, size_t len, const std::vector<int>& fds) {
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
  return sendmsg(fd, &m, MSG_NOSIGNAL) == static_cast<ssize_t>(len);
}

int IntOpt(int fd, int opt) {
  int v = -1;
  socklen_t len = sizeof v;
  return getsockopt(fd, SOL_SOCKET, opt, &v, &len) == 0 ? v : -1;
}

// A descriptor of process `pid` that `want` accepts (taken with
// pidfd_getfd, as a listener inherits it), or -1.
int TakeFd(pid_t pid, const std::function<bool(int)>& want) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return -1;
  // Every descriptor it has, whatever its number (the monitor inherits
  // this process's, among them the port reservations it keeps).
  std::vector<int> fds;
  if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') fds.push_back(std::atoi(e->d_name));
    }
    closedir(d);
  }
  int found = -1;
  for (size_t i = 0; i < fds.size() && found < 0; ++i) {
    int got = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fds[i], 0));
    if (got < 0) continue;
    if (want(got)) {
      found = got;
    } else {
      close(got);
    }
  }
  close(pidfd);
  return found;
}

// The monitor's listening socket for `port`: stream (accepting) or datagram.
int TakeListeningSocket(pid_t monitor, uint16_t port, int type = SOCK_STREAM) {
  return TakeFd(monitor, [&](int fd) {
    return IntOpt(fd, SO_TYPE) == type && (type != SOCK_STREAM || IntOpt(fd, SO_ACCEPTCONN) == 1) &&
           testing::LocalPort(fd) == port;
  });
}

// A datagram socket bound to 127.0.0.1:port next to the monitor's, as the
// listener binds the fresh socket of a udp nowait handover: SO_REUSEPORT,
// created by the listener's account (the port's group is one uid's: the
// file system uid at socket(), as net::BindListener sets it). -1 on failure.
int FreshUdpSocket(uint16_t port) {
  passwd* account = getpwnam("hinetd");
  if (account == nullptr) return -1;
  int old_fsuid = setfsuid(account->pw_uid);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  setfsuid(static_cast<uid_t>(old_fsuid));
  int one = 1;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(port);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

sockaddr_in Loopback(uint16_t port, uint32_t host = INADDR_LOOPBACK) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(host);
  sin.sin_port = htons(port);
  return sin;
}

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HINETD_REQUIRE_ROOT();
    ASSERT_TRUE(testing::CopyShippedPolicies(dir_.path() + "/sandbox"));
    port_ = testing::FreeTcpPort();
    other_port_ = testing::FreeTcpPort();
    udp_port_ = testing::FreeUdpPort();
    wait_port_ = testing::FreeUdpPort();
  }

  void TearDown() override { StopMonitor(); }

  // The services table: indexes as kEcho... above; `wait_name` names the
  // udp wait service, `extra` is appended.
  std::string Table(const std::string& wait_name = "uwait", const std::string& extra = "") {
    auto listen = [](uint16_t port) {
      return "listen = \"127.0.0.1:" + std::to_string(port) + "\"\n";
    };
    return "[daemon]\nsandbox_dir = \"sandbox\"\nmax_children = " + std::to_string(kMaxChildren) +
           "\n"
           "[[service]]\nname = \"echo\"\n" + listen(port_) + "internal = \"echo\"\nmax_instances = 1\n"
           "[[service]]\nname = \"other\"\n" + listen(other_port_) + "internal = \"echo\"\n"
           "deny = [\"127.0.0.3\"]\n"
           "[[service]]\nname = \"uecho\"\n" + listen(udp_port_) +
           "protocol = \"udp\"\ninternal = \"echo\"\n"
           "[[service]]\nname = \"" + wait_name + "\"\n" + listen(wait_port_) +
           "protocol = \"udp\"\nwait = true\nexec = [\"/bin/sleep\", \"60\"]\nuser = \"nobody\"\n"
           "sandbox = \"stdio\"\n" + extra;
  }

  // A service `name` running `hinetd-probe MODE socket` (socket is the call
  // its policy, sandbox/NAME.toml: the runtime and `allow`, refuses) as uid
  // 64065, without namespaces.
  std::string ForbiddenCallService(const std::string& name, uint16_t port, const std::string& mode,
                                   const std::string& allow) {
    dir_.Write("sandbox/" + name + ".toml",
               "description = \"hinetd-probe: " + mode + " socket\"\ninclude = [\"runtime\"]\n"
               "allow = [" + allow + "]\n");
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
           "\"\nexec = [\"" + BinDir() + "/hinetd-probe\", \"" + mode + "\", \"socket\"]\n"
           "user = \"64065\"\ngroup = \"64065\"\nsandbox = \"" + name + "\"\nnamespaces = []\n";
  }

  // Starts a monitor in a child process. `external`: this test is its
  // listener (control_); else it starts a real one.
  void StartMonitor(bool external, const std::string& table,
                    milliseconds handover_wait = milliseconds(2000)) {
    StopMonitor();
    config_path_ = dir_.Write("hinetd.toml", table);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    int log_pipe[2];
    ASSERT_EQ(pipe2(log_pipe, O_CLOEXEC), 0);
    monitor_ = fork();
    if (monitor_ == 0) {
      close(sv[0]);
      close(log_pipe[0]);
      // On fd 2, as in the daemon: the listener keeps only stdio open.
      dup2(log_pipe[1], 2);
      close(log_pipe[1]);
      base::Logger log(base::LogSink::kStderr, 2);
      spawn::PlanOptions plan_options;
      plan_options.internal_helper = BinDir() + "/hinetd-internal";
      auto loaded = spawn::LoadTable(config_path_, plan_options);
      if (!loaded.ok()) {
        std::string text = "load failed: " + loaded.error().ToString() + "\n";
        (void)!write(2, text.data(), text.size());
        _exit(78);
      }
      Options options;
      options.config_path = config_path_;
      options.plan_options = plan_options;
      options.harden_self = false;
      options.handover_wait = handover_wait;
      options.exec_watch_delay = exec_watch_delay_;
      options.setup_timeout = setup_timeout_;
      options.process_events_period = process_events_period_;
      options.kernel_records_period = kernel_records_period_;
      options.seccomp_record_wait = seccomp_record_wait_;
      if (external) {
        options.external_listener_fd = sv[1];
      } else {
        close(sv[1]);
      }
      Monitor monitor(log, options);
      if (!monitor.Start(std::move(loaded->config), std::move(loaded->plans)).ok()) _exit(71);
      _exit(monitor.Run());
    }
    close(sv[1]);
    close(log_pipe[1]);
    if (external) {
      control_ = sv[0];
    } else {
      close(sv[0]);
    }
    log_fd_ = log_pipe[0];
    ASSERT_TRUE(WaitForLog("event=start")) << log_;
  }

  // Stops the monitor (closing the channel stops one with an external
  // listener; TERM any other) and reaps it.
  void StopMonitor() {
    if (monitor_ > 0) {
      if (control_ >= 0) {
        close(control_);
        control_ = -1;
      }
      kill(monitor_, SIGTERM);
      if (!WaitForExit(milliseconds(10000))) {
        kill(monitor_, SIGKILL);
        waitpid(monitor_, nullptr, 0);
      }
    }
    monitor_ = -1;
    if (control_ >= 0) close(control_);
    control_ = -1;
    if (log_fd_ >= 0) close(log_fd_);
    log_fd_ = -1;
    log_.clear();
    log_seen_ = 0;
  }

  // The monitor's exit status, once it has exited (bounded wait).
  std::optional<int> WaitForExit(milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = waitpid(monitor_, &status, WNOHANG);
      if (r == monitor_) {
        monitor_ = -1;
        return status;
      }
      if (r < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      // Its log closes when it exits (the monitor and its listener hold it).
      ReadLog(milliseconds(10));
    }
  }

  // Reads the log until it ends (every process holding it has exited), for
  // at most `timeout`.
  void DrainLog(milliseconds timeout = milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline && ReadLog(milliseconds(100))) {
    }
  }

  // Reads what the log has for up to `timeout`; false at EOF.
  bool ReadLog(milliseconds timeout) {
    pollfd p{log_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return true;
    char buf[4096];
    ssize_t n = read(log_fd_, buf, sizeof buf);
    if (n <= 0) return false;
    log_.append(buf, static_cast<size_t>(n));
    return true;
  }

  // Waits for `needle` after what an earlier call found.
  bool WaitForLog(const std::string& needle, milliseconds timeout = milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (log_.find(needle, log_seen_) == std::string::npos) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline -
                                                           std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{log_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
      char buf[4096];
      ssize_t n = read(log_fd_, buf, sizeof buf);
      if (n <= 0) return false;
      log_.append(buf, static_cast<size_t>(n));
    }
    log_seen_ = log_.find(needle, log_seen_) + needle.size();
    return true;
  }

  // The value of `key=` on the log line found last by WaitForLog.
  std::string FieldOfLastFound(const std::string& key) {
    size_t line = log_.rfind('\n', log_seen_);
    line = line == std::string::npos ? 0 : line + 1;
    size_t pos = log_.find(" " + key + "=", line);
    if (pos == std::string::npos) return "";
    pos += key.size() + 2;
    return log_.substr(pos, log_.find_first_of(" \n", pos) - pos);
  }

  void Send(const void* msg, size_t len, const std::vector<int>& fds) {
    ASSERT_TRUE(SendMessage(control_, msg, len, fds)) << strerror(errno);
  }

  // The end report the monitor owes for a refused request, naming it.
  template <typename R>
  bool ReceivesRefusal(const R& req, Outcome outcome = Outcome::kRefused) {
    pollfd p{control_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return false;
    std::string buf(65536, '\0');
    ssize_t n = recv(control_, buf.data(), buf.size(), 0);
    if (n <= 0) return false;
    buf.resize(static_cast<size_t>(n));
    auto decoded = DecodeFromMonitor(buf, 0);
    const auto* batch = std::get_if<EndBatch>(&decoded);
    return batch != nullptr && batch->size() == 1 && (*batch)[0].outcome == outcome &&
           (*batch)[0].request == req.id;
  }

  // True if the monitor closed its end of the channel with nothing more
  // for this listener (no end report: a forged request gets none).
  bool ChannelClosedWithoutReport() {
    pollfd p{control_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return false;
    char buf[512];
    ssize_t n = recv(control_, buf, sizeof buf, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  template <typename R = ConnectionRequest>
  R Request(uint64_t generation, uint32_t service) {
    R req;
    if constexpr (requires { req.id; }) req.id = ++next_id_;
    req.generation = generation;
    req.service = service;
    return req;
  }

  // As a listener does: accepts the next connection on `listening` and
  // passes it on in a valid spawn request, which it returns.
  ConnectionRequest AcceptAndRequest(int listening, uint32_t service = kEcho) {
    int conn = accept4(listening, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(conn, 0);
    auto req = Request(1, service);
    Send(&req, sizeof req, {conn});
    close(conn);
    return req;
  }

  // A client of the echo service, passed on by the test as a listener does,
  // is served by a child the monitor starts.
  void ExpectEchoServed(int listening) {
    int client = testing::ConnectTcp("127.0.0.1", port_);
    ASSERT_GE(client, 0);
    AcceptAndRequest(listening);
    EXPECT_TRUE(WaitForLog("event=accept service=echo")) << log_;
    ASSERT_EQ(write(client, "still served\n", 13), 13);
    shutdown(client, SHUT_WR);
    EXPECT_EQ(testing::ReadAll(client, milliseconds(5000)), "still served\n");
    close(client);
  }

  TempDir dir_;
  std::string config_path_;
  uint16_t port_ = 0;
  uint16_t other_port_ = 0;
  uint16_t udp_port_ = 0;
  uint16_t wait_port_ = 0;
  pid_t monitor_ = -1;
  int control_ = -1;
  int log_fd_ = -1;
  std::string log_;
  size_t log_seen_ = 0;
  uint64_t next_id_ = 100;
  // Options of the next StartMonitor.
  milliseconds exec_watch_delay_{100};
  milliseconds setup_timeout_{2000};
  milliseconds process_events_period_{250};
  milliseconds kernel_records_period_{250};
  milliseconds seccomp_record_wait_{2000};
};

TEST_F(MonitorTest, EveryForgedRequestIsRefusedLoggedAndEndsTheListener) {
  // Descriptors from elsewhere: a foreign tcp connection and its listening
  // socket, a unix socketpair, a pipe.
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

  // Each forgery sends its message to a fresh monitor; `logged` is what its
  // refuse-request line must say; `accepted` children it lets start first.
  struct Forgery {
    std::string logged;
    std::function<void()> send;
    size_t accepted = 0;
  };
  auto request = [&](auto req, std::vector<int> fds) {
    return [this, req, fds] { Send(&req, sizeof req, fds); };
  };
  const std::vector<Forgery> forgeries = {
      {"reason=\"malformed message\"",
       [&] {
         const char garbage[] = "not a message";
         Send(garbage, sizeof garbage, {});
       }},
      {"reason=\"unexpected message\"",
       [&] {
         StatusMessage status;  // a monitor's message, coming from the listener
         Send(&status, sizeof status, {});
       }},
      {"reason=\"malformed spawn request\"",
       [&] {  // truncated
         auto req = Request(1, kEcho);
         Send(&req, sizeof req / 2, {foreign});
       }},
      {"reason=\"malformed spawn request\"",
       [&] {  // larger than any message the monitor reads
         auto req = Request(1, kEcho);
         std::string big(70000, 'x');
         std::memcpy(big.data(), &req, sizeof req);
         Send(big.data(), big.size(), {foreign});
       }},
      {"reason=\"malformed spawn request\" service=0 generation=1",
       [&] {  // a source key longer than its bytes
         auto req = Request(1, kEcho);
         req.source.len = sizeof req.source.bytes + 1;
         Send(&req, sizeof req, {foreign});
       }},
      {"reason=\"no such service\" service=7", request(Request(1, 7), {foreign})},
      {"reason=\"missing descriptor\"", request(Request(1, kEcho), {})},
      {"reason=\"too many descriptors\"", request(Request(1, kEcho), {foreign, pair[0]})},
      {"reason=\"too many descriptors\"",  // more than a message can carry
       request(Request(1, kEcho), {foreign, pair[0], pair[1]})},
      {"reason=\"descriptor is not the right kind of socket\"", request(Request(1, kEcho), {pipes[0]})},
      {"reason=\"descriptor does not belong to the service\"", request(Request(1, kEcho), {pair[0]})},
      {"reason=\"descriptor does not belong to the service\"", request(Request(1, kEcho), {foreign})},
      {"reason=\"descriptor is not a connection\"", request(Request(1, kEcho), {other_listen})},
      {"reason=\"request does not match the service's protocol\"",
       request(Request<UdpWaitStartRequest>(1, kEcho), {foreign})},
      {"reason=\"descriptor does not belong to the service\" service=0",
       [&] {  // a real connection, of the other service
         int listening = TakeListeningSocket(monitor_, other_port_);
         ASSERT_GE(listening, 0) << "pidfd_getfd: " << strerror(errno);
         int client = testing::ConnectTcp("127.0.0.1", other_port_);
         ASSERT_GE(client, 0);
         AcceptAndRequest(listening, kEcho);
         close(client);
         close(listening);
       }},
      {"reason=\"handover socket is not connected\" service=2",
       [&] {  // the listening socket as both descriptors, unconnected
         int s = TakeListeningSocket(monitor_, udp_port_, SOCK_DGRAM);
         ASSERT_GE(s, 0) << "pidfd_getfd: " << strerror(errno);
         auto req = Request<UdpHandoverRequest>(1, kUecho);
         Send(&req, sizeof req, {s, s});
         close(s);
       }},
      {"reason=\"handover socket is not a fresh one\" service=2",
       [&] {  // the same, connected: a child would get the table's socket
         int s = TakeListeningSocket(monitor_, udp_port_, SOCK_DGRAM);
         ASSERT_GE(s, 0) << "pidfd_getfd: " << strerror(errno);
         sockaddr_in peer{};
         peer.sin_family = AF_INET;
         peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
         peer.sin_port = htons(9);
         ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&peer), sizeof peer), 0);
         auto req = Request<UdpHandoverRequest>(1, kUecho);
         Send(&req, sizeof req, {s, s});
         close(s);
       }},
      {"reason=\"replaced socket is not shut down\" service=3",
       [&] {  // a replacement of a wait socket that is in order
         int s = TakeListeningSocket(monitor_, wait_port_, SOCK_DGRAM);
         ASSERT_GE(s, 0) << "pidfd_getfd: " << strerror(errno);
         auto req = Request<UdpReplaceSocketRequest>(1, kUwait);
         Send(&req, sizeof req, {s, s});
         close(s);
       }},
      {"reason=\"malformed spawn request\" service=0",
       [&] {  // a replacement for a stream service's socket
         auto req = Request<UdpReplaceSocketRequest>(1, kEcho);
         Send(&req, sizeof req, {foreign, foreign});
       }},
      {"reason=\"replaced socket is not shut down\" service=2",
       [&] {  // a replacement of a nowait service's socket that is in order
         int s = TakeListeningSocket(monitor_, udp_port_, SOCK_DGRAM);
         ASSERT_GE(s, 0) << "pidfd_getfd: " << strerror(errno);
         auto req = Request<UdpReplaceSocketRequest>(1, kUecho);
         Send(&req, sizeof req, {s, s});
         close(s);
       }},
      {"reason=\"peer refused by allow/deny\" service=1",
       [&] {  // a real connection of the service, from a peer its deny list names
         int listening = TakeListeningSocket(monitor_, other_port_);
         ASSERT_GE(listening, 0) << "pidfd_getfd: " << strerror(errno);
         int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
         sockaddr_in from{};
         from.sin_family = AF_INET;
         from.sin_addr.s_addr = htonl(0x7f000003);  // 127.0.0.3
         ASSERT_EQ(bind(client, reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
         sockaddr_in to = from;
         to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
         to.sin_port = htons(other_port_);
         ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
         AcceptAndRequest(listening, 1);
         close(client);
         close(listening);
       }},
      {"reason=\"handed-over datagram is not from the socket's peer\" service=2",
       [&] {  // the table's socket, connected to one peer, holding another's
              // datagram: the child would answer it as the first one's
         int s = TakeListeningSocket(monitor_, udp_port_, SOCK_DGRAM);
         ASSERT_GE(s, 0) << "pidfd_getfd: " << strerror(errno);
         int sender = testing::UdpSocket();
         int claimed = testing::UdpSocket();
         ASSERT_GE(sender, 0);
         ASSERT_GE(claimed, 0);
         ASSERT_TRUE(testing::SendTo(sender, "127.0.0.1", udp_port_, "x"));
         pollfd p{s, POLLIN, 0};
         ASSERT_EQ(poll(&p, 1, 5000), 1);
         // Bound only now: the datagram is in the table's socket.
         int fresh = FreshUdpSocket(udp_port_);
         ASSERT_GE(fresh, 0) << strerror(errno);
         sockaddr_in peer = Loopback(testing::LocalPort(claimed));
         ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&peer), sizeof peer), 0);
         auto req = Request<UdpHandoverRequest>(1, kUecho);
         Send(&req, sizeof req, {s, fresh});
         for (int fd : {s, fresh, sender, claimed}) close(fd);
       }},
      {"reason=\"peer refused by the reflection rules\" service=3",
       [&] {  // a wait request for a datagram from a port this hinetd serves
              // (echo's, over UDP): answering it could start a loop
         int s = TakeListeningSocket(monitor_, wait_port_, SOCK_DGRAM);
         ASSERT_GE(s, 0) << "pidfd_getfd: " << strerror(errno);
         int client = testing::UdpSocket("127.0.0.1", port_);
         ASSERT_GE(client, 0) << "udp port " << port_ << " taken";
         sockaddr_in to{};
         to.sin_family = AF_INET;
         to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
         to.sin_port = htons(wait_port_);
         ASSERT_EQ(sendto(client, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 1);
         close(client);
         auto req = Request<UdpWaitStartRequest>(1, kUwait);
         Send(&req, sizeof req, {s});
         close(s);
       }},
      {"reason=\"wait socket is busy\" service=3",
       [&] {  // a second wait request while the first one's child runs
         int s = TakeListeningSocket(monitor_, wait_port_, SOCK_DGRAM);
         ASSERT_GE(s, 0) << "pidfd_getfd: " << strerror(errno);
         int client = testing::UdpSocket();
         sockaddr_in to{};
         to.sin_family = AF_INET;
         to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
         to.sin_port = htons(wait_port_);
         ASSERT_EQ(sendto(client, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 1);
         close(client);
         auto first = Request<UdpWaitStartRequest>(1, kUwait);
         Send(&first, sizeof first, {s});
         ASSERT_TRUE(WaitForLog("event=accept service=uwait")) << log_;
         auto second = Request<UdpWaitStartRequest>(1, kUwait);
         Send(&second, sizeof second, {s});
         close(s);
       },
       1},
  };
  for (const Forgery& f : forgeries) {
    SCOPED_TRACE(f.logged);
    StartMonitor(/*external=*/true, Table());
    f.send();
    EXPECT_TRUE(WaitForLog("event=refuse-request " + f.logged)) << log_;
    // The listener is done for: with no process to kill, its channel is
    // closed (no end report for the request), and the monitor stops.
    EXPECT_TRUE(WaitForLog("event=listener-kill reason=\"forged request\" pid=external")) << log_;
    EXPECT_TRUE(ChannelClosedWithoutReport());
    auto status = WaitForExit(milliseconds(10000));
    ASSERT_TRUE(status.has_value()) << log_;
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
    DrainLog();
    EXPECT_EQ(Count(log_, "event=accept"), f.accepted) << log_;
    EXPECT_EQ(Count(log_, "event=refuse-request"), 1u) << log_;
  }
  for (int fd : {other_listen, foreign, pair[0], pair[1], pipes[0], pipes[1]}) close(fd);
}

TEST_F(MonitorTest, AUdpWaitChildGetsThePeerOfTheDatagramNotOfTheRequest) {
  // A wait request carries no peer or destination (a subverted listener
  // would lie about both: the child's TCPREMOTEIP, the log): the monitor
  // peeks at the datagram itself.
  testing::Jail jail;
  ASSERT_TRUE(jail.ok()) << jail.error();
  ASSERT_TRUE(jail.Install(BinDir() + "/hinetd-probe", "/probe"));
  dir_.Write("sandbox/udp-probe.toml",
             "description = \"hinetd-probe udp\"\ninclude = [\"runtime\"]\n"
             "allow = [\"read\", \"write\", \"poll\", \"recvfrom\", \"sendto\"]\n");
  uint16_t probe_port = testing::FreeUdpPort();
  constexpr uint32_t kProbe = 4;  // after the table's own four
  StartMonitor(/*external=*/true,
               Table("uwait", "[[service]]\nname = \"uprobe\"\nlisten = \"127.0.0.1:" +
                                  std::to_string(probe_port) +
                                  "\"\nprotocol = \"udp\"\nwait = true\n"
                                  "exec = [\"/probe\", \"udp\", \"1\"]\nuser = \"nobody\"\n"
                                  "chroot = \"" + jail.path() + "\"\nsandbox = \"udp-probe\"\n"));
  if (HasFatalFailure()) return;
  int s = TakeListeningSocket(monitor_, probe_port, SOCK_DGRAM);
  if (s < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";

  int client = testing::UdpSocket();
  ASSERT_GE(client, 0);
  std::string real = "127.0.0.1:" + std::to_string(testing::LocalPort(client));
  ASSERT_TRUE(testing::SendTo(client, "127.0.0.1", probe_port, "who"));
  pollfd p{s, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  auto req = Request<UdpWaitStartRequest>(1, kProbe);
  Send(&req, sizeof req, {s});
  // The child answers the datagram's source with what it was told.
  auto reply = testing::RecvDatagram(client, milliseconds(5000));
  ASSERT_TRUE(reply.has_value()) << log_;
  EXPECT_NE(reply->find(" remote=" + real + " "), std::string::npos) << *reply;
  EXPECT_NE(reply->find(" local=127.0.0.1:" + std::to_string(probe_port) + " "),
            std::string::npos)
      << *reply;
  EXPECT_TRUE(WaitForLog("event=accept service=uprobe peer=" + real + " ")) << log_;
  ASSERT_TRUE(WaitForLog("event=end service=uprobe")) << log_;
  EXPECT_EQ(log_.find("10.9.9.9"), std::string::npos) << log_;
  EXPECT_EQ(log_.find("event=listener-kill"), std::string::npos) << log_;

  close(s);
  close(client);
}

// Waits (bounded) until `ready` holds.
bool WaitUntil(const std::function<bool()>& ready, milliseconds timeout = milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    poll(nullptr, 0, 5);  // polling a socket's state; bounded by the deadline
  }
  return true;
}

TEST_F(MonitorTest, AConnectionItsClientResetIsRefusedAndTheListenerKept) {
  // Any client can reset its connection before the monitor looks at it (in
  // the listener's accept queue, or just after): it then has no peer. An
  // honest listener passes such ones on; it must not be taken for forged.
  StartMonitor(/*external=*/true, Table());
  int listening = TakeListeningSocket(monitor_, port_);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int client = testing::ConnectTcp("127.0.0.1", port_);
  ASSERT_GE(client, 0);
  int conn = accept4(listening, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0);
  linger reset{1, 0};
  ASSERT_EQ(setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  close(client);
  ASSERT_TRUE(WaitUntil([conn] {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    return getpeername(conn, reinterpret_cast<sockaddr*>(&ss), &len) != 0;
  }));
  auto req = Request(1, kEcho);
  Send(&req, sizeof req, {conn});
  close(conn);
  EXPECT_TRUE(WaitForLog(
      "event=refuse-request reason=\"connection closed before it was served\" service=0"))
      << log_;
  // Closed, which the listener counts as nobody's failure.
  EXPECT_TRUE(ReceivesRefusal(req, Outcome::kClosed));
  ExpectEchoServed(listening);
  EXPECT_EQ(log_.find("event=listener-kill"), std::string::npos) << log_;
  close(listening);
}

TEST_F(MonitorTest, AWaitRequestWithNoDatagramIsRefusedAndTheListenerKept) {
  // The listener saw a datagram, and another process that shares the wait
  // socket (one a wait child without a PID namespace left behind) read it
  // before the monitor looked. The peer the request names cannot be
  // checked, so it is not believed, and nothing is started; but an honest
  // listener can meet this.
  StartMonitor(/*external=*/true, Table());
  int s = TakeListeningSocket(monitor_, wait_port_, SOCK_DGRAM);
  if (s < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int listening = TakeListeningSocket(monitor_, port_);
  ASSERT_GE(listening, 0);
  auto req = Request<UdpWaitStartRequest>(1, kUwait);
  Send(&req, sizeof req, {s});
  close(s);
  EXPECT_TRUE(WaitForLog(
      "event=refuse-request reason=\"no datagram waits on the wait socket\" service=3"))
      << log_;
  EXPECT_TRUE(ReceivesRefusal(req));
  ExpectEchoServed(listening);
  EXPECT_EQ(log_.find("event=accept service=uwait"), std::string::npos) << log_;
  EXPECT_EQ(log_.find("event=listener-kill"), std::string::npos) << log_;
  close(listening);
}

TEST_F(MonitorTest, AHandoverWithAPendingSocketErrorIsServed) {
  // An ICMP port unreachable that names the peer leaves a pending error on
  // the socket the listener has just connected to it; a remote host can
  // forge one at any time. It says nothing about the datagram queued there.
  StartMonitor(/*external=*/true, Table());
  int s = TakeListeningSocket(monitor_, udp_port_, SOCK_DGRAM);
  if (s < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int client = testing::UdpSocket();
  ASSERT_GE(client, 0);
  uint16_t client_port = testing::LocalPort(client);
  ASSERT_TRUE(testing::SendTo(client, "127.0.0.1", udp_port_, "ping"));
  pollfd p{s, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  int fresh = FreshUdpSocket(udp_port_);
  ASSERT_GE(fresh, 0) << strerror(errno);
  sockaddr_in peer = Loopback(client_port);
  ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&peer), sizeof peer), 0);
  // The error, made here the honest way: a datagram to the peer's port
  // while nothing is bound there, whose ICMP answer comes back at once on
  // loopback. Then the peer's port is bound again, to hear the answer.
  close(client);
  ASSERT_EQ(send(s, "x", 1, 0), 1);
  ASSERT_TRUE(WaitUntil([s] {
    pollfd e{s, 0, 0};
    return poll(&e, 1, 0) == 1 && (e.revents & POLLERR) != 0;
  }));
  client = testing::UdpSocket("127.0.0.1", client_port);
  ASSERT_GE(client, 0);
  auto req = Request<UdpHandoverRequest>(1, kUecho);
  Send(&req, sizeof req, {s, fresh});
  close(s);
  close(fresh);
  EXPECT_TRUE(WaitForLog("event=accept service=uecho peer=127.0.0.1:" +
                         std::to_string(client_port) + " "))
      << log_;
  EXPECT_EQ(testing::RecvDatagram(client, milliseconds(5000)).value_or("<none>"), "ping");
  EXPECT_EQ(log_.find("event=refuse-request"), std::string::npos) << log_;
  EXPECT_EQ(log_.find("event=listener-kill"), std::string::npos) << log_;
  close(client);
}

// The test is the listener: it hands over the udp nowait socket holding
// two peers' datagrams, connected to the first; the first one's child ends
// at the second one's datagram, and its end report says datagrams are left.
// Only then is the socket the next peer's: connected to it, it goes to a
// child of its own. The same socket again while that child holds it, or
// the table's own socket, is no socket any child left datagrams on.
TEST_F(MonitorTest, AUdpSocketGoesToTheNextPeerOnlyOnceItsChildEndedWithDatagramsLeft) {
  StartMonitor(/*external=*/true, Table());
  int s = TakeListeningSocket(monitor_, udp_port_, SOCK_DGRAM);
  if (s < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int a = testing::UdpSocket();
  int b = testing::UdpSocket();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_TRUE(testing::SendTo(a, "127.0.0.1", udp_port_, "from a"));
  ASSERT_TRUE(testing::SendTo(b, "127.0.0.1", udp_port_, "from b"));
  pollfd p{s, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);  // on loopback both are queued by now
  int fresh = FreshUdpSocket(udp_port_);
  ASSERT_GE(fresh, 0) << strerror(errno);
  sockaddr_in to_a = Loopback(testing::LocalPort(a));
  ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&to_a), sizeof to_a), 0);
  auto handover = Request<UdpHandoverRequest>(1, kUecho);
  Send(&handover, sizeof handover, {s, fresh});
  close(fresh);
  EXPECT_EQ(testing::RecvDatagram(a, milliseconds(5000)).value_or("<none>"), "from a");
  // Its end report, rung for: it names the request and says datagrams are left.
  std::optional<EndReport> end;
  ASSERT_TRUE(WaitUntil([&] {
    char buf[4096];
    ssize_t n = recv(control_, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return false;
    auto decoded = DecodeFromMonitor(std::string_view(buf, static_cast<size_t>(n)), 0);
    if (const auto* batch = std::get_if<EndBatch>(&decoded)) {
      for (size_t i = 0; i < batch->size(); ++i) {
        if ((*batch)[i].request == handover.id) end = (*batch)[i];
      }
    }
    return end.has_value();
  }, milliseconds(10000))) << log_;
  EXPECT_EQ(end->outcome, Outcome::kExited);
  EXPECT_EQ(end->leftover, 1) << log_;
  // The table's own socket (the fresh one now): never a socket a child
  // left datagrams on.
  int table = TakeListeningSocket(monitor_, udp_port_, SOCK_DGRAM);
  ASSERT_GE(table, 0);
  auto wrong = Request<UdpLeftoverRequest>(1, kUecho);
  Send(&wrong, sizeof wrong, {table});
  close(table);
  EXPECT_TRUE(WaitForLog("event=refuse-request reason=\"no ended child left datagrams on this "
                         "socket\" service=2"))
      << log_;
  EXPECT_TRUE(ReceivesRefusal(wrong, Outcome::kClosed));
  // The handed-over socket, connected to b: b's own child.
  sockaddr_in to_b = Loopback(testing::LocalPort(b));
  ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&to_b), sizeof to_b), 0);
  auto leftover = Request<UdpLeftoverRequest>(1, kUecho);
  Send(&leftover, sizeof leftover, {s});
  EXPECT_EQ(testing::RecvDatagram(b, milliseconds(5000)).value_or("<none>"), "from b") << log_;
  EXPECT_TRUE(WaitForLog("event=accept service=uecho peer=127.0.0.1:" +
                         std::to_string(testing::LocalPort(b)) + " "))
      << log_;
  // Again while b's child holds it (idle, for 2 s): one child at a time on
  // a socket.
  auto twice = Request<UdpLeftoverRequest>(1, kUecho);
  Send(&twice, sizeof twice, {s});
  EXPECT_TRUE(WaitForLog("event=refuse-request reason=\"no ended child left datagrams on this "
                         "socket\" service=2"))
      << log_;
  EXPECT_TRUE(ReceivesRefusal(twice, Outcome::kClosed)) << log_;
  EXPECT_EQ(log_.find("event=listener-kill"), std::string::npos) << log_;
  for (int fd : {s, a, b}) close(fd);
}

TEST_F(MonitorTest, AStaleGenerationIsRefusedAndTheListenerKept) {
  // What an honest listener can meet around a reload: an end report, no kill.
  StartMonitor(/*external=*/true, Table());
  int listening = TakeListeningSocket(monitor_, port_);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int client = testing::ConnectTcp("127.0.0.1", port_);
  ASSERT_GE(client, 0);
  int conn = accept4(listening, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0);
  auto stale = Request(0, kEcho);
  Send(&stale, sizeof stale, {conn});
  close(conn);
  EXPECT_TRUE(WaitForLog("event=refuse-request reason=\"stale generation\" service=0 generation=0"))
      << log_;
  EXPECT_TRUE(ReceivesRefusal(stale));
  EXPECT_EQ(testing::ReadAll(client, milliseconds(5000)), "") << "closed, not served";
  close(client);
  // Still its listener: the next valid request is served.
  ExpectEchoServed(listening);
  EXPECT_EQ(log_.find("event=listener-kill"), std::string::npos) << log_;
  close(listening);
}

TEST_F(MonitorTest, AValidRequestStillSpawns) {
  StartMonitor(/*external=*/true, Table());
  int listening = TakeListeningSocket(monitor_, port_);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  ExpectEchoServed(listening);
  EXPECT_EQ(log_.find("event=refuse-request"), std::string::npos) << log_;
  close(listening);
}

// `size` bytes from `fd`, or what came of them by the deadline.
std::string ReadBytes(int fd, size_t size, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string got;
  while (got.size() < size) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) != 1) break;
    char buf[256];
    ssize_t n = read(fd, buf, std::min(sizeof buf, size - got.size()));
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// With the status pipes unwatched for an hour (and no setup deadline to
// look at them either), only a wanted slot, a reap or a signal to end
// makes the monitor look at a child's setup.
constexpr milliseconds kAnHour{3600 * 1000};

TEST_F(MonitorTest, ChildrenPastEverySpawnSlotAreServedWithoutWatchingTheirSetup) {
  // More children that stay than the monitor has spawn slots (one per
  // CPU): each request finds every slot taken by a child that has
  // executed, which nobody has looked at; the monitor must look (one read
  // of each status pipe) before it leaves the request in the channel.
  exec_watch_delay_ = kAnHour;
  setup_timeout_ = kAnHour;
  StartMonitor(/*external=*/true, Table());
  int listening = TakeListeningSocket(monitor_, other_port_);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int n = static_cast<int>(std::min<long>(std::max<long>(cpus, 1) + 3, kMaxChildren));
  if (n <= cpus) GTEST_SKIP() << "needs more than one child per CPU under max_children";
  std::vector<int> clients;
  for (int i = 0; i < n; ++i) {
    int client = testing::ConnectTcp("127.0.0.1", other_port_);
    ASSERT_GE(client, 0);
    clients.push_back(client);
    AcceptAndRequest(listening, kOther);
  }
  // Every child serves while all of them run (no client has closed, so no
  // child has ended to free a slot): the last requests were read too.
  for (int i = 0; i < n; ++i) {
    std::string line = "child " + std::to_string(i) + "\n";
    ASSERT_EQ(write(clients[i], line.data(), line.size()), static_cast<ssize_t>(line.size()));
    EXPECT_EQ(ReadBytes(clients[i], line.size(), milliseconds(10000)), line) << i << "\n" << log_;
  }
  for (int c : clients) close(c);
  // Each is logged, at the latest when it is reaped.
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(WaitForLog("event=end service=other")) << i << "\n" << log_;
  }
  size_t accepts = 0;
  for (size_t at = 0; (at = log_.find("event=accept service=other", at)) != std::string::npos; ++at) {
    ++accepts;
  }
  EXPECT_EQ(accepts, static_cast<size_t>(n)) << log_;
  EXPECT_EQ(log_.find("event=setup-failed"), std::string::npos) << log_;
  close(listening);
}

TEST_F(MonitorTest, ATimeoutTermsAChildThatExecutedUnwatched) {
  // Its timeout comes while nobody has looked at its status pipe: the
  // monitor must find that it has executed (TERM to its group, as to any
  // running service) rather than kill it as one still setting up (KILL).
  // Without a PID namespace TERM reaches /bin/sleep, which ends by it.
  uint16_t port = testing::FreeTcpPort();
  std::string napper = "[[service]]\nname = \"napper\"\nlisten = \"127.0.0.1:" +
                       std::to_string(port) +
                       "\"\nexec = [\"/bin/sleep\", \"60\"]\nuser = \"nobody\"\n"
                       "sandbox = \"stdio\"\nnamespaces = []\ntimeout = \"1s\"\n";
  exec_watch_delay_ = kAnHour;
  setup_timeout_ = kAnHour;
  StartMonitor(/*external=*/true, Table("uwait", napper));
  int listening = TakeListeningSocket(monitor_, port);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int client = testing::ConnectTcp("127.0.0.1", port);
  ASSERT_GE(client, 0);
  AcceptAndRequest(listening, /*napper=*/4);
  ASSERT_TRUE(WaitForLog("event=accept service=napper", milliseconds(10000))) << log_;
  ASSERT_TRUE(WaitForLog("event=end service=napper", milliseconds(10000))) << log_;
  EXPECT_EQ(FieldOfLastFound("status"), "timeout") << log_;
  EXPECT_EQ(FieldOfLastFound("signal"), "TERM") << log_;
  close(client);
  close(listening);
}

TEST_F(MonitorTest, AStderrPipeUnwatchedForItsDelayIsReadWholeAtTheReap) {
  // A child's stderr pipe joins the monitor's epoll set only once its
  // delay is over (exec_watch_delay, here an hour): what the child wrote
  // meanwhile is read at its reap, every line of it, before its end line.
  uint16_t port = testing::FreeTcpPort();
  std::string talker = "[[service]]\nname = \"talker\"\nlisten = \"127.0.0.1:" +
                       std::to_string(port) +
                       "\"\nexec = [\"/bin/sh\", \"-c\", \"echo said >&2; echo more >&2; echo ready; "
                       "exec sleep 60\"]\nuser = \"nobody\"\nsandbox = \"none\"\nunconfined = true\n"
                       "namespaces = []\n";
  exec_watch_delay_ = kAnHour;
  setup_timeout_ = kAnHour;
  StartMonitor(/*external=*/true, Table("uwait", talker));
  int listening = TakeListeningSocket(monitor_, port);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int client = testing::ConnectTcp("127.0.0.1", port);
  ASSERT_GE(client, 0);
  AcceptAndRequest(listening, /*talker=*/4);
  ASSERT_EQ(ReadBytes(client, 6, milliseconds(10000)), "ready\n") << log_;
  // Another request makes the monitor look at the setups it has not
  // watched: the talker has executed (it answered), so it is logged.
  int echo_listening = TakeListeningSocket(monitor_, port_);
  ASSERT_GE(echo_listening, 0);
  int echo_client = testing::ConnectTcp("127.0.0.1", port_);
  ASSERT_GE(echo_client, 0);
  AcceptAndRequest(echo_listening);
  close(echo_client);
  ASSERT_TRUE(WaitForLog("event=accept service=talker", milliseconds(10000))) << log_;
  // The shell said "ready" just before it executes sleep.
  pid_t child = -1;
  auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  while ((child = testing::ChildNamed(monitor_, "sleep")) < 0 &&
         std::chrono::steady_clock::now() < deadline) {
    usleep(1000);  // polling another process's state; bounded by the deadline
  }
  ASSERT_GT(child, 0) << "no sleep child of the monitor";
  ino_t pipe = testing::FdInode(child, 2);
  ASSERT_NE(pipe, 0u);
  EXPECT_GE(testing::FdWithInode(monitor_, pipe), 0) << "the monitor holds no end of the pipe";
  auto watched = testing::EpollWatchedInodes(monitor_);
  EXPECT_EQ(std::find(watched.begin(), watched.end(), pipe), watched.end())
      << "a stderr pipe is watched before its delay is over";
  EXPECT_EQ(log_.find("event=stderr service=talker"), std::string::npos) << log_;
  ASSERT_EQ(kill(child, SIGTERM), 0);
  ASSERT_TRUE(WaitForLog("event=end service=talker", milliseconds(10000))) << log_;
  size_t end = log_.rfind("event=end service=talker");
  std::string of_child = "event=stderr service=talker pid=" + std::to_string(child);
  size_t said = log_.find(of_child + " line=said\n");
  size_t more = log_.find(of_child + " line=more\n");
  EXPECT_LT(said, end) << log_;
  EXPECT_LT(more, end) << log_;
  EXPECT_LT(said, more) << log_;
  close(client);
  close(echo_listening);
  close(listening);
}

// The monitor's sleeps (voluntary context switches) so far, or -1.
long Sleeps(pid_t pid) {
  std::string v = testing::ProcStatusField(pid, "voluntary_ctxt_switches");
  return v == "<missing>" ? -1 : std::stol(v);
}

// The monitor's one-shot watches (the host's event sources, host_watch.h)
// and whether each is disarmed, keyed by what it watches: "connector" (the
// process events), "audit" (the audit socket), "kmsg". Read from /proc: the
// epoll set's fdinfo names each watched descriptor and its events (the
// kernel keeps only the flag bits of a one-shot entry that fired until it
// is re-armed); the descriptor's link and /proc/PID/net/netlink say what it is.
std::map<std::string, bool> OneShotWatches(pid_t pid) {
  std::string proc = "/proc/" + std::to_string(pid);
  std::map<unsigned long, int> netlink_protocol;  // by socket inode
  {
    std::ifstream in(proc + "/net/netlink");
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string sk, value;
      int protocol = -1;
      fields >> sk >> protocol;
      std::string last;
      while (fields >> value) last = value;
      if (!last.empty()) netlink_protocol[std::stoul(last)] = protocol;
    }
  }
  std::map<std::string, bool> watches;
  DIR* d = opendir((proc + "/fdinfo").c_str());
  if (d == nullptr) return watches;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(proc + "/fdinfo/" + e->d_name);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("tfd:", 0) != 0) continue;
      size_t at = line.find("events:");
      if (at == std::string::npos) continue;
      uint32_t events = static_cast<uint32_t>(std::stoul(line.substr(at + 7), nullptr, 16));
      if ((events & EPOLLONESHOT) == 0) continue;
      int tfd = std::stoi(line.substr(4));
      char target[256] = {};
      ssize_t n = readlink((proc + "/fd/" + std::to_string(tfd)).c_str(), target,
                           sizeof target - 1);
      if (n <= 0) continue;
      std::string what(target, static_cast<size_t>(n));
      std::string name = what;
      if (what.rfind("socket:[", 0) == 0) {
        auto it = netlink_protocol.find(std::stoul(what.substr(8)));
        if (it != netlink_protocol.end() && it->second == NETLINK_CONNECTOR) name = "connector";
        if (it != netlink_protocol.end() && it->second == NETLINK_AUDIT) name = "audit";
      } else if (what == "/dev/kmsg") {
        name = "kmsg";
      }
      watches[name] = (events & EPOLLIN) == 0;
    }
  }
  closedir(d);
  return watches;
}

// Whether the monitor's watch on the process events is disarmed; nullopt:
// no such watch.
std::optional<bool> ProcEventsWatchDisarmed(pid_t pid) {
  auto watches = OneShotWatches(pid);
  auto it = watches.find("connector");
  if (it == watches.end()) return std::nullopt;
  return it->second;
}

// Runs /bin/true and reaps it: one fork and one exit on the host.
bool RunTrue() {
  pid_t pid = -1;
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) return false;
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool NoProcessEvents(const std::string& log) {
  return log.find("cannot subscribe to the kernel's process events") != std::string::npos;
}

TEST_F(MonitorTest, ForksElsewhereOnTheHostWakeTheMonitorAtMostOncePerPeriod) {
  // The process events are of the whole system: read as they come, each
  // fork and exit anywhere would wake the monitor (a thousand times a
  // second on a busy build host). At most once per period instead.
  StartMonitor(/*external=*/true, Table());
  if (NoProcessEvents(log_)) GTEST_SKIP() << "no process events here:\n" << log_;
  constexpr int kForks = 1000;
  long before = Sleeps(monitor_);
  ASSERT_GE(before, 0);
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kForks; ++i) ASSERT_TRUE(RunTrue()) << i;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  long woke = Sleeps(monitor_) - before;
  // 4 periods a second, one wakeup each (the period's end: while the host
  // forks the events are read by the timeout alone, not by a re-armed
  // watch that the next fork trips), and some slack for the loop's other
  // business; re-arming each period would be 8 a second, one wakeup per
  // event 2000. The host's log and audit records, which this test does not
  // control (other tests' kills, a driver's lines), may each add their one
  // first wakeup before they join the same period's end.
  double bound = 6 + 5 * seconds;
  EXPECT_LE(woke, bound) << kForks << " forks in " << seconds << " s\n" << log_;
  // Still a monitor that serves.
  int listening = TakeListeningSocket(monitor_, port_);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  ExpectEchoServed(listening);
  close(listening);
}

// One line in the kernel's log, as a driver or a program with the right to
// (root's /dev/kmsg) writes it. The kernel rate-limits such writes (unless
// kernel.printk_devkmsg is "on"): most are dropped, the audit messages and
// kills below carry most of the load.
bool WriteKernelLogLine(int kmsg, int i) {
  std::string line = "hinetd-test: the host's own log line " + std::to_string(i) + "\n";
  return write(kmsg, line.data(), line.size()) == static_cast<ssize_t>(line.size());
}

// An audit record of the host's own: a user-space AVC message, which the
// kernel passes on to the audit socket's read-only group even with auditing
// off (as an audit daemon's rules would, by the thousand, with it on).
bool SendUserAudit(int audit, int i) {
  struct {
    nlmsghdr header;
    char text[128];
  } msg{};
  int len = snprintf(msg.text, sizeof msg.text, "hinetd-test: the host's own record %d", i);
  msg.header.nlmsg_len = NLMSG_LENGTH(static_cast<size_t>(len) + 1);
  msg.header.nlmsg_type = AUDIT_USER_AVC;
  msg.header.nlmsg_flags = NLM_F_REQUEST;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  return sendto(audit, &msg, msg.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
                sizeof kernel) == static_cast<ssize_t>(msg.header.nlmsg_len);
}

// A process of the host's own killed by seccomp (strict mode, then a call
// it does not allow): a kill record that is none of hinetd's business.
bool KillElsewhere() {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT);
    syscall(SYS_getppid);
    _exit(0);
  }
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
         WTERMSIG(status) == SIGKILL;
}

// Whatever a test could make of the host's log and audit traffic: the
// descriptors, and what cannot be done here.
struct HostNoise {
  int kmsg = -1;
  int audit = -1;
  std::string missing;  // why no noise can be made at all, if so
  HostNoise() {
    kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    audit = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
    if (audit >= 0 && !SendUserAudit(audit, -1)) {
      close(audit);
      audit = -1;
    }
    if (kmsg < 0) missing = "/dev/kmsg cannot be written here: " + std::string(strerror(errno));
  }
  ~HostNoise() {
    if (kmsg >= 0) close(kmsg);
    if (audit >= 0) close(audit);
  }
  bool Make(int i) const {
    return (kmsg < 0 || WriteKernelLogLine(kmsg, i)) && (audit < 0 || SendUserAudit(audit, i));
  }
  // All of it, with a fork and a kill: the host's events of every kind.
  bool MakeAll(int i) const { return RunTrue() && KillElsewhere() && Make(i); }
};

TEST_F(MonitorTest, TheHostsLogAndAuditRecordsWakeTheMonitorAtMostOncePerPeriod) {
  // The kernel log and the audit records are of the whole host too: a
  // firewall's LOG rule, a noisy driver, an audit daemon's rules, the kills
  // of other sandboxes. Read as they came, each line woke the monitor. Now
  // with the process events, on one clock: at most once per period,
  // whatever the mix.
  StartMonitor(/*external=*/true, Table());
  if (NoProcessEvents(log_)) GTEST_SKIP() << "no process events here:\n" << log_;
  HostNoise noise;
  if (!noise.missing.empty()) GTEST_SKIP() << noise.missing;
  auto watches = OneShotWatches(monitor_);
  ASSERT_EQ(watches.count("connector"), 1u) << "process events watched one-shot\n" << log_;
  ASSERT_EQ(watches.count("kmsg"), 1u) << "the kernel log watched one-shot\n" << log_;
  bool audit = noise.audit >= 0 && watches.count("audit") == 1;
  constexpr int kRounds = 600;
  long before = Sleeps(monitor_);
  ASSERT_GE(before, 0);
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) ASSERT_TRUE(noise.MakeAll(i)) << i << ": " << strerror(errno);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  long woke = Sleeps(monitor_) - before;
  // One first wakeup per source (three) before they are all quiet, one per
  // period's end after that (4 a second, and a partial one), and slack for
  // the loop's other business. One wakeup per event would be 3,000 here (a
  // kill makes a record on both sources).
  double bound = 6 + 5 * seconds;
  EXPECT_LE(woke, bound) << kRounds << " rounds (audit: " << audit << ") in " << seconds
                         << " s\n" << log_;
  // Still a monitor that serves.
  int listening = TakeListeningSocket(monitor_, port_);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  ExpectEchoServed(listening);
  close(listening);
}

TEST_F(MonitorTest, AKilledChildIsNamedAtOnceWhileTheHostsLogKeepsTheRecordsUnwatched) {
  // The host's lines have quieted the records' watches for the period (an
  // hour here), and a child's end line waits for its record up to
  // seccomp_record_wait (an hour too). The line still comes at once, with
  // its syscall: read at the reap when the record came first, or, when it
  // trails the reap, read as it comes (the records are watched again while
  // an end line waits).
  process_events_period_ = kAnHour;
  kernel_records_period_ = kAnHour;
  seccomp_record_wait_ = kAnHour;
  uint16_t port = testing::FreeTcpPort();
  std::string victim = ForbiddenCallService(
      "victim", port, "syscall",
      "\"read\", \"write\", \"capget\", \"fcntl\", \"getgroups\", \"getpgid\", \"getsid\", "
      "\"getresuid\", \"getresgid\", \"umask\", \"prctl\"");
  StartMonitor(/*external=*/true, Table("uwait", victim));
  if (NoProcessEvents(log_)) GTEST_SKIP() << "no process events here:\n" << log_;
  if (log_.find("cannot read the kernel's audit records") != std::string::npos) {
    GTEST_SKIP() << "the kernel's audit records cannot be read here";
  }
  HostNoise noise;
  if (!noise.missing.empty()) GTEST_SKIP() << noise.missing;
  // Host lines until every records watch is quiet (each fired once, read
  // only the host's business).
  auto quiet = [&] {
    auto w = OneShotWatches(monitor_);
    bool any = false;
    for (const char* name : {"kmsg", "audit"}) {
      if (w.count(name) == 0) continue;
      any = true;
      if (!w[name]) return false;
    }
    return any;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int i = 0;
  while (!quiet() && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(noise.Make(i++));
    ReadLog(milliseconds(10));
  }
  ASSERT_TRUE(quiet()) << "the records watches never went quiet after " << i << " lines\n"
                       << log_;
  int listening = TakeListeningSocket(monitor_, port);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int client = testing::ConnectTcp("127.0.0.1", port);
  ASSERT_GE(client, 0);
  AcceptAndRequest(listening, /*victim=*/4);
  ASSERT_TRUE(WaitForLog("event=end service=victim ", milliseconds(10000))) << log_;
  EXPECT_EQ(FieldOfLastFound("status"), "seccomp") << log_;
  EXPECT_EQ(FieldOfLastFound("syscall"), "socket") << log_;
  close(client);
  close(listening);
}

TEST_F(MonitorTest, ADaemonsKillIsNamedWhenTheEventsAreReadOnlyAtItsChildsReap) {
  // With the periodic read an hour away, the fork events of a child that
  // daemonized are read only when the child is reaped, before the monitor
  // forgets it; the daemon, killed by its filter after that, is still the
  // service's (without that read: no line at all, the table being sure
  // the process is none of hinetd's).
  process_events_period_ = kAnHour;
  uint16_t port = testing::FreeTcpPort();
  std::string forker = ForbiddenCallService(
      "forker", port, "late-daemon-syscall",
      "\"read\", \"write\", \"poll\", \"wait4\", \"setsid\", \"clone\", \"fork\", \"vfork\"");
  StartMonitor(/*external=*/true, Table("uwait", forker));
  if (NoProcessEvents(log_)) GTEST_SKIP() << "no process events here:\n" << log_;
  if (log_.find("cannot read the kernel's audit records") != std::string::npos) {
    GTEST_SKIP() << "the kernel's audit records cannot be read here";
  }
  // Some fork on the host wakes the monitor once: it reads the events and
  // leaves its watch disarmed for the period (an hour). That wakeup may
  // have come already (a fork anywhere since the start), so the watch's
  // state is read from /proc, not inferred from a wakeup seen now.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::optional<bool> disarmed = ProcEventsWatchDisarmed(monitor_);
  while (disarmed == false && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(RunTrue());
    ReadLog(milliseconds(10));
    disarmed = ProcEventsWatchDisarmed(monitor_);
  }
  ASSERT_TRUE(disarmed.has_value()) << "no one-shot watch in the monitor's epoll set\n" << log_;
  ASSERT_TRUE(*disarmed) << "the monitor never read the process events of a fork\n" << log_;
  int listening = TakeListeningSocket(monitor_, port);
  if (listening < 0) GTEST_SKIP() << "pidfd_open/pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  int client = testing::ConnectTcp("127.0.0.1", port);
  ASSERT_GE(client, 0);
  AcceptAndRequest(listening, /*forker=*/4);
  // The probe's end and the daemon's pid, in either order.
  std::string report;
  auto deadline_read = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((report.find("end=1\n") == std::string::npos ||
          report.find("victim=") == std::string::npos) &&
         std::chrono::steady_clock::now() < deadline_read) {
    std::string more = ReadBytes(client, 1, milliseconds(100));
    report += more;
  }
  ASSERT_NE(report.find("end=1\n"), std::string::npos) << report << log_;
  ASSERT_NE(report.find("victim="), std::string::npos) << report << log_;
  ASSERT_TRUE(WaitForLog("event=accept service=forker", milliseconds(10000))) << log_;
  std::string child = FieldOfLastFound("pid");
  // The probe has ended and been reaped; the daemon lives on, holding the
  // connection. Now it makes its forbidden call.
  ASSERT_TRUE(WaitForLog("event=end service=forker pid=" + child + " ", milliseconds(10000)))
      << log_;
  ASSERT_EQ(write(client, "g", 1), 1);
  EXPECT_TRUE(WaitForLog("event=seccomp service=forker ", milliseconds(10000))) << log_;
  EXPECT_EQ(FieldOfLastFound("child"), child) << log_;
  EXPECT_EQ(FieldOfLastFound("syscall"), "socket") << log_;
  close(client);
  close(listening);
}

TEST_F(MonitorTest, MonitorHoldsMaxInstancesItself) {
  // The listener enforces the limits; a subverted one that ignores them
  // still cannot make the monitor start more than max_instances children.
  StartMonitor(/*external=*/true, Table());
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
  EXPECT_EQ(log_.find("event=listener-kill"), std::string::npos) << log_;
  close(first);
  close(second);
  close(listening);
}

TEST_F(MonitorTest, AListenerThatNeverReadsIsDroppedAtTheQueueLimit) {
  // Requests that each earn an end report, from a listener that reads none:
  // the monitor's queue stops at its limit, and so does its log. The
  // reports go out in batches (one message per loop iteration), so the
  // queue's bytes bound it: at most kQueueLimit reports' worth.
  StartMonitor(/*external=*/true, Table());
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(null_fd, 0);
  int sent = 0;
  auto deadline = std::chrono::steady_clock::now() + milliseconds(20000);
  while (sent < 100000 && std::chrono::steady_clock::now() < deadline) {
    auto req = Request(0, kEcho);  // stale: refused with an end report
    iovec iov{&req, sizeof req};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    // With the one descriptor a connection request carries (closed by the
    // monitor with the refusal).
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &null_fd, sizeof(int));
    if (sendmsg(control_, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == sizeof req) {
      ++sent;
      continue;
    }
    if (errno != EAGAIN) break;  // the monitor closed the channel
    // The monitor has not read yet: read its log meanwhile (a full log
    // pipe would stop it), then try again.
    ReadLog(milliseconds(10));
  }
  close(null_fd);
  EXPECT_LT(sent, 100000) << "the channel was never closed";
  ASSERT_TRUE(WaitForLog("event=listener-kill reason=\"not reading its channel\" queued=")) << log_;
  int queued = std::atoi(FieldOfLastFound("queued").c_str());
  EXPECT_GE(queued, 1) << log_;
  EXPECT_LE(queued, kQueueLimit) << log_;
  EXPECT_EQ(FieldOfLastFound("pid"), "external") << log_;
  auto status = WaitForExit(milliseconds(10000));
  ASSERT_TRUE(status.has_value()) << log_;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  DrainLog();
  // Every one of them was refused (more than the queue holds), but only the
  // first few are logged: refusals a listener can cause at will are
  // rate-limited (10 lines, then 1 a second).
  EXPECT_GT(sent, kQueueLimit);
  size_t lines = Count(log_, "event=refuse-request");
  EXPECT_GE(lines, 1u) << log_;
  EXPECT_LE(lines, 12u) << log_;
}

// The rest run a real listener (the [daemon] user, hinetd, must exist).
class RealListenerTest : public MonitorTest {
 protected:
  void SetUp() override {
    MonitorTest::SetUp();
    if (IsSkipped()) return;
    if (getpwnam("hinetd") == nullptr) GTEST_SKIP() << "needs the account hinetd (the listener's)";
  }

  // Waits for a listener to start and be ready; returns its pid. (Its
  // `ready` line may come before the monitor's `listener-start`.)
  pid_t WaitForListener() {
    if (!WaitForLog("event=listener-start pid=")) return -1;
    pid_t pid = static_cast<pid_t>(std::stol(FieldOfLastFound("pid")));
    std::string ready = "event=listener-ready pid=" + std::to_string(pid) + " ";
    auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
    while (log_.find(ready) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= deadline || !ReadLog(milliseconds(100))) return -1;
    }
    return pid;
  }
};

TEST_F(RealListenerTest, AForgedRequestKillsTheListenerAndAFreshOneServes) {
  StartMonitor(/*external=*/false, Table());
  pid_t listener = WaitForListener();
  ASSERT_GT(listener, 0) << log_;
  ASSERT_EQ(testing::Exchange("127.0.0.1", port_, "before\n"), "before\n") << log_;
  // Speak as the subverted listener: through its own end of the channel.
  int channel = TakeFd(listener, [](int fd) {
    return IntOpt(fd, SO_TYPE) == SOCK_SEQPACKET && IntOpt(fd, SO_DOMAIN) == AF_UNIX;
  });
  if (channel < 0) GTEST_SKIP() << "pidfd_getfd: " << strerror(errno) << " (Linux 5.6)";
  ConnectionRequest forged;
  forged.id = 1;
  forged.generation = 1;
  forged.service = 99;
  ASSERT_TRUE(SendMessage(channel, &forged, sizeof forged, {channel}));
  EXPECT_TRUE(WaitForLog("event=refuse-request reason=\"no such service\" service=99")) << log_;
  EXPECT_TRUE(WaitForLog("event=listener-kill reason=\"forged request\" pid=" +
                         std::to_string(listener)))
      << log_;
  EXPECT_TRUE(WaitForLog("event=listener-exit status=signal:KILL")) << log_;
  // A fresh listener, from the monitor's table, serves as before.
  pid_t fresh = WaitForListener();
  ASSERT_GT(fresh, 0) << log_;
  EXPECT_NE(fresh, listener);
  EXPECT_EQ(testing::Exchange("127.0.0.1", port_, "after\n"), "after\n") << log_;
  close(channel);
}

TEST_F(RealListenerTest, ASighupDuringAReloadIsQueuedAndLoadsTheLatestFile) {
  // A long hand-over window, held open by stopping the listener.
  StartMonitor(/*external=*/false, Table(), milliseconds(30000));
  pid_t listener = WaitForListener();
  ASSERT_GT(listener, 0) << log_;
  ASSERT_EQ(kill(listener, SIGSTOP), 0);
  ASSERT_EQ(kill(monitor_, SIGHUP), 0);
  // Signals are read in number order: once the monitor has logged its
  // status (USR1), it has taken the HUP, and the reload waits for the hand-over.
  ASSERT_EQ(kill(monitor_, SIGUSR1), 0);
  ASSERT_TRUE(WaitForLog("event=status generation=1")) << log_;
  // The file changes, and a second HUP comes while the first reload runs.
  uint16_t late_port = testing::FreeTcpPort();
  dir_.Write("hinetd.toml", Table("uwait", "[[service]]\nname = \"late\"\nlisten = \"127.0.0.1:" +
                                               std::to_string(late_port) +
                                               "\"\ninternal = \"echo\"\n"));
  ASSERT_EQ(kill(monitor_, SIGHUP), 0);
  EXPECT_TRUE(WaitForLog("event=reload-queued")) << log_;
  ASSERT_EQ(kill(listener, SIGCONT), 0);
  EXPECT_TRUE(WaitForLog("event=reload generation=2")) << log_;
  EXPECT_TRUE(WaitForLog("event=reload generation=3 services=5")) << log_;
  EXPECT_EQ(Count(log_, "event=reload-failed"), 0u) << log_;
  ASSERT_GT(WaitForListener(), 0) << log_;
  EXPECT_EQ(testing::Exchange("127.0.0.1", late_port, "late\n"), "late\n") << log_;
}

TEST_F(RealListenerTest, ARenamedWaitServiceKeepsItsRunningChildsSocket) {
  StartMonitor(/*external=*/false, Table("uwait"));
  ASSERT_GT(WaitForListener(), 0) << log_;
  // The wait child sleeps and reads nothing: its datagram stays queued, so
  // the socket stays readable while the child holds it.
  int client = testing::UdpSocket();
  ASSERT_GE(client, 0);
  ASSERT_TRUE(testing::SendTo(client, "127.0.0.1", wait_port_, "hello"));
  ASSERT_TRUE(WaitForLog("event=accept service=uwait")) << log_;
  // Same address, new name: the next listener must know the socket is held.
  dir_.Write("hinetd.toml", Table("renamed"));
  ASSERT_EQ(kill(monitor_, SIGHUP), 0);
  ASSERT_TRUE(WaitForLog("event=reload generation=2")) << log_;
  ASSERT_GT(WaitForListener(), 0) << log_;
  // The udp socket was readable when the new listener first polled. Its
  // first epoll_wait returned it (with the first connection below, if that
  // came so soon), so the second connection comes after any request for
  // the held socket: once echo has answered it, that request was seen.
  for (const char* text : {"one\n", "two\n"}) {
    EXPECT_EQ(testing::Exchange("127.0.0.1", port_, text), text) << log_;
    ASSERT_TRUE(WaitForLog("event=accept service=echo")) << log_;
  }
  EXPECT_EQ(Count(log_, "event=accept service=renamed"), 0u) << log_;
  EXPECT_EQ(Count(log_, "event=refuse-request"), 0u) << log_;
  EXPECT_EQ(Count(log_, "event=listener-kill"), 0u) << log_;
  close(client);
}

}  // namespace
}  // namespace hinetd::supervisor
