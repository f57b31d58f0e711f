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

// Takes `fd` out of the set; called before `fd` is closed. A registration
// belongs to the open file, not to the descriptor number, and closing a
// descriptor removes it only when no other descriptor refers to that file
// (epoll(7), "Will closing a file descriptor cause it to be removed from
// all epoll interest lists?"). Every child the monitor clones holds a copy
// of its descriptors until its execve closes them, so a watched pipe
// closed while one sets up stays registered; at EOF it is readable for ever,
// and level-triggered it is reported by every epoll_wait. Under load that
// is a busy loop: 160 epoll_wait calls a connection at 16 clients, half of
// the monitor's CPU, before every close of a watched descriptor was
// preceded by this.
inline void EpollRemove(int epoll_fd, int fd) { epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr); }

}  // namespace hinetd::supervisor
