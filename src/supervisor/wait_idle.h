// Is a udp wait child idle? After a reload changes its service's plan, a
// running wait child is stale; the monitor ends it only at a moment it
// holds no request (README "Reload"): its one process blocked receiving on
// the service socket, nothing queued there, nothing else of it alive. These
// are the looks at /proc behind that; they run only while a stale child
// exists, never per connection.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace hinetd::supervisor {

struct IdleLook {
  bool idle = false;
  // Idle: the call it waits in ("recvfrom", "poll", ...). Busy: why
  // ("threads", "process 812", "syscall 35", "running", ...).
  std::string what;
};

// Looks at `pid`, a child of this process running as `uid`:`gid` whose
// service socket has inode `socket_ino`: idle if it is its only process
// (one thread; no live process whose parent or process group it is) and it
// is blocked in a call that waits for the socket to be readable: read,
// readv, recv*, on a descriptor of that socket, or poll, ppoll, select,
// pselect6, epoll_wait* with that socket among what it waits for.
// /proc/PID/syscall, the descriptors and, for poll and select, the
// process's memory need ptrace access, which the monitor (uid 0 without
// CAP_SYS_PTRACE) has only as the child's own filesystem uid and gid
// (setfsuid(2)): they are read so, and the ids restored before it returns.
// Anything it cannot read makes the child busy: it keeps running.
[[nodiscard]] IdleLook LookIdle(pid_t pid, uid_t uid, gid_t gid, ino_t socket_ino);

// UDP datagrams the programs of this network namespace have read (the
// InDatagrams counters of /proc/net/snmp and /proc/net/snmp6, counted when a
// datagram is taken off a socket, not when it is peeked at), or -1.
[[nodiscard]] int64_t DatagramsDelivered();

// What has been taken off one UDP socket, told by two independent marks;
// two marks with nothing taken between them compare equal in at least one.
// - `stamp`: the socket's own receive stamp (SIOCGSTAMPNS), the arrival
//   time of the last datagram any holder of the socket read or peeked at.
//   A read of a datagram that arrived after an earlier mark moves it, and
//   nothing else does (other sockets' traffic leaves it alone). The first
//   look turns on receive timestamps in the kernel (as tcpdump does); only
//   stale wait children are marked, never a connection. It tells nothing
//   (nullopt) while the socket's holder asked for receive timestamps
//   itself (SO_TIMESTAMP*, SO_TIMESTAMPING), which the kernel then
//   delivers instead of storing, or without a socket (fd -1).
// - `delivered`: DatagramsDelivered(), the whole namespace's: sure, but
//   any other UDP traffic moves it, so alone it may never hold still.
struct ReceiveMark {
  std::optional<int64_t> stamp;
  int64_t delivered = -1;
};
[[nodiscard]] ReceiveMark MarkReceives(int fd);

// True when no datagram can have been taken off the socket between marks
// `before` and `after` (of the same socket): either mark held still.
[[nodiscard]] bool NothingTakenBetween(const ReceiveMark& before, const ReceiveMark& after);

// True if a datagram (even an empty one) is queued on socket `fd`.
[[nodiscard]] bool DatagramQueued(int fd);

// The state letter of /proc/PID/stat ('S', 'T', 'Z', ...), or 0.
[[nodiscard]] char ProcessState(pid_t pid);

}  // namespace hinetd::supervisor
