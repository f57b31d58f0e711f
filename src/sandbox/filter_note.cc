// NoteDaemonFilterInstalled (daemon_filters.h), apart from the filters
// themselves: hinetd-listener calls it and links no libseccomp.
#include <atomic>

#include "sandbox/daemon_filters.h"

namespace hinetd::sandbox {

namespace {
std::atomic<bool> g_daemon_filter_installed{false};
}  // namespace

void NoteDaemonFilterInstalled() { g_daemon_filter_installed.store(true); }

}  // namespace hinetd::sandbox

#ifdef HINETD_SANITIZE
// LeakSanitizer asks this weak hook at exit whether to check (see
// NoteDaemonFilterInstalled).
extern "C" int __lsan_is_turned_off() {
  return hinetd::sandbox::g_daemon_filter_installed.load() ? 1 : 0;
}
#endif
