// What the monitor's source files share and nothing else includes: the
// tags of its epoll set, and the privilege and table checks that both a
// start (monitor.cc) and a reload (monitor_reload.cc) make. The monitor's
// members are defined by concern: monitor.cc (start, the listener, the
// loop, signals, stop), monitor_requests.cc (the listener's messages and
// their answers), monitor_children.cc (a child from its clone to its end
// line), monitor_reload.cc (loading and installing a table).
#pragma once

#include <cstdint>

#include "base/result.h"
#include "config/types.h"

namespace hinetd::supervisor::monitor_detail {

// What woke the loop: the kind in the epoll tag's high half, the
// descriptor in its low half.
enum Kind : uint64_t {
  kSignal = 1, kControl = 2, kStderr = 3, kKmsg = 4, kExec = 5, kListenerLog = 6,
  kRecorder = 7, kNotify = 8,  // recorder.h: its socket, and each listener
  kProcEvents = 9, kSyslog = 10
};
inline uint64_t Tag(Kind k, int fd) { return (static_cast<uint64_t>(k) << 32) | static_cast<uint32_t>(fd); }

// Raises or lowers CAP_NET_BIND_SERVICE in this process's effective set
// (it stays permitted): effective only while binding.
void BindCapability(bool on);

// Namespaces for children need CAP_SYS_ADMIN, which root lacks in most
// containers: an error for the first service that asks for one, saying how
// to do without.
[[nodiscard]] base::Status NamespacesPossible(const config::Config& config, bool have_sys_admin);

// Whether any service of `config` has a jail.
[[nodiscard]] bool HasJail(const config::Config& config);

}  // namespace hinetd::supervisor::monitor_detail
