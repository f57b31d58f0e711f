#include "sandbox/caps.h"

#include <cap-ng.h>
#include <linux/capability.h>

#include "base/fs.h"

namespace hinetd::sandbox {

using base::Error;
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
  const char* name = capng_capability_to_name(static_cast<unsigned>(cap));
  return name != nullptr ? name : "cap_" + std::to_string(cap);
}

unsigned long long CapMask(const std::vector<int>& caps) {
  unsigned long long mask = 0;
  for (int c : caps) mask |= 1ULL << c;
  return mask;
}

Status LimitOwnCapabilities(const std::vector<int>& keep) {
  capng_get_caps_process();
  if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP)) {
    return Error("capability setpcap is not held; hinetd must start as root");
  }
  for (int cap : keep) {
    if (!capng_have_capability(CAPNG_PERMITTED, static_cast<unsigned>(cap))) {
      return Error("capability " + CapName(cap) + " is not held; hinetd must start as root");
    }
  }
  capng_clear(CAPNG_SELECT_ALL);
  for (int cap : keep) {
    if (capng_update(CAPNG_ADD,
                     static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED),
                     static_cast<unsigned>(cap)) != 0) {
      return Error("libcap-ng: cannot add " + CapName(cap));
    }
  }
  // Bounding set first (needs CAP_SETPCAP, still effective), then the
  // process sets; CAPNG_SELECT_ALL also clears the ambient set.
  if (capng_apply(CAPNG_SELECT_ALL) != 0) {
    return Error("libcap-ng: cannot apply the reduced capability sets");
  }
  return Status();
}

}  // namespace hinetd::sandbox
