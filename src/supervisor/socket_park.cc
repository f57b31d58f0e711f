#include "supervisor/socket_park.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>

#include "net/fd_passing.h"

namespace hinetd::supervisor {

using base::ErrnoError;
using base::Error;
using base::Status;
using base::UniqueFd;

namespace {

// The kernel's most descriptors in one SCM_RIGHTS message (SCM_MAX_FD).
constexpr size_t kPerMessage = 253;

}  // namespace

SocketPark::~SocketPark() = default;

Status SocketPark::Open() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
    return ErrnoError("socketpair (socket park)", errno);
  }
  receive_.reset(sv[0]);
  send_.reset(sv[1]);
  return Status();
}

bool SocketPark::Parkable(const ListenSocket& s) {
  return !s.parked_ && s.fd.valid() && s.transport == net::Transport::kTcp && !s.ep.IsUnix();
}

size_t SocketPark::Park(const SocketList& sockets) {
  if (!send_) return parked_;
  std::vector<std::shared_ptr<ListenSocket>> batch;
  auto send = [&]() -> bool {
    uint64_t seq = next_seq_;
    iovec iov{&seq, sizeof seq};
    int fds[kPerMessage];
    for (size_t i = 0; i < batch.size(); ++i) {
      (void)batch[i]->inode();  // read while the descriptor is here: it names the socket in flight
      fds[i] = batch[i]->fd.get();
    }
    alignas(cmsghdr) char control[net::RightsSpace(kPerMessage)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    net::AttachRights(msg, control, fds, batch.size());
    // All of it or nothing (a datagram): refused, every socket stays in hand.
    if (sendmsg(send_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof seq)) {
      return false;
    }
    for (auto& s : batch) {
      s->parked_ = true;
      s->fd.reset();
    }
    parked_ += batch.size();
    ++next_seq_;
    batches_.push_back(Batch{seq, std::move(batch)});
    batch = {};
    return true;
  };
  for (const auto& s : sockets) {
    if (!Parkable(*s)) continue;
    batch.push_back(s);
    if (batch.size() == kPerMessage && !send()) return parked_;
  }
  if (!batch.empty()) send();
  return parked_;
}

Status SocketPark::UnparkAll() {
  while (!batches_.empty()) {
    Batch& b = batches_.front();
    size_t n = b.sockets.size();
    uint64_t seq = 0;
    iovec iov{&seq, sizeof seq};
    alignas(cmsghdr) char control[net::RightsSpace(kPerMessage)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    // A look first: copies of the descriptors, the message left queued.
    ssize_t got;
    do {
      got = recvmsg(receive_.get(), &msg, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return ErrnoError("socket park: taking back the table's TCP sockets", errno);
    std::vector<UniqueFd> fds;
    fds.reserve(n);
    net::ForEachRight(msg, [&](int fd) { fds.emplace_back(fd); });
    if ((msg.msg_flags & MSG_CTRUNC) != 0) {
      // No room for all of them: what came closes, the message stays.
      return Error("socket park: no room to take back " + std::to_string(n) +
                   " listening sockets (this process is at its descriptor limit, "
                   "RLIMIT_NOFILE, or a security module refused them); they stay open in "
                   "flight and are taken back at the next try");
    }
    if (got != static_cast<ssize_t>(sizeof seq) || seq != b.seq || fds.size() != n) {
      return Error("socket park: message " + std::to_string(seq) + " with " +
                   std::to_string(fds.size()) + " descriptors where " + std::to_string(b.seq) +
                   " with " + std::to_string(n) + " was due");
    }
    // Off the queue: a read with no room for descriptors drops the copies
    // in flight; the peeked ones are the sockets now.
    uint64_t sink;
    ssize_t taken;
    do {
      taken = recv(receive_.get(), &sink, sizeof sink, MSG_DONTWAIT);
    } while (taken < 0 && errno == EINTR);
    if (taken != static_cast<ssize_t>(sizeof sink)) {
      return ErrnoError("socket park: taking message " + std::to_string(b.seq) + " off the queue",
                        taken < 0 ? errno : EIO);
    }
    for (size_t i = 0; i < n; ++i) {
      ListenSocket& s = *b.sockets[i];
      if (!s.parked_) continue;  // replaced meanwhile: the copy closes here
      s.fd = std::move(fds[i]);
      s.inode_fd_ = s.fd.get();  // the same socket: its inode is still the one read
      s.parked_ = false;
    }
    parked_ -= n;
    batches_.pop_front();
  }
  return Status();
}

void SocketPark::Release() {
  for (auto& b : batches_) {
    for (auto& s : b.sockets) s->parked_ = false;  // fd stays -1: the socket is gone
  }
  batches_.clear();
  parked_ = 0;
  receive_.reset();  // the copies in flight close with the queue
  send_.reset();
}

}  // namespace hinetd::supervisor
