// LimitOwnCapabilities (caps.h), apart: it uses libcap-ng, which
// hinetd-listener does not link.
#include <cap-ng.h>
#include <linux/capability.h>

#include <algorithm>

#include "sandbox/caps.h"

namespace hinetd::sandbox {

using base::Error;
using base::Status;

Status LimitOwnCapabilities(const std::vector<int>& keep, const std::vector<int>& inherit) {
  capng_get_caps_process();
  if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP)) {
    return Error("capability setpcap is not held; hinetd must start as root");
  }
  for (int cap : keep) {
    if (!capng_have_capability(CAPNG_PERMITTED, static_cast<unsigned>(cap))) {
      return Error("capability " + CapName(cap) + " is not held; hinetd must start as root");
    }
  }
  auto add = [](int cap, capng_type_t sets) -> Status {
    if (capng_update(CAPNG_ADD, sets, static_cast<unsigned>(cap)) != 0) {
      return Error("libcap-ng: cannot add " + CapName(cap));
    }
    return Status();
  };
  for (int cap : inherit) {
    if (std::find(keep.begin(), keep.end(), cap) == keep.end()) {
      return Error("capability " + CapName(cap) + " is inheritable but not kept");
    }
  }
  if (!inherit.empty()) {
    // The kernel takes a capability into the inheritable set only while the
    // bounding set still holds it: first this, then the bounding set goes.
    for (int cap : inherit) {
      if (auto s = add(cap, CAPNG_INHERITABLE); !s.ok()) return s;
    }
    if (capng_apply(CAPNG_SELECT_CAPS) != 0) {
      return Error("libcap-ng: cannot set the inheritable capabilities");
    }
  }
  capng_clear(CAPNG_SELECT_ALL);
  for (int cap : keep) {
    if (auto s = add(cap, static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED)); !s.ok()) {
      return s;
    }
  }
  for (int cap : inherit) {
    if (auto s = add(cap, CAPNG_INHERITABLE); !s.ok()) return s;
  }
  // Bounding set first (needs CAP_SETPCAP, still effective), then the
  // process sets; CAPNG_SELECT_ALL also clears the ambient set.
  if (capng_apply(CAPNG_SELECT_ALL) != 0) {
    return Error("libcap-ng: cannot apply the reduced capability sets");
  }
  return Status();
}

}  // namespace hinetd::sandbox
