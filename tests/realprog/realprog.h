// Shared fixture for the realprog suite: a real program Debian ships for
// inetd, in a jail the test builds (program, libraries, helpers, devices,
// accounts, data), started by the real hinetd binary on loopback and driven
// by its real client; and `hinetd learn` run on it the same way.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <pwd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/jail.h"
#include "common/jail_builder.h"
#include "realprog/programs.h"
#include "common/net.h"
#include "common/process.h"
#include "common/test_env.h"
#include "config/policy_file.h"
#include "sandbox/policy.h"

namespace hinetd::testing {

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// SECCOMP_USER_NOTIF_FLAG_CONTINUE (what `hinetd learn` records with): 5.5.
inline bool KernelCanLearn() {
  utsname u{};
  int major = 0;
  int minor = 0;
  if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 5 || (major == 5 && minor >= 5);
}

// Moves the calling thread (and so every process it starts) into a new
// network namespace with its loopback up, and back when it goes: for a
// client that only talks to a fixed port (finger: 79).
class NetnsScope {
 public:
  NetnsScope() {
    old_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (old_ < 0) {
      error_ = std::string("open /proc/thread-self/ns/net: ") + strerror(errno);
      return;
    }
    if (unshare(CLONE_NEWNET) != 0) {
      error_ = std::string("unshare(CLONE_NEWNET): ") + strerror(errno);
      return;
    }
    entered_ = true;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
      error_ = std::string("SIOCGIFFLAGS lo: ") + strerror(errno);
    } else {
      ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
      if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) error_ = std::string("lo up: ") + strerror(errno);
    }
    if (s >= 0) close(s);
  }
  ~NetnsScope() {
    if (entered_) setns(old_, CLONE_NEWNET);
    if (old_ >= 0) close(old_);
  }
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;
  [[nodiscard]] bool ok() const { return entered_ && error_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  int old_ = -1;
  bool entered_ = false;
  std::string error_;
};

class RealProgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HINETD_REQUIRE_ROOT();
    if (getpwnam("hinetd") == nullptr) {
      GTEST_SKIP() << "needs the system user 'hinetd' (the listener's account); "
                      "scripts/test.sh creates it";
    }
    ASSERT_TRUE(jail_.ok()) << jail_.error();
    ASSERT_TRUE(CopyShippedPolicies(dir_.path() + "/sandbox"));
    // Every program here opens /dev/null; a container without CAP_MKNOD
    // cannot make one.
    if (!build_.AddDevices()) {
      if (errno == EPERM) GTEST_SKIP() << "needs mknod for the jail's /dev: " << build_.error();
      FAIL() << build_.error();
    }
  }

  // Skips the test unless every path exists and is executable (the program
  // and its client; scripts/deps.sh test installs them).
  bool Need(const std::vector<std::string>& paths) {
    for (const auto& p : paths) {
      if (access(p.c_str(), X_OK) != 0) {
        missing_ = p;
        return false;
      }
    }
    return true;
  }
#define REALPROG_NEED(...)                                                              \
  do {                                                                                   \
    if (!Need(__VA_ARGS__)) {                                                            \
      GTEST_SKIP() << "needs " << missing_ << " (scripts/deps.sh test installs it)";     \
    }                                                                                    \
  } while (0)

  // p's jail: built by the test (p.build), or described for hinetd to build
  // (p.prepare writes the data, p.jail names it; see Service).
  ::testing::AssertionResult Build(const RealProgram& p) {
    if (!p.jail) return p.build(jail_, build_);
    std::string data = dir_.path() + "/data";
    if (mkdir(data.c_str(), 0755) != 0 && errno != EEXIST) {
      return ::testing::AssertionFailure() << "mkdir " << data;
    }
    if (p.prepare) {
      if (auto r = p.prepare(data); !r) return r;
    }
    jail_table_ = p.jail(data);
    return ::testing::AssertionSuccess();
  }

  // A [[service]] in the jail, as nobody, under `policy`, its stderr logged:
  // the jail table hinetd builds if Build set one, else the test's chroot.
  std::string Service(const std::string& name, const std::string& listen,
                      const std::vector<std::string>& exec, const std::string& policy,
                      const std::string& extra = "") {
    std::string argv;
    for (const auto& a : exec) argv += (argv.empty() ? "\"" : ", \"") + a + "\"";
    std::string jail = jail_table_.empty() ? "chroot = \"" + jail_.path() + "\""
                                           : "jail = " + jail_table_;
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"" + listen + "\"\nexec = [" + argv +
           "]\nuser = \"nobody\"\n" + jail + "\nsandbox = \"" + policy +
           "\"\nstderr = \"log\"\n" + extra + "\n";
  }

  std::string WriteConfig(const std::string& services) {
    return dir_.Write("hinetd.toml", "[daemon]\nsandbox_dir = \"sandbox\"\njail_dir = \"" +
                                         dir_.path() + "/jails\"\n\n" + services);
  }

  // Starts hinetd on `config` and waits until its listener serves.
  bool Serve(DaemonProcess& d, const std::string& config) {
    return d.StartAndWait(config) &&
           d.WaitForLine({"event=listener-ready"}, milliseconds(10000)).has_value();
  }

  // Starts `hinetd learn -c CONFIG SERVICE --connections N -o OUT` as `d`
  // (its report joins its log) and waits until its listener serves.
  bool Learn(DaemonProcess& d, const std::string& config, const std::string& service,
             int connections, const std::string& out) {
    d.WrapIn({"/bin/sh", "-c",
              "exec \"$0\" learn -c " + config + " " + service + " --connections " +
                  std::to_string(connections) + " -o " + out + " 1>&2",
              BinDir() + "/hinetd"});
    // Start appends hinetd's usual arguments: the shell ignores them.
    return d.Start("unused") &&
           d.WaitForLine({"event=listener-ready"}, milliseconds(10000)).has_value();
  }

  // Waits for the `connections` ends of one session of service `name` from
  // line `from` on, and checks each ended as expected (exit:0 when
  // `statuses` is empty), none killed by its policy.
  void ExpectSessionEnds(DaemonProcess& d, const std::string& name, int connections,
                         std::vector<std::string> statuses, size_t from = 0) {
    if (statuses.empty()) statuses.assign(static_cast<size_t>(connections), "exit:0");
    ASSERT_TRUE(d.WaitForCount({"event=end", "service=" + name + " "},
                               static_cast<size_t>(connections), milliseconds(10000)))
        << d.LogText();
    std::vector<std::string> seen;
    std::vector<std::string> lines = d.Lines();
    for (size_t i = from; i < lines.size(); ++i) {
      if (lines[i].rfind("event=end ", 0) == 0 &&
          lines[i].find(" service=" + name + " ") != std::string::npos) {
        seen.push_back(LogField(lines[i], "status"));
      }
    }
    EXPECT_EQ(seen, statuses) << d.LogText();
    EXPECT_EQ(d.CountLines({"status=seccomp"}), 0u) << d.LogText();
  }

  // Number of syscalls the policy in dir_/sandbox allows some call of,
  // through the project's own loader and expansion; -1 on an error.
  int AllowedSyscalls(const std::string& policy) {
    config::PolicyLoader loader(dir_.path() + "/sandbox");
    auto spec = loader.Load(policy, base::SourceLoc{});
    if (!spec.ok()) {
      ADD_FAILURE() << spec.error().ToString();
      return -1;
    }
    auto expanded = sandbox::ExpandRules(*spec);
    if (!expanded.ok()) {
      ADD_FAILURE() << expanded.error().ToString();
      return -1;
    }
    int n = 0;
    for (const auto& [name, rules] : *expanded) n += rules.AllowsSome() ? 1 : 0;
    return n;
  }

  Jail jail_;
  JailBuilder build_{jail_};
  TempDir dir_;
  std::string missing_;
  std::string jail_table_;  // set by Build for a jail hinetd builds
};

}  // namespace hinetd::testing
