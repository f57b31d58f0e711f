// The capability helpers hinetd-listener uses without libcap-ng: names as
// libcap-ng prints them, and this process's sets read and written with
// capget/capset as /proc shows them.
#include "sandbox/caps.h"

#include <cap-ng.h>
#include <linux/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace hinetd::sandbox {
namespace {

TEST(Caps, NamesAreLibcapNgs) {
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    const char* theirs = capng_capability_to_name(static_cast<unsigned>(cap));
    ASSERT_NE(theirs, nullptr) << cap;
    EXPECT_EQ(CapName(cap), theirs) << cap;
  }
  EXPECT_EQ(CapName(CAP_LAST_CAP + 20), "cap_" + std::to_string(CAP_LAST_CAP + 20));
  EXPECT_EQ(CapName(-1), "cap_-1");
}

// A /proc/self/status capability field ("CapEff") as a number.
uint64_t StatusSet(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1), nullptr, 16);
  }
  ADD_FAILURE() << "no " << field;
  return 0;
}

TEST(Caps, OwnSetsAreWhatProcShows) {
  auto caps = GetOwnCaps();
  ASSERT_TRUE(caps.ok()) << caps.error().message();
  EXPECT_EQ(caps->effective, StatusSet("CapEff"));
  EXPECT_EQ(caps->permitted, StatusSet("CapPrm"));
  EXPECT_EQ(caps->inheritable, StatusSet("CapInh"));
}

TEST(Caps, SetsWrittenAreTheSetsRead) {
  // In a child of its own: emptying its sets is allowed to anyone, and
  // the test process keeps what it has.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto before = GetOwnCaps();
    if (!before.ok() || !SetOwnCaps(*before).ok()) _exit(1);
    if (!SetOwnCaps({0, 0, 0}).ok()) _exit(2);
    auto after = GetOwnCaps();
    if (!after.ok() || after->effective != 0 || after->permitted != 0 || after->inheritable != 0) {
      _exit(3);
    }
    if (StatusSet("CapPrm") != 0) _exit(4);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace hinetd::sandbox
