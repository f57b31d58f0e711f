// Replacing inetd, end to end: the inetd.conf lines Debian packages
// register or document for tftpd-hpa, fingerd, rsync and git, a busybox
// httpd line as busybox documents inetd mode, and a shell pipeline of the
// host's own, converted by the real `hinetd import`, after the review steps
// the README documents ("Migrating from inetd / xinetd": create the
// accounts it names, then import again; list finger's accounts; list the
// programs a script runs), checked by `hinetd check`, served by the real
// hinetd — every service in a jail hinetd builds, under a shipped policy —
// and driven by each program's real client. Nobody runs strace: the only
// changes to the lines are where the test keeps their data.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "common/accounts.h"
#include "realprog/realprog.h"

namespace hinetd::testing {
namespace {

using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

// Replaces the one occurrence of `from` in `text`; false if there is not
// exactly one.
bool ReplaceOnce(std::string& text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  if (at == std::string::npos || text.find(from, at + 1) != std::string::npos) return false;
  text.replace(at, from.size(), to);
  return true;
}

bool HaveIpv6Loopback() {
  int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(s);
  return ok;
}

class ImportedInetd : public RealProgTest {};

TEST_F(ImportedInetd, SixDebianProgramsServeTheirRealClients) {
  REALPROG_NEED({"/usr/sbin/in.tftpd", "/usr/bin/tftp", "/usr/sbin/in.fingerd", "/usr/bin/finger",
                 "/usr/bin/rsync", "/usr/bin/git", "/usr/lib/git-core/git-daemon",
                 "/usr/bin/busybox", "/usr/bin/curl", "/usr/bin/nc", "/usr/sbin/useradd",
                 "/usr/sbin/userdel"});
  if (getpwnam("www-data") == nullptr) GTEST_SKIP() << "needs the account www-data (base-passwd)";
  // The real ports (finger's client only talks to 79), in a network
  // namespace of the test's own: only its loopback is up.
  NetnsScope netns;
  if (!netns.ok()) GTEST_SKIP() << "needs a network namespace: " << netns.error();
  bool v6 = HaveIpv6Loopback();

  // The services' data, where the lines name it.
  const std::string d = dir_.path() + "/data";
  ASSERT_EQ(mkdir(d.c_str(), 0755), 0);
  dir_.Write("data/tftpboot/boot.bin", Payload("tftpd-hpa"));
  ASSERT_TRUE(RsyncDaemon().prepare(d));  // d/srv: the module's files
  // rsyncd.conf as a host has it: no "use chroot" (rsync tries one and
  // goes on without it), module paths of the host.
  dir_.Write("data/rsyncd.conf", "reverse lookup = no\n\n[data]\n  path = " + d +
                                     "/srv\n  comment = test module\n  read only = yes\n");
  ASSERT_EQ(mkdir((d + "/git").c_str(), 0755), 0);
  ASSERT_TRUE(GitDaemon().prepare(d + "/git"));  // d/git/repo.git
  // No --export-all in Debian's line: the repository says it may be served.
  dir_.Write("data/git/repo.git/git-daemon-export-ok", "");
  dir_.Write("data/www/index.html", "<p>hello from busybox httpd</p>\n");
  dir_.Write("data/www/blob.bin", Payload("busybox httpd"));
  std::string upper = dir_.Write("data/upper.sh",
                                 "#!/bin/sh\n# One line in, shouted back.\n"
                                 "head -n 1 | tr a-z A-Z | sed 's/^/UPPER: /'\n");
  ASSERT_EQ(chmod(upper.c_str(), 0755), 0);
  // finger's user: a host account with a name and a plan.
  Accounts accounts;
  ASSERT_TRUE(accounts.Add("hinetd-t-alice", {"--comment", "Alice Liddell,,,", "--home-dir",
                                              d + "/home/alice"}));
  ASSERT_EQ(mkdir((d + "/home").c_str(), 0755), 0);
  dir_.Write("data/home/alice/.plan", "Testing hinetd with real programs.\n");

  // tcpd's rules for in.fingerd: loopback only.
  std::string allow = dir_.Write("hosts.allow", "in.fingerd: 127.0.0.1\n");
  std::string deny = dir_.Write("hosts.deny", "ALL: ALL\n");
  std::string lines =
      // fingerd 0.17-17, postinst.
      "finger\t\tstream\ttcp\tnowait\tnobody\t/usr/sbin/tcpd\t/usr/sbin/in.fingerd\n"
      // tftpd-hpa, README.security.
      "tftp\tdgram\tudp\twait\troot\t/usr/sbin/in.tftpd\tin.tftpd -s " + d +
      "/tftpboot -r blksize\n"
      // rsync(1), inetd; its config where the test keeps it.
      "rsync   stream  tcp     nowait  root   /usr/bin/rsync rsyncd --daemon --config=" + d +
      "/rsyncd.conf\n"
      // git, README.Debian.
      "git stream tcp4 nowait nobody /usr/bin/git git daemon --inetd --base-path=" + d + "/git " +
      d + "/git\n" +
      (v6 ? "git stream tcp6 nowait nobody /usr/bin/git git daemon --inetd --base-path=" + d +
                "/git " + d + "/git\n"
          : std::string()) +
      // busybox httpd's inetd mode (-i), as a web server's account.
      "http\tstream\ttcp\tnowait\twww-data\t/usr/bin/busybox\tbusybox httpd -i -h " + d + "/www\n"
      // A pipeline of the host's own.
      "qotd\tstream\ttcp\tnowait\tnobody\t" + upper + "\tupper.sh\n";
  std::string conf = dir_.Write("inetd.conf", lines);
  std::string out = dir_.path() + "/hinetd.toml";
  std::vector<std::string> import = {BinDir() + "/hinetd", "import", "--hosts-allow", allow,
                                     "--hosts-deny", deny, "-o", out, "--force", conf};

  // 1. The first import names the accounts to create, with the command.
  CommandResult first = RunCommand(import, milliseconds(30000));
  ASSERT_EQ(first.exit_code, 0) << Show(first);
  std::regex create("hinetd import: create the account (\\S+): (useradd [^\\n]*)");
  int created = 0;
  for (std::sregex_iterator it(first.err.begin(), first.err.end(), create), end; it != end; ++it) {
    std::vector<std::string> argv;
    std::istringstream words((*it)[2].str());
    for (std::string w; words >> w;) argv.push_back(w);
    argv[0] = "/usr/sbin/useradd";
    ASSERT_TRUE(accounts.Run((*it)[1].str(), argv)) << (*it)[0].str();
    ++created;
  }
  // tftp and rsync ran as root: each gets an account of its own.
  EXPECT_EQ(created, 2) << Show(first);

  // 2. Again: every service active.
  CommandResult second = RunCommand(import, milliseconds(30000));
  ASSERT_EQ(second.exit_code, 0) << Show(second);
  std::string toml = ReadText(out);
  EXPECT_NE(toml.find("# 6 service(s) active, 0 written commented out"), std::string::npos)
      << toml << second.err;

  // 3. The review steps this input needs (README, "Migrating"): finger's
  // accounts and their plans; the programs the script runs.
  ASSERT_TRUE(ReplaceOnce(toml, "jail = { programs = [\"/usr/bin/finger\"] }",
                          "jail = { programs = [\"/usr/bin/finger\"], users = "
                          "[\"hinetd-t-alice\"], files = [\"" +
                              d + "/home/alice/.plan\"] }"))
      << toml;
  ASSERT_TRUE(ReplaceOnce(toml, "jail = {}",
                          "jail = { programs = [\"/usr/bin/head\", \"/usr/bin/tr\", "
                          "\"/usr/bin/sed\"] }"))
      << toml;
  // Where this test keeps policies and jails (the defaults are the
  // installed ones).
  toml = "[daemon]\nsandbox_dir = \"sandbox\"\njail_dir = \"" + dir_.path() + "/jails\"\n\n" +
         toml;
  std::string config = dir_.Write("hinetd.toml", toml);

  CommandResult check = RunCommand({BinDir() + "/hinetd", "check", "-c", config},
                                   milliseconds(60000));
  ASSERT_EQ(check.exit_code, 0) << Show(check) << toml;
  // Fully sandboxed: each in a jail hinetd builds, under a shipped policy
  // of its own, the tftp child in its user namespace.
  for (const char* name : {"finger", "tftp", "rsync", "git", "http", "qotd"}) {
    std::string block = check.out.substr(check.out.find(std::string("service \"") + name + "\""));
    block = block.substr(0, block.find("\nservice \"", 1));
    EXPECT_NE(block.find("(a jail hinetd builds;"), std::string::npos) << name << ":\n" << block;
  }
  for (const auto& [service, policy] :
       std::vector<std::pair<std::string, std::string>>{{"finger", "fingerd"},
                                                        {"tftp", "tftpd"},
                                                        {"rsync", "rsyncd"},
                                                        {"git", "git-daemon"},
                                                        {"http", "busybox-httpd"},
                                                        {"qotd", "default"}}) {
    EXPECT_NE(toml.find("name = \"" + service + "\""), std::string::npos) << toml;
    EXPECT_NE(check.out.find("sandbox   " + policy + ": "), std::string::npos)
        << service << ": " << check.out;
  }
  EXPECT_NE(toml.find("drops_privileges = true"), std::string::npos) << toml;

  // 4. Serve, and drive each with its real client.
  DaemonProcess daemon;
  ASSERT_TRUE(Serve(daemon, config)) << daemon.LogText();
  EXPECT_EQ(daemon.CountLines({"event=jail ", "action=built"}), 6u) << daemon.LogText();
  std::string scratch = dir_.path() + "/client";
  ASSERT_EQ(mkdir(scratch.c_str(), 0700), 0);
  for (const char* sub : {"/tftp", "/rsync", "/git", "/http"}) {
    ASSERT_EQ(mkdir((scratch + sub).c_str(), 0700), 0);
  }

  CommandResult finger = RunCommand({"/usr/bin/finger", "hinetd-t-alice@127.0.0.1"},
                                    milliseconds(20000));
  EXPECT_EQ(finger.exit_code, 0) << Show(finger) << daemon.LogText();
  EXPECT_NE(finger.out.find("Login: hinetd-t-alice"), std::string::npos) << Show(finger);
  EXPECT_NE(finger.out.find("Name: Alice Liddell"), std::string::npos) << Show(finger);
  EXPECT_NE(finger.out.find("Testing hinetd with real programs."), std::string::npos)
      << Show(finger);

  EXPECT_TRUE(Tftpd().session(69, scratch + "/tftp")) << daemon.LogText();
  EXPECT_TRUE(RsyncDaemon().session(873, scratch + "/rsync")) << daemon.LogText();
  EXPECT_TRUE(GitDaemon().session(9418, scratch + "/git")) << daemon.LogText();
  EXPECT_TRUE(BusyboxHttpd().session(80, scratch + "/http")) << daemon.LogText();

  CommandResult nc = RunCommand({"/bin/sh", "-c",
                                 "printf 'down the rabbit hole\\n' | /usr/bin/nc -N -w 10 "
                                 "127.0.0.1 17"},
                                milliseconds(20000));
  EXPECT_EQ(nc.exit_code, 0) << Show(nc);
  EXPECT_EQ(nc.out, "UPPER: DOWN THE RABBIT HOLE\n") << Show(nc) << daemon.LogText();

  // Every connection ended as the program ends it (rsync's module list
  // returns 255), none killed by its policy. in.tftpd (no -t) waits 900 s
  // for another request: it is stopped with the daemon.
  ExpectSessionEnds(daemon, "finger", 1, {});
  ExpectSessionEnds(daemon, "rsync", 2, {"exit:255", "exit:0"});
  ExpectSessionEnds(daemon, "git", 1, {});
  ExpectSessionEnds(daemon, "http", 3, {});
  ExpectSessionEnds(daemon, "qotd", 1, {});
  // rsync logs each transfer through syslog(3): the relay in its jail
  // brings it to hinetd's log, tagged with the service.
  EXPECT_TRUE(daemon.WaitForLine({"event=syslog ", "service=rsync ", "tag=rsyncd"},
                                 milliseconds(10000)))
      << daemon.LogText();
  daemon.Stop();
}

}  // namespace
}  // namespace hinetd::testing
