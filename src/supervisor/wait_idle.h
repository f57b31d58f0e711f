// Is a udp wait child idle? After a reload changes its service's plan, a
// running wait child is stale; the monitor ends it only at a moment it
// holds no request (README "Reload"): its one process blocked receiving on
// the service socket, nothing queued there, nothing else of it alive. These
// are the looks at /proc behind that; they run only while a stale child
// exists, never per connection.
#pragma once

#include <sys/types.h>

#include <cstdint>
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

// True if a datagram (even an empty one) is queued on socket `fd`.
[[nodiscard]] bool DatagramQueued(int fd);

// The state letter of /proc/PID/stat ('S', 'T', 'Z', ...), or 0.
[[nodiscard]] char ProcessState(pid_t pid);

}  // namespace hinetd::supervisor
