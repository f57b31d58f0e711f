// Listening sockets and the datagram helpers both processes use.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "net/address.h"
#include "supervisor/protocol.h"

namespace hinetd::supervisor {

// One listening socket of a service.
struct ListenSocket {
  net::Endpoint ep;
  net::Transport transport = net::Transport::kTcp;
  base::UniqueFd fd;
  size_t service = 0;
  bool wait = false;     // udp wait: the socket itself goes to the child
  bool busy = false;     // listener: a wait child holds it now
  // listener: what epoll watches it for. kProbe is one EPOLLONESHOT
  // readiness while the service is full, to count a client held back;
  // kProbed, once that fired. Not watched at all otherwise (a wait socket
  // shared with a child must not even report its hang-ups).
  enum class Watch : uint8_t { kNone, kAccept, kProbe, kProbed };
  Watch watch = Watch::kNone;
  bool broken = false;   // listener: shut down by a wait child; never watched again
  ino_t unix_ino = 0;    // monitor: the socket file it created, if unix
  // A copy of a socket systemd passed (systemd.h): the number it was passed
  // as, for logs; -1 if hinetd bound it. Its file is systemd's, never removed.
  int systemd_fd = -1;
  ~ListenSocket();       // removes that file if it is still the same one

  // The socket's inode (fstat), which names it across descriptors and
  // processes; 0 if `fd` is no socket. Read once per descriptor: a UDP
  // handover compares the socket it names with every socket of the table,
  // which would otherwise be one fstat per socket per datagram served.
  [[nodiscard]] ino_t inode() const;
  // Puts another socket in this one's place (a handover's fresh socket,
  // a replacement): the only way to change `fd` once inode() was read,
  // as the next descriptor may well get the number of one before it.
  void Replace(base::UniqueFd other);
  // monitor: in flight on its socket park (socket_park.h), `fd` -1 until
  // it is taken back; inode() still names it.
  [[nodiscard]] bool parked() const { return parked_; }

 private:
  friend class SocketPark;
  mutable int inode_fd_ = -1;
  mutable ino_t inode_ = 0;
  bool parked_ = false;
};

using SocketList = std::vector<std::shared_ptr<ListenSocket>>;

// `sockets` by their service (ListenSocket::service), for a table of
// `services` services; a socket whose service is out of range is left out.
[[nodiscard]] std::vector<SocketList> SocketsByService(const SocketList& sockets, size_t services);

// Reads and throws away the datagram at the head of the queue.
void DropDatagram(int fd);

// The peer of the datagram at the head of the queue, and the address it was
// sent to (IP_PKTINFO, on sockets bound to a wildcard address), without
// taking it off the queue. False if the queue is empty. A pending socket
// error is cleared on the way (it says nothing about the datagrams).
bool PeekDatagram(int fd, const net::Endpoint& bound, net::Endpoint& peer, net::Endpoint& local);

// Undoes what a udp nowait child may have set on its socket that would
// reach the next peer's child, should the socket go on to it
// (udp_leftovers.h): receive and send timeouts back to none, buffer sizes
// back to those of `like` (the service's listening socket), a socket
// filter detached. False if that cannot be done (a filter locked with
// SO_LOCK_FILTER): the socket must then go to no other child. (Its
// blocking mode is set by every child's own setup, and a pending error
// is cleared by the peeks.)
[[nodiscard]] bool ClearChildSocketState(int fd, int like);

// A source no answer should go to: port 0, a broadcast or multicast address,
// or the unspecified address (FreeBSD inetd's loop and reflection checks).
[[nodiscard]] bool BadSource(const net::Endpoint& peer);

// "uid:1000,gid:1000,pid:4321", the peer of a unix: connection in logs.
[[nodiscard]] std::string CredString(const ucred& c);

// The per_source key of an IP peer: its address as bytes (IPv4-mapped IPv6
// as IPv4), without the port; of a unix: peer, its uid.
[[nodiscard]] SourceKey SourceKeyOf(const net::Endpoint& peer);
[[nodiscard]] SourceKey SourceKeyOfUid(uid_t uid);

// The socket's inode in sockfs: the same socket, whatever descriptor.
[[nodiscard]] ino_t SocketInode(int fd);

}  // namespace hinetd::supervisor
