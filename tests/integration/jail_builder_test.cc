// The jail builder on its own, as root: an identical tree is kept, a
// tampered one is set aside and built afresh, a source that changed after
// the plan read it fails the build and leaves nothing behind, and a nodev
// file system is a clear error.
#include "jail/builder.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <fstream>

#include "common/jail.h"
#include "common/test_env.h"
#include "config/jail.h"

namespace hinetd::jail {
namespace {

using testing::TempDir;

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

class JailBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HINETD_REQUIRE_ROOT();
    data_ = dir_.Write("data.txt", "one\n");
    jails_ = dir_.path() + "/jails";
  }
  base::Result<config::JailPlan> Plan(const std::string& jail_dir) {
    config::JailSpec spec;
    spec.files.push_back({data_, "/srv/data.txt", {}});
    for (const char* d : config::kDefaultJailDevices) spec.devices.push_back({d, "", {}});
    spec.writable.push_back({"/var/spool/t", "/var/spool/t", {}});
    config::JailOwner owner;
    owner.service = "t";
    owner.context = "service \"t\"";
    owner.program = "/bin/cat";
    owner.user = "nobody";
    owner.uid = 65534;
    owner.group = "nogroup";
    owner.gid = 65534;
    return config::PlanJail(spec, owner, jail_dir);
  }
  TempDir dir_;
  std::string data_;
  std::string jails_;
};

TEST_F(JailBuilderTest, KeepsAnIdenticalTreeAndRebuildsATamperedOne) {
  auto plan = Plan(jails_);
  ASSERT_TRUE(plan.ok()) << plan.error().ToString();
  auto first = BuildJail(*plan);
  if (!first.ok() && first.error().message().find("EPERM") != std::string::npos) {
    GTEST_SKIP() << first.error().ToString();
  }
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_TRUE(first->built);
  EXPECT_EQ(VerifyJail(*plan), "");
  auto second = BuildJail(*plan);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->built);

  // Someone changed a file of the tree: it no longer matches, and the next
  // build sets it aside and builds it again.
  {
    std::ofstream(plan->root + "/srv/data.txt", std::ios::app) << "evil\n";
  }
  EXPECT_EQ(VerifyJail(*plan), "/srv/data.txt: size differs");
  auto third = BuildJail(*plan);
  ASSERT_TRUE(third.ok()) << third.error().ToString();
  EXPECT_TRUE(third->built);
  EXPECT_EQ(VerifyJail(*plan), "");
  std::vector<std::string> names = Names(jails_);
  ASSERT_EQ(names.size(), 2u);
  std::string base = plan->root.substr(plan->root.rfind('/') + 1);
  EXPECT_EQ(names[0], base);
  EXPECT_EQ(names[1].rfind(base + ".stale-", 0), 0u);
  // Unused trees go; the one kept stays.
  auto removed = RemoveStaleJails(jails_, {plan->root});
  EXPECT_EQ(removed, std::vector<std::string>{jails_ + "/" + names[1]});
  EXPECT_EQ(Names(jails_), std::vector<std::string>{base});
}

TEST_F(JailBuilderTest, ASourceChangedAfterThePlanFailsTheBuildAndLeavesNothing) {
  auto plan = Plan(jails_);
  ASSERT_TRUE(plan.ok()) << plan.error().ToString();
  dir_.Write("data.txt", "two\n");  // same size, other content
  auto built = BuildJail(*plan);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().message().find(data_ + " changed since the table was loaded; reload "
                                                 "again"),
            std::string::npos)
      << built.error().ToString();
  EXPECT_TRUE(Names(jails_).empty());
}

TEST_F(JailBuilderTest, ANodevFileSystemIsAClearError) {
  // In a child of our own, with a mount namespace of its own: a tmpfs
  // mounted nodev, where the tree would go.
  std::string mnt = dir_.path() + "/nodev";
  ASSERT_EQ(mkdir(mnt.c_str(), 0755), 0);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(p[0]);
    std::string msg;
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", mnt.c_str(), "tmpfs", MS_NODEV, "mode=0755") != 0) {
      msg = "SKIP cannot mount a tmpfs here";
    } else {
      auto plan = Plan(mnt + "/jails");
      auto built = plan.ok() ? BuildJail(*plan) : base::Result<BuildReport>(plan.error());
      msg = built.ok() ? "built" : built.error().message() + "|" + std::to_string(Names(mnt + "/jails").size());
    }
    ssize_t ignored = write(p[1], msg.data(), msg.size());
    (void)ignored;
    _exit(0);
  }
  close(p[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = read(p[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  if (got.rfind("SKIP ", 0) == 0) GTEST_SKIP() << got.substr(5);
  EXPECT_NE(got.find("is on a file system mounted nodev: its device nodes would not open; set "
                     "[daemon] jail_dir to a directory on another file system, or devices = [] "
                     "in the jail"),
            std::string::npos)
      << got;
  EXPECT_EQ(got.substr(got.rfind('|') + 1), "0") << "a temporary tree was left behind";
}

}  // namespace
}  // namespace hinetd::jail
