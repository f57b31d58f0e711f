#include "supervisor/wait_idle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/unique_fd.h"

namespace hinetd::supervisor {
namespace {

using base::UniqueFd;

// The most of a process's poll or select set read, and of a /proc file.
constexpr unsigned long kMaxPollFds = 1024;
constexpr size_t kMaxProcFile = 64 * 1024;

// Reads a /proc file whole (small ones), or "" on any error.
std::string Slurp(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return "";
  std::string out;
  char buf[4096];
  while (out.size() < kMaxProcFile) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The filesystem ids of this thread set to a child's for as long as it
// lives: ptrace access checks (PTRACE_MODE_FSCREDS) and the mode of
// /proc/PID files compare those ids, and a process of the same ids that is
// dumpable may be read. Restored on destruction.
class AsFsUser {
 public:
  AsFsUser(uid_t uid, gid_t gid) {
    // setfsuid/setfsgid return the previous id and never fail visibly: the
    // change is verified by asking again (an invalid id returns the
    // current one).
    old_gid_ = static_cast<gid_t>(setfsgid(gid));
    old_uid_ = static_cast<uid_t>(setfsuid(uid));
    ok_ = static_cast<uid_t>(setfsuid(static_cast<uid_t>(-1))) == uid &&
          static_cast<gid_t>(setfsgid(static_cast<gid_t>(-1))) == gid;
  }
  ~AsFsUser() {
    setfsuid(old_uid_);
    setfsgid(old_gid_);
  }
  AsFsUser(const AsFsUser&) = delete;
  AsFsUser& operator=(const AsFsUser&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  uid_t old_uid_ = 0;
  gid_t old_gid_ = 0;
  bool ok_ = false;
};

// State, parent and process group from /proc/PID/stat (after the command
// name, which may hold spaces and parentheses).
bool StatOf(const std::string& dir, char& state, pid_t& ppid, pid_t& pgrp) {
  std::string stat = Slurp(dir + "/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  int p = 0, g = 0;
  char s = 0;
  if (std::sscanf(stat.c_str() + close + 2, "%c %d %d", &s, &p, &g) != 3) return false;
  state = s;
  ppid = p;
  pgrp = g;
  return true;
}

// Another live process the child started or shares its group with: a
// child of it (in its PID namespace, every orphan becomes one), or a
// member of its process group. Zombies are gone already.
std::string OtherProcess(pid_t pid) {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return "cannot read /proc";
  std::string found;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long other = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || other == pid) continue;
    char state = 0;
    pid_t ppid = 0, pgrp = 0;
    if (!StatOf(std::string("/proc/") + e->d_name, state, ppid, pgrp)) continue;  // gone
    if (state == 'Z' || state == 'X') continue;
    if (ppid == pid || pgrp == pid) {
      found = "process " + std::to_string(other);
      break;
    }
  }
  closedir(proc);
  return found;
}

// True if descriptor `fd` of `pid` is the socket with inode `ino`.
bool IsSocket(pid_t pid, long fd, ino_t ino) {
  if (fd < 0) return false;
  std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  char link[64];
  ssize_t n = readlink(path.c_str(), link, sizeof link - 1);
  if (n <= 0) return false;
  link[n] = '\0';
  return std::string(link) == "socket:[" + std::to_string(ino) + "]";
}

// Reads `len` bytes of `pid`'s memory at `addr`.
bool ReadMemory(pid_t pid, unsigned long addr, void* out, size_t len) {
  std::string path = "/proc/" + std::to_string(pid) + "/mem";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  return pread(fd.get(), out, len, static_cast<off_t>(addr)) == static_cast<ssize_t>(len);
}

bool PollWaitsFor(pid_t pid, unsigned long fds_addr, unsigned long nfds, ino_t ino) {
  if (nfds == 0 || nfds > kMaxPollFds) return false;
  std::vector<pollfd> fds(nfds);
  if (!ReadMemory(pid, fds_addr, fds.data(), nfds * sizeof(pollfd))) return false;
  for (const auto& p : fds) {
    if ((p.events & POLLIN) != 0 && IsSocket(pid, p.fd, ino)) return true;
  }
  return false;
}

bool SelectWaitsFor(pid_t pid, unsigned long nfds, unsigned long readfds, ino_t ino) {
  if (readfds == 0 || nfds == 0 || nfds > kMaxPollFds) return false;
  std::vector<unsigned char> bits((nfds + 7) / 8);
  if (!ReadMemory(pid, readfds, bits.data(), bits.size())) return false;
  for (unsigned long fd = 0; fd < nfds; ++fd) {
    if ((bits[fd / 8] & (1u << (fd % 8))) != 0 && IsSocket(pid, static_cast<long>(fd), ino)) {
      return true;
    }
  }
  return false;
}

// An epoll instance of `pid` watching the socket for input: its fdinfo
// lists each target as "tfd: FD events: MASK ...".
bool EpollWaitsFor(pid_t pid, long epfd, ino_t ino) {
  std::string info =
      Slurp("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(epfd));
  for (size_t at = info.find("tfd:"); at != std::string::npos; at = info.find("tfd:", at + 4)) {
    int fd = -1;
    unsigned events = 0;
    if (std::sscanf(info.c_str() + at, "tfd: %d events: %x", &fd, &events) != 2) continue;
    if ((events & EPOLLIN) != 0 && IsSocket(pid, fd, ino)) return true;
  }
  return false;
}

}  // namespace

IdleLook LookIdle(pid_t pid, uid_t uid, gid_t gid, ino_t socket_ino) {
  std::string dir = "/proc/" + std::to_string(pid);
  std::string status = Slurp(dir + "/status");
  size_t threads = status.find("\nThreads:");
  if (threads == std::string::npos) return {false, "gone"};
  if (std::strtol(status.c_str() + threads + 9, nullptr, 10) != 1) return {false, "threads"};
  if (std::string other = OtherProcess(pid); !other.empty()) return {false, other};

  AsFsUser as(uid, gid);
  if (!as.ok()) return {false, "cannot take the child's ids"};
  // "NR ARG0 ... ARG5 SP PC" while blocked in a call; "running", or "-1 SP
  // PC" outside one (proc(5)).
  std::string call = Slurp(dir + "/syscall");
  if (call.empty()) return {false, "cannot read its system call"};
  if (call.rfind("running", 0) == 0) return {false, "running"};
  long nr = -1;
  unsigned long a[6] = {};
  if (std::sscanf(call.c_str(), "%ld %lx %lx %lx %lx %lx %lx", &nr, &a[0], &a[1], &a[2], &a[3],
                  &a[4], &a[5]) != 7) {
    return {false, "not in a system call"};
  }
  long fd0 = static_cast<long>(static_cast<int>(a[0]));
  auto on_socket = [&](const char* name) -> IdleLook {
    if (IsSocket(pid, fd0, socket_ino)) return {true, name};
    return {false, std::string(name) + " on another descriptor"};
  };
  switch (nr) {
    case SYS_read: return on_socket("read");
    case SYS_readv: return on_socket("readv");
    case SYS_recvfrom: return on_socket("recvfrom");
    case SYS_recvmsg: return on_socket("recvmsg");
    case SYS_recvmmsg: return on_socket("recvmmsg");
#ifdef SYS_poll
    case SYS_poll:
      if (PollWaitsFor(pid, a[0], a[1], socket_ino)) return {true, "poll"};
      return {false, "poll without the socket"};
#endif
    case SYS_ppoll:
      if (PollWaitsFor(pid, a[0], a[1], socket_ino)) return {true, "ppoll"};
      return {false, "ppoll without the socket"};
#ifdef SYS_select
    case SYS_select:
      if (SelectWaitsFor(pid, a[0], a[1], socket_ino)) return {true, "select"};
      return {false, "select without the socket"};
#endif
    case SYS_pselect6:
      if (SelectWaitsFor(pid, a[0], a[1], socket_ino)) return {true, "pselect6"};
      return {false, "pselect6 without the socket"};
#ifdef SYS_epoll_wait
    case SYS_epoll_wait:
      if (EpollWaitsFor(pid, fd0, socket_ino)) return {true, "epoll_wait"};
      return {false, "epoll_wait without the socket"};
#endif
    case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
    case SYS_epoll_pwait2:
#endif
      if (EpollWaitsFor(pid, fd0, socket_ino)) return {true, "epoll_pwait"};
      return {false, "epoll_pwait without the socket"};
    default: return {false, "syscall " + std::to_string(nr)};
  }
}

int64_t DatagramsDelivered() {
  int64_t total = 0;
  // /proc/net/snmp: a "Udp:" line of names, then one of values.
  std::string snmp = Slurp("/proc/net/snmp");
  size_t names = snmp.find("\nUdp: ");
  if (names == std::string::npos) return -1;
  size_t values = snmp.find("\nUdp: ", names + 1);
  if (values == std::string::npos) return -1;
  std::string name_line = snmp.substr(names + 6, snmp.find('\n', names + 1) - names - 6);
  std::string value_line = snmp.substr(values + 6, snmp.find('\n', values + 1) - values - 6);
  size_t col = 0;
  bool found = false;
  for (size_t n = 0, v = 0; n < name_line.size() && v < value_line.size(); ++col) {
    size_t n_end = name_line.find(' ', n);
    size_t v_end = value_line.find(' ', v);
    if (name_line.compare(n, n_end == std::string::npos ? std::string::npos : n_end - n,
                          "InDatagrams") == 0) {
      total += std::strtoll(value_line.c_str() + v, nullptr, 10);
      found = true;
      break;
    }
    if (n_end == std::string::npos || v_end == std::string::npos) break;
    n = n_end + 1;
    v = v_end + 1;
  }
  if (!found) return -1;
  // /proc/net/snmp6: "Udp6InDatagrams VALUE"; absent without IPv6.
  std::string snmp6 = Slurp("/proc/net/snmp6");
  if (size_t at = snmp6.find("Udp6InDatagrams"); at != std::string::npos) {
    total += std::strtoll(snmp6.c_str() + at + 15, nullptr, 10);
  }
  return total;
}

namespace {

// The socket's receive stamp in nanoseconds, -1 before its first datagram
// was read; nullopt when it cannot tell (see ReceiveMark).
std::optional<int64_t> ReceiveStamp(int fd) {
  if (fd < 0) return std::nullopt;
  // With any of these set the kernel hands each datagram's time to the
  // reader and leaves the socket's stamp alone (sock_recv_timestamp).
  for (int opt : {SO_TIMESTAMP_OLD, SO_TIMESTAMPNS_OLD, SO_TIMESTAMP_NEW, SO_TIMESTAMPNS_NEW,
                  SO_TIMESTAMPING_OLD}) {
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) != 0 || v != 0) return std::nullopt;
  }
  timespec ts{};
  if (ioctl(fd, SIOCGSTAMPNS, &ts) != 0) {
    if (errno == ENOENT) return -1;  // nothing read yet
    return std::nullopt;
  }
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

ReceiveMark MarkReceives(int fd) {
  ReceiveMark m;
  m.stamp = ReceiveStamp(fd);
  m.delivered = DatagramsDelivered();
  return m;
}

bool NothingTakenBetween(const ReceiveMark& before, const ReceiveMark& after) {
  if (before.stamp && after.stamp && *before.stamp == *after.stamp) return true;
  return before.delivered >= 0 && before.delivered == after.delivered;
}

bool DatagramQueued(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

char ProcessState(pid_t pid) {
  char state = 0;
  pid_t ppid = 0, pgrp = 0;
  if (!StatOf("/proc/" + std::to_string(pid), state, ppid, pgrp)) return 0;
  return state;
}

}  // namespace hinetd::supervisor
