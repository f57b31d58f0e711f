#include "supervisor/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "net/fd_passing.h"

namespace hinetd::supervisor {

using base::ErrnoError;
using base::Result;
using base::UniqueFd;

namespace {

// At most two descriptors travel with a message.
constexpr size_t kMaxFds = 2;
constexpr size_t kMaxMessage = 64 * 1024;
// Room for every message but a large state handover or end batch (taken
// whole, or not).
constexpr size_t kSmallMessage = 1024;
static_assert(sizeof(ConnectionRequest) <= kSmallMessage &&
              sizeof(UdpHandoverRequest) <= kSmallMessage);
static_assert(sizeof(EndBatchHeader) + kMaxEndBatch * sizeof(EndReport) <= kMaxMessage);

// Fixed layouts with no padding: every byte of a message is a field, so
// "exact size" and "reserved is zero" leave nothing unchecked.
static_assert(std::has_unique_object_representations_v<ConnectionRequest>);
static_assert(std::has_unique_object_representations_v<UdpWaitStartRequest>);
static_assert(std::has_unique_object_representations_v<UdpHandoverRequest>);
static_assert(std::has_unique_object_representations_v<UdpLeftoverRequest>);
static_assert(std::has_unique_object_representations_v<UdpReplaceSocketRequest>);
static_assert(std::has_unique_object_representations_v<EndReport>);
static_assert(std::has_unique_object_representations_v<EndBatchHeader>);
static_assert(sizeof(ConnectionRequest) == 64 && sizeof(UdpWaitStartRequest) == 32 &&
              sizeof(UdpHandoverRequest) == 64 && sizeof(UdpLeftoverRequest) == 64 &&
              sizeof(UdpReplaceSocketRequest) == 24 &&
              sizeof(EndReport) == 208 && sizeof(EndBatchHeader) == 16);

const char* TypeName(MsgType t) {
  switch (t) {
    case MsgType::kConnection: return "connection";
    case MsgType::kUdpWaitStart: return "udp-wait-start";
    case MsgType::kUdpHandover: return "udp-handover";
    case MsgType::kUdpLeftover: return "udp-leftover";
    case MsgType::kUdpReplaceSocket: return "udp-replace-socket";
    case MsgType::kStop: return "stop";
    case MsgType::kState: return "state";
    case MsgType::kReady: return "ready";
    case MsgType::kEnd: return "end";
    case MsgType::kHandover: return "handover";
    case MsgType::kStatus: return "status";
  }
  return "unknown";
}

template <typename T>
bool AllZero(const T& field) {
  const auto* p = reinterpret_cast<const unsigned char*>(&field);
  return std::all_of(p, p + sizeof field, [](unsigned char c) { return c == 0; });
}

DecodeError Err(std::string reason, std::string detail) {
  return DecodeError{std::move(reason), std::move(detail), std::nullopt, std::nullopt};
}

// The header, if the bytes start with a valid one.
std::optional<MsgHeader> HeaderOf(std::string_view bytes) {
  MsgHeader h{};
  if (bytes.size() < sizeof h) return std::nullopt;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (h.magic != kMagic) return std::nullopt;
  return h;
}

// The descriptor count of a message without a request's fields.
std::optional<DecodeError> CheckPlain(std::string_view bytes, size_t size, size_t nfds,
                                      MsgType type) {
  if (nfds != 0) {
    return Err("unexpected descriptors", std::string(TypeName(type)) + " carries no descriptors");
  }
  if (size != 0 && bytes.size() != size) {
    return Err("malformed message", std::string(TypeName(type)) + ": " +
                                        std::to_string(bytes.size()) + " bytes, not " +
                                        std::to_string(size));
  }
  return std::nullopt;
}

// A request: exact size, then its fields (service and generation named in
// any error from then on), then its descriptors.
template <typename R>
std::variant<R, DecodeError> DecodeRequest(std::string_view bytes, size_t nfds) {
  if (bytes.size() != sizeof(R)) {
    return Err("malformed spawn request", std::string(TypeName(R::kType)) + ": " +
                                              std::to_string(bytes.size()) + " bytes, not " +
                                              std::to_string(sizeof(R)));
  }
  R r;
  std::memcpy(&r, bytes.data(), sizeof r);
  auto named = [&](std::string reason, std::string detail) {
    DecodeError e = Err(std::move(reason), std::string(TypeName(R::kType)) + ": " + detail);
    e.service = r.service;
    e.generation = r.generation;
    return e;
  };
  if (!AllZero(r.reserved)) return named("malformed spawn request", "reserved bytes are not zero");
  if constexpr (requires(const R& x) { x.source; }) {
    if (r.source.len > sizeof r.source.bytes) {
      return named("malformed spawn request",
                   "source key of " + std::to_string(r.source.len) + " bytes (at most 32)");
    }
  }
  if (nfds != kFdsLost && nfds < R::kFds) {
    return named("missing descriptor", std::to_string(nfds) + " descriptors, not " +
                                           std::to_string(R::kFds));
  }
  if (nfds != kFdsLost && nfds > R::kFds) {
    return named("too many descriptors", std::to_string(nfds) + " descriptors, not " +
                                             std::to_string(R::kFds));
  }
  return r;
}

template <typename Out, typename R>
Out Widen(std::variant<R, DecodeError> v) {
  if (auto* r = std::get_if<R>(&v)) return Out(std::move(*r));
  return Out(std::move(std::get<DecodeError>(v)));
}

}  // namespace

ListenerMessage DecodeFromListener(std::string_view bytes, size_t nfds) {
  auto h = HeaderOf(bytes);
  if (!h) {
    return Err("malformed message", bytes.size() < sizeof(MsgHeader)
                                        ? std::to_string(bytes.size()) + " bytes: no header"
                                        : "wrong magic");
  }
  switch (h->type) {
    case MsgType::kConnection:
      return Widen<ListenerMessage>(DecodeRequest<ConnectionRequest>(bytes, nfds));
    case MsgType::kUdpWaitStart:
      return Widen<ListenerMessage>(DecodeRequest<UdpWaitStartRequest>(bytes, nfds));
    case MsgType::kUdpHandover:
      return Widen<ListenerMessage>(DecodeRequest<UdpHandoverRequest>(bytes, nfds));
    case MsgType::kUdpLeftover:
      return Widen<ListenerMessage>(DecodeRequest<UdpLeftoverRequest>(bytes, nfds));
    case MsgType::kUdpReplaceSocket:
      return Widen<ListenerMessage>(DecodeRequest<UdpReplaceSocketRequest>(bytes, nfds));
    case MsgType::kStop:
      if (auto e = CheckPlain(bytes, sizeof(StopMessage), nfds, h->type)) return *e;
      return StopMessage{};
    case MsgType::kReady:
      if (auto e = CheckPlain(bytes, sizeof(ReadyMessage), nfds, h->type)) return *e;
      return ReadyMessage{};
    case MsgType::kState:
      if (auto e = CheckPlain(bytes, 0, nfds, h->type)) return *e;
      return StateMessage{bytes.substr(sizeof(MsgHeader))};
    default: break;
  }
  // A monitor's message coming from the listener, or no type at all.
  return Err("unexpected message", "type " + std::to_string(static_cast<uint32_t>(h->type)) +
                                       " (" + TypeName(h->type) + ") from the listener");
}

MonitorMessage DecodeFromMonitor(std::string_view bytes, size_t nfds) {
  auto h = HeaderOf(bytes);
  if (!h) {
    return Err("malformed message", bytes.size() < sizeof(MsgHeader)
                                        ? std::to_string(bytes.size()) + " bytes: no header"
                                        : "wrong magic");
  }
  switch (h->type) {
    case MsgType::kEnd: {
      if (nfds != 0) return Err("unexpected descriptors", "end carries no descriptors");
      EndBatchHeader bh;
      if (bytes.size() < sizeof bh) return Err("malformed message", "end: no batch header");
      std::memcpy(&bh, bytes.data(), sizeof bh);
      if (bh.reserved != 0) return Err("malformed message", "end: reserved bytes are not zero");
      if (bh.count == 0 || bh.count > kMaxEndBatch) {
        return Err("malformed message", "end: " + std::to_string(bh.count) + " reports (1 to " +
                                            std::to_string(kMaxEndBatch) + ")");
      }
      if (bytes.size() != sizeof bh + bh.count * sizeof(EndReport)) {
        return Err("malformed message", "end: " + std::to_string(bytes.size()) +
                                            " bytes for " + std::to_string(bh.count) + " reports");
      }
      EndBatch batch{bytes.substr(sizeof bh)};
      for (size_t i = 0; i < batch.size(); ++i) {
        EndReport r = batch[i];
        std::string at = "end: report " + std::to_string(i) + ": ";
        auto outcome = static_cast<uint32_t>(r.outcome);
        if (outcome == 0 || outcome > kMaxOutcome) {
          return Err("malformed message", at + "outcome " + std::to_string(outcome));
        }
        if (r.wait > 1 || r.wait_ep_len > sizeof r.wait_ep || (r.wait == 0 && r.wait_ep_len != 0)) {
          return Err("malformed message", at + "wait socket address");
        }
        if (r.leftover > 1 || (r.leftover != 0 && r.wait != 0)) {
          return Err("malformed message", at + "leftover " + std::to_string(r.leftover));
        }
        if (r.source.len > sizeof r.source.bytes) {
          return Err("malformed message", at + "source key of " + std::to_string(r.source.len) + " bytes");
        }
        if (!AllZero(r.reserved)) return Err("malformed message", at + "reserved bytes are not zero");
      }
      return batch;
    }
    case MsgType::kHandover:
      if (auto e = CheckPlain(bytes, sizeof(HandoverMessage), nfds, h->type)) return *e;
      return HandoverMessage{};
    case MsgType::kStatus:
      if (auto e = CheckPlain(bytes, sizeof(StatusMessage), nfds, h->type)) return *e;
      return StatusMessage{};
    default: break;
  }
  return Err("unexpected message", "type " + std::to_string(static_cast<uint32_t>(h->type)) +
                                       " (" + TypeName(h->type) + ") from the monitor");
}

bool ListenerNeedsAtOnce(const EndReport& end) {
  bool clean = end.outcome == Outcome::kExited && WIFEXITED(end.status) &&
               WEXITSTATUS(end.status) == 0;
  return !clean || end.wait != 0 || end.leftover != 0;
}

EndReport EndBatch::operator[](size_t i) const {
  EndReport r;
  std::memcpy(&r, entries.data() + i * sizeof r, sizeof r);
  return r;
}

Result<std::pair<UniqueFd, UniqueFd>> ControlPair() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
    return ErrnoError("socketpair (control channel)", errno);
  }
  // Room for bursts of spawn requests and end reports.
  int size = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  return std::make_pair(UniqueFd(sv[0]), UniqueFd(sv[1]));
}

bool Channel::SendNow(const void* data, size_t len, const int* fds, size_t nfds, bool& again) {
  again = false;
  if (nfds > kMaxFds) return false;
  iovec iov{const_cast<void*>(data), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[net::RightsSpace(kMaxFds)];
  net::AttachRights(msg, control, fds, nfds);
  for (;;) {
    ssize_t n = sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return true;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == ENOBUFS) {
      again = true;
      return true;
    }
    return false;
  }
}

bool Channel::SendOne(const Queued& q, bool& again) {
  int fds[kMaxFds];
  size_t n = std::min(q.fds.size(), kMaxFds);
  for (size_t i = 0; i < n; ++i) fds[i] = q.fds[i].get();
  return SendNow(q.data.data(), q.data.size(), fds, q.fds.size(), again);
}

bool Channel::Send(const void* msg, size_t len, const std::vector<int>& fds) {
  if (broken_ || fds.size() > kMaxFds) return false;
  if (queue_.empty()) {
    // The usual case, and the one on every connection's path: straight
    // out with the caller's descriptors, nothing copied.
    bool again = false;
    if (!SendNow(msg, len, fds.data(), fds.size(), again)) {
      broken_ = true;
      return false;
    }
    if (!again) return true;
  } else if (!Flush()) {
    return false;  // broken: queueing more would only grow the queue
  }
  if (queue_.size() >= max_queued_ || queued_bytes_ + len > max_queued_bytes_) {
    over_limit_ = true;
    return false;
  }
  Queued q;
  q.data.assign(static_cast<const char*>(msg), len);
  for (int fd : fds) {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) return false;
    q.fds.emplace_back(copy);
  }
  queued_bytes_ += len;
  queue_.push_back(std::move(q));
  return Flush();
}

bool Channel::Flush() {
  if (broken_) return false;
  while (!queue_.empty()) {
    bool again = false;
    if (!SendOne(queue_.front(), again)) {
      broken_ = true;
      return false;
    }
    if (again) return true;  // the rest waits for EPOLLOUT
    queued_bytes_ -= queue_.front().data.size();
    queue_.pop_front();
  }
  return true;
}

bool Channel::FlushBlocking(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!queue_.empty()) {
    if (!Flush()) return false;
    if (queue_.empty()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return false;
    pollfd p{fd_.get(), POLLOUT, 0};
    if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return false;
  }
  return true;
}

namespace {

// Whatever must be allocated is allocated before a message is taken off
// the socket: once it is, nothing may fail, or its descriptors would leak
// and its request go unanswered (a caller that reuses `out` pays for this
// once).
void MakeRoom(Channel::Received& out) {
  out.data.clear();
  out.fds.clear();
  out.truncated = false;
  out.data_truncated = false;
  out.fds.reserve(kMaxFds);
  out.data.reserve(kSmallMessage);
}

// The message `msg` brought, `n` bytes of them in `buf`.
void Take(msghdr& msg, const char* buf, size_t n, Channel::Received& out) {
  net::ForEachRight(msg, [&](int fd) { out.fds.emplace_back(fd); });
  out.truncated = (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0;
  out.data_truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  out.data.assign(buf, n);
}

}  // namespace

Channel::RecvStatus Channel::Recv(Received& out) {
  MakeRoom(out);
  if (recv_buf_.empty()) recv_buf_.resize(kMaxMessage);
  iovec iov{recv_buf_.data(), recv_buf_.size()};
  alignas(cmsghdr) char control[net::RightsSpace(kMaxFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  // ECONNRESET: the peer closed while messages to it were unread. The
  // kernel reports that error before the messages the peer had sent us,
  // which are still queued (the last spawn requests of a listener, its
  // state): read on; only the end of the queue means closed.
  for (int tries = 0;; ++tries) {
    n = recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n >= 0 || (errno != EINTR && (errno != ECONNRESET || tries > 0))) break;
  }
  if (n < 0) return errno == EAGAIN ? RecvStatus::kAgain : RecvStatus::kClosed;
  if (n == 0 && msg.msg_controllen == 0) return RecvStatus::kClosed;
  Take(msg, recv_buf_.data(), static_cast<size_t>(n), out);
  return RecvStatus::kMessage;
}

// The listener's filter allows recvmmsg of exactly this many, with exactly
// these flags (sandbox/daemon_filters.cc).
static_assert(Channel::kBatch == 4);

Channel::RecvStatus Channel::RecvSome(std::array<Received, kBatch>& out, size_t& got) {
  got = 0;
  // Allocated before anything is taken off the socket (MakeRoom).
  if (!batch_buf_) batch_buf_ = std::make_unique_for_overwrite<char[]>(kBatch * kMaxMessage);
  iovec iov[kBatch];
  mmsghdr msgs[kBatch] = {};
  alignas(cmsghdr) char control[kBatch][net::RightsSpace(kMaxFds)];
  for (size_t i = 0; i < kBatch; ++i) {
    MakeRoom(out[i]);
    iov[i] = {batch_buf_.get() + i * kMaxMessage, kMaxMessage};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = control[i];
    msgs[i].msg_hdr.msg_controllen = sizeof control[i];
  }
  int n;
  for (int tries = 0;; ++tries) {  // ECONNRESET first: see Recv
    n = recvmmsg(fd_.get(), msgs, kBatch, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, nullptr);
    if (n >= 0 || (errno != EINTR && (errno != ECONNRESET || tries > 0))) break;
  }
  if (n < 0) return errno == EAGAIN ? RecvStatus::kAgain : RecvStatus::kClosed;
  for (int i = 0; i < n; ++i) {
    msghdr& msg = msgs[i].msg_hdr;
    // The end of a SOCK_SEQPACKET stream reads as an empty message; it
    // stays the end, and the next call reports it alone.
    if (msgs[i].msg_len == 0 && msg.msg_controllen == 0) break;
    Take(msg, batch_buf_.get() + static_cast<size_t>(i) * kMaxMessage, msgs[i].msg_len,
         out[got++]);
  }
  // Messages before the end are delivered now; the end, which lasts, is
  // the next call's answer (recvmmsg reports it as empty messages).
  return got == 0 ? RecvStatus::kClosed : RecvStatus::kMessage;
}

}  // namespace hinetd::supervisor
