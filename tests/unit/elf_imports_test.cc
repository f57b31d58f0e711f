#include "config/elf_imports.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "common/jail.h"
#include "common/test_env.h"

namespace hinetd::config {
namespace {

using hinetd::testing::BinDir;
using hinetd::testing::TempDir;

// A program of the base system that calls syslog(3) (shadow's tools log
// through it), or "" if none is installed.
std::string SyslogUser() {
  for (const char* p : {"/usr/bin/chage", "/usr/bin/chsh", "/usr/bin/login"}) {
    if (access(p, R_OK) == 0) return p;
  }
  return "";
}

TEST(ImportsSyslog, TellsAProgramThatLogsFromOneThatDoesNot) {
  std::string user = SyslogUser();
  if (user.empty()) GTEST_SKIP() << "none of chage, chsh, login is installed";
  EXPECT_TRUE(ImportsSyslog("/", user)) << user;
  EXPECT_FALSE(ImportsSyslog("/", "/usr/bin/tr"));
  // Static: no dynamic symbols at all.
  EXPECT_FALSE(ImportsSyslog("/", BinDir() + "/hinetd-probe"));
  EXPECT_FALSE(ImportsSyslog("/", "/no/such/program"));
  EXPECT_FALSE(ImportsSyslog("/", "/etc"));
}

TEST(ImportsIdentityChange, NamesWhatAProgramThatDropsPrivilegesCalls) {
  // in.tftpd (tftpd-hpa) calls initgroups, chroot, setregid, setreuid; su
  // (util-linux) setgroups and setuid.
  std::string program;
  for (const char* p : {"/usr/sbin/in.tftpd", "/usr/bin/su"}) {
    if (access(p, R_OK) == 0) program = p;
  }
  if (program.empty()) GTEST_SKIP() << "neither in.tftpd nor su is installed";
  EXPECT_NE(ImportsIdentityChange("/", program), "") << program;
  EXPECT_EQ(ImportsIdentityChange("/", "/usr/bin/tr"), "");
  // dash imports setuid and setgid only: no sign of it.
  if (access("/bin/dash", R_OK) == 0) {
    EXPECT_EQ(ImportsIdentityChange("/", "/bin/dash"), "");
  }
  EXPECT_EQ(ImportsIdentityChange("/", BinDir() + "/hinetd-probe"), "");  // static
  EXPECT_EQ(ImportsIdentityChange("/", "/no/such/program"), "");
}

TEST(ImportsSyslog, ScriptsAndTruncatedFilesAreNotElf) {
  std::string user = SyslogUser();
  if (user.empty()) GTEST_SKIP() << "none of chage, chsh, login is installed";
  TempDir dir;
  dir.Write("script", "#!/bin/sh\nlogger hi\n");
  std::ifstream in(user, std::ios::binary);
  std::string elf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(elf.size(), 4096u);
  dir.Write("head", elf.substr(0, 200));            // the header, no sections
  dir.Write("cut", elf.substr(0, elf.size() / 2));  // section table gone
  EXPECT_FALSE(ImportsSyslog(dir.path(), "/script"));
  EXPECT_FALSE(ImportsSyslog(dir.path(), "/head"));
  EXPECT_FALSE(ImportsSyslog(dir.path(), "/cut"));
  dir.Write("whole", elf);
  EXPECT_TRUE(ImportsSyslog(dir.path(), "/whole"));
}

// The program is looked up inside the chroot: an absolute symlink there
// does not lead to the host's file.
TEST(ImportsSyslog, ASymlinkStaysInTheRoot) {
  std::string user = SyslogUser();
  if (user.empty()) GTEST_SKIP() << "none of chage, chsh, login is installed";
  TempDir dir;
  ASSERT_EQ(symlink(user.c_str(), (dir.path() + "/prog").c_str()), 0);
  EXPECT_FALSE(ImportsSyslog(dir.path(), "/prog"));
}

}  // namespace
}  // namespace hinetd::config
