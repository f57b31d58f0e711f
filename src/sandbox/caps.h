// Capability helpers for the daemon's own processes. LimitOwnCapabilities
// uses libcap-ng (caps_limit.cc, in hinetd_sandbox); the rest are raw system
// calls (hinetd_caps), which is what the static hinetd-listener links. The
// child's drop happens with raw system calls in spawn/child.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace hinetd::sandbox {

// Highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap).
[[nodiscard]] int LastCap();

// "net_bind_service" for CAP_NET_BIND_SERVICE, or "cap_N".
[[nodiscard]] std::string CapName(int cap);

// This process's effective, permitted and inheritable sets, a bit per
// capability (capget/capset, version 3).
struct CapSets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
};
[[nodiscard]] base::Result<CapSets> GetOwnCaps();
[[nodiscard]] base::Status SetOwnCaps(const CapSets& caps);

// Reduces this process's permitted and effective sets to exactly `keep`,
// its inheritable set to exactly `inherit` (a subset of `keep`), and
// empties the bounding and ambient sets. Fails if any of `keep` is not held
// now, or if CAP_SETPCAP (needed to empty the bounding set) is not. The
// bounding set limits only what an execve can give: a process that never
// executes anything but one program of its own needs none, and every
// process it forks or clones starts with none to drop. That one program
// (the monitor's hinetd-listener, executed as root) starts with `inherit`:
// with an empty bounding set, root's execve gives the inheritable set and
// nothing else. Every child clears the inheritable set it inherits.
[[nodiscard]] base::Status LimitOwnCapabilities(const std::vector<int>& keep,
                                                const std::vector<int>& inherit = {});

// Bit mask of the capabilities in `caps` (as /proc/PID/status prints them).
[[nodiscard]] unsigned long long CapMask(const std::vector<int>& caps);

}  // namespace hinetd::sandbox
