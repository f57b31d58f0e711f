#include "common/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

namespace hinetd::testing {

using Clock = std::chrono::steady_clock;

namespace {

bool MakeAddr(const std::string& ip, uint16_t port, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  if (ip.find(':') != std::string::npos) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    len = sizeof *s6;
    return inet_pton(AF_INET6, ip.c_str(), &s6->sin6_addr) == 1;
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  len = sizeof *s4;
  return inet_pton(AF_INET, ip.c_str(), &s4->sin_addr) == 1;
}

int WaitMs(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return ms < 0 ? 0 : static_cast<int>(ms);
}

// A port the kernel just gave out and took back can come again from the
// next bind to port 0: in this process (a test asking for several ports
// before it binds any) and in the other test processes ctest runs at the
// same time. Two daemons of the same user could then both bind one UDP port
// (SO_REUSEPORT) and share its datagrams. So a port is handed out once per
// process, and held with a lock file until the process exits.
bool Reserve(uint16_t port) {
  static std::mutex mu;
  static std::set<uint16_t> given;
  std::lock_guard<std::mutex> lock(mu);
  if (!given.insert(port).second) return false;
  std::string dir = "/tmp/hinetd-test-ports." + std::to_string(getuid());
  mkdir(dir.c_str(), 0700);  // EEXIST: another test made it
  int fd = open((dir + "/" + std::to_string(port)).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return true;  // no lock to take: this process's own record still holds
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return false;  // another running test has it
  }
  return true;  // fd stays open: the lock goes when this process does
}

uint16_t KernelTcpPort(const std::string& ip) {
  sockaddr_storage ss;
  socklen_t len;
  if (!MakeAddr(ip, 0, ss, len)) return 0;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  close(fd);
  return port;
}

}  // namespace

uint16_t FreeTcpPort(const std::string& ip) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    uint16_t port = KernelTcpPort(ip);
    if (port == 0 || Reserve(port)) return port;
  }
  return 0;
}

int ConnectTcpFrom(const std::string& source_ip, const std::string& ip, uint16_t port,
                   milliseconds timeout) {
  sockaddr_storage ss;
  socklen_t len;
  if (!MakeAddr(ip, port, ss, len)) return -1;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (!source_ip.empty()) {
    sockaddr_storage src;
    socklen_t slen;
    if (!MakeAddr(source_ip, 0, src, slen) ||
        bind(fd, reinterpret_cast<sockaddr*>(&src), slen) != 0) {
      close(fd);
      return -1;
    }
  }
  auto deadline = Clock::now() + timeout;
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) {
      close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t elen = sizeof err;
    if (poll(&p, 1, WaitMs(deadline)) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
      close(fd);
      return -1;
    }
  }
  fcntl(fd, F_SETFL, 0);  // blocking again; reads below poll with deadlines
  return fd;
}

int ListenTcp(const std::string& ip, uint16_t port) {
  sockaddr_storage ss;
  socklen_t len;
  if (!MakeAddr(ip, port, ss, len)) return -1;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int ConnectTcp(const std::string& ip, uint16_t port, milliseconds timeout) {
  return ConnectTcpFrom("", ip, port, timeout);
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string ReadN(int fd, size_t max, milliseconds timeout) {
  std::string out;
  auto deadline = Clock::now() + timeout;
  char buf[8192];
  while (out.size() < max) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, WaitMs(deadline)) != 1) break;
    ssize_t n = read(fd, buf, std::min(sizeof buf, max - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string ReadAll(int fd, milliseconds timeout, size_t max) { return ReadN(fd, max, timeout); }

std::string Exchange(const std::string& ip, uint16_t port, const std::string& request,
                     bool half_close, milliseconds timeout) {
  int fd = ConnectTcp(ip, port, timeout);
  if (fd < 0) return "<connect failed>";
  if (!request.empty()) WriteAll(fd, request);
  if (half_close) shutdown(fd, SHUT_WR);
  std::string out = ReadAll(fd, timeout);
  close(fd);
  return out;
}

bool HaveLoopback(const std::string& ip) { return FreeTcpPort(ip) != 0; }

int UdpSocket(const std::string& ip, uint16_t port) {
  sockaddr_storage ss;
  socklen_t len;
  if (!MakeAddr(ip, port, ss, len)) return -1;
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // SO_REUSEADDR only for a port asked for by number (a test may bind a
  // port another socket has). With port 0 it would let the kernel hand out
  // a port that another SO_REUSEADDR socket already has (it does: 145 of
  // 3000 sockets shared one), and datagrams meant for one then reach the
  // other: two "different" clients that are one address, or a client that
  // shares a daemon's port and never gets its answer.
  if (port != 0) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

uint16_t LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  return ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                  : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

uint16_t FreeUdpPort(const std::string& ip) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    int fd = UdpSocket(ip, 0);
    if (fd < 0) return 0;
    uint16_t port = LocalPort(fd);
    close(fd);
    if (port == 0 || Reserve(port)) return port;
  }
  return 0;
}

bool SendTo(int fd, const std::string& ip, uint16_t port, const std::string& data) {
  sockaddr_storage ss;
  socklen_t len;
  if (!MakeAddr(ip, port, ss, len)) return false;
  return sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) ==
         static_cast<ssize_t>(data.size());
}

std::optional<std::string> RecvDatagram(int fd, milliseconds timeout, uint16_t* from_port) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
  char buf[65536];
  sockaddr_storage src{};
  socklen_t slen = sizeof src;
  ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&src), &slen);
  if (n < 0) return std::nullopt;
  if (from_port != nullptr) {
    *from_port = src.ss_family == AF_INET6
                     ? ntohs(reinterpret_cast<sockaddr_in6*>(&src)->sin6_port)
                     : ntohs(reinterpret_cast<sockaddr_in*>(&src)->sin_port);
  }
  return std::string(buf, static_cast<size_t>(n));
}

int ConnectUnix(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) return -1;
  memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace hinetd::testing
