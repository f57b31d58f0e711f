// The udp nowait sockets whose child ended with datagrams still queued on
// them, as the monitor saw them when it reaped the child: the only sockets a
// UdpLeftoverRequest may hand to another child (requests.h,
// CheckUdpLeftover).
//
// Why such datagrams exist: the listener hands a nowait service's socket
// to the child of the first datagram's peer, connected to that peer, and
// binds a fresh one in its place; datagrams of other peers that were
// already queued on it stay queued, behind the first (the kernel moves
// none). A program that answers one datagram and exits would leave them to
// be lost, and their peers to time out and send again; the listener hands
// the socket on, one peer's child after another, until they are served
// (listener.cc, ServeLeftover). Only a child in a PID namespace of its own
// qualifies: once it is reaped, every process it started is gone, and no
// process outside hinetd holds the socket any more.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>

#include "net/address.h"

namespace hinetd::supervisor {

struct EndedHandover {
  ino_t ino = 0;
  uint32_t service = 0;  // its index in the table of `generation`
  uint64_t generation = 0;
  net::Endpoint ep;  // the service's listening address it was bound to
  std::chrono::steady_clock::time_point ended;
};

class UdpLeftovers {
 public:
  // Kept this long and at most this many: the listener hands a socket on
  // when it reads the child's end report, or lets it go (1 s after the
  // first handover at most); one it never names is forgotten.
  static constexpr std::chrono::seconds kKeep{10};
  static constexpr size_t kMax = 1024;

  void Add(const EndedHandover& e) {
    while (!entries_.empty() &&
           (entries_.size() >= kMax || e.ended - entries_.front().ended > kKeep)) {
      entries_.pop_front();
    }
    entries_.push_back(e);
  }
  // The entry of the socket `ino` of `service` in `generation`, or null.
  [[nodiscard]] const EndedHandover* Find(ino_t ino, uint32_t service, uint64_t generation) const {
    for (const auto& e : entries_) {
      if (e.ino == ino && e.service == service && e.generation == generation) return &e;
    }
    return nullptr;
  }
  // Once handed to a child: a socket goes to one child at a time.
  void Remove(ino_t ino) {
    std::erase_if(entries_, [&](const EndedHandover& e) { return e.ino == ino; });
  }
  [[nodiscard]] size_t size() const { return entries_.size(); }

 private:
  std::deque<EndedHandover> entries_;
};

}  // namespace hinetd::supervisor
