// The monitor's checks of the listener's spawn requests (protocol.h), as
// decisions. Each check reads the monitor's table, its children and the
// descriptors the request carries, changes nothing, and returns a Verdict;
// the monitor acts on a verdict in one place (Monitor::Answered and
// Monitor::Apply). What is decided and what is done about it can so be
// read apart, and every decision tested on its own (unit/requests_test.cc).
//
// Whose fault a request is decides its verdict. The listener runs the same
// table, which it got from the monitor, so a request it could not have made
// honestly proves it is no longer the listener: Forged, and it is killed.
// What an honest listener can meet (a reload's race, a limit it counts
// differently, a client that reset its connection) is refused and answered
// with an end report, which keeps the listener's counts exact; a limit of
// this process (memory, descriptors) is refused too, but logged once per
// episode. Nothing the listener says about a peer is believed: the peer,
// and what admission depends on, come from the descriptor itself.
//
// The checks are on the per-connection path: they neither parse nor
// allocate (a verdict's reason is a string literal).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "config/types.h"
#include "net/address.h"
#include "spawn/spawner.h"
#include "supervisor/children.h"
#include "supervisor/protocol.h"
#include "supervisor/reflection.h"
#include "supervisor/sockets.h"
#include "supervisor/udp_leftovers.h"

namespace hinetd::supervisor {

// What the monitor takes from a listener's request beyond its descriptors,
// and checks: the service's index, the table's generation; the request's
// id and source key only go back in its end report.
struct RequestRef {
  uint64_t id = 0;
  uint64_t generation = 0;
  uint32_t service = 0;
  SourceKey source;
};

// What to do with a request.
struct Verdict {
  enum class Kind : uint8_t {
    kAdmit,            // go on: start its child (or, a replacement, swap the socket)
    kDrop,             // nothing to do and nothing to answer: a replacement
                       // from before a reload (the next listener finds the
                       // broken socket again)
    kRefuse,           // what an honest listener can meet: logged (rate-
                       // limited), answered with an end report of `outcome`
    kRefuseExhausted,  // a system limit of the monitor's: logged once per
                       // episode, answered with an end report
    kForged,           // no honest listener sends it: logged, listener killed
    kTablesDiffer,     // the listener swapped in a socket the monitor never
                       // got: logged, listener killed and restarted from
                       // the monitor's table
  };
  Kind kind = Kind::kAdmit;
  const char* reason = "";  // a literal
  Outcome outcome = Outcome::kRefused;  // kRefuse's end report

  [[nodiscard]] static constexpr Verdict Admit() { return {}; }
  [[nodiscard]] static constexpr Verdict Drop() { return {Kind::kDrop, "", Outcome::kRefused}; }
  [[nodiscard]] static constexpr Verdict Refuse(const char* why,
                                                Outcome outcome = Outcome::kRefused) {
    return {Kind::kRefuse, why, outcome};
  }
  [[nodiscard]] static constexpr Verdict RefuseExhausted(const char* why) {
    return {Kind::kRefuseExhausted, why, Outcome::kRefused};
  }
  [[nodiscard]] static constexpr Verdict Forged(const char* why) {
    return {Kind::kForged, why, Outcome::kRefused};
  }
  [[nodiscard]] static constexpr Verdict TablesDiffer(const char* why) {
    return {Kind::kTablesDiffer, why, Outcome::kRefused};
  }
  [[nodiscard]] bool admitted() const { return kind == Kind::kAdmit; }
};

// What the checks read of the monitor's state, all of it const.
struct RequestView {
  uint64_t generation;
  // Allocation failed lately (monitor.cc's memory reserve is spent).
  bool memory_short;
  const config::Config& config;
  const SocketList& sockets;
  // The same sockets by service (SocketsByService): a request looks only
  // at its own service's, whatever the table's size.
  const std::vector<SocketList>& by_service;
  // A reload's sockets, bound but not installed yet (null: no reload).
  const SocketList* reload_sockets;
  const Children& children;
  const std::unordered_map<std::string, int>& running;  // per service
  const PortSet& served_ports;
  // udp nowait sockets whose child ended with datagrams left on them.
  const UdpLeftovers* leftovers = nullptr;
};

// What the checks of a spawn request found: the verdict, and for one
// admitted, what its child starts with.
struct Admission {
  Verdict verdict;
  const config::Service* svc = nullptr;
  // The listening socket the request came from (or, udp, is).
  std::shared_ptr<ListenSocket> from;
  ino_t ino = 0;  // a datagram request's socket's inode
  spawn::Connection::Kind kind = spawn::Connection::Kind::kTcp;
  bool wait = false;  // a udp wait child: it holds `from` itself
  net::Endpoint peer;
  net::Endpoint local;
  ucred cred{};  // a unix: peer's
};

// The checks every request gets against the monitor's table: its
// generation (`answered`: it is owed an end report, else a stale one is
// dropped), the monitor's memory, its service's index.
[[nodiscard]] Verdict CheckTable(const RequestRef& req, const RequestView& view, bool answered);

// max_children and max_instances. Admission is the listener's, but the
// two limits that bound how many processes a subverted listener could
// start are held here too.
[[nodiscard]] Verdict CheckLimits(const RequestView& view, const config::Service& svc);

// allow/deny and, for udp, the reflection rules, against the peer the
// descriptor has.
[[nodiscard]] Verdict CheckPeer(const config::Service& svc, const net::Endpoint& peer,
                                const PortSet& served_ports);

// A wait socket a child holds may not be handed out (or replaced) again.
[[nodiscard]] Verdict CheckWaitSocketFree(const Children& children, const ListenSocket& from);

// Whether `fresh` may take `from`'s place in the table (`old_ino`: the
// inode of the socket it replaces).
[[nodiscard]] Verdict CheckFreshSocket(const RequestView& view, const ListenSocket& from,
                                       ino_t old_ino, int fresh);

// The service's listening datagram socket that `fd` is, by inode (set in
// `ino`), or null.
[[nodiscard]] std::shared_ptr<ListenSocket> DatagramSocketOf(const SocketList& sockets,
                                                             uint32_t service, int fd,
                                                             ino_t& ino);

// One function per spawn request, each its checks in order; the first that
// does not admit is the verdict.
// A stream connection, `conn`.
[[nodiscard]] Admission CheckConnection(const RequestRef& req, int conn, const RequestView& view);
// A udp wait service's listening socket, `sock`, a datagram queued.
[[nodiscard]] Admission CheckUdpWaitStart(const RequestRef& req, int sock,
                                          const RequestView& view);
// A udp nowait handover, in two steps, as the listener has already swapped
// `fresh` in for `conn` in its own table: first what decides whether the
// monitor swaps too (an Admit says it must, at once); then, once it has,
// the rest. `swapped` is the first step's admission.
[[nodiscard]] Admission CheckUdpHandover(const RequestRef& req, int conn, int fresh,
                                         const RequestView& view);
[[nodiscard]] Admission CheckHandedOver(int conn, const Admission& swapped,
                                        const RequestView& view);
// A udp nowait socket handed over before, whose child ended with datagrams
// of other peers left on it (udp_leftovers.h), connected now to the next
// one's peer.
[[nodiscard]] Admission CheckUdpLeftover(const RequestRef& req, int sock,
                                         const RequestView& view);
// A replacement of a udp socket a wait child shut down (`old`) by `fresh`:
// an Admit says the monitor swaps them. It is never answered.
[[nodiscard]] Admission CheckReplaceSocket(const RequestRef& req, int old, int fresh,
                                           const RequestView& view);

// A request whose descriptors the kernel dropped: `out_of_descriptors`,
// this process could take no more; `swaps_socket`, the request would have
// swapped a socket of the table.
[[nodiscard]] Verdict CheckDescriptorsLost(bool out_of_descriptors, bool swaps_socket);

}  // namespace hinetd::supervisor
