// drops_privileges by attack: a hostile service that may change its own
// identity (CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT in its user namespace)
// tries to become anyone else, to leave its jail, to undo its namespaces;
// and a real second user tries to reach it from outside. Each refusal has
// its control: the same service without the key cannot even take its own
// ids (no capability at all), the same uid outside may signal it, and the
// same chroot escape, run by root in a plain chroot, reads the host file.
#include <fcntl.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "attack/contain.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

// The probe's reporting, its own identity, and the attacks themselves,
// which `default` would kill: the answers must be the kernel's (or the
// deny list every child inherits), not this policy's.
constexpr const char* kIdentityPolicy = R"(description = "hinetd-probe identity"
include = ["default", "identity"]
allow = ["capget", "getresuid", "getresgid",
  # the attacks: namespaces and mounts
  "unshare", "setns", "mount", "umount2"]
)";

// The capabilities a drops_privileges child holds: CAP_SETGID (6),
// CAP_SETUID (7), CAP_SYS_CHROOT (18).
constexpr const char* kIdentityCaps = "00000000000400c0";

// errno of `call` (0 if it succeeded), as an exit status.
int ErrnoOf(bool ok) { return ok ? 0 : errno; }

class IdentityTest : public AttackTest {
 protected:
  void SetUp() override {
    AttackTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // Each test its own two uids (ctest runs tests in parallel, and a
    // test's uid must have no process but its own: UseUid), none another
    // test file uses.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    if (name == "AReloadMakesTheNamespacesOfTheNewIdentity") {
      uid_ = 64063;
      other_ = 64064;
    }
    dir_.Write("sandbox/probe-identity.toml", kIdentityPolicy);
    // A directory the service's uid may write (for the escape's mkdir),
    // and a procfs in the jail (for /proc/self/uid_map and status).
    work_ = jail_.path() + "/work";
    ASSERT_EQ(mkdir(work_.c_str(), 0755), 0);
    ASSERT_EQ(chown(work_.c_str(), uid_, uid_), 0);
    std::string proc = jail_.path() + "/proc";
    ASSERT_EQ(mkdir(proc.c_str(), 0555), 0);
    ASSERT_EQ(mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr), 0)
        << strerror(errno);
    proc_ = proc;
    // The host file: outside the jail, readable by the service's uid.
    char tmpl[] = "/tmp/hinetd-identity-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    host_dir_ = tmpl;
    ASSERT_EQ(chmod(host_dir_.c_str(), 0755), 0);
    host_file_ = host_dir_ + "/host-file";
    int fd = open(host_file_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  void TearDown() override {
    AttackTest::TearDown();  // the daemon first
    if (!proc_.empty()) umount2(proc_.c_str(), MNT_DETACH);
    if (!host_file_.empty()) unlink(host_file_.c_str());
    if (!host_dir_.empty()) rmdir(host_dir_.c_str());
  }

  uid_t uid_ = 64061;    // set per test in SetUp
  uid_t other_ = 64062;
  std::string work_;
  std::string proc_;
  std::string host_dir_;
  std::string host_file_;
};

TEST_F(IdentityTest, AProgramThatDropsPrivilegesCanBecomeNoOneElse) {
  ASSERT_TRUE(UseUid(uid_)) << "uid " << uid_ << " is in use";
  ASSERT_TRUE(UseUid(other_)) << "uid " << other_ << " is in use";
  // Controls: the uid could read the host file were it not jailed, and the
  // escape below leaves a plain chroot (root, with CAP_SYS_CHROOT, as a
  // chrooted program under inetd would run).
  std::string file = host_file_;
  ASSERT_EQ(RunAs(uid_, [&] { return ErrnoOf(access(file.c_str(), R_OK) == 0); }), 0);
  std::string jail = jail_.path();
  std::string work = work_;
  pid_t control = fork();
  ASSERT_GE(control, 0);
  if (control == 0) {
    if (chdir(work.c_str()) != 0 || chroot(jail.c_str()) != 0) _exit(100);
    if (mkdir("control-escape", 0700) != 0 || chroot("control-escape") != 0) _exit(101);
    for (int i = 0; i < 64; ++i) {
      if (chdir("..") != 0) break;
    }
    if (chroot(".") != 0) _exit(102);
    _exit(access(file.c_str(), R_OK) == 0 ? 0 : 103);
  }
  int status = 0;
  ASSERT_EQ(waitpid(control, &status, 0), control);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the classic chroot escape fails here even in a plain chroot: status " << status;

  uint16_t keyed = FreeTcpPort();
  uint16_t plain = FreeTcpPort();
  std::string args = ", \"identity\", \"" + host_file_ + "\"";
  std::string services =
      Service("ident", keyed, uid_, args, "probe-identity",
              "drops_privileges = true\nworkdir = \"/work\"\n") +
      Service("plain", plain, uid_, args, "probe-identity", "workdir = \"/work\"\n");
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(services))) << daemon_.LogText();

  int conn = ConnectTcp("127.0.0.1", keyed);
  ASSERT_GE(conn, 0);
  std::string out = ReadUntil(conn, "end=1\n");
  ASSERT_NE(out.find("end=1\n"), std::string::npos) << out << daemon_.LogText();
  // What it may: its own ids.
  EXPECT_EQ(ProbeField(out, "setgroups_own"), "ok") << out;
  EXPECT_EQ(ProbeField(out, "setresgid_own"), "ok") << out;
  EXPECT_EQ(ProbeField(out, "setresuid_own"), "ok") << out;
  // Anyone else: the user namespace maps no other id (EINVAL).
  for (const char* key : {"setuid_0", "setresuid_0", "setgid_0", "setuid_other", "setgroups_0",
                          "setgroups_other"}) {
    EXPECT_EQ(ProbeField(out, key), "err:EINVAL") << key << "\n" << out;
  }
  // The maps are written once, by root.
  EXPECT_EQ(ProbeField(out, "write_uid_map"), "err:EPERM") << out;
  // No namespace to make or join, no mount to undo (the deny list every
  // child inherits; without it, no CAP_SYS_ADMIN anywhere).
  for (const char* key : {"unshare_newuser", "unshare_newns", "setns", "umount_root",
                          "mount_bind"}) {
    EXPECT_EQ(ProbeField(out, key), "err:EPERM") << key << "\n" << out;
  }
  // The classic escape runs (CAP_SYS_CHROOT), and ends at the jail: the
  // root of its mount namespace.
  EXPECT_EQ(ProbeField(out, "chroot_sub"), "ok") << out;
  EXPECT_EQ(ProbeField(out, "chroot_dot"), "ok") << out;
  EXPECT_EQ(ProbeField(out, "host_file"), "err:ENOENT") << out;
  EXPECT_EQ(ProbeField(out, "jail_probe"), "ok") << out;
  std::string id = std::to_string(uid_);
  EXPECT_EQ(ProbeField(out, "resuid"), id + "," + id + "," + id) << out;
  EXPECT_EQ(ProbeField(out, "resgid"), id + "," + id + "," + id) << out;
  EXPECT_EQ(ProbeField(out, "cap_eff"), kIdentityCaps) << out;
  EXPECT_EQ(ProbeField(out, "cap_prm"), kIdentityCaps) << out;
  EXPECT_EQ(ProbeField(out, "status_cap_eff"), kIdentityCaps) << out;

  // A real second user outside: nothing of it is within reach.
  pid_t pid = AcceptedPid("ident");
  ASSERT_GT(pid, 0) << daemon_.LogText();
  EXPECT_EQ(RunAs(other_, [pid] { return ErrnoOf(kill(pid, 0) == 0); }), EPERM);
  EXPECT_EQ(RunAs(other_, [pid] { return ErrnoOf(ptrace(PTRACE_ATTACH, pid, nullptr, nullptr) == 0); }),
            EPERM);
  std::string mem = "/proc/" + std::to_string(pid) + "/mem";
  EXPECT_EQ(RunAs(other_, [&] {
              int fd = open(mem.c_str(), O_RDONLY | O_CLOEXEC);
              if (fd >= 0) close(fd);
              return ErrnoOf(fd >= 0);
            }),
            EACCES);
  // Control: its own uid, outside, may signal it (the kernel's uid rule).
  EXPECT_EQ(RunAs(uid_, [pid] { return ErrnoOf(kill(pid, 0) == 0); }), 0);
  close(conn);
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=ident ", "status=exit:0"},
                                  milliseconds(10000)))
      << daemon_.LogText();

  // Control: without the key it holds no capability, even for its own ids.
  int conn2 = ConnectTcp("127.0.0.1", plain);
  ASSERT_GE(conn2, 0);
  std::string out2 = ReadUntil(conn2, "end=1\n");
  close(conn2);
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=plain ", "status=exit:0"},
                                  milliseconds(10000)))
      << daemon_.LogText();
  EXPECT_EQ(ProbeField(out2, "setgroups_own"), "err:EPERM") << out2 << daemon_.LogText();
  EXPECT_EQ(ProbeField(out2, "chroot_sub"), "err:EPERM") << out2;
  EXPECT_EQ(ProbeField(out2, "host_file"), "err:ENOENT") << out2;
  EXPECT_EQ(ProbeField(out2, "cap_eff"), "0000000000000000") << out2;
}

TEST_F(IdentityTest, AReloadMakesTheNamespacesOfTheNewIdentity) {
  // The monitor makes them again on SIGHUP, under its own filter (through
  // its namespace maker): the new account is the one mapped.
  ASSERT_TRUE(UseUid(uid_)) << "uid " << uid_ << " is in use";
  ASSERT_TRUE(UseUid(other_)) << "uid " << other_ << " is in use";
  uint16_t port = FreeTcpPort();
  std::string args = ", \"identity\", \"" + host_file_ + "\"";
  std::string extra = "drops_privileges = true\nworkdir = \"/work\"\n";
  ASSERT_TRUE(daemon_.StartAndWait(
      WriteConfig(Service("ident", port, uid_, args, "probe-identity", extra))))
      << daemon_.LogText();
  auto session = [&] {
    int conn = ConnectTcp("127.0.0.1", port);
    EXPECT_GE(conn, 0);
    std::string out = conn >= 0 ? ReadUntil(conn, "end=1\n") : "";
    if (conn >= 0) close(conn);
    return out;
  };
  std::string before = session();
  std::string a = std::to_string(uid_);
  EXPECT_EQ(ProbeField(before, "resuid"), a + "," + a + "," + a) << before << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=ident ", "status=exit:0"},
                                  milliseconds(10000)))
      << daemon_.LogText();

  WriteConfig(Service("ident", port, other_, args, "probe-identity", extra));
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload"}, milliseconds(10000))) << daemon_.LogText();
  std::string after = session();
  std::string b = std::to_string(other_);
  EXPECT_EQ(ProbeField(after, "setresuid_own"), "ok") << after << daemon_.LogText();
  EXPECT_EQ(ProbeField(after, "resuid"), b + "," + b + "," + b) << after;
  EXPECT_EQ(ProbeField(after, "resgid"), b + "," + b + "," + b) << after;
  // No other account is mapped in the new namespace.
  EXPECT_EQ(ProbeField(after, "setuid_other"), "err:EINVAL") << after;
  EXPECT_EQ(ProbeField(after, "cap_eff"), kIdentityCaps) << after;
}

}  // namespace
}  // namespace hinetd::testing
