// Descriptors in flight on a unix socket (SCM_RIGHTS), both ways: what every
// sender and receiver of them in hinetd would otherwise write out by hand.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstring>

namespace hinetd::net {

// The room a control buffer needs for `n` descriptors.
constexpr size_t RightsSpace(size_t n) { return CMSG_SPACE(sizeof(int) * n); }

// Attaches `fds` to `msg`, in `control` (aligned for cmsghdr, at least
// RightsSpace(n) bytes). With n == 0 the message carries no control data.
inline void AttachRights(msghdr& msg, char* control, const int* fds, size_t n) {
  if (n == 0) {
    msg.msg_control = nullptr;
    msg.msg_controllen = 0;
    return;
  }
  msg.msg_control = control;
  msg.msg_controllen = RightsSpace(n);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * n);
  std::memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
}

// Calls take(fd) for every descriptor a received `msg` carries, in order
// (each one is the caller's to close from then on).
template <typename F>
void ForEachRight(msghdr& msg, F&& take) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      take(fd);
    }
  }
}

}  // namespace hinetd::net
