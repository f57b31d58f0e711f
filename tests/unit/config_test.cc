// The services table: every key, valid and invalid, with the exact message
// and position a user sees.
#include "config/config.h"

#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include "common/jail.h"
#include "common/test_env.h"

namespace hinetd::config {
namespace {

using testing::TempDir;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Internal services run as this account unless they set user.
    if (getpwnam(kInternalUser) == nullptr) {
      GTEST_SKIP() << "needs the system user '" << kInternalUser
                   << "' (internal services' default account); scripts/test.sh creates it "
                      "(bash scripts/daemon-user.sh)";
    }
    ASSERT_FALSE(dir_.path().empty());
    const char* policy = "allow = [\"execve\", \"execveat\", \"@exit\", \"read\", \"write\"]\n";
    dir_.Write("sandbox/default.toml", policy);
    dir_.Write("sandbox/internal.toml", policy);
    dir_.Write("sandbox/other.toml", "default_action = \"errno:EPERM\"\nallow = [\"read\"]\n");
    path_ = dir_.path() + "/hinetd.toml";
  }

  base::Result<Config> Load(const std::string& text) { return LoadConfigText(text, path_); }

  // The error for `text`, without the file name prefix ("L:C: message").
  std::string ErrorOf(const std::string& text) {
    auto r = Load(text);
    if (r.ok()) return "<loaded>";
    std::string e = r.error().ToString();
    if (e.rfind(path_ + ":", 0) == 0) return e.substr(path_.size() + 1);
    return e;
  }

  TempDir dir_;
  std::string path_;
};

// A service that is valid; tests add or replace one line.
const char* kEcho = "[[service]]\nname = \"echo\"\nlisten = \"127.0.0.1:7007\"\ninternal = \"echo\"\n";

TEST_F(ConfigTest, MinimalInternalServiceLoadsWithDefaults) {
  auto c = Load(kEcho);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  ASSERT_EQ(c->services.size(), 1u);
  const Service& s = c->services[0];
  EXPECT_EQ(s.name, "echo");
  EXPECT_EQ(s.internal, Internal::kEcho);
  EXPECT_EQ(s.user, kInternalUser);
  EXPECT_EQ(s.uid, getpwnam(kInternalUser)->pw_uid);
  EXPECT_EQ(s.group, kInternalUser);  // the account's own group (daemon-user.sh)
  EXPECT_EQ(s.sandbox, "internal");
  ASSERT_TRUE(s.chroot.has_value());
  EXPECT_EQ(*s.chroot, kEmptyChroot);
  EXPECT_TRUE(s.implicit_chroot);
  EXPECT_EQ(s.stderr_mode, StderrMode::kNull);
  EXPECT_EQ(s.umask, 022u);
  ASSERT_EQ(s.listen.size(), 1u);
  EXPECT_EQ(s.listen[0].endpoints.size(), 1u);
  EXPECT_EQ(c->daemon.max_children, 1024);
  EXPECT_EQ(c->daemon.sandbox_dir, dir_.path() + "/sandbox");
  EXPECT_EQ(c->policies.count("internal"), 1u);
}

// A wrapped program's stderr goes to the log unless the table says
// otherwise; the internal services' stays /dev/null (their program writes
// nothing there).
TEST_F(ConfigTest, StderrDefaultsToTheLogForProgramsOnly) {
  auto c = Load(R"([daemon]
sandbox_dir = "sandbox"

[[service]]
name = "prog"
listen = "127.0.0.1:7100"
exec = ["/bin/true"]
user = "nobody"
unconfined = true
sandbox = "none"

[[service]]
name = "echo"
listen = "127.0.0.1:7101"
internal = "echo"
)");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->services[0].stderr_mode, StderrMode::kLog);
  EXPECT_EQ(c->services[1].stderr_mode, StderrMode::kNull);
  auto quiet = Load(R"([daemon]
sandbox_dir = "sandbox"

[defaults]
stderr = "null"

[[service]]
name = "prog"
listen = "127.0.0.1:7100"
exec = ["/bin/true"]
user = "nobody"
unconfined = true
sandbox = "none"
)");
  ASSERT_TRUE(quiet.ok()) << quiet.error().ToString();
  EXPECT_EQ(quiet->services[0].stderr_mode, StderrMode::kNull);
}

TEST_F(ConfigTest, FullExecServiceWithDefaults) {
  auto c = Load(R"([daemon]
max_children = 50
sandbox_dir = "sandbox"

[defaults]
user = "nobody"
stderr = "log"
rlimits = { core = 0, fsize = "1M" }

[[service]]
name = "sh"
listen = ["127.0.0.1:7100", "[::1]:7100", "*:7101"]
exec = ["/bin/sh", "-c", "echo hi"]
group = 0
unconfined = true
groups = []
workdir = "/tmp"
env = { LANG = "C", B = "2" }
sandbox = "other"
umask = "077"
pdeathsig = "TERM"
rlimits = { cpu = "10s", as = "256M", nofile = 64 }
)");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  const Service& s = c->services[0];
  EXPECT_EQ(c->daemon.max_children, 50);
  EXPECT_EQ(s.exec, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(s.gid, 0u);
  EXPECT_TRUE(s.unconfined);
  EXPECT_FALSE(s.chroot.has_value());
  EXPECT_EQ(s.workdir, "/tmp");
  EXPECT_EQ(s.env, (std::vector<std::pair<std::string, std::string>>{{"B", "2"}, {"LANG", "C"}}));
  EXPECT_EQ(s.sandbox, "other");
  EXPECT_EQ(s.umask, 077u);
  EXPECT_EQ(s.pdeathsig, 15);
  EXPECT_EQ(s.stderr_mode, StderrMode::kLog);  // from [defaults]
  // Three listen entries, four endpoints ("*" is two).
  ASSERT_EQ(s.listen.size(), 3u);
  EXPECT_EQ(s.listen[2].endpoints.size(), 2u);
  // The service's rlimits table replaces the one in [defaults] entirely
  // (a table is one value), on top of the built-in core=0 and nofile.
  auto find = [&](const std::string& k) -> const Rlimit* {
    for (const auto& r : s.rlimits) {
      if (r.key == k) return &r;
    }
    return nullptr;
  };
  ASSERT_NE(find("cpu"), nullptr);
  EXPECT_EQ(find("cpu")->soft, 10u);
  EXPECT_EQ(find("as")->soft, 256u << 20);
  EXPECT_EQ(find("nofile")->soft, 64u);
  EXPECT_EQ(find("nofile")->hard, 64u);
  EXPECT_EQ(find("core")->soft, 0u);
  EXPECT_EQ(find("fsize"), nullptr);
  EXPECT_FALSE(c->warnings.empty());  // no chroot, runs as root group
}

TEST_F(ConfigTest, UdpAndUnixServices) {
  auto c = Load(R"([defaults]
socket_mode = "0600"

[[service]]
name = "tftp"
protocol = "udp"
wait = true
listen = "127.0.0.1:6969"
exec = ["/bin/true"]
user = "nobody"

[[service]]
name = "echo-udp"
protocol = "udp"
listen = ["127.0.0.1:7007", "[::1]:7007"]
internal = "echo"

[[service]]
name = "echo-tcp"
listen = ["127.0.0.1:7007"]
internal = "echo"

[[service]]
name = "local"
listen = ["unix:/run/hinetd-config-test.sock"]
internal = "echo"
socket_user = "nobody"
socket_group = 65534
)");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  ASSERT_EQ(c->services.size(), 4u);
  EXPECT_EQ(c->services[0].transport, net::Transport::kUdp);
  EXPECT_TRUE(c->services[0].wait);
  EXPECT_EQ(c->services[1].transport, net::Transport::kUdp);
  EXPECT_FALSE(c->services[1].wait);
  // The udp and tcp echo share 127.0.0.1:7007: different protocols do not collide.
  EXPECT_EQ(c->services[2].transport, net::Transport::kTcp);
  const Service& local = c->services[3];
  ASSERT_TRUE(local.listen[0].endpoints[0].IsUnix());
  EXPECT_EQ(local.listen[0].endpoints[0].UnixPath(), "/run/hinetd-config-test.sock");
  EXPECT_EQ(local.unix_file.mode, 0600u);  // from [defaults]
  EXPECT_EQ(local.unix_file.uid, 65534u);
  EXPECT_EQ(local.unix_file.gid, 65534u);
}

TEST_F(ConfigTest, AdmissionKeys) {
  auto c = Load(R"([daemon]
log_peers = false

[defaults]
timeout = "30s"
allow = ["127.0.0.0/8", "::1"]

[[service]]
name = "echo"
listen = ["127.0.0.1:7007"]
internal = "echo"
deny = ["127.0.0.2"]
max_instances = 4
per_source = 2
rate = "100/s"
backoff = "5s"

[[service]]
name = "slow"
listen = ["127.0.0.1:7008"]
internal = "echo"
rate = 600
timeout = 2

[[service]]
name = "local"
listen = ["unix:/run/hinetd-config-test.sock"]
internal = "echo"
)");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_FALSE(c->daemon.log_peers);
  const Service& echo = c->services[0];
  EXPECT_EQ(echo.max_instances, 4);
  EXPECT_EQ(echo.per_source, 2);
  ASSERT_TRUE(echo.rate.has_value());
  EXPECT_EQ(echo.rate->count, 100u);
  EXPECT_EQ(echo.rate->period.count(), 1000);
  EXPECT_EQ(echo.backoff.count(), 5000);
  ASSERT_TRUE(echo.timeout.has_value());
  EXPECT_EQ(echo.timeout->count(), 30'000);  // from [defaults]
  ASSERT_TRUE(echo.acl.allow().has_value());
  EXPECT_EQ(echo.acl.allow()->size(), 2u);
  EXPECT_EQ(echo.acl.deny().size(), 1u);
  const Service& slow = c->services[1];
  EXPECT_EQ(slow.rate->count, 600u);
  EXPECT_EQ(slow.timeout->count(), 2000);
  EXPECT_EQ(slow.backoff.count(), 10'000);  // the default
  EXPECT_EQ(slow.max_instances, 0);
  // [defaults]' allow does not apply to a unix:-only service.
  EXPECT_TRUE(c->services[2].acl.empty());
}

TEST_F(ConfigTest, DefaultsLimitsSkippedForAUdpWaitServiceAreWarnedAbout) {
  auto c = Load(R"([defaults]
max_instances = 8
per_source = 2

[[service]]
name = "tftp"
listen = "127.0.0.1:6969"
protocol = "udp"
wait = true
exec = ["/bin/true"]
user = "nobody"
)");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->services[0].max_instances, 0);
  EXPECT_EQ(c->services[0].per_source, 0);
  for (const char* key : {"max_instances", "per_source"}) {
    std::string want = std::string("service \"tftp\": [defaults] ") + key +
                       " does not apply to it (a udp wait service: its child reads every "
                       "datagram itself)";
    EXPECT_NE(std::find(c->warnings.begin(), c->warnings.end(), want), c->warnings.end()) << want;
  }
}

// A unix: socket is root's and its group's by default; a mode that lets
// every local user connect is said so by `hinetd check` (and at start).
TEST_F(ConfigTest, SocketModeDefaultsToGroupOnlyAndWorldWritableIsWarnedAbout) {
  auto c = Load(R"([[service]]
name = "quiet"
listen = "unix:/run/hinetd-config-test-a.sock"
internal = "echo"

[[service]]
name = "open"
listen = "unix:/run/hinetd-config-test-b.sock"
internal = "echo"
socket_mode = "0666"
)");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->services[0].unix_file.mode, 0660u);
  EXPECT_EQ(c->services[1].unix_file.mode, 0666u);
  std::string want =
      "service \"open\": socket_mode 0666 lets every local user connect to its unix: socket; "
      "give its clients a group (socket_group) and use \"0660\"";
  EXPECT_NE(std::find(c->warnings.begin(), c->warnings.end(), want), c->warnings.end()) << want;
  for (const auto& w : c->warnings) EXPECT_EQ(w.find("\"quiet\": socket_mode"), std::string::npos);
}

// [daemon] user is resolved apart from loading (the loader needs no account
// of hinetd's); "daemon" (uid 1) stands in for a dedicated account here.
TEST_F(ConfigTest, DaemonUserIsResolvedAndKeptApartFromServices) {
  auto c = Load("[daemon]\nuser = \"daemon\"\n" + std::string(kEcho));
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  ASSERT_TRUE(ResolveDaemonUser(*c).ok());
  EXPECT_EQ(c->daemon.uid, 1u);

  auto unknown = Load("[daemon]\nuser = \"no-such-user\"\n" + std::string(kEcho));
  ASSERT_TRUE(unknown.ok());
  auto st = ResolveDaemonUser(*unknown);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().ToString(),
            path_ + ":2:8: [daemon]: user: no user 'no-such-user' on this system (check "
                    "/etc/passwd, or give a uid); the listener needs an account of its own: "
                    "create it (useradd --system --no-create-home --shell /usr/sbin/nologin "
                    "no-such-user) or set [daemon] user");

  auto root = Load("[daemon]\nuser = \"root\"\n" + std::string(kEcho));
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(ResolveDaemonUser(*root).error().ToString(),
            path_ + ":2:8: [daemon]: user: the listener must not run as root; give it an "
                    "account of its own");

  // An internal service's default account is never the listener's.
  auto shared = Load("[daemon]\nuser = \"hinetd-internal\"\n" + std::string(kEcho));
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(ResolveDaemonUser(*shared).error().ToString(),
            path_ + ":3:1: service \"echo\": user: runs as 'hinetd-internal', the listener's own "
                    "account ([daemon] user); a service could then signal the listener: give it "
                    "an account of its own");
}

// [defaults] user, group and groups are for exec services: an internal
// service keeps its own account unless the service itself sets one.
TEST_F(ConfigTest, InternalServicesDoNotTakeTheDefaultUser) {
  auto c = Load(R"([defaults]
user = "nobody"
group = "nogroup"
groups = ["nogroup"]

[[service]]
name = "echo"
listen = "127.0.0.1:7007"
internal = "echo"

[[service]]
name = "sh"
listen = "127.0.0.1:7008"
exec = ["/bin/true"]

[[service]]
name = "own"
listen = "127.0.0.1:7009"
internal = "echo"
user = "nobody"
)");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  const passwd* internal = getpwnam(kInternalUser);
  ASSERT_NE(internal, nullptr);
  EXPECT_EQ(c->services[0].user, kInternalUser);
  EXPECT_EQ(c->services[0].uid, internal->pw_uid);
  EXPECT_EQ(c->services[0].gid, internal->pw_gid);
  EXPECT_TRUE(c->services[0].groups.empty());
  EXPECT_EQ(c->services[1].user, "nobody");
  EXPECT_EQ(c->services[1].groups, std::vector<gid_t>{65534});
  EXPECT_EQ(c->services[2].user, "nobody");
  EXPECT_EQ(c->services[2].gid, 65534u);  // nobody's own group, not [defaults]'
  EXPECT_TRUE(c->services[2].groups.empty());
}

// The warnings of `c` that are about services sharing a uid.
std::vector<std::string> SharedUidWarnings(const Config& c) {
  std::vector<std::string> out;
  for (const auto& w : c.warnings) {
    if (w.find(" share uid ") != std::string::npos) out.push_back(w);
  }
  return out;
}

std::string ExecAs(const std::string& name, int port, const std::string& user,
                   const std::string& extra) {
  return "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
         "\"\nexec = [\"/bin/true\"]\nuser = \"" + user + "\"\n" + extra + "\n";
}

// Two services with one uid, either able to signal or trace (kill, ptrace,
// process_vm_*, pidfd_*, ... allowed, only logged, or no policy at all):
// one warning per uid that names them, the uid and the fix.
TEST_F(ConfigTest, ServicesSharingAUidWhileOneCanSignalAreWarnedAbout) {
  dir_.Write("sandbox/signals.toml",
             "allow = [\"execve\", \"@exit\", \"read\", \"write\", \"kill\", \"ptrace\"]\n");
  dir_.Write("sandbox/logs.toml", "default_action = \"log\"\nallow = [\"read\"]\n");
  auto c = Load(ExecAs("a", 7001, "nobody", "sandbox = \"signals\"") +
                ExecAs("b", 7002, "nobody", "sandbox = \"other\""));
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(SharedUidWarnings(*c),
            std::vector<std::string>{
                "services \"a\" and \"b\" share uid 65534 (nobody), and \"a\" may signal or trace "
                "(policy \"signals\" allows kill, ptrace): a child of one can signal or trace the "
                "children of the other; give each service a user of its own (user = ...)"});

  // Neither can: no warning. Different uids: none either.
  auto quiet = Load(ExecAs("a", 7001, "nobody", "sandbox = \"other\"") +
                    ExecAs("b", 7002, "nobody", "sandbox = \"default\"") +
                    ExecAs("c", 7003, "daemon", "sandbox = \"signals\""));
  ASSERT_TRUE(quiet.ok()) << quiet.error().ToString();
  EXPECT_EQ(SharedUidWarnings(*quiet), std::vector<std::string>{});

  // Three services, two reasons: no policy of its own, and a policy that
  // only logs what it does not allow. A bare uid is shown as the number.
  auto three = Load(ExecAs("a", 7001, "64019", "group = 64019\nsandbox = \"other\"") +
                    ExecAs("b", 7002, "64019",
                           "group = 64019\nsandbox = \"none\"\nunconfined = true") +
                    ExecAs("c", 7003, "64019", "group = 64019\nsandbox = \"logs\""));
  ASSERT_TRUE(three.ok()) << three.error().ToString();
  EXPECT_EQ(SharedUidWarnings(*three),
            std::vector<std::string>{
                "services \"a\", \"b\" and \"c\" share uid 64019, and \"b\" has no seccomp "
                "policy of its own (sandbox = \"none\") and \"c\" may signal or trace (policy "
                "\"logs\" allows kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, "
                "pidfd_send_signal, pidfd_open, pidfd_getfd, ptrace, process_vm_readv, "
                "process_vm_writev): a child of one can signal or trace the children of the "
                "others; give each service a user of its own (user = ...)"});
}

// With the shipped policies: internal services share their account without
// a warning (the "internal" policy allows none of the signal or trace
// calls), and an exec service under "default" (which allows kill) no longer
// shares a uid with them; put it on their account and it is warned about.
TEST_F(ConfigTest, ShippedInternalPolicyCannotSignalAndExecServicesGetNoSharedUid) {
  TempDir shipped;
  ASSERT_TRUE(testing::CopyShippedPolicies(shipped.path() + "/sandbox"));
  std::string path = shipped.path() + "/hinetd.toml";
  std::string internal =
      "[[service]]\nname = \"echo\"\nlisten = \"127.0.0.1:7007\"\ninternal = \"echo\"\n\n"
      "[[service]]\nname = \"daytime\"\nlisten = \"127.0.0.1:7013\"\nprotocol = \"udp\"\n"
      "internal = \"daytime\"\n\n";
  auto c = LoadConfigText("[defaults]\nuser = \"nobody\"\n" + internal +
                              ExecAs("sh", 7100, "nobody", "sandbox = \"default\""),
                          path);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(SharedUidWarnings(*c), std::vector<std::string>{});
  EXPECT_EQ(c->services[0].uid, c->services[1].uid);
  EXPECT_NE(c->services[0].uid, c->services[2].uid);

  auto same = LoadConfigText(internal + ExecAs("sh", 7100, kInternalUser, "sandbox = \"default\""),
                             path);
  ASSERT_TRUE(same.ok()) << same.error().ToString();
  EXPECT_EQ(SharedUidWarnings(*same),
            std::vector<std::string>{
                "services \"echo\", \"daytime\" and \"sh\" share uid " +
                std::to_string(getpwnam(kInternalUser)->pw_uid) +
                " (hinetd-internal), and \"sh\" may signal or trace (policy \"default\" allows "
                "kill, tgkill): a child of one can signal or trace the children of the others; "
                "give each service a user of its own (user = ...)"});
}

// Runs `fn` in a child process that sees /etc/passwd and /etc/group as
// `edit` leaves them (copies bind-mounted in a mount namespace of its own),
// and returns what `fn` returned; or a reason to skip, starting "skip: ".
std::string WithAccounts(const std::string& scratch,
                         const std::function<void(std::string&, std::string&)>& edit,
                         const std::function<std::string()>& fn) {
  auto slurp = [](const char* path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  std::string passwd = slurp("/etc/passwd");
  std::string group = slurp("/etc/group");
  edit(passwd, group);
  std::string fake_passwd = scratch + "/passwd";
  std::string fake_group = scratch + "/group";
  std::ofstream(fake_passwd) << passwd;
  std::ofstream(fake_group) << group;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "skip: pipe2 failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount(fake_passwd.c_str(), "/etc/passwd", nullptr, MS_BIND, nullptr) != 0 ||
        mount(fake_group.c_str(), "/etc/group", nullptr, MS_BIND, nullptr) != 0) {
      out = std::string("skip: cannot bind-mount over /etc/passwd in a mount namespace: ") +
            strerror(errno);
    } else {
      out = fn();
    }
    ssize_t ignored = write(fds[1], out.data(), out.size());
    (void)ignored;
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  // The child only loads a small config; 10 s is far beyond what it needs.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return out;
}

// [daemon] user whose primary group is 0, or who is a member of group 0:
// refused (the listener would run with gid 0 or belongs to root's group).
// The accounts exist only in this test's mount namespace.
TEST_F(ConfigTest, DaemonUserInGroupZeroIsRefused) {
  if (!testing::IsRoot()) {
    GTEST_SKIP() << "needs root: the accounts are made up in a mount namespace (a copy of "
                    "/etc/passwd bind-mounted)";
  }
  auto resolve = [&](const std::string& user) {
    return [this, user] {
      auto c = Load("[daemon]\nuser = \"" + user + "\"\n" + std::string(kEcho));
      if (!c.ok()) return "load: " + c.error().ToString();
      auto st = ResolveDaemonUser(*c);
      return st.ok() ? std::string("<resolved>") : st.error().ToString();
    };
  };
  auto add = [](std::string& passwd, std::string& group) {
    passwd += "hinetd-t-gid0:x:64011:0::/nonexistent:/usr/sbin/nologin\n"
              "hinetd-t-wheel:x:64012:64012::/nonexistent:/usr/sbin/nologin\n";
    group += "hinetd-t-wheel:x:64012:\nhinetd-t-root0:x:0:hinetd-t-wheel\n";
  };
  std::string primary = WithAccounts(dir_.path(), add, resolve("hinetd-t-gid0"));
  if (primary.rfind("skip: ", 0) == 0) GTEST_SKIP() << primary.substr(6);
  EXPECT_EQ(primary,
            path_ + ":2:8: [daemon]: user: the primary group of 'hinetd-t-gid0' is 0 (root): the "
                    "listener would run with gid 0; give the account a group of its own (usermod "
                    "-g hinetd-t-gid0 hinetd-t-gid0, after groupadd --system hinetd-t-gid0) or "
                    "set [daemon] user to another account");
  EXPECT_EQ(WithAccounts(dir_.path(), add, resolve("hinetd-t-wheel")),
            path_ + ":2:8: [daemon]: user: 'hinetd-t-wheel' is a member of group 0 (root) in "
                    "/etc/group: the listener's account must hold no root group; remove it "
                    "(gpasswd -d hinetd-t-wheel root) or set [daemon] user to another account");
  // Named by its uid, the account is the same.
  EXPECT_EQ(WithAccounts(dir_.path(), add, resolve("64012")),
            path_ + ":2:8: [daemon]: user: 'hinetd-t-wheel' is a member of group 0 (root) in "
                    "/etc/group: the listener's account must hold no root group; remove it "
                    "(gpasswd -d hinetd-t-wheel root) or set [daemon] user to another account");
  // The same account without the group 0 membership is accepted.
  auto no_root = [](std::string& passwd, std::string& group) {
    passwd += "hinetd-t-wheel:x:64012:64012::/nonexistent:/usr/sbin/nologin\n";
    group += "hinetd-t-wheel:x:64012:\n";
  };
  EXPECT_EQ(WithAccounts(dir_.path(), no_root, resolve("hinetd-t-wheel")), "<resolved>");
}

// Without the hinetd-internal account, an internal service that relies on
// it is a configuration error that says how to create it.
TEST_F(ConfigTest, MissingInternalAccountSaysHowToCreateIt) {
  if (!testing::IsRoot()) {
    GTEST_SKIP() << "needs root: the account is hidden in a mount namespace (a copy of "
                    "/etc/passwd bind-mounted)";
  }
  auto remove = [](std::string& passwd, std::string&) {
    std::string kept;
    std::istringstream lines(passwd);
    for (std::string l; std::getline(lines, l);) {
      if (l.rfind(std::string(kInternalUser) + ":", 0) != 0) kept += l + "\n";
    }
    passwd = kept;
  };
  std::string out = WithAccounts(dir_.path(), remove, [this] {
    auto c = Load(kEcho);
    return c.ok() ? std::string("<loaded>") : c.error().ToString();
  });
  if (out.rfind("skip: ", 0) == 0) GTEST_SKIP() << out.substr(6);
  EXPECT_EQ(out, path_ + ":1:1: service \"echo\": user (default \"hinetd-internal\"): no user "
                         "'hinetd-internal' on this system (check /etc/passwd, or give a uid); "
                         "internal services run as an account of their own: create it (useradd "
                         "--system --no-create-home --shell /usr/sbin/nologin hinetd-internal) or "
                         "set user in the service");
  // Setting user needs no such account.
  std::string own = WithAccounts(dir_.path(), remove, [this] {
    auto c = Load(std::string(kEcho) + "user = \"nobody\"\n");
    return c.ok() ? std::string("<loaded>") : c.error().ToString();
  });
  EXPECT_EQ(own, "<loaded>");
}

// StrictModes: the config, every policy it loads (includes too) and every
// directory above them must be owned by root and not group- or
// world-writable. Run unprivileged, the running user may own them too.
std::string TrustRule() {
  std::string owners = geteuid() == 0 ? "root"
                                      : "root (or by uid " + std::to_string(geteuid()) +
                                            ", who runs this unprivileged check)";
  return "; hinetd loads a configuration or policy only if it and every directory above it are "
         "owned by " + owners + " and not group- or world-writable, since what it says runs as "
         "root";
}

std::string OwnerOf(const std::string& path) {
  struct stat st {};
  stat(path.c_str(), &st);
  const passwd* pw = getpwuid(st.st_uid);
  return pw != nullptr ? std::string(pw->pw_name) + " (uid " + std::to_string(st.st_uid) + ")"
                       : "uid " + std::to_string(st.st_uid);
}

TEST_F(ConfigTest, FilesOthersCanChangeAreNotLoaded) {
  std::string config = dir_.Write("hinetd.toml", kEcho);
  ASSERT_TRUE(LoadConfig(config).ok()) << LoadConfig(config).error().ToString();
  std::string me = OwnerOf(config);

  ASSERT_EQ(chmod(config.c_str(), 0664), 0);
  EXPECT_EQ(LoadConfig(config).error().ToString(),
            config + ": owned by " + me + ", mode 0664" + TrustRule() + " (chown root:root " +
                config + "; chmod go-w " + config + ")");
  ASSERT_EQ(chmod(config.c_str(), 0646), 0);
  EXPECT_EQ(LoadConfig(config).error().ToString(),
            config + ": owned by " + me + ", mode 0646" + TrustRule() + " (chown root:root " +
                config + "; chmod go-w " + config + ")");
  ASSERT_EQ(chmod(config.c_str(), 0644), 0);

  // A directory above it that others can write to: they could replace it.
  ASSERT_EQ(chmod(dir_.path().c_str(), 0770), 0);
  EXPECT_EQ(LoadConfig(config).error().ToString(),
            config + ": the directory " + dir_.path() + " above it is owned by " + me +
                ", mode 0770" + TrustRule() + " (chown root:root " + dir_.path() +
                "; chmod go-w " + dir_.path() + ")");
  ASSERT_EQ(chmod(dir_.path().c_str(), 0700), 0);

  // Every policy loaded, included ones too.
  std::string policy = dir_.path() + "/sandbox/internal.toml";
  ASSERT_EQ(chmod(policy.c_str(), 0666), 0);
  EXPECT_EQ(LoadConfig(config).error().ToString(),
            policy + ": owned by " + me + ", mode 0666" + TrustRule() + " (chown root:root " +
                policy + "; chmod go-w " + policy + ")");
  dir_.Write("sandbox/internal.toml", "include = [\"other\"]\nallow = [\"execveat\"]\n");
  std::string other = dir_.path() + "/sandbox/other.toml";
  ASSERT_EQ(chmod(other.c_str(), 0664), 0);
  EXPECT_EQ(LoadConfig(config).error().ToString(),
            other + ": owned by " + me + ", mode 0664" + TrustRule() + " (chown root:root " +
                other + "; chmod go-w " + other + ")");
  ASSERT_EQ(chmod(other.c_str(), 0644), 0);
  ASSERT_EQ(chmod((dir_.path() + "/sandbox").c_str(), 0775), 0);
  EXPECT_EQ(LoadConfig(config).error().ToString(),
            policy + ": the directory " + dir_.path() + "/sandbox above it is owned by " + me +
                ", mode 0775" + TrustRule() + " (chown root:root " + dir_.path() +
                "/sandbox; chmod go-w " + dir_.path() + "/sandbox)");
  ASSERT_EQ(chmod((dir_.path() + "/sandbox").c_str(), 0755), 0);
  EXPECT_TRUE(LoadConfig(config).ok());
}

TEST_F(ConfigTest, FilesOwnedByAnotherUserAreNotLoaded) {
  if (!testing::IsRoot()) GTEST_SKIP() << "needs root: the files are handed to uid 64011";
  std::string config = dir_.Write("hinetd.toml", kEcho);
  ASSERT_EQ(chown(config.c_str(), 64011, 64011), 0);
  EXPECT_EQ(LoadConfig(config).error().ToString(),
            config + ": owned by uid 64011, mode 0644" + TrustRule() + " (chown root:root " +
                config + "; chmod go-w " + config + ")");
  ASSERT_EQ(chown(config.c_str(), 0, 0), 0);
  // A directory of another user's above it.
  std::string sub = dir_.path() + "/theirs";
  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  ASSERT_EQ(chown(sub.c_str(), 64011, 64011), 0);
  std::string inner = sub + "/hinetd.toml";
  std::ofstream(inner) << kEcho;
  ASSERT_EQ(chmod(inner.c_str(), 0644), 0);
  EXPECT_EQ(LoadConfig(inner).error().ToString(),
            inner + ": the directory " + sub + " above it is owned by uid 64011, mode 0755" +
                TrustRule() + " (chown root:root " + sub + "; chmod go-w " + sub + ")");
}

// A symlink is followed, and where it leads is what must pass: a link in a
// trusted place to a file in another user's directory is refused, a link
// to a trusted file is loaded.
TEST_F(ConfigTest, ASymlinkIsJudgedByWhereItLeads) {
  if (!testing::IsRoot()) GTEST_SKIP() << "needs root: the files are handed to uid 64011";
  std::string config = dir_.Write("hinetd.toml", kEcho);
  std::string good_link = dir_.path() + "/good.toml";
  ASSERT_EQ(symlink(config.c_str(), good_link.c_str()), 0);
  EXPECT_TRUE(LoadConfig(good_link).ok());

  std::string sub = dir_.path() + "/theirs";
  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  std::string target = sub + "/hinetd.toml";
  std::ofstream(target) << kEcho;
  ASSERT_EQ(chmod(target.c_str(), 0644), 0);
  ASSERT_EQ(chown(sub.c_str(), 64011, 64011), 0);
  std::string bad_link = dir_.path() + "/bad.toml";
  ASSERT_EQ(symlink(target.c_str(), bad_link.c_str()), 0);
  EXPECT_EQ(LoadConfig(bad_link).error().ToString(),
            bad_link + ": the directory " + sub + " above " + target +
                " is owned by uid 64011, mode 0755" + TrustRule() + " (chown root:root " + sub +
                "; chmod go-w " + sub + ")");
  ASSERT_EQ(chown(sub.c_str(), 0, 0), 0);
  ASSERT_EQ(chown(target.c_str(), 64011, 64011), 0);
  EXPECT_EQ(LoadConfig(bad_link).error().ToString(),
            bad_link + ": a link to " + target + ", which is owned by uid 64011, mode 0644" +
                TrustRule() + " (chown root:root " + target + "; chmod go-w " + target + ")");
}

TEST_F(ConfigTest, EveryUdpChildHasATimeoutByDefault) {
  // 30 s per peer, 15 min for a wait child (tftpd idles 900 s); one set in
  // the service or in [defaults] wins; TCP keeps none.
  auto svc = [](const std::string& name, int port, const std::string& extra) {
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
           "\"\nexec = [\"/bin/true\"]\nuser = \"nobody\"\n" + extra;
  };
  auto c = Load(svc("nowait", 7001, "protocol = \"udp\"\n") +
                svc("wait", 7002, "protocol = \"udp\"\nwait = true\n") +
                svc("own", 7003, "protocol = \"udp\"\ntimeout = \"2h\"\n") +
                svc("tcp", 7004, ""));
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  ASSERT_EQ(c->services.size(), 4u);
  EXPECT_EQ(c->services[0].timeout.value_or(Millis(-1)).count(), 30'000);
  EXPECT_EQ(c->services[1].timeout.value_or(Millis(-1)).count(), 15 * 60'000);
  EXPECT_EQ(c->services[2].timeout.value_or(Millis(-1)).count(), 2 * 3600'000);
  EXPECT_FALSE(c->services[3].timeout.has_value());
  auto d = Load("[defaults]\ntimeout = \"5m\"\n" + svc("nowait", 7001, "protocol = \"udp\"\n"));
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  EXPECT_EQ(d->services[0].timeout.value_or(Millis(-1)).count(), 5 * 60'000);
}

TEST_F(ConfigTest, DefaultNofileIsTheClassic1024) {
  auto c = Load(kEcho);
  ASSERT_TRUE(c.ok());
  rlimit own{};
  getrlimit(RLIMIT_NOFILE, &own);
  bool found = false;
  for (const auto& r : c->services[0].rlimits) {
    if (r.key == "nofile") {
      found = true;
      EXPECT_EQ(r.soft, std::min<rlim_t>(1024, own.rlim_max));
      EXPECT_EQ(r.hard, own.rlim_max);
    }
    if (r.key == "core") {
      EXPECT_EQ(r.soft, 0u);
    }
  }
  EXPECT_TRUE(found);
}

struct BadCase {
  const char* name;
  std::string text;
  std::string error;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

// hinetd's own hard limit of open files, as the loader reads it.
rlim_t NofileHard() {
  rlimit own{};
  getrlimit(RLIMIT_NOFILE, &own);
  return own.rlim_max;
}

// ... and of processes.
rlim_t NprocHard() {
  rlimit own{};
  getrlimit(RLIMIT_NPROC, &own);
  return own.rlim_max;
}

class ConfigErrorTest : public ConfigTest, public ::testing::WithParamInterface<BadCase> {
 protected:
  // @PATH@, @DIR@, @SANDBOX@, @JAIL@, @NOFILE_HARD@ and @NPROC_HARD@ (and their +1) stand
  // for this test's temp paths and this process's limits.
  std::string Expand(std::string text) const {
    rlim_t hard = NofileHard();
    std::pair<std::string, std::string> subst[] = {
        {"@SANDBOX@", dir_.path() + "/sandbox"},
        {"@PATH@", path_},
        {"@DIR@", dir_.path()},
        {"@JAIL@", jail_path_},
        {"@NOFILE_HARD+1@", std::to_string(hard + 1)},
        {"@NOFILE_HARD@", std::to_string(hard)},
        {"@NPROC_HARD+1@", std::to_string(NprocHard() + 1)},
        {"@NPROC_HARD@", std::to_string(NprocHard())}};
    for (const auto& [from, to] : subst) {
      for (size_t pos; (pos = text.find(from)) != std::string::npos;) text.replace(pos, from.size(), to);
    }
    return text;
  }

  void ExpectError(const BadCase& c) {
    if ((c.text + c.error).find("@NOFILE_HARD") != std::string::npos &&
        NofileHard() == RLIM_INFINITY) {
      GTEST_SKIP() << "this process has no hard limit of open files to exceed";
    }
    if ((c.text + c.error).find("@NPROC_HARD") != std::string::npos &&
        NprocHard() == RLIM_INFINITY) {
      GTEST_SKIP() << "this process has no hard limit of processes to exceed";
    }
    std::string want = Expand(c.error);
    std::string got = ErrorOf(Expand(c.text));
    if (want.ends_with(": ")) {
      // toml++ words its syntax errors itself; the position and prefix are ours.
      EXPECT_EQ(got.substr(0, want.size()), want) << got;
    } else {
      EXPECT_EQ(got, want);
    }
  }

  std::string jail_path_ = "<no jail>";
};

TEST_P(ConfigErrorTest, ExactMessageAndPosition) { ExpectError(GetParam()); }

std::string Svc(const std::string& extra) {
  return "[[service]]\nname = \"s\"\nlisten = \"127.0.0.1:7007\"\n" + extra;
}

const BadCase kBadCases[] = {
    {"UnknownTopKey", "servce = 1\n",
     "1:1: unknown key 'servce' (did you mean 'service'?)"},
    {"NoServices", "", "1:1: no services: add at least one [[service]] table with name, listen "
                       "and exec (or internal)"},
    {"ServiceNotArray", "service = 3\n",
     "1:11: service: expected [[service]] tables (an array of tables), got an integer"},
    {"DaemonUnknownKey", "[daemon]\nmax_childs = 3\n" + std::string(kEcho),
     "2:1: [daemon]: unknown key 'max_childs' (did you mean 'max_children'?)"},
    {"DaemonUserWrongType", "[daemon]\nuser = true\n" + std::string(kEcho),
     "2:8: [daemon]: user: expected a user name or a uid, got a boolean"},
    {"MaxChildrenZero", "[daemon]\nmax_children = 0\n" + std::string(kEcho),
     "2:16: [daemon]: max_children: 0 is out of range (expected 1 to 1000000)"},
    {"MaxChildrenString", "[daemon]\nmax_children = \"5\"\n" + std::string(kEcho),
     "2:16: [daemon]: max_children: expected an integer, got a string"},
    {"SandboxDirNotString", "[daemon]\nsandbox_dir = 1\n" + std::string(kEcho),
     "2:15: [daemon]: sandbox_dir: expected a string, got an integer"},
    {"DefaultsName", "[defaults]\nname = \"x\"\n" + std::string(kEcho),
     "2:1: [defaults]: 'name' cannot have a default: it belongs in each [[service]]"},
    {"DefaultsListen", "[defaults]\nlisten = \"x\"\n" + std::string(kEcho),
     "2:1: [defaults]: 'listen' cannot have a default: it belongs in each [[service]]"},
    {"ServiceUnknownKeyDidYouMean", Svc("internal = \"echo\"\nlistn = 1\n"),
     "5:1: service \"s\": unknown key 'listn' (did you mean 'listen'?)"},
    {"ServiceUnknownKeyNoClose", Svc("internal = \"echo\"\nzzzzzzzzzzzz = 1\n"),
     "5:1: service \"s\": unknown key 'zzzzzzzzzzzz' (valid keys: name listen exec internal "
     "protocol wait socket_mode socket_user socket_group user group groups chroot workdir env "
     "sandbox stderr timeout rlimits umask pdeathsig unconfined max_instances per_source rate "
     "backoff allow deny namespaces syslog jail drops_privileges)"},
    {"MissingName", "[[service]]\nlisten = \"127.0.0.1:1\"\ninternal = \"echo\"\n",
     "1:1: service #1: name: required (e.g. name = \"echo\")"},
    {"BadName", "[[service]]\nname = \"a b\"\n",
     "2:8: service #1: name: 'a b' is not a valid name (letters, digits, '_' and '-', at most "
     "64)"},
    {"DuplicateName",
     std::string(kEcho) + "[[service]]\nname = \"echo\"\nlisten = \"127.0.0.1:2\"\n",
     "6:8: service #2: name: a service named 'echo' is already defined at "
     "@PATH@:1:1"},
    {"MissingListen", "[[service]]\nname = \"s\"\ninternal = \"echo\"\n",
     "1:1: service \"s\": listen: required (e.g. listen = [\"127.0.0.1:7007\"])"},
    {"ListenEmpty", "[[service]]\nname = \"s\"\nlisten = []\n",
     "3:10: service \"s\": listen: needs at least one address"},
    {"ListenWrongType", "[[service]]\nname = \"s\"\nlisten = 7\n",
     "3:10: service \"s\": listen: expected a string or an array of strings, got an integer"},
    {"ListenHostname", "[[service]]\nname = \"s\"\nlisten = [\"localhost:7\"]\n",
     "3:11: service \"s\": listen: 'localhost' is not a numeric IPv4 address (hostnames are not "
     "resolved) (expected \"HOST:PORT\" with a numeric IPv4 HOST, \"[IPV6]:PORT\", \"*:PORT\", or "
     "\"unix:/PATH\")"},
    {"ListenPortZero", "[[service]]\nname = \"s\"\nlisten = \"127.0.0.1:0\"\n",
     "3:10: service \"s\": listen: port 0 is out of range (expected 1-65535)"},
    {"ListenPortTooBig", "[[service]]\nname = \"s\"\nlisten = \"127.0.0.1:70000\"\n",
     "3:10: service \"s\": listen: port 70000 is out of range (expected 1-65535)"},
    {"ListenNoPort", "[[service]]\nname = \"s\"\nlisten = \"127.0.0.1\"\n",
     "3:10: service \"s\": listen: '127.0.0.1': missing ':PORT' (expected \"HOST:PORT\" with a "
     "numeric IPv4 HOST, \"[IPV6]:PORT\", \"*:PORT\", or \"unix:/PATH\")"},
    {"ListenV6NoBrackets", "[[service]]\nname = \"s\"\nlisten = \"::1:7\"\n",
     "3:10: service \"s\": listen: '::1:7': an IPv6 address must be in brackets, as [::1]:7"},
    {"ListenUnknownServiceName",
     "[[service]]\nname = \"s\"\nlisten = \"127.0.0.1:no-such-service\"\n",
     "3:10: service \"s\": listen: unknown service name 'no-such-service' for tcp (not in "
     "/etc/services; use a port number 1-65535)"},
    {"ListenDuplicate",
     std::string(kEcho) + "[[service]]\nname = \"t\"\nlisten = \"127.0.0.1:7007\"\n",
     "7:10: service \"t\": listen: '127.0.0.1:7007' is the same as '127.0.0.1:7007' of service "
     "\"echo\" (each address and port can be bound once)"},
    {"ListenOverlapsWildcard",
     std::string(kEcho) + "[[service]]\nname = \"t\"\nlisten = \"*:7007\"\n",
     "7:10: service \"t\": listen: '*:7007' overlaps '127.0.0.1:7007' of service \"echo\" (each "
     "address and port can be bound once)"},
    {"UnixWithUdp", "[[service]]\nname = \"s\"\nprotocol = \"udp\"\nlisten = \"unix:/run/x.sock\"\n",
     "4:10: service \"s\": listen: 'unix:/run/x.sock': unix: addresses are stream sockets; "
     "they need protocol = \"tcp\""},
    {"UnixRelative", "[[service]]\nname = \"s\"\nlisten = \"unix:x.sock\"\n",
     "3:10: service \"s\": listen: 'unix:x.sock': the socket path must be absolute, as "
     "unix:/run/NAME.sock"},
    {"UnixMissingDirectory", "[[service]]\nname = \"s\"\nlisten = \"unix:/no/such/dir/x.sock\"\n",
     "3:10: service \"s\": listen: the directory /no/such/dir does not exist"},
    // /tmp is root's, but anyone may create the names hinetd is about to
    // use in it (the sticky bit keeps only existing ones).
    {"UnixDirectoryWorldWritable", "[[service]]\nname = \"s\"\nlisten = \"unix:/tmp/x.sock\"\n",
     "3:10: service \"s\": listen: the socket's directory /tmp (owner uid 0, mode 1777) is "
     "writable by other users, who could swap the socket file for a symlink before hinetd sets "
     "its owner and mode; choose a directory that root owns and only root can write, such as "
     "/run or a directory of its own in /run"},
    {"UnixNotASocket", "[[service]]\nname = \"s\"\nlisten = \"unix:/etc/passwd\"\n",
     "3:10: service \"s\": listen: /etc/passwd exists and is not a socket; hinetd never removes "
     "it (move it, or choose another path)"},
    {"SocketModeWithoutUnix", Svc("internal = \"echo\"\nsocket_mode = \"0600\"\n"),
     "5:15: service \"s\": socket_mode: applies to unix: listen addresses, and this service has "
     "none"},
    {"SocketModeBad",
     "[[service]]\nname = \"s\"\nlisten = \"unix:/run/hinetd-x.sock\"\ninternal = \"echo\"\n"
     "socket_mode = \"rw\"\n",
     "5:15: service \"s\": socket_mode: not a file mode (expected an octal string such as "
     "\"0660\", or 0o660)"},
    {"SocketUserUnknown",
     "[[service]]\nname = \"s\"\nlisten = \"unix:/run/hinetd-x.sock\"\ninternal = \"echo\"\n"
     "socket_user = \"no-such-user\"\n",
     "5:15: service \"s\": socket_user: no user 'no-such-user' on this system (check /etc/passwd, "
     "or give a uid)"},
    {"InternalUdpWait",
     Svc("protocol = \"udp\"\nwait = true\ninternal = \"echo\"\n"),
     "5:8: service \"s\": wait: internal services over udp answer each peer from a child of its "
     "own; remove wait = true"},
    {"ProtocolInvalid", Svc("protocol = \"sctp\"\n"),
     "4:12: service \"s\": protocol: 'sctp' is not a protocol (expected \"tcp\" or \"udp\")"},
    {"WaitTcp", Svc("wait = true\n"),
     "4:8: service \"s\": wait: wait = true is for udp services (a tcp service gets one child "
     "per connection); set wait = false or remove it"},
    {"WaitNotBool", Svc("wait = 1\n"),
     "4:8: service \"s\": wait: expected true or false, got an integer"},
    {"TimeoutBad", Svc("internal = \"echo\"\ntimeout = \"soon\"\n"),
     "5:11: service \"s\": timeout: 'soon' is not a duration (expected a whole number with a "
     "unit: \"500ms\", \"30s\", \"5m\", \"2h\"; a bare number is seconds)"},
    {"TimeoutTooShort", Svc("internal = \"echo\"\ntimeout = \"10ms\"\n"),
     "5:11: service \"s\": timeout: must be between 100ms and 24h"},
    {"MaxInstancesZero", Svc("internal = \"echo\"\nmax_instances = 0\n"),
     "5:17: service \"s\": max_instances: 0 is out of range (expected 1 to 1000000)"},
    {"PerSourceString", Svc("internal = \"echo\"\nper_source = \"4\"\n"),
     "5:14: service \"s\": per_source: expected an integer, got a string"},
    {"RateBad", Svc("internal = \"echo\"\nrate = \"10/h\"\n"),
     "5:8: service \"s\": rate: '10/h' is not a rate (expected new children per second or "
     "minute: \"100/s\", \"600/m\", or an integer per second)"},
    {"RateZero", Svc("internal = \"echo\"\nrate = \"0/s\"\n"),
     "5:8: service \"s\": rate: '0/s' is not a rate (expected new children per second or "
     "minute: \"100/s\", \"600/m\", or an integer per second)"},
    {"BackoffBad", Svc("internal = \"echo\"\nbackoff = true\n"),
     "5:11: service \"s\": backoff: expected a duration such as \"30s\", got a boolean"},
    {"AllowBadCidr", Svc("internal = \"echo\"\nallow = [\"127.0.0.0/8\", \"10.1.0.0/8\"]\n"),
     "5:25: service \"s\": allow: '10.1.0.0/8' has host bits set below /8 (did you mean "
     "10.0.0.0/8?)"},
    {"DenyNotArray", Svc("internal = \"echo\"\ndeny = \"10.0.0.1\"\n"),
     "5:8: service \"s\": deny: expected an array of strings, got a string"},
    {"AllowOnUnixOnly",
     "[[service]]\nname = \"s\"\nlisten = \"unix:/run/hinetd-x.sock\"\ninternal = \"echo\"\n"
     "allow = [\"127.0.0.1\"]\n",
     "5:9: service \"s\": allow: applies to IP addresses, and this service listens on unix: "
     "only (its socket file's owner and mode decide who may connect)"},
    {"PerSourceOnUdpWait",
     Svc("protocol = \"udp\"\nwait = true\nexec = [\"/bin/true\"]\nuser = \"nobody\"\n"
         "per_source = 2\n"),
     "8:14: service \"s\": per_source: does not apply to a udp wait service: its one child "
     "reads every datagram itself (use wait = false for one child per peer)"},
    {"DefaultsAllowOnUdpWait",
     "[defaults]\nallow = [\"127.0.0.1\"]\n" +
         Svc("protocol = \"udp\"\nwait = true\nexec = [\"/bin/true\"]\nuser = \"nobody\"\n"),
     "2:9: [defaults]: allow: cannot apply to the udp wait service \"s\", whose one child reads "
     "every datagram itself; set allow in the services it applies to instead, or wait = false "
     "in this one"},
    {"DefaultsBadCidrUnused", "[defaults]\ndeny = [\"10.0.0.1/8\"]\n" + std::string(kEcho),
     "2:9: [defaults]: deny: '10.0.0.1/8' has host bits set below /8 (did you mean 10.0.0.0/8?)"},
    {"TimeoutZeroSeconds", Svc("internal = \"echo\"\ntimeout = 0\n"),
     "5:11: service \"s\": timeout: 0 is out of range (expected 1 to 86400)"},
    {"LogPeersNotBool", "[daemon]\nlog_peers = \"no\"\n" + std::string(kEcho),
     "2:13: [daemon]: log_peers: expected true or false, got a string"},
    {"NeitherExecNorInternal", Svc(""),
     "1:1: service \"s\": exec: required (e.g. exec = [\"/usr/bin/prog\", \"arg\"], or internal "
     "= \"echo\")"},
    {"BothExecAndInternal", Svc("internal = \"echo\"\nexec = [\"/bin/true\"]\n"),
     "5:8: service \"s\": exec: a service has either exec or internal, not both (internal is set "
     "at @PATH@:4:12)"},
    {"InternalUnknown", Svc("internal = \"qotd\"\n"),
     "4:12: service \"s\": internal: 'qotd' is not an internal service (expected echo, discard, "
     "chargen, daytime or time)"},
    {"ExecEmpty", Svc("exec = []\n"),
     "4:8: service \"s\": exec: needs the program's path, e.g. [\"/usr/bin/prog\"]"},
    {"ExecNotArray", Svc("exec = \"/bin/true\"\n"),
     "4:8: service \"s\": exec: expected an array of strings, got a string"},
    {"ExecElementNotString", Svc("exec = [\"/bin/true\", 3]\n"),
     "4:22: service \"s\": exec: expected an array of strings, but an element is an integer"},
    {"ExecRelative", Svc("exec = [\"true\"]\nuser = \"nobody\"\n"),
     "4:9: service \"s\": exec: the program 'true' must be an absolute path (no PATH search is "
     "done)"},
    {"ExecNeedsUser", Svc("exec = [\"/bin/true\"]\n"),
     "1:1: service \"s\": user: required for an exec service: an account of its own (e.g. user "
     "= \"hinetd-s\", created with useradd --system --no-create-home --shell /usr/sbin/nologin "
     "hinetd-s)"},
    {"ExecMissing", Svc("exec = [\"/nonexistent/prog\"]\nuser = \"nobody\"\n"),
     "4:8: service \"s\": exec: /nonexistent/prog does not exist"},
    {"ExecMissingInExistingDir", Svc("exec = [\"/bin/no-such-prog\"]\nuser = \"nobody\"\n"),
     "4:8: service \"s\": exec: /bin/no-such-prog does not exist"},
    {"ExecNotExecutable", Svc("exec = [\"/etc/passwd\"]\nuser = \"nobody\"\n"),
     "4:8: service \"s\": exec: /etc/passwd is not executable by uid 65534"},
    {"ExecIsDirectory", Svc("exec = [\"/bin\"]\nuser = \"nobody\"\n"),
     "4:8: service \"s\": exec: /bin is not a regular file"},
    {"UserUnknown", Svc("internal = \"echo\"\nuser = \"no-such-user\"\n"),
     "5:8: service \"s\": user: no user 'no-such-user' on this system (check /etc/passwd, or give "
     "a uid)"},
    {"UserWrongType", Svc("internal = \"echo\"\nuser = true\n"),
     "5:8: service \"s\": user: expected a user name or a uid, got a boolean"},
    {"UserRoot", Svc("internal = \"echo\"\nuser = \"root\"\n"),
     "5:8: service \"s\": user: runs as uid 0 (root); a service that must run as root needs "
     "unconfined = true, every other service a dedicated unprivileged user"},
    {"UserUidWithoutEntry", Svc("internal = \"echo\"\nuser = 4000000\n"),
     "5:8: service \"s\": user: uid 4000000 has no passwd entry, so it has no primary group: set "
     "group as well"},
    {"GroupUnknown", Svc("internal = \"echo\"\ngroup = \"no-such-group\"\n"),
     "5:9: service \"s\": group: no group 'no-such-group' on this system (check /etc/group, or "
     "give a gid)"},
    {"GroupsNotArray", Svc("internal = \"echo\"\ngroups = \"adm\"\n"),
     "5:10: service \"s\": groups: expected an array of group names or gids, got a string"},
    {"GroupsBadElement", Svc("internal = \"echo\"\ngroups = [1.5]\n"),
     "5:11: service \"s\": groups: expected a group name or gid, got a float"},
    {"GroupsRoot", Svc("internal = \"echo\"\ngroups = [\"root\"]\n"),
     "5:11: service \"s\": groups: group 0 (root) as a supplementary group needs unconfined = "
     "true"},
    {"UnconfinedNotBool", Svc("internal = \"echo\"\nunconfined = \"yes\"\n"),
     "5:14: service \"s\": unconfined: expected true or false, got a string"},
    {"ChrootRelative", Svc("internal = \"echo\"\nchroot = \"jail\"\n"),
     "5:10: service \"s\": chroot: 'jail' is not an absolute path"},
    {"ChrootMissing", Svc("internal = \"echo\"\nchroot = \"/nonexistent/jail\"\n"),
     "5:10: service \"s\": chroot: '/nonexistent/jail': No such file or directory (ENOENT)"},
    {"ChrootWorldWritable", Svc("internal = \"echo\"\nchroot = \"/tmp\"\n"),
     "5:10: service \"s\": chroot: '/tmp' is group- or world-writable (mode 1777); every "
     "directory of a chroot path must not be (chmod go-w /tmp)"},
    {"ChrootNotDirectory", Svc("internal = \"echo\"\nchroot = \"/etc/passwd\"\n"),
     "5:10: service \"s\": chroot: '/etc/passwd' is not a directory"},
    {"WorkdirRelative", Svc("exec = [\"/bin/true\"]\nuser = \"nobody\"\nworkdir = \"tmp\"\n"),
     "6:11: service \"s\": workdir: 'tmp' must be an absolute path (inside the chroot, if any)"},
    {"WorkdirOnInternal", Svc("internal = \"echo\"\nworkdir = \"/tmp\"\n"),
     "5:11: service \"s\": workdir: does not apply to internal services (they run in an empty "
     "jail)"},
    {"GroupRoot", Svc("internal = \"echo\"\ngroup = \"root\"\n"),
     "5:9: service \"s\": group: group 0 (root) needs unconfined = true, like uid 0"},
    {"UnknownKeyBeforeAValidName", "[[service]]\nname = 3\nlistn = 1\n",
     "3:1: service #1: unknown key 'listn' (did you mean 'listen'?)"},
    {"WorkdirMissing",
     Svc("exec = [\"/bin/true\"]\nuser = \"nobody\"\nworkdir = \"/no-such-dir\"\n"),
     "6:11: service \"s\": workdir: /no-such-dir: No such file or directory (ENOENT)"},
    {"EnvNotTable", Svc("internal = \"echo\"\nenv = [\"A=1\"]\n"),
     "5:7: service \"s\": env: expected a table such as { LANG = \"C\" }, got an array"},
    {"EnvBadName", Svc("internal = \"echo\"\nenv = { \"A-B\" = \"1\" }\n"),
     "5:9: service \"s\": env: A-B: not a valid variable name (letters, digits and '_')"},
    {"EnvReserved", Svc("internal = \"echo\"\nenv = { PROTO = \"X\" }\n"),
     "5:9: service \"s\": env: PROTO: set by hinetd for every connection; it cannot be "
     "overridden"},
    {"EnvNotString", Svc("internal = \"echo\"\nenv = { A = 1 }\n"),
     "5:13: service \"s\": env: A: expected a string, got an integer"},
    {"SandboxUnknown", Svc("internal = \"echo\"\nsandbox = \"nope\"\n"),
     "5:11: service \"s\": sandbox: no policy 'nope' (no file @SANDBOX@/nope.toml; policies in "
     "@SANDBOX@: default, internal, other)"},
    {"SandboxBadName", Svc("internal = \"echo\"\nsandbox = \"../x\"\n"),
     "5:11: service \"s\": sandbox: '../x' is not a policy name (letters, digits, '_' and '-')"},
    {"SandboxNoneNeedsUnconfined", Svc("internal = \"echo\"\nsandbox = \"none\"\n"),
     "5:11: service \"s\": sandbox: \"none\" runs the service without a seccomp policy of its "
     "own; that needs unconfined = true"},
    {"StderrInvalid", Svc("internal = \"echo\"\nstderr = \"file\"\n"),
     "5:10: service \"s\": stderr: 'file' is not valid (expected \"null\", \"socket\" or "
     "\"log\")"},
    {"RlimitsNotTable", Svc("internal = \"echo\"\nrlimits = 5\n"),
     "5:11: service \"s\": rlimits: expected a table such as { cpu = \"10s\", nofile = 64 }, got "
     "an integer"},
    {"RlimitsUnknownKey", Svc("internal = \"echo\"\nrlimits = { nofiles = 5 }\n"),
     "5:13: service \"s\": rlimits: unknown key 'nofiles' (did you mean 'nofile'?)"},
    {"RlimitsBadSize", Svc("internal = \"echo\"\nrlimits = { as = \"12Q\" }\n"),
     "5:18: service \"s\": rlimits: as: '12Q' has an unknown unit 'Q' (expected a whole number "
     "of bytes with an optional unit K, M or G: \"64K\", \"256M\", \"1G\")"},
    {"RlimitsBadDuration", Svc("internal = \"echo\"\nrlimits = { cpu = \"soon\" }\n"),
     "5:19: service \"s\": rlimits: cpu: 'soon' is not a duration (expected a whole number with "
     "a unit: \"500ms\", \"30s\", \"5m\", \"2h\"; a bare number is seconds)"},
    {"RlimitsCpuSubSecond", Svc("internal = \"echo\"\nrlimits = { cpu = \"1500ms\" }\n"),
     "5:19: service \"s\": rlimits: cpu: the CPU limit has a resolution of whole seconds"},
    {"RlimitsCpuZero", Svc("internal = \"echo\"\nrlimits = { cpu = 0 }\n"),
     "5:19: service \"s\": rlimits: cpu: 0 seconds would kill the child at once; use at least 1s"},
    {"RlimitsCountAsString", Svc("internal = \"echo\"\nrlimits = { nofile = \"64\" }\n"),
     "5:22: service \"s\": rlimits: nofile: expected an integer or \"unlimited\", got a string"},
    {"RlimitsNegative", Svc("internal = \"echo\"\nrlimits = { nproc = -1 }\n"),
     "5:21: service \"s\": rlimits: nproc: -1 is out of range (expected 0 to "
     "9223372036854775807)"},
    {"UmaskBad", Svc("internal = \"echo\"\numask = \"0999\"\n"),
     "5:9: service \"s\": umask: '0999' is not an octal mode (e.g. \"022\" or \"077\")"},
    {"UmaskTooBigInt", Svc("internal = \"echo\"\numask = 0o1777\n"),
     "5:9: service \"s\": umask: 1023 is out of range (expected 0 to 511)"},
    {"PdeathsigBad", Svc("internal = \"echo\"\npdeathsig = \"STOP\"\n"),
     "5:13: service \"s\": pdeathsig: 'STOP' is not a signal name (expected one of TERM, KILL, "
     "HUP, INT, QUIT, USR1, USR2, ALRM)"},
    {"TomlSyntax", "[[service]]\nname = \n", "2:8: TOML syntax error: "},
    {"SocketGroupUnknown",
     "[[service]]\nname = \"s\"\nlisten = \"unix:/run/hinetd-x.sock\"\ninternal = \"echo\"\n"
     "socket_group = \"no-such-group\"\n",
     "5:16: service \"s\": socket_group: no group 'no-such-group' on this system (check "
     "/etc/group, or give a gid)"},
    {"RlimitAboveHardLimit", Svc("internal = \"echo\"\nrlimits = { nofile = @NOFILE_HARD+1@ }\n"),
     "5:22: service \"s\": rlimits: nofile: exceeds hinetd's own hard limit @NOFILE_HARD@ (raise "
     "it where hinetd starts, e.g. LimitNOFILE= in the systemd unit)"},
    {"RlimitNprocAboveHardLimit",
     Svc("internal = \"echo\"\nrlimits = { nproc = @NPROC_HARD+1@ }\n"),
     "5:21: service \"s\": rlimits: nproc: exceeds hinetd's own hard limit @NPROC_HARD@ (raise "
     "it where hinetd starts, e.g. LimitNPROC= in the systemd unit)"},
    {"RlimitUnlimitedAboveHardLimit",
     Svc("internal = \"echo\"\nrlimits = { nofile = \"unlimited\" }\n"),
     "5:22: service \"s\": rlimits: nofile: exceeds hinetd's own hard limit @NOFILE_HARD@ (raise "
     "it where hinetd starts, e.g. LimitNOFILE= in the systemd unit)"},
    {"DefaultsUnknownKeyDidYouMean", "[defaults]\nusr = \"nobody\"\n" + std::string(kEcho),
     "2:1: [defaults]: unknown key 'usr' (did you mean 'user'?)"},
    {"DefaultsUnknownKeyNoClose", "[defaults]\nzzzzzzzz = 1\n" + std::string(kEcho),
     "2:1: [defaults]: unknown key 'zzzzzzzz' (valid keys: protocol wait socket_mode socket_user "
     "socket_group user group groups chroot workdir env sandbox stderr timeout rlimits umask "
     "pdeathsig unconfined max_instances per_source rate backoff allow deny namespaces syslog jail drops_privileges)"},
    {"DropsPrivilegesForAnInternalService", Svc("internal = \"echo\"\ndrops_privileges = true\n"),
     "5:20: service \"s\": drops_privileges: internal services never change their identity; "
     "drops_privileges is for programs (exec)"},
    {"SyslogForAnInternalService", Svc("internal = \"echo\"\nsyslog = true\n"),
     "5:10: service \"s\": syslog: internal services do not log; syslog = true is for programs "
     "(exec)"},
    {"EnvValueWithNul", Svc("internal = \"echo\"\nenv = { A = \"x\\u0000y\" }\n"),
     "5:13: service \"s\": env: A: a value cannot hold a NUL byte"},
    {"SandboxDirMissing", "[daemon]\nsandbox_dir = \"no-such-dir\"\n" + std::string(kEcho),
     "2:15: [daemon]: sandbox_dir: 'no-such-dir' (relative to this file: @DIR@/no-such-dir): "
     "No such file or directory (ENOENT)"},
    {"SandboxDirAbsoluteMissing", "[daemon]\nsandbox_dir = \"/no/such/dir\"\n" + std::string(kEcho),
     "2:15: [daemon]: sandbox_dir: '/no/such/dir': No such file or directory (ENOENT)"},
    {"SandboxDirNotADirectory", "[daemon]\nsandbox_dir = \"/etc/passwd\"\n" + std::string(kEcho),
     "2:15: [daemon]: sandbox_dir: '/etc/passwd' is not a directory"},
    // toml++ keeps keys sorted; the error names the one written first.
    {"UnknownKeysTheFirstInTheFileIsReported", Svc("zzz = 1\naaa = 2\ninternal = \"echo\"\n"),
     "4:1: service \"s\": unknown key 'zzz' (valid keys: name listen exec internal protocol wait "
     "socket_mode socket_user socket_group user group groups chroot workdir env sandbox stderr "
     "timeout rlimits umask pdeathsig unconfined max_instances per_source rate backoff allow "
     "deny namespaces syslog jail drops_privileges)"},
    {"UnknownKeysTheFirstDidYouMean", Svc("usr = \"nobody\"\nchrot = \"/\"\ninternal = \"echo\"\n"),
     "4:1: service \"s\": unknown key 'usr' (did you mean 'user'?)"},
    {"UnknownKeysOnOneLineTheFirstColumn",
     Svc("internal = \"echo\"\nrlimits = { nproc = 1, nofiles = 2, cpus = 3 }\n"),
     "5:24: service \"s\": rlimits: unknown key 'nofiles' (did you mean 'nofile'?)"},
    {"UnknownKeysInDefaultsTheFirst", "[defaults]\nusr = 1\ngrup = 2\n" + std::string(kEcho),
     "2:1: [defaults]: unknown key 'usr' (did you mean 'user'?)"},
};

INSTANTIATE_TEST_SUITE_P(EveryKey, ConfigErrorTest, ::testing::ValuesIn(kBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The default sandbox directory (next to the file) missing: the first
// service that needs a policy says so, not "no policy" among none.
TEST_F(ConfigTest, MissingDefaultSandboxDirIsNamed) {
  TempDir bare;
  std::string path = bare.path() + "/hinetd.toml";
  auto c = LoadConfigText(kEcho, path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().ToString(),
            path + ":1:1: service \"echo\": sandbox (default \"internal\"): no policy 'internal' "
                   "(there is no directory " + bare.path() + "/sandbox; set [daemon] sandbox_dir "
                   "to the folder of the policy files)");
}

// A 64-bit ELF file with nothing in it but a PT_INTERP naming `interp`: all
// the loader reads to find the interpreter a program needs.
std::string ElfNeeding(const std::string& interp) {
  Elf64_Ehdr eh{};
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof eh;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = PT_INTERP;
  ph.p_offset = sizeof eh + sizeof ph;
  ph.p_filesz = ph.p_memsz = interp.size() + 1;
  std::string out(reinterpret_cast<const char*>(&eh), sizeof eh);
  out.append(reinterpret_cast<const char*>(&ph), sizeof ph);
  out += interp;
  out += '\0';
  return out;
}

// Checks against a real jail: a root-owned, not world-writable directory
// (under /var/lib, not /tmp) holding directories with a bad owner or mode
// and programs that cannot run in it. Creating it and handing a directory to
// another owner need root.
class ConfigJailErrorTest : public ConfigErrorTest {
 protected:
  void SetUp() override {
    ConfigErrorTest::SetUp();
    if (!testing::IsRoot()) {
      GTEST_SKIP() << "needs root: the jail must be root-owned (under /var/lib), and one of its "
                      "directories is handed to uid 65534";
    }
    jail_ = std::make_unique<testing::Jail>();
    ASSERT_TRUE(jail_->ok()) << jail_->error();
    char* real = realpath(jail_->path().c_str(), nullptr);
    ASSERT_NE(real, nullptr);
    jail_path_ = real;
    free(real);
    // A component owned by another user, and one that is group-writable,
    // each above the directory named as the chroot.
    ASSERT_TRUE(jail_->MakeDir("/owned/inner"));
    ASSERT_EQ(chown((jail_path_ + "/owned").c_str(), 65534, 65534), 0);
    ASSERT_TRUE(jail_->MakeDir("/group-writable", 0775));
    ASSERT_TRUE(jail_->MakeDir("/group-writable/inner"));
    // @JAIL@/via -> owned/link -> @JAIL@/safe: a root-only directory,
    // reached through a symlink in a directory of another user.
    ASSERT_TRUE(jail_->MakeDir("/safe"));
    ASSERT_EQ(symlink((jail_path_ + "/safe").c_str(), (jail_path_ + "/owned/link").c_str()), 0);
    ASSERT_EQ(symlink("owned/link", (jail_path_ + "/via").c_str()), 0);
    // Programs: one not executable, one whose ELF interpreter is not in the jail.
    ASSERT_TRUE(jail_->Write("/bin/not-exec", "#!/bin/sh\n", 0644));
    ASSERT_TRUE(jail_->Write("/bin/needs-ld", ElfNeeding("/lib/ld-hinetd-test.so.1"), 0755));
  }

  std::unique_ptr<testing::Jail> jail_;
};

TEST_P(ConfigJailErrorTest, ExactMessageAndPosition) { ExpectError(GetParam()); }

std::string JailSvc(const std::string& chroot, const std::string& program) {
  return Svc("exec = [\"" + program + "\"]\nuser = \"nobody\"\nchroot = \"" + chroot + "\"\n");
}

const BadCase kJailBadCases[] = {
    {"ChrootComponentNotOwnedByRoot", JailSvc("@JAIL@/owned/inner", "/bin/true"),
     "6:10: service \"s\": chroot: '@JAIL@/owned' is owned by uid 65534; every directory of a "
     "chroot path must be owned by root (chown root @JAIL@/owned)"},
    {"ChrootNotOwnedByRoot", JailSvc("@JAIL@/owned", "/bin/true"),
     "6:10: service \"s\": chroot: '@JAIL@/owned' is owned by uid 65534; every directory of a "
     "chroot path must be owned by root (chown root @JAIL@/owned)"},
    {"ChrootComponentGroupWritable", JailSvc("@JAIL@/group-writable/inner", "/bin/true"),
     "6:10: service \"s\": chroot: '@JAIL@/group-writable' is group- or world-writable (mode "
     "0775); every directory of a chroot path must not be (chmod go-w @JAIL@/group-writable)"},
    {"UnixDirectoryNotOwnedByRoot",
     "[[service]]\nname = \"s\"\nlisten = \"unix:@JAIL@/owned/x.sock\"\ninternal = \"echo\"\n",
     "3:10: service \"s\": listen: the socket's directory @JAIL@/owned (owner uid 65534, mode "
     "0755) is owned by another user, who could swap the socket file for a symlink before hinetd "
     "sets its owner and mode; make it owned by root and writable by root only (chown root "
     "@JAIL@/owned; chmod go-w @JAIL@/owned), or choose a directory that is, such as /run"},
    {"UnixDirectoryComponentNotOwnedByRoot",
     "[[service]]\nname = \"s\"\nlisten = \"unix:@JAIL@/owned/inner/x.sock\"\n"
     "internal = \"echo\"\n",
     "3:10: service \"s\": listen: the directory @JAIL@/owned on the path to "
     "@JAIL@/owned/inner/x.sock (owner uid 65534, mode 0755) is owned by another user, who could "
     "swap the socket file for a symlink before hinetd sets its owner and mode; make it owned by "
     "root and writable by root only (chown root @JAIL@/owned; chmod go-w @JAIL@/owned), or "
     "choose a directory that is, such as /run"},
    {"UnixDirectoryGroupWritable",
     "[[service]]\nname = \"s\"\nlisten = \"unix:@JAIL@/group-writable/x.sock\"\n"
     "internal = \"echo\"\n",
     "3:10: service \"s\": listen: the socket's directory @JAIL@/group-writable (owner uid 0, "
     "mode 0775) is writable by other users, who could swap the socket file for a symlink before "
     "hinetd sets its owner and mode; make it owned by root and writable by root only (chown root "
     "@JAIL@/group-writable; chmod go-w @JAIL@/group-writable), or choose a directory that is, "
     "such as /run"},
    // A safe directory reached through a symlink that another user could
    // change: the symlink's directory is checked too.
    {"UnixDirectoryThroughUnsafeLink",
     "[[service]]\nname = \"s\"\nlisten = \"unix:@JAIL@/via/x.sock\"\ninternal = \"echo\"\n",
     "3:10: service \"s\": listen: the directory @JAIL@/owned on the path to @JAIL@/via/x.sock "
     "(owner uid 65534, mode 0755) is owned by another user, who could swap the socket file for a "
     "symlink before hinetd sets its owner and mode; make it owned by root and writable by root "
     "only (chown root @JAIL@/owned; chmod go-w @JAIL@/owned), or choose a directory that is, "
     "such as /run"},
    {"ExecMissingInChroot", JailSvc("@JAIL@", "/bin/no-such-prog"),
     "4:8: service \"s\": exec: /bin/no-such-prog (inside the chroot @JAIL@) does not exist"},
    {"ExecNotExecutableInChroot", JailSvc("@JAIL@", "/bin/not-exec"),
     "4:8: service \"s\": exec: /bin/not-exec (inside the chroot @JAIL@) is not executable by "
     "uid 65534"},
    {"ExecInterpreterMissingInChroot", JailSvc("@JAIL@", "/bin/needs-ld"),
     "4:8: service \"s\": exec: /bin/needs-ld (inside the chroot @JAIL@) needs the interpreter "
     "/lib/ld-hinetd-test.so.1, which is missing inside the chroot (copy it and the libraries the "
     "program needs into @JAIL@)"},
};

INSTANTIATE_TEST_SUITE_P(Jail, ConfigJailErrorTest, ::testing::ValuesIn(kJailBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace hinetd::config
