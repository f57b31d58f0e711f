// A typed outcome for every child, and its text in `event=end` lines.
#pragma once

#include <string>

namespace hinetd::supervisor {

// "exit:0", "signal:KILL", "seccomp" (for SIGSYS) from a wait status.
[[nodiscard]] std::string DescribeWaitStatus(int status);
// True if the child was killed by SIGSYS, i.e. by its seccomp filter.
[[nodiscard]] bool KilledBySeccomp(int status);
// "TERM" for SIGTERM; "SIG<n>" otherwise.
[[nodiscard]] std::string SignalName(int sig);
// "0.004s" (seconds with millisecond precision).
[[nodiscard]] std::string FormatSeconds(double seconds);

}  // namespace hinetd::supervisor
