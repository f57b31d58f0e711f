// Attacks on the files and accounts that decide what runs as root, against
// the real daemon: a local user (uid 64011, no passwd entry) who can write a
// config or a policy, or a directory above one, and then waits for a start
// or a SIGHUP; a listener account that holds group 0; and a service that
// shares its uid with another and kills that one's children.
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <fstream>
#include <functional>

#include "common/accounts.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

constexpr uid_t kAttacker = 64011;

// Runs `fn` in a child process as the attacker (uid and gid 64011, no
// supplementary groups) and returns whether it succeeded. `fn` makes only
// system calls: the test process has threads, the child must not allocate.
bool AsAttacker(const std::function<bool()>& fn) {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kAttacker, kAttacker, kAttacker) != 0 ||
        setresuid(kAttacker, kAttacker, kAttacker) != 0) {
      _exit(2);
    }
    _exit(fn() ? 0 : 1);
  }
  // The child makes a few system calls; 10 s is far beyond what it needs.
  for (int i = 0; i < 1000; ++i) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (r < 0) return false;
    usleep(10000);  // waiting for another process's exit; bounded (10 s)
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return false;
}

// What the attacker does to a file: truncates and rewrites it in place (a
// file of theirs), or writes a fresh one next to it and renames it over
// (a directory of theirs). Only system calls.
bool Overwrite(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return close(fd) == 0 && ok;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class ConfigTrustTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // The attacker can reach the files, as in /etc: only who may write
    // them is in question.
    ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
    echo_ = FreeTcpPort();
    payload_ = FreeTcpPort();
  }

  std::string Echo(const std::string& name, uint16_t port) {
    return InternalService(name, "echo", "\"127.0.0.1:" + std::to_string(port) + "\"");
  }

  // What the attacker wants: a service that runs a shell as root.
  std::string RootShell() {
    return "[[service]]\nname = \"rootshell\"\nlisten = \"127.0.0.1:" + std::to_string(payload_) +
           "\"\nexec = [\"/bin/sh\", \"-c\", \"id\"]\nuser = \"root\"\nunconfined = true\n"
           "sandbox = \"none\"\n\n";
  }

  // A config in `dir` (created 0755 if missing) whose policies are the
  // fixture's, written by root, 0644. `daemon` is more of [daemon].
  std::string WriteIn(const std::string& dir, const std::string& services,
                      const std::string& daemon = "") {
    mkdir(dir.c_str(), 0755);
    std::string path = dir + "/hinetd.toml";
    std::ofstream(path, std::ios::trunc) << Config(services, daemon);
    chmod(path.c_str(), 0644);
    return path;
  }

  std::string Config(const std::string& services, const std::string& daemon = "") {
    return "[daemon]\nsandbox_dir = \"" + dir_.path() + "/sandbox\"\n" + daemon + "\n" + services;
  }

  // Starts hinetd on `config` with both test ports held, so that binding
  // either would end the run with 71 (EADDRINUSE) rather than 78. Returns
  // its stderr after checking that it refused with 78 and logged no
  // listen, start or listener line.
  std::string ExpectRefusedAtStart(const std::string& config) {
    int held_echo = ListenTcp("127.0.0.1", echo_);
    int held_payload = ListenTcp("127.0.0.1", payload_);
    EXPECT_GE(held_echo, 0);
    EXPECT_GE(held_payload, 0);
    CommandResult r = RunCommand({BinDir() + "/hinetd", "-f", "-c", config}, milliseconds(10000));
    close(held_echo);
    close(held_payload);
    EXPECT_EQ(r.exit_code, 78) << r.err;
    for (const char* started : {"event=listen", "event=start", "event=listener", "EADDRINUSE"}) {
      EXPECT_EQ(r.err.find(started), std::string::npos) << started << "\n" << r.err;
    }
    // `check` refuses it the same way.
    CommandResult check = RunCommand({BinDir() + "/hinetd", "check", "-c", config},
                                     milliseconds(10000));
    EXPECT_EQ(check.exit_code, 78) << check.out;
    EXPECT_EQ(check.err, r.err);
    return r.err;
  }

  // Sends SIGHUP and returns the reload-failed line (or "" if none came).
  std::string ReloadFails() {
    size_t from = daemon_.Lines().size();
    daemon_.Signal(SIGHUP);
    auto line = daemon_.WaitForLine({"event=reload-failed"}, milliseconds(5000), from);
    EXPECT_TRUE(line.has_value()) << daemon_.LogText();
    EXPECT_EQ(daemon_.CountLines({"event=reload "}), 0u) << daemon_.LogText();
    return line.value_or("");
  }

  // The old table still serves; the attacker's service was never bound.
  void ExpectOldTableServing() {
    EXPECT_EQ(Exchange("127.0.0.1", echo_, "still mine\n"), "still mine\n");
    int fd = ConnectTcp("127.0.0.1", payload_, milliseconds(500));
    EXPECT_LT(fd, 0) << "the attacker's service was bound";
    if (fd >= 0) close(fd);
    EXPECT_EQ(daemon_.CountLines({"service=rootshell"}), 0u) << daemon_.LogText();
  }

  uint16_t echo_ = 0;
  uint16_t payload_ = 0;
};

const char* kFix = "(chown root:root ";

// The attacker owns the config file: at start, nothing is bound.
TEST_F(ConfigTrustTest, AConfigOwnedByAnotherUserIsRefusedAtStart) {
  std::string config = WriteIn(dir_.path() + "/etc", Echo("echo", echo_) + RootShell());
  ASSERT_EQ(chown(config.c_str(), kAttacker, kAttacker), 0);
  std::string err = ExpectRefusedAtStart(config);
  EXPECT_EQ(err.rfind("hinetd: " + config + ": owned by uid 64011, mode 0644; ", 0), 0u) << err;
  EXPECT_NE(err.find(kFix + config + "; chmod go-w " + config + ")"), std::string::npos) << err;
}

// Group- or world-writable, even when root owns it: anyone in the group
// (or anyone at all) could have written the root shell into it.
TEST_F(ConfigTrustTest, AGroupOrWorldWritableConfigIsRefusedAtStart) {
  std::string config = WriteIn(dir_.path() + "/etc", Echo("echo", echo_) + RootShell());
  for (mode_t mode : {0664, 0646}) {
    ASSERT_EQ(chmod(config.c_str(), mode), 0);
    char shown[8];
    snprintf(shown, sizeof shown, "%04o", mode);
    std::string err = ExpectRefusedAtStart(config);
    EXPECT_EQ(err.rfind("hinetd: " + config + ": owned by root (uid 0), mode " + shown + "; ", 0),
              0u)
        << err;
  }
}

// A root-owned file in a directory the attacker can write: they could
// replace it at any time. Refused, naming the directory.
TEST_F(ConfigTrustTest, AConfigInADirectoryTheAttackerCanWriteIsRefusedAtStart) {
  std::string dir = dir_.path() + "/etc";
  std::string config = WriteIn(dir, Echo("echo", echo_));
  ASSERT_EQ(chown(dir.c_str(), kAttacker, kAttacker), 0);
  std::string err = ExpectRefusedAtStart(config);
  EXPECT_EQ(err.rfind("hinetd: " + config + ": the directory " + dir +
                          " above it is owned by uid 64011, mode 0755; ",
                      0),
            0u)
      << err;
  // Root-owned but group-writable for the attacker's group: the same.
  ASSERT_EQ(chown(dir.c_str(), 0, kAttacker), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0775), 0);
  err = ExpectRefusedAtStart(config);
  EXPECT_EQ(err.rfind("hinetd: " + config + ": the directory " + dir +
                          " above it is owned by root (uid 0), mode 0775; ",
                      0),
            0u)
      << err;
}

// The running daemon's config is handed to the attacker (a careless chown);
// they rewrite it with a root shell and wait for the next SIGHUP. The
// reload fails, the old services keep answering, nothing new is bound. When
// root takes the file back, the same reload works: the refusal was the
// owner, not the reload.
TEST_F(ConfigTrustTest, AConfigTheAttackerRewroteIsNotReloaded) {
  std::string config = WriteIn(dir_.path() + "/etc", Echo("echo", echo_));
  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();
  ASSERT_EQ(Exchange("127.0.0.1", echo_, "hi\n"), "hi\n");

  ASSERT_EQ(chown(config.c_str(), kAttacker, kAttacker), 0);
  std::string evil = Config(Echo("echo", echo_) + RootShell());
  ASSERT_TRUE(AsAttacker([&] { return Overwrite(config, evil); }));
  ASSERT_EQ(Slurp(config), evil);
  std::string failed = ReloadFails();
  EXPECT_NE(failed.find(config + ": owned by uid 64011, mode 0644; "), std::string::npos)
      << failed;
  EXPECT_NE(failed.find("kept=\"generation 1\""), std::string::npos) << failed;
  ExpectOldTableServing();

  // Control: the same mechanism accepts a file only root can change.
  ASSERT_EQ(chown(config.c_str(), 0, 0), 0);
  WriteIn(dir_.path() + "/etc", Echo("echo", echo_) + Echo("more", payload_));
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=2"}, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", payload_, "new\n"), "new\n");
}

// The directory of the running daemon's config is made writable by the
// attacker's group. They cannot write root's files, but they can rename
// one over another: an old config of root's, kept next to it, that
// enabled a service. The swap is refused at the reload.
TEST_F(ConfigTrustTest, ASwapInAWritableDirectoryIsNotReloaded) {
  std::string dir = dir_.path() + "/etc";
  std::string config = WriteIn(dir, Echo("echo", echo_));
  std::string old = dir + "/hinetd.toml.old";
  std::ofstream(old) << Config(Echo("echo", echo_) + RootShell());
  ASSERT_EQ(chmod(old.c_str(), 0644), 0);
  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();

  ASSERT_EQ(chown(dir.c_str(), 0, kAttacker), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0775), 0);
  ASSERT_TRUE(AsAttacker([&] { return rename(old.c_str(), config.c_str()) == 0; }));
  struct stat st {};
  ASSERT_EQ(stat(config.c_str(), &st), 0);
  ASSERT_EQ(st.st_uid, 0u);  // still root's file: only the directory betrays it
  std::string failed = ReloadFails();
  EXPECT_NE(failed.find(config + ": the directory " + dir +
                        " above it is owned by root (uid 0), mode 0775; "),
            std::string::npos)
      << failed;
  ExpectOldTableServing();
}

// A policy is as much a part of what runs as root: one the attacker
// rewrote to let the probe open sockets is not loaded at a reload, and the
// next child is still killed at socket(). Once root owns the same text
// again, the reload takes it and socket() works: the policy was the only
// thing in the way.
TEST_F(ConfigTrustTest, APolicyTheAttackerRewroteIsNotReloaded) {
  uint16_t port = FreeTcpPort();
  std::string config = WriteIn(dir_.path() + "/etc",
                               Echo("echo", echo_) +
                                   ProbeService("probe", port, ", \"syscall\", \"socket\""));
  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();
  std::string out = Exchange("127.0.0.1", port, "");
  ASSERT_NE(out.find("end=1"), std::string::npos) << out;
  ASSERT_EQ(out.find("after=socket"), std::string::npos) << "socket() ran:\n" << out;

  std::string policy = dir_.path() + "/sandbox/probe.toml";
  ASSERT_EQ(chown(policy.c_str(), kAttacker, kAttacker), 0);
  // The attacker's version: the probe's policy plus socket and connect.
  std::string evil = Slurp(policy);
  evil.replace(evil.find("\"connect\", "), 0, "\"socket\", ");
  ASSERT_NE(evil.find("\"socket\", \"connect\""), std::string::npos) << evil;
  ASSERT_TRUE(AsAttacker([&] { return Overwrite(policy, evil); }));
  std::string failed = ReloadFails();
  EXPECT_NE(failed.find(policy + ": owned by uid 64011, mode 0644; "), std::string::npos)
      << failed;
  out = Exchange("127.0.0.1", port, "");
  EXPECT_NE(out.find("end=1"), std::string::npos) << out;
  EXPECT_EQ(out.find("after=socket"), std::string::npos) << "socket() ran:\n" << out;
  EXPECT_EQ(Exchange("127.0.0.1", echo_, "still mine\n"), "still mine\n");

  ASSERT_EQ(chown(policy.c_str(), 0, 0), 0);
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=2"}, milliseconds(5000)))
      << daemon_.LogText();
  out = Exchange("127.0.0.1", port, "");
  EXPECT_NE(out.find("after=socket rc="), std::string::npos) << out;
  EXPECT_NE(out.find(" errno=0"), std::string::npos) << out;
}

// A policy the attacker could write, at start: nothing starts.
TEST_F(ConfigTrustTest, AWritablePolicyIsRefusedAtStart) {
  std::string config = WriteIn(dir_.path() + "/etc", Echo("echo", echo_));
  std::string policy = dir_.path() + "/sandbox/internal.toml";
  ASSERT_EQ(chmod(policy.c_str(), 0666), 0);
  std::string err = ExpectRefusedAtStart(config);
  EXPECT_EQ(err.rfind("hinetd: " + policy + ": owned by root (uid 0), mode 0666; ", 0), 0u) << err;
}

// A listener account with gid 0, or a member of group 0: the process that
// faces the network would hold root's group. Refused at start.
TEST_F(ConfigTrustTest, AListenerAccountInGroupZeroIsRefused) {
  if (access("/usr/sbin/useradd", X_OK) != 0 || access("/usr/sbin/userdel", X_OK) != 0) {
    GTEST_SKIP() << "needs useradd and userdel (passwd) to create throwaway accounts";
  }
  Accounts accounts;
  ASSERT_TRUE(accounts.Add("hinetd-atk-gid0", {"--gid", "0"}));
  ASSERT_TRUE(accounts.Add("hinetd-atk-wheel", {"--user-group", "--groups", "root"}));
  ASSERT_EQ(getpwnam("hinetd-atk-gid0")->pw_gid, 0u);

  std::string config =
      WriteIn(dir_.path() + "/etc", Echo("echo", echo_), "user = \"hinetd-atk-gid0\"\n");
  std::string err = ExpectRefusedAtStart(config);
  EXPECT_EQ(err, "hinetd: " + config + ":3:8: [daemon]: user: the primary group of "
                 "'hinetd-atk-gid0' is 0 (root): the listener would run with gid 0; give the "
                 "account a group of its own (usermod -g hinetd-atk-gid0 hinetd-atk-gid0, after "
                 "groupadd --system hinetd-atk-gid0) or set [daemon] user to another account\n");

  WriteIn(dir_.path() + "/etc", Echo("echo", echo_), "user = \"hinetd-atk-wheel\"\n");
  err = ExpectRefusedAtStart(config);
  EXPECT_EQ(err, "hinetd: " + config + ":3:8: [daemon]: user: 'hinetd-atk-wheel' is a member of "
                 "group 0 (root) in /etc/group: the listener's account must hold no root group; "
                 "remove it (gpasswd -d hinetd-atk-wheel root) or set [daemon] user to another "
                 "account\n");
}

// A service under the "default" policy (which allows kill) tries to kill
// the child of an internal service. With the shipped-style [defaults] user
// = "nobody" they used to share that uid and the kill worked; now the
// internal service runs as hinetd-internal and the kill fails with EPERM.
// Put the exec service on hinetd-internal and it works again: check warns
// about exactly that, and the daemon logs the warning at start.
class SharedUidTest : public ConfigTrustTest {
 protected:
  // A shell that reads a pid and tries to kill it.
  std::string Killer(uint16_t port, const std::string& user, const std::string& extra = "") {
    return "[[service]]\nname = \"killer\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
           "\"\nexec = [\"/bin/sh\", \"-c\", \"read pid; if kill -KILL $pid 2>/dev/null; then "
           "echo killed; else echo refused; fi\"]\nuser = \"" + user +
           "\"\nsandbox = \"default\"\n" + extra + "\n";
  }

  // Opens a chargen connection to `daemon` and returns its child's pid
  // ("" if none came).
  std::string ChargenChild(DaemonProcess& daemon, int& fd) {
    fd = ConnectTcp("127.0.0.1", chargen_);
    if (fd < 0 || ReadN(fd, 74).size() != 74) return "";
    auto accept = daemon.WaitForLine({"event=accept", "service=chargen"}, milliseconds(5000));
    return accept ? LogField(*accept, "pid") : "";
  }

  uint16_t chargen_ = FreeTcpPort();
};

TEST_F(SharedUidTest, AnExecServiceCannotKillAnInternalServicesChild) {
  uint16_t killer = FreeTcpPort();
  std::string services =
      InternalService("chargen", "chargen", "\"127.0.0.1:" + std::to_string(chargen_) + "\"");
  // As in the shipped etc/hinetd.toml before: [defaults] user = "nobody".
  std::string config = WriteIn(dir_.path() + "/etc", "[defaults]\nuser = \"nobody\"\n\n" +
                                                         services + Killer(killer, "nobody"));
  CommandResult check = RunCommand({BinDir() + "/hinetd", "check", "-c", config},
                                   milliseconds(10000));
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_EQ(check.out.find(" share uid "), std::string::npos) << check.out;
  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();

  int fd = -1;
  std::string pid = ChargenChild(daemon_, fd);
  ASSERT_FALSE(pid.empty()) << daemon_.LogText();
  std::string status = Slurp("/proc/" + pid + "/status");
  const passwd* internal = getpwnam("hinetd-internal");
  ASSERT_NE(internal, nullptr);
  std::string uid = std::to_string(internal->pw_uid);
  EXPECT_NE(status.find("Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n"),
            std::string::npos)
      << status;
  EXPECT_EQ(Exchange("127.0.0.1", killer, pid + "\n"), "refused\n");
  // The chargen child is alive and still streaming.
  EXPECT_EQ(ReadN(fd, 74).size(), 74u);
  close(fd);
  daemon_.Stop();

  // The same two on one account: check warns and the start logs it. The
  // killer's own PID namespace still hides the other child from it...
  WriteIn(dir_.path() + "/etc", services + Killer(killer, "hinetd-internal"));
  {
    DaemonProcess shared;
    ASSERT_TRUE(shared.StartAndWait(config)) << shared.LogText();
    pid = ChargenChild(shared, fd);
    ASSERT_FALSE(pid.empty()) << shared.LogText();
    EXPECT_EQ(Exchange("127.0.0.1", killer, pid + "\n"), "refused\n");
    EXPECT_EQ(ReadN(fd, 74).size(), 74u);
    close(fd);
  }
  // ...but without one (namespaces = []) the kill goes through: the
  // shared uid alone is the hole the warning is about.
  WriteIn(dir_.path() + "/etc",
          services + Killer(killer, "hinetd-internal", "namespaces = []\n"));
  check = RunCommand({BinDir() + "/hinetd", "check", "-c", config}, milliseconds(10000));
  ASSERT_EQ(check.exit_code, 0) << check.err;
  std::string warning = "services \"chargen\" and \"killer\" share uid " + uid +
                        " (hinetd-internal), and \"killer\" may signal or trace (policy "
                        "\"default\" allows kill, tgkill): a child of one can signal or trace "
                        "the children of the other; give each service a user of its own (user "
                        "= ...)";
  EXPECT_NE(check.out.find("\nwarning: " + warning + "\n"), std::string::npos) << check.out;
  DaemonProcess shared;
  ASSERT_TRUE(shared.StartAndWait(config)) << shared.LogText();
  EXPECT_EQ(shared.CountLines({"event=warning", "share uid " + uid}), 1u) << shared.LogText();
  pid = ChargenChild(shared, fd);
  ASSERT_FALSE(pid.empty()) << shared.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", killer, pid + "\n"), "killed\n");
  EXPECT_TRUE(shared.WaitForLine({"event=end", "service=chargen", "status=signal:KILL"},
                                 milliseconds(5000)))
      << shared.LogText();
  close(fd);
}

}  // namespace
}  // namespace hinetd::testing
