// Shared fixture for end-to-end tests: a scratch directory with the shipped
// policies (plus the probe's), a jail holding the static probe, free
// loopback ports, and the real hinetd binary.
#pragma once

#include <gtest/gtest.h>
#include <pwd.h>

#include <ctime>
#include <string>

#include "common/jail.h"
#include "common/net.h"
#include "common/process.h"
#include "common/test_env.h"

namespace hinetd::testing {

inline constexpr const char* kProbePolicy = R"(description = "what hinetd-probe does to report"
include = ["runtime"]
allow = ["write", "read", "capget", "fcntl", "getgroups", "getpgid", "getsid", "getresuid",
         "getresgid", "umask", "clock_nanosleep", "recvfrom", "sendto", "poll",
         "getdents64", "unlink", "unlinkat",
  # udp-spoil: what a wait child may do to the socket it shares with hinetd
  "connect", "shutdown",
  # udp-taint: the options a nowait child leaves on a socket that may go on
  "getsockopt", "setsockopt",
  # the probe asks prctl for capabilities, no_new_privs and the seccomp mode
  "prctl"]
)";

// Seconds since 1970 by the clock the internal services read
// (CLOCK_REALTIME). Not time(2): it reads the coarse clock, up to a tick
// behind, so across a second's boundary a service's answer could be a
// second after an `after` read with it.
inline time_t RealtimeSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<time_t>(ts.tv_sec);
}

// True if `line` is what daytime (RFC 867) prints, ctime's format in UTC
// with CRLF, for some second in [before, after].
inline bool IsDaytimeBetween(const std::string& line, time_t before, time_t after) {
  for (time_t t = before; t <= after; ++t) {
    tm utc{};
    gmtime_r(&t, &utc);
    char want[64];
    strftime(want, sizeof want, "%a %b %e %H:%M:%S %Y\r\n", &utc);
    if (line == want) return true;
  }
  return false;
}

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HINETD_REQUIRE_ROOT();
    // The listener's account ([daemon] user's default); scripts/test.sh
    // creates it.
    if (getpwnam("hinetd") == nullptr) {
      GTEST_SKIP() << "needs the system user 'hinetd' (the listener's account); scripts/test.sh "
                      "creates it";
    }
    if (getpwnam("hinetd-internal") == nullptr) {
      GTEST_SKIP() << "needs the system user 'hinetd-internal' (the internal services' "
                      "account); scripts/test.sh creates it";
    }
    ASSERT_TRUE(jail_.ok()) << jail_.error();
    ASSERT_TRUE(jail_.Install(BinDir() + "/hinetd-probe", "/probe"));
    ASSERT_TRUE(CopyShippedPolicies(dir_.path() + "/sandbox"));
    dir_.Write("sandbox/probe.toml", kProbePolicy);
  }

  // Writes hinetd.toml (with [daemon] pointing at our policies) and returns
  // its path.
  std::string WriteConfig(const std::string& services, const std::string& daemon_extra = "") {
    return dir_.Write("hinetd.toml",
                      "[daemon]\nsandbox_dir = \"sandbox\"\n" + daemon_extra + "\n" + services);
  }

  // A [[service]] running the probe in the jail.
  std::string ProbeService(const std::string& name, uint16_t port, const std::string& args,
                           const std::string& extra = "") {
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
           "\"\nexec = [\"/probe\"" + args + "]\nuser = \"nobody\"\nchroot = \"" + jail_.path() +
           "\"\nsandbox = \"probe\"\n" + extra + "\n";
  }

  std::string InternalService(const std::string& name, const std::string& kind,
                              const std::string& listen) {
    return "[[service]]\nname = \"" + name + "\"\nlisten = [" + listen + "]\ninternal = \"" +
           kind + "\"\n\n";
  }

  // The pid of the nth listener started (event=listener-ready), or -1.
  pid_t ListenerPid(size_t nth = 1) {
    if (!daemon_.WaitForCount({"event=listener-ready"}, nth, milliseconds(10000))) return -1;
    size_t seen = 0;
    for (const auto& l : daemon_.Lines()) {
      if (l.rfind("event=listener-ready", 0) == 0 && ++seen == nth) {
        return std::stoi(LogField(l, "pid"));
      }
    }
    return -1;
  }

  // The pid of the first child of `service` logged as started
  // (event=accept), waiting for it up to 5 s; -1 if none came.
  pid_t AcceptedChild(const std::string& service) {
    auto accept = daemon_.WaitForLine({"event=accept", "service=" + service + " "},
                                      milliseconds(5000));
    return accept ? std::stoi(LogField(*accept, "pid")) : -1;
  }

  Jail jail_;
  TempDir dir_;
  DaemonProcess daemon_;
};

}  // namespace hinetd::testing
