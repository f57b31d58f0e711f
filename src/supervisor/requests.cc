#include "supervisor/requests.h"

#include <poll.h>
#include <sys/socket.h>

namespace hinetd::supervisor {

namespace {

// Where a descriptor's socket is bound.
bool LocalOf(int fd, net::Endpoint& ep) {
  ep = net::Endpoint();
  ep.len = sizeof ep.addr;
  return getsockname(fd, reinterpret_cast<sockaddr*>(&ep.addr), &ep.len) == 0;
}

int SockOpt(int fd, int opt) {
  int v = -1;
  socklen_t len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) != 0) return -1;
  return v;
}

// True if the socket has a peer (getpeername succeeds).
bool Connected(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  return getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
}

// The socket's peer; false if it has none (any more).
bool PeerOf(int fd, net::Endpoint& peer) {
  peer.len = sizeof peer.addr;
  return getpeername(fd, reinterpret_cast<sockaddr*>(&peer.addr), &peer.len) == 0;
}

// True if a datagram socket was shut down (shutdown(2)): it then reads as
// always ready and can never be used again. Polled, never read.
bool ShutDown(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP)) != 0;
}

// True if a connection whose socket is bound to `local` belongs to a
// listening socket bound to `listening` (equal, or that one a wildcard of
// the same family and port).
bool Belongs(const net::Endpoint& local, const net::Endpoint& listening) {
  if (listening.IsUnix()) return local.IsUnix() && local.UnixPath() == listening.UnixPath();
  if (local.family() != listening.family() || local.port() != listening.port()) return false;
  return listening.IsWildcard() || local == listening;
}

Admission Verdicted(Verdict v) {
  Admission a;
  a.verdict = v;
  return a;
}

// CheckTable, and the service it found (set only if admitted).
Admission TableAdmission(const RequestRef& req, const RequestView& view, bool answered) {
  Admission a;
  a.verdict = CheckTable(req, view, answered);
  if (a.verdict.admitted()) a.svc = &view.config.services[req.service];
  return a;
}

}  // namespace

Verdict CheckTable(const RequestRef& req, const RequestView& view, bool answered) {
  // A request sent before a reload switched tables: the listener it came
  // from is gone, or (a test's external one) not told. A replacement has no
  // end report: the next listener finds the broken socket again.
  if (req.generation != view.generation) {
    return answered ? Verdict::Refuse("stale generation") : Verdict::Drop();
  }
  // A replacement allocates nothing, and must not be lost (the listener
  // has swapped in its fresh socket): taken even while memory is short.
  if (view.memory_short && answered) return Verdict::RefuseExhausted("monitor out of memory");
  if (req.service >= view.config.services.size()) return Verdict::Forged("no such service");
  return Verdict::Admit();
}

Verdict CheckLimits(const RequestView& view, const config::Service& svc) {
  // The listener counts a child until its end report arrives, the monitor
  // until it is reaped, so an honest listener should not meet these; they
  // are refused, not taken as forgery, as the limit holds either way.
  if (view.children.size() >= static_cast<size_t>(view.config.daemon.max_children)) {
    return Verdict::Refuse("over max_children");
  }
  if (svc.max_instances > 0) {
    auto running = view.running.find(svc.name);
    if (running != view.running.end() && running->second >= svc.max_instances) {
      return Verdict::Refuse("over max_instances");
    }
  }
  return Verdict::Admit();
}

Verdict CheckPeer(const config::Service& svc, const net::Endpoint& peer,
                  const PortSet& served_ports) {
  // The listener's admission, checked again where it matters most: a peer
  // that allow/deny refuses is never served. (An honest listener never
  // asks: it checked the same table.)
  if (!svc.acl.Admits(peer)) return Verdict::Forged("peer refused by allow/deny");
  if (svc.transport == net::Transport::kUdp &&
      ReflectionRisk(peer, served_ports, svc.internal != config::Internal::kNone)) {
    return Verdict::Forged("peer refused by the reflection rules");
  }
  return Verdict::Admit();
}

Verdict CheckWaitSocketFree(const Children& children, const ListenSocket& from) {
  // The listener watches a wait socket only while no child holds it, and
  // learns that one let go from its end report, sent after it was reaped;
  // it repairs one only then too.
  for (const auto& [pid, c] : children) {
    if (c.wait && c.wait_ep == from.ep) return Verdict::Forged("wait socket is busy");
  }
  return Verdict::Admit();
}

Verdict CheckFreshSocket(const RequestView& view, const ListenSocket& from, ino_t old_ino,
                         int fresh) {
  // The fresh socket of a handover or a replacement takes the old one's
  // place in the monitor's table: a datagram socket bound to exactly the
  // same address, and none the monitor holds already (or one child would
  // get a listening socket the table keeps too). It may be connected by
  // now: in one burst an honest listener hands over A with fresh F1, then
  // connects F1 to the next peer and hands it over with F2, all before the
  // monitor reads the first request (bench/udp.sh with 2 peers or more).
  net::Endpoint fresh_ep;
  if (SockOpt(fresh, SO_TYPE) != SOCK_DGRAM || !LocalOf(fresh, fresh_ep) ||
      !(fresh_ep == from.ep)) {
    return Verdict::Forged("handover socket is not bound to the service's address");
  }
  ino_t fresh_ino = SocketInode(fresh);
  bool known = fresh_ino == 0 || fresh_ino == old_ino;
  for (const auto& s : view.sockets) known = known || s->inode() == fresh_ino;
  if (view.reload_sockets != nullptr) {
    for (const auto& s : *view.reload_sockets) {
      known = known || s->inode() == fresh_ino;
    }
  }
  return known ? Verdict::Forged("handover socket is not a fresh one") : Verdict::Admit();
}

std::shared_ptr<ListenSocket> DatagramSocketOf(const SocketList& sockets, uint32_t service, int fd,
                                               ino_t& ino) {
  // A wait child gets, a handover hands over, and a replacement replaces
  // one of the service's listening sockets itself.
  ino = SocketInode(fd);
  std::shared_ptr<ListenSocket> from;
  for (const auto& s : sockets) {
    if (s->service == service && ino != 0 && s->inode() == ino) from = s;
  }
  return from;
}

namespace {

// The sockets of the table's service `service` (none for an index out of it).
const SocketList& SocketsOf(const RequestView& view, uint32_t service) {
  static const SocketList kNone;
  return service < view.by_service.size() ? view.by_service[service] : kNone;
}

}  // namespace

Admission CheckConnection(const RequestRef& req, int conn, const RequestView& view) {
  Admission a = TableAdmission(req, view, true);
  if (!a.verdict.admitted()) return a;
  const config::Service& svc = *a.svc;
  if (svc.transport == net::Transport::kUdp) {
    return Verdicted(Verdict::Forged("request does not match the service's protocol"));
  }
  if (SockOpt(conn, SO_TYPE) != SOCK_STREAM) {
    return Verdicted(Verdict::Forged("descriptor is not the right kind of socket"));
  }
  if (!LocalOf(conn, a.local)) return Verdicted(Verdict::Forged("descriptor is not a connection"));
  // A listening socket is no connection. One of TCP has no peer, so its
  // SO_ACCEPTCONN is asked only when getpeername fails (one system call
  // less for every connection); a unix one may have a peer's name (none).
  bool peer_gone = false;
  if (a.local.IsUnix() || !PeerOf(conn, a.peer)) {
    if (SockOpt(conn, SO_ACCEPTCONN) != 0) {
      return Verdicted(Verdict::Forged("descriptor is not a connection"));
    }
    peer_gone = !a.local.IsUnix();
  }
  // The listening socket this connection came from.
  for (const auto& s : SocketsOf(view, req.service)) {
    if (s->service == req.service && Belongs(a.local, s->ep)) a.from = s;
  }
  if (!a.from) return Verdicted(Verdict::Forged("descriptor does not belong to the service"));
  if (Verdict v = CheckLimits(view, svc); !v.admitted()) return Verdicted(v);
  if (a.from->ep.IsUnix()) {
    socklen_t len = sizeof a.cred;
    getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &a.cred, &len);
    a.kind = spawn::Connection::Kind::kUnix;
    return a;
  }
  if (peer_gone) {
    // A stream connection its client reset (before the listener accepted
    // it, or since) has no peer any more: any client can do that to an
    // honest listener, so it is no proof of forgery. Nothing is left to
    // serve, and no failure of the service's for the listener's loop
    // protection to count.
    return Verdicted(Verdict::Refuse("connection closed before it was served", Outcome::kClosed));
  }
  if (Verdict v = CheckPeer(svc, a.peer, view.served_ports); !v.admitted()) return Verdicted(v);
  a.kind = spawn::Connection::Kind::kTcp;
  return a;
}

Admission CheckUdpWaitStart(const RequestRef& req, int sock, const RequestView& view) {
  Admission a = TableAdmission(req, view, true);
  if (!a.verdict.admitted()) return a;
  const config::Service& svc = *a.svc;
  if (svc.transport != net::Transport::kUdp || !svc.wait) {
    return Verdicted(Verdict::Forged("request does not match the service's protocol"));
  }
  if (SockOpt(sock, SO_TYPE) != SOCK_DGRAM) {
    return Verdicted(Verdict::Forged("descriptor is not the right kind of socket"));
  }
  a.from = DatagramSocketOf(SocketsOf(view, req.service), req.service, sock, a.ino);
  if (!a.from) return Verdicted(Verdict::Forged("descriptor does not belong to the service"));
  if (Verdict v = CheckWaitSocketFree(view.children, *a.from); !v.admitted()) return Verdicted(v);
  if (Verdict v = CheckLimits(view, svc); !v.admitted()) return Verdicted(v);
  // The first datagram is peeked at for its source (no byte of it is read).
  if (!PeekDatagram(sock, a.from->ep, a.peer, a.local)) {
    // The listener saw one, but another process may share the socket and
    // have read it since: one a wait child left behind (without a PID
    // namespace of its own) can. The service's loss, refused as its
    // failure; nothing to serve.
    return Verdicted(Verdict::Refuse("no datagram waits on the wait socket"));
  }
  if (Verdict v = CheckPeer(svc, a.peer, view.served_ports); !v.admitted()) return Verdicted(v);
  a.kind = spawn::Connection::Kind::kUdp;
  a.wait = true;
  return a;
}

Admission CheckUdpHandover(const RequestRef& req, int conn, int fresh, const RequestView& view) {
  Admission a = TableAdmission(req, view, true);
  if (!a.verdict.admitted()) return a;
  const config::Service& svc = *a.svc;
  if (svc.transport != net::Transport::kUdp || svc.wait) {
    return Verdicted(Verdict::Forged("request does not match the service's protocol"));
  }
  if (SockOpt(conn, SO_TYPE) != SOCK_DGRAM) {
    return Verdicted(Verdict::Forged("descriptor is not the right kind of socket"));
  }
  a.from = DatagramSocketOf(SocketsOf(view, req.service), req.service, conn, a.ino);
  if (!a.from) return Verdicted(Verdict::Forged("descriptor does not belong to the service"));
  // The old socket, connected to the peer, goes to the child; so it must
  // be connected.
  if (!Connected(conn)) return Verdicted(Verdict::Forged("handover socket is not connected"));
  if (Verdict v = CheckFreshSocket(view, *a.from, a.ino, fresh); !v.admitted()) {
    return Verdicted(v);
  }
  return a;
}

Admission CheckHandedOver(int conn, const Admission& swapped, const RequestView& view) {
  Admission a = swapped;
  const config::Service& svc = *a.svc;
  if (Verdict v = CheckLimits(view, svc); !v.admitted()) return Verdicted(v);
  if (!PeerOf(conn, a.peer)) {
    return Verdicted(Verdict::Refuse("connection closed before it was served", Outcome::kClosed));
  }
  // The datagram that woke the listener must be from the peer the socket
  // was connected to: the child reads it as that peer's.
  net::Endpoint head;
  net::Endpoint head_local;
  LocalOf(conn, a.local);
  if (!PeekDatagram(conn, a.from->ep, head, head_local) || !(head == a.peer)) {
    return Verdicted(Verdict::Forged("handed-over datagram is not from the socket's peer"));
  }
  if (Verdict v = CheckPeer(svc, a.peer, view.served_ports); !v.admitted()) return Verdicted(v);
  a.kind = spawn::Connection::Kind::kUdp;
  return a;
}

Admission CheckUdpLeftover(const RequestRef& req, int sock, const RequestView& view) {
  Admission a = TableAdmission(req, view, true);
  if (!a.verdict.admitted()) return a;
  const config::Service& svc = *a.svc;
  if (svc.transport != net::Transport::kUdp || svc.wait) {
    return Verdicted(Verdict::Forged("request does not match the service's protocol"));
  }
  if (SockOpt(sock, SO_TYPE) != SOCK_DGRAM) {
    return Verdicted(Verdict::Forged("descriptor is not the right kind of socket"));
  }
  // Only a socket whose child the monitor reaped with datagrams left on it.
  // One it does not know may be one it forgot (kept 10 s, 1024 at most):
  // refused, its datagrams lost, as before there was a hand-on at all.
  a.ino = SocketInode(sock);
  const EndedHandover* ended =
      view.leftovers == nullptr ? nullptr : view.leftovers->Find(a.ino, req.service, req.generation);
  if (ended == nullptr) {
    return Verdicted(Verdict::Refuse("no ended child left datagrams on this socket",
                                     Outcome::kClosed));
  }
  for (const auto& s : SocketsOf(view, req.service)) {
    if (s->ep == ended->ep) a.from = s;
  }
  if (!a.from) return Verdicted(Verdict::Refuse("the service's address is gone", Outcome::kClosed));
  if (!Connected(sock)) return Verdicted(Verdict::Forged("handover socket is not connected"));
  // The rest as for a handover: nothing but this process and the listener
  // holds the socket now, so the datagram at its head must be the peer's
  // the listener connected it to.
  return CheckHandedOver(sock, a, view);
}

Admission CheckReplaceSocket(const RequestRef& req, int old, int fresh, const RequestView& view) {
  Admission a = TableAdmission(req, view, false);
  if (!a.verdict.admitted()) return a;
  // For any udp socket: one a wait child shut down may belong to a nowait
  // service since a reload.
  if (a.svc->transport != net::Transport::kUdp) {
    return Verdicted(Verdict::Forged("malformed spawn request"));
  }
  if (SockOpt(old, SO_TYPE) != SOCK_DGRAM) {
    return Verdicted(Verdict::Forged("descriptor is not the right kind of socket"));
  }
  a.from = DatagramSocketOf(SocketsOf(view, req.service), req.service, old, a.ino);
  if (!a.from) return Verdicted(Verdict::Forged("descriptor does not belong to the service"));
  if (Verdict v = CheckWaitSocketFree(view.children, *a.from); !v.admitted()) return Verdicted(v);
  // Only a socket that is truly beyond repair may be replaced.
  if (!ShutDown(old)) return Verdicted(Verdict::Forged("replaced socket is not shut down"));
  if (Verdict v = CheckFreshSocket(view, *a.from, a.ino, fresh); !v.admitted()) {
    return Verdicted(v);
  }
  return a;
}

Verdict CheckDescriptorsLost(bool out_of_descriptors, bool swaps_socket) {
  // More descriptors than a message carries were sent (forged), or this
  // process is out of descriptors and the kernel could install none (not
  // the listener's doing).
  if (!out_of_descriptors) return Verdict::Forged("too many descriptors");
  if (!swaps_socket) return Verdict::RefuseExhausted("monitor out of descriptors");
  // The listener has swapped in its fresh socket already, and this
  // process never got it: the two tables differ now. A new listener
  // starts again from this one's (and undoes the old socket's connect).
  return Verdict::TablesDiffer("monitor out of descriptors");
}

}  // namespace hinetd::supervisor
