// The control channel between the monitor and the listener: a
// SOCK_SEQPACKET socketpair, fixed-size messages, descriptors passed with
// SCM_RIGHTS. The monitor trusts nothing in a listener's message beyond a
// service index, a generation and the descriptors, and checks those.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace hinetd::supervisor {

inline constexpr uint32_t kMagic = 0x68696e64;  // "hind"

enum class MsgType : uint32_t {
  kSpawn = 1,     // listener -> monitor: start a child on this connection
  kEnd = 2,       // monitor -> listener: a child (or a request) is over
  kStop = 3,      // listener -> monitor: stop everything (it got TERM/INT)
  kHandover = 4,  // monitor -> listener: send your state and exit (reload)
  kState = 5,     // listener -> monitor: counters, pauses, rate tokens
  kStatus = 6,    // monitor -> listener: log your status lines (SIGUSR1)
  kReady = 7,     // listener -> monitor: serving (after its listener-ready line)
};

struct MsgHeader {
  uint32_t magic = kMagic;
  MsgType type;
};

// Per-connection key of per_source, opaque to the monitor (it only stores
// and echoes it back).
struct SourceKey {
  uint8_t len = 0;
  uint8_t bytes[32] = {};
  [[nodiscard]] std::string str() const { return std::string(reinterpret_cast<const char*>(bytes), len); }
};

struct SpawnRequest {
  MsgHeader h{kMagic, MsgType::kSpawn};
  uint64_t id = 0;  // the listener's own; a refusal names it
  uint64_t generation = 0;
  uint32_t service = 0;
  uint32_t flags = 0;
  SourceKey source;
  // udp wait only: the first datagram's peer and destination, which the
  // monitor cannot see (it never reads from a network socket).
  sockaddr_storage peer{};
  uint32_t peer_len = 0;
  sockaddr_storage local{};
  uint32_t local_len = 0;

  // fds[0]: the connection (udp: the socket holding the datagram).
  // kHandover: fds[1] is the fresh listening socket that replaces it.
  // kUdpWait|kUdpReplace: starts nothing; fds[0] is a wait socket a child
  // shut down (which a datagram socket cannot undo), fds[1] the fresh one
  // that replaces it in the monitor's table. No end report follows.
  static constexpr uint32_t kUdpWait = 1;
  static constexpr uint32_t kUdpHandover = 2;
  static constexpr uint32_t kUdpReplace = 4;
};

enum class Outcome : uint32_t {
  kExited = 1,       // ran, and exited or was killed (status)
  kSetupFailed = 2,  // failed before or at execve
  kSpawnFailed = 3,  // no child could be created
  kRefused = 4,      // the monitor refused the request
  kTimedOut = 5,     // stopped by the service's timeout
  kClosed = 6,       // refused: the connection was gone (its client reset
                     // it) before a child could start; nobody's failure
  kReplaced = 7,     // a stale udp wait child, ended while idle after a
                     // reload changed its plan: a clean end, its socket
                     // keeps every datagram queued on it
};

struct EndReport {
  MsgHeader h{kMagic, MsgType::kEnd};
  char service[72] = {};
  SourceKey source;
  uint32_t wait = 0;                // a udp wait child: resume its socket
  sockaddr_storage wait_ep{};       // the listening address of that socket
  uint32_t wait_ep_len = 0;
  Outcome outcome = Outcome::kExited;
  int32_t status = 0;               // wait status, for kExited / kTimedOut
  uint64_t lifetime_ns = 0;
  uint64_t request = 0;             // kRefused, kClosed: the id of the refused request
};

struct Simple {
  MsgHeader h;
};

// One end of the channel: sends whole messages (queued while the peer's
// buffer is full, so neither side ever blocks on the other) and receives
// them with their descriptors.
class Channel {
 public:
  // The default queue limit: far more than a listener ever queues (it stops
  // accepting while anything is queued), small enough to bound memory.
  static constexpr size_t kDefaultMaxQueued = 1024;
  static constexpr size_t kDefaultMaxQueuedBytes = 4 << 20;

  explicit Channel(base::UniqueFd fd) : fd_(std::move(fd)) {}

  [[nodiscard]] int fd() const { return fd_.get(); }
  // Sends a message with descriptors, or queues it (with copies of the
  // descriptors) behind earlier ones or while the peer's buffer is full;
  // the caller keeps its own. False if the channel is broken, or if the
  // message would take the queue over its limit (then over_limit() is true
  // and the message is dropped: a peer that lets that much pile up is not
  // reading).
  bool Send(const void* msg, size_t len, const std::vector<int>& fds = {});
  // At most `messages` messages and `bytes` bytes wait in the queue.
  void set_queue_limit(size_t messages, size_t bytes) {
    max_queued_ = messages;
    max_queued_bytes_ = bytes;
  }
  [[nodiscard]] bool over_limit() const { return over_limit_; }
  [[nodiscard]] size_t queued() const { return queue_.size(); }
  // Sends queued messages; call when the fd is writable.
  bool Flush();
  // Sends every queued message, waiting for the peer to read (a process
  // about to exit must not drop what it queued: an AF_UNIX datagram queue
  // holds only net.unix.max_dgram_qlen messages, often 10). Bounded by
  // `timeout`; false if something could not be sent.
  bool FlushBlocking(std::chrono::milliseconds timeout);
  [[nodiscard]] bool pending() const { return !queue_.empty(); }

  struct Received {
    std::string data;
    std::vector<base::UniqueFd> fds;
    bool truncated = false;  // more descriptors or bytes than fit: refuse
    // Of which: more bytes than the largest message (MSG_TRUNC); without it,
    // descriptors were lost (MSG_CTRUNC: more than fit, or none could be
    // installed here, EMFILE).
    bool data_truncated = false;
  };
  // One message, or nullopt-like: empty data with eof/again flags.
  enum class RecvStatus { kMessage, kAgain, kClosed };
  RecvStatus Recv(Received& out);

 private:
  struct Queued {
    std::string data;
    std::vector<base::UniqueFd> fds;
  };
  bool SendNow(const void* data, size_t len, const int* fds, size_t nfds, bool& again);
  bool SendOne(const Queued& q, bool& again);

  base::UniqueFd fd_;
  std::deque<Queued> queue_;
  size_t queued_bytes_ = 0;
  size_t max_queued_ = kDefaultMaxQueued;
  size_t max_queued_bytes_ = kDefaultMaxQueuedBytes;
  bool over_limit_ = false;
  bool broken_ = false;  // a send failed for good: nothing more goes out
  std::string recv_buf_;  // one message; allocated at the first receive
};

// A connected, non-blocking, close-on-exec SOCK_SEQPACKET pair.
[[nodiscard]] base::Result<std::pair<base::UniqueFd, base::UniqueFd>> ControlPair();

}  // namespace hinetd::supervisor
