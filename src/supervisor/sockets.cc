#include "supervisor/sockets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hinetd::supervisor {

ListenSocket::~ListenSocket() {
  if (unix_ino == 0) return;
  std::string path = ep.UnixPath();
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == unix_ino) {
    unlink(path.c_str());
  }
}

void DropDatagram(int fd) {
  static char sink[65536];
  ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
  (void)n;
}

bool PeekDatagram(int fd, const net::Endpoint& bound, net::Endpoint& peer, net::Endpoint& local) {
  // No byte of the datagram itself is read: the monitor peeks too, and
  // never reads from the network.
  char byte;
  iovec iov{&byte, 0};
  alignas(cmsghdr) char control[256];
  msghdr msg{};
  peer = net::Endpoint();
  msg.msg_name = &peer.addr;
  msg.msg_namelen = sizeof peer.addr;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  // A pending error (an ICMP message for a connected socket, or for any
  // with IP_RECVERR, which a wait child may have set: a remote host can
  // send one, or forge one) fails one recvmsg, which clears it, and leaves
  // the datagrams queued: look again, a few times, as more may come.
  ssize_t n = -1;
  for (int i = 0; i < 4 && n < 0; ++i) {
    msg.msg_namelen = sizeof peer.addr;
    msg.msg_controllen = sizeof control;
    n = recvmsg(fd, &msg, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  }
  // A datagram always has a source; a shut-down socket reads as an empty
  // one without (recvmsg returns 0 at once).
  if (n < 0 || msg.msg_namelen == 0) return false;
  peer.len = msg.msg_namelen;
  local = bound;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      local = net::Endpoint::Inet4(info.ipi_addr, bound.port());
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      local = net::Endpoint::Inet6(info.ipi6_addr, bound.port());
    }
  }
  return true;
}

bool ClearChildSocketState(int fd, int like) {
  timeval none{};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none) != 0) {
    return false;
  }
  for (int opt : {SO_RCVBUF, SO_SNDBUF}) {
    int size = 0;
    socklen_t len = sizeof size;
    if (getsockopt(like, SOL_SOCKET, opt, &size, &len) != 0) return false;
    size /= 2;  // the kernel doubles what it is given, and reports the doubled size
    if (setsockopt(fd, SOL_SOCKET, opt, &size, sizeof size) != 0) return false;
  }
  int unused = 0;
  return setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) == 0 ||
         errno == ENOENT;  // none attached
}

bool BadSource(const net::Endpoint& peer) {
  if (peer.port() == 0) return true;
  if (peer.family() == AF_INET) {
    uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(&peer.addr)->sin_addr.s_addr);
    return a == INADDR_BROADCAST || a == INADDR_ANY || IN_MULTICAST(a) ||
           (a & 0xff) == 0xff;  // the broadcast of a /24, the common case
  }
  const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(&peer.addr)->sin6_addr;
  if (IN6_IS_ADDR_MULTICAST(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6)) return true;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) {
    uint32_t a;
    std::memcpy(&a, &a6.s6_addr[12], 4);
    a = ntohl(a);
    return a == INADDR_BROADCAST || a == INADDR_ANY || IN_MULTICAST(a);
  }
  return false;
}

std::string CredString(const ucred& c) {
  return "uid:" + std::to_string(c.uid) + ",gid:" + std::to_string(c.gid) + ",pid:" +
         std::to_string(c.pid);
}

SourceKey SourceKeyOf(const net::Endpoint& peer) {
  SourceKey k;
  const void* bytes = nullptr;
  if (peer.family() == AF_INET) {
    bytes = &reinterpret_cast<const sockaddr_in*>(&peer.addr)->sin_addr;
    k.len = 4;
  } else if (peer.family() == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6*>(&peer.addr)->sin6_addr;
    bool mapped = IN6_IS_ADDR_V4MAPPED(&a6);
    bytes = mapped ? static_cast<const void*>(&a6.s6_addr[12]) : &a6;
    k.len = mapped ? 4 : 16;
  }
  if (bytes != nullptr) std::memcpy(k.bytes, bytes, k.len);
  return k;
}

SourceKey SourceKeyOfUid(uid_t uid) {
  SourceKey k;
  k.bytes[0] = 'u';
  std::memcpy(k.bytes + 1, &uid, sizeof uid);
  k.len = 1 + sizeof uid;
  return k;
}

void ListenSocket::Replace(base::UniqueFd other) {
  fd = std::move(other);
  inode_fd_ = -1;
  parked_ = false;  // a copy still in flight is no longer this socket (socket_park.cc)
}

ino_t ListenSocket::inode() const {
  if (!parked_ && fd.get() != inode_fd_) {
    inode_ = SocketInode(fd.get());
    inode_fd_ = fd.get();
  }
  return inode_;
}

std::vector<SocketList> SocketsByService(const SocketList& sockets, size_t services) {
  std::vector<SocketList> out(services);
  for (const auto& s : sockets) {
    if (s->service < services) out[s->service].push_back(s);
  }
  return out;
}

ino_t SocketInode(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  return st.st_ino;
}

}  // namespace hinetd::supervisor
