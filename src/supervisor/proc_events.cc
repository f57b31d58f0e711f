#include "supervisor/proc_events.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <algorithm>
#include <cstring>

namespace hinetd::supervisor {

namespace {

// Offsets in a connector message: nlmsghdr, cn_msg, then proc_event.
constexpr uint32_t kEvent = NLMSG_HDRLEN + sizeof(cn_msg);
constexpr uint32_t kWhat = kEvent + offsetof(proc_event, what);
constexpr uint32_t kForkChildPid = kEvent + offsetof(proc_event, event_data.fork.child_pid);
constexpr uint32_t kForkChildTgid = kEvent + offsetof(proc_event, event_data.fork.child_tgid);
constexpr uint32_t kExitPid = kEvent + offsetof(proc_event, event_data.exit.process_pid);
constexpr uint32_t kExitTgid = kEvent + offsetof(proc_event, event_data.exit.process_tgid);

// A socket filter that keeps only what the table needs: forks and exits of
// processes (a thread's have pid != tgid; a kill record names the tgid).
// Exec, uid, comm... events of the whole system never wake the monitor.
// BPF_ABS loads are big-endian, so the constants are compared as such.
bool AttachFilter(int fd) {
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kWhat),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(proc_event::PROC_EVENT_FORK), 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kForkChildPid),
      BPF_STMT(BPF_MISC | BPF_TAX, 0),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kForkChildTgid),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 5, 6),  // a process: keep, a thread: drop
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(proc_event::PROC_EVENT_EXIT), 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kExitPid),
      BPF_STMT(BPF_MISC | BPF_TAX, 0),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kExitTgid),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),  // keep
      BPF_STMT(BPF_RET | BPF_K, 0),       // drop
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0;
}

}  // namespace

void ProcessTree::Open() {
  fd_.reset(socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR));
  if (!fd_) return;
  // Room for a burst of forks between two reads (root may exceed rmem_max).
  int size = 4 << 20;
  setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = CN_IDX_PROC;
  sa.nl_pid = 0;
  if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    fd_.reset();
    return;
  }
  // nlmsghdr, cn_msg, then the operation (cn_msg ends in a flexible array).
  alignas(nlmsghdr) char request[NLMSG_HDRLEN + sizeof(cn_msg) + sizeof(uint32_t)] = {};
  auto* header = reinterpret_cast<nlmsghdr*>(request);
  header->nlmsg_len = sizeof request;
  header->nlmsg_type = NLMSG_DONE;
  auto* msg = reinterpret_cast<cn_msg*>(request + NLMSG_HDRLEN);
  msg->id.idx = CN_IDX_PROC;
  msg->id.val = CN_VAL_PROC;
  msg->ack = 1;
  msg->len = sizeof(uint32_t);
  uint32_t op = PROC_CN_MCAST_LISTEN;
  std::memcpy(request + NLMSG_HDRLEN + sizeof(cn_msg), &op, sizeof op);
  auto sent = Clock::now();  // the acknowledgement is stamped within send()
  if (send(fd_.get(), request, sizeof request, 0) != static_cast<ssize_t>(sizeof request)) {
    fd_.reset();
    return;
  }
  // The kernel answers with an acknowledgement (proc_event::PROC_EVENT_NONE) carrying
  // the error, queued before send() returns; none comes where it refused
  // (without CAP_NET_ADMIN, outside the initial namespaces) and nobody else
  // listens. Other events may come first.
  bool subscribed = false;
  alignas(nlmsghdr) char buf[4096];
  for (int i = 0; i < 64 && !subscribed; ++i) {
    ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_len < kEvent + offsetof(proc_event, event_data) + sizeof(uint32_t)) continue;
      proc_event ev{};
      std::memcpy(&ev, static_cast<const cn_msg*>(NLMSG_DATA(h))->data,
                  std::min<size_t>(sizeof ev, h->nlmsg_len - kEvent));
      if (ev.what == proc_event::PROC_EVENT_NONE) {
        if (ev.event_data.ack.err != 0) {
          fd_.reset();
          return;
        }
        subscribed = true;
        // Stamped between `sent` and now on the monitor's own clock; out of
        // that interval, the monitor's clock is offset (a time namespace).
        auto stamped = Clock::time_point(std::chrono::nanoseconds(ev.timestamp_ns));
        auto received = Clock::now();
        if (stamped < sent || stamped > received) clock_offset_ = stamped - received;
      }
    }
  }
  if (!subscribed || !AttachFilter(fd_.get())) fd_.reset();
}

Clock::time_point ProcessTree::EventTime(uint64_t timestamp_ns) const {
  return Clock::time_point(std::chrono::nanoseconds(timestamp_ns) - clock_offset_);
}

void ProcessTree::OnFork(pid_t parent, pid_t child, const ChildLookup& direct,
                         Clock::time_point when) {
  Expire(when);
  // Whatever the table held for this pid belonged to a process that is
  // gone: the kernel gives a pid out again only once it is free.
  table_.erase(child);
  Entry entry;
  if (auto it = table_.find(parent); it != table_.end() && !it->second.exited) {
    entry.service = it->second.service;
    entry.child = it->second.child;
  } else if (auto found = direct(parent); found && when >= found->started) {
    // A fork stamped before the child was started was by an earlier
    // process that had its pid.
    entry.service = std::move(found->service);
    entry.child = parent;
  } else {
    return;
  }
  if (table_.size() >= kMaxEntries) {
    ++overflow_;
    return;
  }
  table_.emplace(child, std::move(entry));
}

void ProcessTree::OnExit(pid_t pid, Clock::time_point when) {
  Expire(when);
  auto it = table_.find(pid);
  if (it == table_.end() || it->second.exited) return;
  it->second.exited = true;
  exits_.emplace_back(when, pid);
}

void ProcessTree::Expire(Clock::time_point now) {
  while (!exits_.empty() && now - exits_.front().first >= kRetention) {
    auto it = table_.find(exits_.front().second);
    // Only if it is still the exited entry (not a new process of that pid).
    if (it != table_.end() && it->second.exited) table_.erase(it);
    exits_.pop_front();
  }
}

size_t ProcessTree::Drain(const ChildLookup& direct, Clock::time_point now) {
  if (!fd_) return 0;
  size_t datagrams = 0;
  // In batches: the monitor reads the events of a quarter second at once
  // (monitor.cc), one system call for up to kBatch of them. An event is one
  // small datagram (nlmsghdr, cn_msg, proc_event).
  constexpr size_t kBatch = 64;
  constexpr size_t kSize = 256;
  alignas(nlmsghdr) char bufs[kBatch][kSize];
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  for (int round = 0; round < 1024; ++round) {
    for (size_t i = 0; i < kBatch; ++i) {
      iov[i] = {bufs[i], kSize};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(fd_.get(), msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {  // the kernel dropped events
        ++lost_;
        continue;
      }
      break;  // EAGAIN: nothing more
    }
    datagrams += static_cast<size_t>(got);
    for (int m = 0; m < got; ++m) {
      int left = static_cast<int>(msgs[m].msg_len);
      for (auto* h = reinterpret_cast<nlmsghdr*>(bufs[m]); NLMSG_OK(h, left);
           h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_len < kEvent + offsetof(proc_event, event_data) + 16) continue;
        const auto* msg = static_cast<const cn_msg*>(NLMSG_DATA(h));
        proc_event ev{};
        std::memcpy(&ev, msg->data, std::min<size_t>(sizeof ev, h->nlmsg_len - kEvent));
        if (ev.what == proc_event::PROC_EVENT_FORK) {
          // A new thread of a process: nothing new (a kill record names
          // the process); the filter drops these already.
          if (ev.event_data.fork.child_pid != ev.event_data.fork.child_tgid) continue;
          OnFork(ev.event_data.fork.parent_tgid, ev.event_data.fork.child_tgid, direct,
                 EventTime(ev.timestamp_ns));
        } else if (ev.what == proc_event::PROC_EVENT_EXIT &&
                   ev.event_data.exit.process_pid == ev.event_data.exit.process_tgid) {
          OnExit(ev.event_data.exit.process_tgid, EventTime(ev.timestamp_ns));
        }
      }
    }
    if (static_cast<size_t>(got) < kBatch) break;  // the queue is empty
  }
  Expire(now);
  return datagrams;
}

const ProcessTree::Entry* ProcessTree::Find(pid_t pid) const {
  auto it = table_.find(pid);
  return it == table_.end() ? nullptr : &it->second;
}

uint64_t ProcessTree::TakeLost() {
  uint64_t n = lost_;
  lost_ = 0;
  return n;
}

uint64_t ProcessTree::TakeOverflow() {
  uint64_t n = overflow_;
  overflow_ = 0;
  return n;
}

}  // namespace hinetd::supervisor
