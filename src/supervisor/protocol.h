// The control channel between the monitor and the listener: a
// SOCK_SEQPACKET socketpair, fixed-size messages, descriptors passed with
// SCM_RIGHTS. The monitor trusts nothing in a listener's message beyond a
// service index, a generation and the descriptors, and checks those.
#pragma once

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace hinetd::supervisor {

inline constexpr uint32_t kMagic = 0x68696e64;  // "hind"

// Every message starts with a header; its type alone says what follows, how
// long the message is and how many descriptors come with it. Each request is
// its own type, a struct of exactly the fields its handler uses.
enum class MsgType : uint32_t {
  // listener -> monitor
  kConnection = 1,        // start a child on a stream connection; 1 fd: the connection
  kUdpWaitStart = 2,      // start a wait child on its datagram socket; 1 fd: the socket
  kUdpHandover = 3,       // start a nowait child on a socket connected to one peer;
                          // 2 fds: that socket, the fresh one that replaces it
  kUdpReplaceSocket = 4,  // starts nothing: 2 fds, a udp socket a child shut down and
                          // the fresh one that replaces it; no end report follows
  kStop = 5,              // stop everything (the listener got TERM/INT)
  kState = 6,             // reply to kHandover: counters, pauses, rate tokens (text)
  kReady = 7,             // serving (after its listener-ready line)
  kUdpLeftover = 11,      // start a nowait child on a socket handed over before, whose
                          // child ended with other peers' datagrams left on it,
                          // connected now to the next one's peer; 1 fd: that socket
  // monitor -> listener
  kEnd = 8,       // a batch of end reports: children (or requests) that are over
  kHandover = 9,  // send your state and exit (reload)
  kStatus = 10,   // log your status lines (SIGUSR1)
};

struct MsgHeader {
  uint32_t magic = kMagic;
  MsgType type;
};

// Per-connection key of per_source, opaque to the monitor (it only stores
// and echoes it back). At most 32 bytes: a longer len is malformed.
struct SourceKey {
  uint8_t len = 0;
  uint8_t bytes[32] = {};
  [[nodiscard]] std::string str() const { return std::string(reinterpret_cast<const char*>(bytes), len); }
};

// The requests. Every field is checked: `reserved` must be zero, `service`
// and `generation` against the monitor's own table (not here: Decode knows
// no table). `id` is the listener's own; the refusal of a request names it.
//
// A request for one client's child: its id, the table's generation, the
// service, and the client's per_source key (echoed in the end report).
// Each instance is a type of its own, with its own descriptors.
template <MsgType T, size_t N>
struct ClientRequest {
  static constexpr MsgType kType = T;
  static constexpr size_t kFds = N;
  MsgHeader h{kMagic, kType};
  uint64_t id = 0;
  uint64_t generation = 0;
  uint32_t service = 0;
  SourceKey source;
  uint8_t reserved[3] = {};
};

// fds[0]: the accepted connection.
using ConnectionRequest = ClientRequest<MsgType::kConnection, 1>;

// fds[0]: the listening socket holding the datagram, connected to its peer
// (the child's); fds[1]: the fresh socket that takes its place.
using UdpHandoverRequest = ClientRequest<MsgType::kUdpHandover, 2>;

// fds[0]: the socket of an earlier handover (or leftover) request, whose
// child has ended (its end report said `leftover`): datagrams of other
// peers were queued on it before it was connected, and it goes to a child
// for the first of them, connected now to that peer.
using UdpLeftoverRequest = ClientRequest<MsgType::kUdpLeftover, 1>;

struct UdpWaitStartRequest {
  static constexpr MsgType kType = MsgType::kUdpWaitStart;
  static constexpr size_t kFds = 1;  // the service's listening socket, a datagram queued
  MsgHeader h{kMagic, kType};
  uint64_t id = 0;
  uint64_t generation = 0;
  uint32_t service = 0;
  uint32_t reserved = 0;
  // No peer: the monitor peeks at the datagram itself, and nothing a
  // listener says about a peer would be believed.
};

struct UdpReplaceSocketRequest {
  static constexpr MsgType kType = MsgType::kUdpReplaceSocket;
  // fds[0]: a udp socket a wait child shut down (which a datagram socket
  // cannot undo); fds[1]: the fresh one that replaces it in the table.
  static constexpr size_t kFds = 2;
  MsgHeader h{kMagic, kType};
  uint64_t generation = 0;
  uint32_t service = 0;
  uint32_t reserved = 0;
};

struct StopMessage {
  static constexpr MsgType kType = MsgType::kStop;
  static constexpr size_t kFds = 0;
  MsgHeader h{kMagic, kType};
};

struct ReadyMessage {
  static constexpr MsgType kType = MsgType::kReady;
  static constexpr size_t kFds = 0;
  MsgHeader h{kMagic, kType};
};

// kState: the header, then SerializeState's text (any length; a message
// longer than the channel carries arrives cut, see Channel::Received).
struct StateMessage {
  static constexpr MsgType kType = MsgType::kState;
  static constexpr size_t kFds = 0;
  std::string_view text;  // into the decoded bytes
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
inline constexpr uint32_t kMaxOutcome = 7;

// One end report, an entry of a kEnd batch. The service is named by its
// index in the table of `generation` (the monitor's current one when the
// report was made); kNoService if it has none there (a reload removed it,
// or the request named none).
inline constexpr uint32_t kNoService = UINT32_MAX;
struct EndReport {
  uint64_t generation = 0;
  uint64_t lifetime_ns = 0;
  uint64_t request = 0;  // the id of the request it answers
  uint32_t service = kNoService;
  Outcome outcome = Outcome::kExited;
  int32_t status = 0;             // wait status, for kExited / kTimedOut
  uint32_t wait = 0;              // 0 or 1: a udp wait child, resume its socket
  uint32_t wait_ep_len = 0;       // at most sizeof wait_ep
  SourceKey source;
  // 0 or 1: a udp nowait child (in a PID namespace of its own) ended, and
  // its socket still holds datagrams: the listener may hand it on
  // (UdpLeftoverRequest).
  uint8_t leftover = 0;
  uint8_t reserved[2] = {};
  sockaddr_storage wait_ep{};     // the listening address of that socket
};

// Whether the listener must read `end` at once (the monitor rings its
// doorbell): anything but a clean exit of a child that held no wait socket
// and left no datagram on its socket. A failure counts toward loop
// protection and a pause, a wait child's end gives its socket back, a
// refusal may too, datagrams left on a nowait child's socket wait for
// their own child; a clean exit only lowers counts,
// which the listener reads before it next admits a client (or at once while
// one waits for room).
[[nodiscard]] bool ListenerNeedsAtOnce(const EndReport& end);

// kEnd: this header, then `count` EndReports (1 to kMaxEndBatch). One
// message per batch: a loop iteration's reports cost the monitor one
// sendmsg and the listener one recvmsg, not one of each per child (and one
// wakeup, if the monitor rings its doorbell: ListenerNeedsAtOnce).
inline constexpr uint32_t kMaxEndBatch = 64;
struct EndBatchHeader {
  static constexpr MsgType kType = MsgType::kEnd;
  MsgHeader h{kMagic, kType};
  uint32_t count = 0;
  uint32_t reserved = 0;
};
// The most bytes one report can take on the wire (a batch of one), to
// bound the monitor's queue to the listener.
inline constexpr size_t kEndReportWireBytes = sizeof(EndBatchHeader) + sizeof(EndReport);

// A decoded kEnd: a view into the decoded bytes, every entry checked.
struct EndBatch {
  static constexpr MsgType kType = MsgType::kEnd;
  static constexpr size_t kFds = 0;
  std::string_view entries;
  [[nodiscard]] size_t size() const { return entries.size() / sizeof(EndReport); }
  [[nodiscard]] EndReport operator[](size_t i) const;
};

struct HandoverMessage {
  static constexpr MsgType kType = MsgType::kHandover;
  static constexpr size_t kFds = 0;
  MsgHeader h{kMagic, kType};
};

struct StatusMessage {
  static constexpr MsgType kType = MsgType::kStatus;
  static constexpr size_t kFds = 0;
  MsgHeader h{kMagic, kType};
};

// What was wrong with a message. `reason` is the monitor's log wording
// (refuse-request reason=...); `detail` says exactly what (for tests and
// the fuzzer). `service`/`generation` are set when the request's fixed
// fields could be read.
struct DecodeError {
  std::string reason;
  std::string detail;
  std::optional<uint32_t> service;
  std::optional<uint64_t> generation;
};

// Passed as `nfds` when the kernel dropped descriptors (MSG_CTRUNC): the
// count cannot be checked; everything else is.
inline constexpr size_t kFdsLost = SIZE_MAX;

using ListenerMessage = std::variant<ConnectionRequest, UdpWaitStartRequest, UdpHandoverRequest,
                                     UdpLeftoverRequest, UdpReplaceSocketRequest, StopMessage,
                                     ReadyMessage, StateMessage, DecodeError>;
using MonitorMessage = std::variant<EndBatch, HandoverMessage, StatusMessage, DecodeError>;

// Pure: no I/O, no state. Checks the magic, the type (one the sender may
// send), the exact size, the descriptor count and every field's range.
// A StateMessage / EndBatch points into `bytes`.
[[nodiscard]] ListenerMessage DecodeFromListener(std::string_view bytes, size_t nfds);
[[nodiscard]] MonitorMessage DecodeFromMonitor(std::string_view bytes, size_t nfds);

// A message's bytes as they go on the wire.
template <typename M>
[[nodiscard]] std::string_view Bytes(const M& m) {
  return {reinterpret_cast<const char*>(&m), sizeof m};
}

// A kEnd batch being filled: fixed storage, nothing allocated per report.
class EndBatchBuilder {
 public:
  // False if it is full (flush first).
  bool Add(const EndReport& r) {
    if (msg_.h.count >= kMaxEndBatch) return false;
    msg_.entries[msg_.h.count++] = r;
    urgent_ = urgent_ || ListenerNeedsAtOnce(r);
    return true;
  }
  // Some report of the batch is one the listener must read at once.
  [[nodiscard]] bool urgent() const { return urgent_; }
  [[nodiscard]] bool empty() const { return msg_.h.count == 0; }
  [[nodiscard]] bool full() const { return msg_.h.count >= kMaxEndBatch; }
  [[nodiscard]] size_t size() const { return msg_.h.count; }
  [[nodiscard]] std::string_view bytes() const {
    return {reinterpret_cast<const char*>(&msg_), sizeof msg_.h + msg_.h.count * sizeof(EndReport)};
  }
  void Clear() {
    msg_.h.count = 0;
    urgent_ = false;
  }

 private:
  struct Message {
    EndBatchHeader h;
    EndReport entries[kMaxEndBatch];
  };
  Message msg_;
  bool urgent_ = false;
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
  // Up to kBatch messages in one system call (recvmmsg), into out[0..got):
  // kMessage with got >= 1; got < kBatch means the queue was empty at that
  // moment, so a caller that drains need not ask again (the failing call
  // Recv would make to find out). A close after some messages is kMessage
  // first, kClosed at the next call.
  static constexpr size_t kBatch = 4;
  RecvStatus RecvSome(std::array<Received, kBatch>& out, size_t& got);

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
  // RecvSome's kBatch buffers of kMaxMessage bytes, allocated (not
  // written: only the pages a message fills become resident) at its first call.
  std::unique_ptr<char[]> batch_buf_;
};

// A connected, non-blocking, close-on-exec SOCK_SEQPACKET pair.
[[nodiscard]] base::Result<std::pair<base::UniqueFd, base::UniqueFd>> ControlPair();

}  // namespace hinetd::supervisor
