// spawn::OpenRootProgram: the check of every program hinetd executes as
// root or in every child of a service (hinetd-listener, hinetd-internal,
// the escape probe). Only a regular, executable file that only root can
// change, on a file system that lets it run, is opened; each other case is
// an error that says what to fix; nothing there is not an error.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "common/jail.h"
#include "spawn/plan.h"

namespace hinetd::testing {
namespace {

class RootProgramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (files owned by root and by another uid)";
  }
  // A file `name` in the test's directory with `mode`, owned by `uid`.
  std::string Program(const std::string& name, mode_t mode, uid_t uid = 0) {
    std::string path = dir_.Write(name, "#!/bin/true\n");
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    EXPECT_EQ(chown(path.c_str(), uid, 0), 0);
    return path;
  }
  // The error OpenRootProgram gives for `candidates`, or "" if none.
  std::string ErrorFor(const std::vector<std::string>& candidates) {
    std::string found;
    auto fd = spawn::OpenRootProgram(candidates, found);
    return fd.ok() ? "" : fd.error().message();
  }

  TempDir dir_;
};

TEST_F(RootProgramTest, TheFirstGoodCandidateIsOpenedAndNamed) {
  std::string good = Program("good", 0755);
  std::string found;
  auto fd = spawn::OpenRootProgram({dir_.path() + "/missing", dir_.path(), good}, found);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  EXPECT_TRUE(static_cast<bool>(*fd));
  EXPECT_EQ(found, good);
}

TEST_F(RootProgramTest, NoneThereIsAnEmptyDescriptorNotAnError) {
  std::string found = "unchanged";
  auto fd = spawn::OpenRootProgram({dir_.path() + "/missing", dir_.path()}, found);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  EXPECT_FALSE(static_cast<bool>(*fd));
  EXPECT_EQ(found, "unchanged");
}

TEST_F(RootProgramTest, WhatAnotherUserCouldChangeOrNobodyCouldRunIsRefused) {
  std::string p = Program("group-writable", 0775);
  EXPECT_EQ(ErrorFor({p}), p + " must be owned by root and not group- or world-writable");
  p = Program("world-writable", 0757);
  EXPECT_EQ(ErrorFor({p}), p + " must be owned by root and not group- or world-writable");
  p = Program("not-roots", 0755, 65534);
  EXPECT_EQ(ErrorFor({p}), p + " must be owned by root and not group- or world-writable");
  p = Program("not-executable", 0644);
  EXPECT_EQ(ErrorFor({p}), p + " is not executable (chmod 0755)");
  // The first one there decides: a bad one is not passed over for a later one.
  EXPECT_EQ(ErrorFor({p, Program("good", 0755)}), p + " is not executable (chmod 0755)");
}

TEST_F(RootProgramTest, AProgramOnANoexecFileSystemIsRefused) {
  // A tmpfs mounted noexec, in a mount namespace of a child of its own.
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  std::string dir = dir_.path();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(pipe_fds[0]);
    auto say = [&](const std::string& text, int code) {
      (void)!write(pipe_fds[1], text.data(), text.size());
      _exit(code);
    };
    if (unshare(CLONE_NEWNS) != 0) say("unshare(CLONE_NEWNS) failed", 2);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) say("mount private", 2);
    if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOEXEC, "mode=0755") != 0) {
      say("mount tmpfs noexec failed", 2);
    }
    std::string path = dir + "/program";
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    if (fd < 0 || fchmod(fd, 0755) != 0) say("creating the program failed", 2);
    close(fd);
    std::string found;
    auto opened = spawn::OpenRootProgram({path}, found);
    say(opened.ok() ? "opened" : opened.error().message(), 0);
  }
  close(pipe_fds[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "no private noexec mount here: " << text;
  EXPECT_EQ(text, dir + "/program is on a file system mounted noexec; install it where "
                        "programs run");
}

}  // namespace
}  // namespace hinetd::testing
