#include "supervisor/systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "config/types.h"

namespace hinetd::supervisor {

using base::ErrnoError;
using base::Error;
using base::Result;
using base::Status;
using base::UniqueFd;

namespace {

// sd_listen_fds(3): passed descriptors start here.
constexpr int kListenFdsStart = 3;
// More would be a misconfiguration (or a hostile environment); hinetd's
// table has far fewer addresses.
constexpr long kListenFdsMax = 4096;

bool ParseDecimal(const char* text, long max, long& out) {
  if (text == nullptr || *text == '\0') return false;
  long v = 0;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (*p - '0');
    if (v > max) return false;
  }
  out = v;
  return true;
}

}  // namespace

Result<Notifier> Notifier::FromEnvironment() {
  const char* value = getenv("NOTIFY_SOCKET");
  if (value == nullptr) return Notifier();
  std::string address = value;
  // Services must not inherit it (nor LISTEN_*): they are not what systemd
  // started, and a message from one would read as hinetd's.
  unsetenv("NOTIFY_SOCKET");
  if (address.empty()) return Notifier();
  auto n = Connect(address);
  if (!n.ok()) return n.error().Wrap("NOTIFY_SOCKET=" + address);
  return n;
}

Result<Notifier> Notifier::Connect(const std::string& address) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  if ((address[0] != '/' && address[0] != '@') || address.size() < 2 ||
      address.size() > sizeof un.sun_path) {
    return Error("not a socket address (an absolute path, or '@' and an abstract name, at most " +
                 std::to_string(sizeof un.sun_path) + " bytes)");
  }
  std::memcpy(un.sun_path, address.data(), address.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  if (address[0] == '@') {
    un.sun_path[0] = '\0';
  } else {
    ++len;  // the terminating NUL of a path
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoError("socket", errno);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&un), len) != 0) {
    return ErrnoError("connect", errno);
  }
  Notifier n;
  n.fd_ = std::move(fd);
  return n;
}

Status Notifier::Send(std::string_view state) const {
  if (!enabled()) return Status();
  ssize_t n = send(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) return ErrnoError("sending to NOTIFY_SOCKET", errno);
  return Status();
}

std::string ReloadingState() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t usec = static_cast<uint64_t>(ts.tv_sec) * 1000000u +
                  static_cast<uint64_t>(ts.tv_nsec) / 1000u;
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

std::string PassedSocket::Describe() const {
  std::string out = "fd " + std::to_string(number) + " (";
  if (!name.empty()) out += "name \"" + name + "\", ";
  if (!ep.IsUnix()) out += std::string(net::TransportName(transport)) + " ";
  out += net::ToString(ep) + ")";
  return out;
}

Result<PassedSocket> InspectPassedSocket(int fd, int number, const std::string& name) {
  std::string which = "fd " + std::to_string(number) + (name.empty() ? "" : " (\"" + name + "\")");
  auto fail = [&](const std::string& why) {
    return Error("socket passed by systemd, " + which + ": " + why);
  };
  struct stat st {};
  if (fstat(fd, &st) != 0) return fail(std::string("not open: ") + strerror(errno));
  if (!S_ISSOCK(st.st_mode)) {
    return fail("not a socket; hinetd takes only ListenStream= and ListenDatagram= sockets");
  }
  int type = 0;
  int listening = 0;
  socklen_t olen = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) != 0) {
    return fail(std::string("SO_TYPE: ") + strerror(errno));
  }
  olen = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) != 0) {
    return fail(std::string("SO_ACCEPTCONN: ") + strerror(errno));
  }
  PassedSocket p;
  p.number = number;
  p.name = name;
  sockaddr_storage ss{};
  socklen_t slen = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &slen) != 0) {
    return fail(std::string("getsockname: ") + strerror(errno));
  }
  p.ep = net::Endpoint::FromSockaddr(reinterpret_cast<const sockaddr*>(&ss), slen);
  int family = ss.ss_family;
  if (family != AF_INET && family != AF_INET6 && family != AF_UNIX) {
    return fail("address family " + std::to_string(family) +
                " is not served (IPv4, IPv6 and unix sockets are)");
  }
  if (family == AF_UNIX && (slen <= offsetof(sockaddr_un, sun_path) ||
                            reinterpret_cast<const sockaddr_un*>(&ss)->sun_path[0] != '/')) {
    return fail("a unix socket without a path (unnamed or abstract); hinetd serves unix:/PATH");
  }
  if (type == SOCK_STREAM) {
    p.transport = net::Transport::kTcp;
    if (listening == 0) {
      return fail("a stream socket that is not listening (" + net::ToString(p.ep) +
                  "); hinetd accepts the connections itself: set Accept=no (the default) in "
                  "the .socket unit");
    }
  } else if (type == SOCK_DGRAM && family != AF_UNIX) {
    p.transport = net::Transport::kUdp;
  } else {
    return fail("socket type " + std::to_string(type) + " (" + net::ToString(p.ep) +
                ") is not served: use ListenStream= (tcp, unix) or ListenDatagram= (udp)");
  }
  // Ours from now on: never inherited by a child, never blocking the loop.
  int fdflags = fcntl(fd, F_GETFD);
  int flflags = fcntl(fd, F_GETFL);
  if (fdflags < 0 || flflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) != 0 ||
      fcntl(fd, F_SETFL, flflags | O_NONBLOCK) != 0) {
    return fail(std::string("fcntl: ") + strerror(errno));
  }
  if (p.transport == net::Transport::kUdp && p.ep.IsWildcard()) {
    // As BindListener does: a datagram's destination, for TCPLOCALIP.
    int one = 1;
    int rc = family == AF_INET ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one)
                               : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    if (rc != 0) return fail(std::string("IP_PKTINFO: ") + strerror(errno));
  }
  p.fd.reset(fd);
  return p;
}

Result<std::vector<PassedSocket>> TakeListenFds() {
  std::string pid_text = getenv("LISTEN_PID") ? getenv("LISTEN_PID") : "";
  std::string fds_text = getenv("LISTEN_FDS") ? getenv("LISTEN_FDS") : "";
  std::string names_text = getenv("LISTEN_FDNAMES") ? getenv("LISTEN_FDNAMES") : "";
  bool present = getenv("LISTEN_FDS") != nullptr;
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  std::vector<PassedSocket> out;
  if (!present) return out;
  long pid = 0;
  if (!ParseDecimal(pid_text.c_str(), 1L << 30, pid)) {
    return Error("LISTEN_FDS is set but LISTEN_PID=\"" + pid_text +
                 "\" is not a process id; a service manager sets both");
  }
  // Meant for another process (hinetd was started by one that inherited
  // them): not ours to take.
  if (pid != getpid()) return out;
  long count = 0;
  if (!ParseDecimal(fds_text.c_str(), kListenFdsMax, count)) {
    return Error("LISTEN_FDS=\"" + fds_text + "\" is not a number of descriptors (0-" +
                 std::to_string(kListenFdsMax) + ")");
  }
  std::vector<std::string> names;
  if (!names_text.empty()) {
    size_t start = 0;
    for (;;) {
      size_t colon = names_text.find(':', start);
      names.push_back(names_text.substr(start, colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  for (long i = 0; i < count; ++i) {
    int fd = kListenFdsStart + static_cast<int>(i);
    auto p = InspectPassedSocket(fd, fd, i < static_cast<long>(names.size()) ? names[i] : "");
    if (!p.ok()) return p.error();
    out.push_back(std::move(*p));
  }
  return out;
}

Status CheckPassedSockets(const config::Config& config,
                          const std::vector<std::shared_ptr<PassedSocket>>& passed,
                          const std::string& config_path) {
  for (const auto& p : passed) {
    bool named = false;
    for (const auto& svc : config.services) {
      for (const auto& addr : svc.listen) {
        for (const auto& ep : addr.endpoints) {
          if (svc.transport != p->transport || !(ep == p->ep)) continue;
          named = true;
          if (svc.transport == net::Transport::kUdp && !svc.wait) {
            return Error(addr.loc,
                         "service \"" + svc.name + "\": udp nowait cannot serve the socket "
                         "systemd passed as " + p->Describe() +
                             ": each peer's datagrams go to a fresh socket hinetd binds to the "
                             "same address, which a socket systemd created does not let it do; "
                             "set wait = true, or remove the address from the .socket unit so "
                             "that hinetd binds it itself");
          }
        }
      }
    }
    if (named) continue;
    std::string listen = net::ToString(p->ep);
    return Error("the socket systemd passed as " + p->Describe() +
                 " matches no listen address in " + config_path + ": add \"" + listen +
                 "\" to the listen list of the service it is for" +
                 (p->transport == net::Transport::kUdp ? " (one with protocol = \"udp\")" : "") +
                 ", or remove it from the .socket unit (ListenStream=, ListenDatagram=)");
  }
  return Status();
}

}  // namespace hinetd::supervisor
