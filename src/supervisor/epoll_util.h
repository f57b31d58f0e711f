// The one epoll idiom the monitor and the listener share.
#pragma once

#include <errno.h>
#include <sys/epoll.h>

#include <cstdint>

namespace hinetd::supervisor {

// Watches `fd` for `events` with `tag` as its data: modifies the existing
// registration, or adds one.
inline void EpollSet(int epoll_fd, int fd, uint64_t tag, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT) {
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
}

// Watches `fd`, which no registration has yet (a descriptor just made):
// one system call where EpollSet would spend a failing MOD first.
inline void EpollAdd(int epoll_fd, int fd, uint64_t tag, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST) {
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev);
  }
}

}  // namespace hinetd::supervisor
