// Paths and preconditions shared by every test binary.
#pragma once

#include <unistd.h>

#include <string>

namespace hinetd::testing {

// The AddressSanitizer build (HINETD_SANITIZE): freed memory waits in the
// runtime's quarantine and shadow pages come and go, so a process's RSS says
// nothing there about leaks; the tests that bound RSS check it in the
// normal build only.
#ifdef HINETD_SANITIZE
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif

// Directory holding hinetd, hinetd-internal and hinetd-probe.
inline std::string BinDir() { return HINETD_TEST_BIN_DIR; }
inline std::string SourceDir() { return HINETD_TEST_SOURCE_DIR; }
inline std::string ShippedSandboxDir() { return SourceDir() + "/sandbox"; }

inline bool IsRoot() { return geteuid() == 0; }

}  // namespace hinetd::testing

// Root is needed to chroot, change uid and bind for the daemon; tests that
// need it say so and skip rather than pass silently.
#define HINETD_REQUIRE_ROOT()                                                      \
  do {                                                                             \
    if (!::hinetd::testing::IsRoot()) {                                            \
      GTEST_SKIP() << "needs root (chroot, setuid, capabilities); run as root, as " \
                      "CI does";                                                   \
    }                                                                              \
  } while (0)
