#include "supervisor/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace hinetd::supervisor {

using base::ErrnoError;
using base::Result;
using base::UniqueFd;

namespace {

// At most two descriptors travel with a message.
constexpr size_t kMaxFds = 2;
constexpr size_t kMaxMessage = 64 * 1024;
// Room for every message but a large state handover (taken whole, or not).
constexpr size_t kSmallMessage = 1024;
static_assert(sizeof(SpawnRequest) <= kSmallMessage && sizeof(EndReport) <= kSmallMessage);

}  // namespace

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
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
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

Channel::RecvStatus Channel::Recv(Received& out) {
  // Whatever must be allocated is allocated before the message is taken
  // off the socket: once it is, nothing may fail, or its descriptors would
  // leak and its request go unanswered (a caller that reuses `out` pays
  // for this once).
  out.data.clear();
  out.fds.clear();
  out.truncated = false;
  out.data_truncated = false;
  out.fds.reserve(kMaxFds);
  out.data.reserve(kSmallMessage);
  if (recv_buf_.empty()) recv_buf_.resize(kMaxMessage);
  iovec iov{recv_buf_.data(), recv_buf_.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
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
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
    for (size_t i = 0; i < count; ++i) out.fds.emplace_back(fds[i]);
  }
  out.truncated = (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0;
  out.data_truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  out.data.assign(recv_buf_.data(), static_cast<size_t>(n));
  return RecvStatus::kMessage;
}

}  // namespace hinetd::supervisor
