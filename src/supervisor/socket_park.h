// The table's TCP listening sockets, out of the monitor's descriptor table
// while nothing of the monitor needs them: in flight on a socket pair of its
// own (SCM_RIGHTS), which keeps them open and listening, their backlogs
// intact, for the listener that holds copies and accepts on them.
//
// Why: every child's clone copies the monitor's descriptor table, taking a
// reference to every open file, and the child drops each one again before
// its execve (close_range). With 1000 services that is 1000 sockets twice
// per connection, the files' counters bouncing between the CPUs. The
// monitor itself never touches a TCP listening socket between a listener's
// start and the next one's (requests name sockets by inode, cached); only
// a listener's start, a reload's bind and the stop need them in hand, and
// those take them back first (UnparkAll).
//
// UDP sockets are never parked: a handover replaces the table's socket with
// a fresh one and the old one goes to a child, and a wait child is given the
// table's socket itself; a copy left in flight would keep an old socket
// alive. Unix sockets neither: their files are the monitor's to remove, and
// a unix socket in flight is the kernel's garbage collector's business.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/sockets.h"

namespace hinetd::supervisor {

class SocketPark {
 public:
  // Without Open (or after a failed one), Park parks nothing: parking only
  // saves time, nothing depends on it.
  SocketPark() = default;
  ~SocketPark();
  SocketPark(const SocketPark&) = delete;
  SocketPark& operator=(const SocketPark&) = delete;

  // Makes the socket pair (close-on-exec, non-blocking).
  [[nodiscard]] base::Status Open();

  // Whether `s` would be parked: a TCP socket in hand.
  [[nodiscard]] static bool Parkable(const ListenSocket& s);

  // Moves every parkable socket of `sockets` into flight, up to the
  // kernel's most per message (SCM_MAX_FD) at a time; each one's descriptor
  // closes here and its inode stays known (ListenSocket::inode). A message
  // the kernel refuses (a full queue, too many files in flight for this
  // user) leaves its sockets in hand, as they were. Returns how many are
  // parked now, all messages together.
  size_t Park(const SocketList& sockets);

  // Takes every parked socket back, each into the ListenSocket it left,
  // in a descriptor of its own again (close-on-exec). Safe when this
  // process is out of descriptors: a message is looked at first
  // (MSG_PEEK installs copies; a peek that finds no room installs none of
  // the rest and consumes nothing) and only then taken off the queue, so
  // a socket is in flight or in hand, never lost. On error, the sockets
  // not taken back stay parked, and the error says why.
  [[nodiscard]] base::Status UnparkAll();

  // Drops every parked socket (their in-flight copies close with the
  // pair): at the stop, when the table's sockets go.
  void Release();

  [[nodiscard]] size_t parked() const { return parked_; }

 private:
  struct Batch {
    uint64_t seq = 0;
    std::vector<std::shared_ptr<ListenSocket>> sockets;
  };
  base::UniqueFd send_;
  base::UniqueFd receive_;
  std::deque<Batch> batches_;
  uint64_t next_seq_ = 1;
  size_t parked_ = 0;
};

}  // namespace hinetd::supervisor
