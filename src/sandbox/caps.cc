#include "sandbox/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iterator>

#include "base/fs.h"

namespace hinetd::sandbox {

using base::Result;
using base::Status;

int LastCap() {
  auto text = base::ReadFile("/proc/sys/kernel/cap_last_cap");
  if (text.ok()) {
    try {
      int v = std::stoi(*text);
      if (v > 0 && v < 64) return v;
    } catch (...) {
      // Fall through to the compile-time value.
    }
  }
  return CAP_LAST_CAP;
}

std::string CapName(int cap) {
  // The kernel's names (capability.h), as libcap-ng prints them.
  static constexpr const char* kNames[] = {
      "chown",           "dac_override",  "dac_read_search", "fowner",        "fsetid",
      "kill",            "setgid",        "setuid",          "setpcap",       "linux_immutable",
      "net_bind_service", "net_broadcast", "net_admin",      "net_raw",       "ipc_lock",
      "ipc_owner",       "sys_module",    "sys_rawio",       "sys_chroot",    "sys_ptrace",
      "sys_pacct",       "sys_admin",     "sys_boot",        "sys_nice",      "sys_resource",
      "sys_time",        "sys_tty_config", "mknod",          "lease",         "audit_write",
      "audit_control",   "setfcap",       "mac_override",    "mac_admin",     "syslog",
      "wake_alarm",      "block_suspend", "audit_read",      "perfmon",       "bpf",
      "checkpoint_restore"};
  if (cap >= 0 && static_cast<size_t>(cap) < std::size(kNames)) return kNames[cap];
  return "cap_" + std::to_string(cap);
}

Result<CapSets> GetOwnCaps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return base::ErrnoError("capget", errno);
  auto join = [](uint32_t lo, uint32_t hi) { return uint64_t{lo} | (uint64_t{hi} << 32); };
  return CapSets{join(data[0].effective, data[1].effective),
                 join(data[0].permitted, data[1].permitted),
                 join(data[0].inheritable, data[1].inheritable)};
}

Status SetOwnCaps(const CapSets& caps) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>(caps.effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(caps.permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(caps.inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &header, data) != 0) return base::ErrnoError("capset", errno);
  return Status();
}

unsigned long long CapMask(const std::vector<int>& caps) {
  unsigned long long mask = 0;
  for (int c : caps) mask |= 1ULL << c;
  return mask;
}

}  // namespace hinetd::sandbox
