// The listening sockets of a table, at start and at each reload. A
// reload keeps the socket already bound to an address (and its backlog,
// with the connections waiting in it), takes a socket systemd passed for
// an address once, and binds the rest; on any error nothing of the running
// table has changed, as the fresh sockets close with the list. Apart from
// the monitor because it is one decision over the table, the sockets kept
// and those passed, with no other state of the monitor's.
#pragma once

#include <memory>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "config/types.h"
#include "supervisor/sockets.h"
#include "supervisor/systemd.h"

namespace hinetd::supervisor {

// Every socket of `config`, in the order of its services, their listen
// addresses and endpoints: one of `keep` bound to the same address and
// transport, a copy of one of `passed`, or a fresh one (`backlog`). Logs a
// warning for a kept unix socket whose owner or mode the table changed.
// With `threads` > 1 and at least kParallelBindMinimum fresh IP sockets,
// those are bound on that many threads (the start of a large table: each
// socket is four system calls); the result, and which error comes first,
// is the same as with one. Only while nothing else runs in the process:
// the threads end before it returns.
inline constexpr size_t kParallelBindMinimum = 64;
[[nodiscard]] base::Result<SocketList> BindTable(
    const config::Config& config, const SocketList& keep,
    const std::vector<std::shared_ptr<PassedSocket>>& passed, int backlog, base::Logger& log,
    int threads = 1);

// The sockets of `passed` no socket of `sockets` copies (a reload's warning).
[[nodiscard]] std::vector<const PassedSocket*> UnusedPassed(
    const std::vector<std::shared_ptr<PassedSocket>>& passed, const SocketList& sockets);

}  // namespace hinetd::supervisor
