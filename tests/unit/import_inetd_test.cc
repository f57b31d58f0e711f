// hinetd import, inetd.conf half: the parser per syntax feature, the
// translation against a fake host, the real lines Debian packages register
// (tests/fixtures/import/debian-inetd.conf), and that what is written loads
// with hinetd's own config loader.
#include <gtest/gtest.h>
#include <pwd.h>

#include <map>
#include <set>

#include "base/fs.h"
#include "common/jail.h"
#include "common/test_env.h"
#include "config/config.h"
#include "import/model.h"
#include "import_fake_system.h"

namespace hinetd::importer {
namespace {

using testing::FakeSystem;

Conversion Convert(const std::string &text, const FakeSystem &sys) {
  auto p = ParseInetd(text, "inetd.conf");
  EXPECT_TRUE(p.ok()) << p.error().ToString();
  if (!p.ok()) return {};
  return Translate(*p, "inetd.conf", Format::kInetd, sys);
}

const Service *Find(const Conversion &c, const std::string &name) {
  for (const Service &s : c.services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool Has(const std::vector<std::string> &v, const std::string &needle) {
  for (const std::string &s : v) {
    if (s.find(needle) != std::string::npos) return true;
  }
  return false;
}

bool NoteHas(const Conversion &c, const std::string &needle) {
  for (const Note &n : c.notes) {
    if (n.text.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string ErrorOf(const std::string &text) {
  auto p = ParseInetd(text, "inetd.conf");
  return p.ok() ? "<parsed>" : p.error().ToString();
}

TEST(ImportInetd, PlainEntryAndPortName) {
  FakeSystem sys;
  sys.programs.insert("/usr/local/bin/hello");
  auto c = Convert("hello stream tcp nowait alice /usr/local/bin/hello hello -v\n", sys);
  ASSERT_EQ(c.services.size(), 1u);
  const Service &s = c.services[0];
  EXPECT_EQ(s.name, "hello");
  EXPECT_EQ(s.listen, std::vector<std::string>{"0.0.0.0:4242"});
  EXPECT_FALSE(s.udp);
  EXPECT_EQ(s.exec, (std::vector<std::string>{"/usr/local/bin/hello", "-v"}));
  EXPECT_EQ(s.user, "alice");
  EXPECT_EQ(s.sandbox, "default");
  EXPECT_TRUE(s.off.empty()) << s.off[0];
  EXPECT_TRUE(Has(s.review, "nothing is known about hello"));
  EXPECT_EQ(s.where.line, 1);
}

TEST(ImportInetd, NumericPortAndUnknownName) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  auto c = Convert(
      "7777 stream tcp nowait alice /bin/cat cat\n"
      "nosuch stream tcp nowait alice /bin/cat cat\n"
      "70000 stream tcp nowait alice /bin/cat cat\n",
      sys);
  ASSERT_EQ(c.services.size(), 3u);
  EXPECT_EQ(c.services[0].listen[0], "0.0.0.0:7777");
  EXPECT_TRUE(c.services[0].off.empty());
  EXPECT_EQ(c.services[0].sandbox, "stdio");
  EXPECT_TRUE(Has(c.services[1].off, "no port for 'nosuch/tcp' in /etc/services"));
  EXPECT_TRUE(Has(c.services[2].off, "port 70000 is not 1 to 65535"));
}

TEST(ImportInetd, AddressFamilies) {
  FakeSystem sys;
  auto c = Convert(
      "echo stream tcp nowait root internal\n"
      "echo stream tcp6 nowait root internal\n"
      "daytime stream tcp46 nowait root internal\n"
      "time dgram udp6 wait root internal\n",
      sys);
  // tcp and tcp6 of one service merge into one service on two addresses.
  ASSERT_EQ(c.services.size(), 3u);
  EXPECT_EQ(c.services[0].listen, (std::vector<std::string>{"0.0.0.0:7", "[::]:7"}));
  EXPECT_EQ(c.services[0].sources.size(), 2u);
  EXPECT_EQ(c.services[1].listen, std::vector<std::string>{"*:13"});
  EXPECT_EQ(c.services[2].listen, std::vector<std::string>{"[::]:37"});
  EXPECT_TRUE(c.services[2].udp);
}

TEST(ImportInetd, HostPrefixesOpenBsd) {
  FakeSystem sys;
  auto c = Convert(
      "127.0.0.1:echo stream tcp nowait root internal\n"
      "[::1]:daytime stream tcp6 nowait root internal\n"
      "localhost:time stream tcp nowait root internal\n"
      "example.org:chargen stream tcp nowait root internal\n"
      "192.0.2.1:\n"
      "discard stream tcp nowait root internal\n"
      "*:\n"
      "discard dgram udp nowait root internal\n",
      sys);
  ASSERT_EQ(c.services.size(), 6u);
  EXPECT_EQ(c.services[0].listen[0], "127.0.0.1:7");
  EXPECT_EQ(c.services[1].listen[0], "[::1]:13");
  EXPECT_EQ(c.services[2].listen[0], "127.0.0.1:37");
  EXPECT_TRUE(Has(c.services[3].off, "host name 'example.org'"));
  // "192.0.2.1:" alone applies to the entries after it, "*:" resets it.
  EXPECT_EQ(c.services[4].listen[0], "192.0.2.1:9");
  EXPECT_EQ(c.services[5].listen[0], "0.0.0.0:9");
  EXPECT_EQ(c.services[5].name, "discard-udp");
}

TEST(ImportInetd, ContinuationLines) {
  FakeSystem sys;
  sys.programs.insert("/usr/sbin/in.tftpd");
  sys.users.insert("hinetd-tftp");
  sys.dirs["/tftpboot"] = {};
  // tftpd-hpa's README.security prints its line folded like this.
  auto c = Convert(
      "tftp\tdgram\tudp\twait\troot\t/usr/sbin/in.tftpd\n"
      "\tin.tftpd -s /tftpboot -r blksize\n",
      sys);
  ASSERT_EQ(c.services.size(), 1u);
  // The account it drops to is the service's (--user added).
  EXPECT_EQ(c.services[0].exec,
            (std::vector<std::string>{"/usr/sbin/in.tftpd", "--user", "hinetd-tftp", "-s",
                                      "/tftpboot", "-r", "blksize"}));
  EXPECT_TRUE(c.services[0].off.empty());  // A disabled entry continues the same way.
  auto d = Convert(
      "#<off># tftp\tdgram\tudp\twait\troot\t/usr/sbin/in.tftpd\n"
      "\tin.tftpd -s /tftpboot\n",
      sys);
  ASSERT_EQ(d.services.size(), 1u);
  EXPECT_EQ(d.services[0].exec, (std::vector<std::string>{"/usr/sbin/in.tftpd", "--user",
                                                          "hinetd-tftp", "-s", "/tftpboot"}));
  EXPECT_TRUE(Has(d.services[0].off, "disabled in the input"));
}

TEST(ImportInetd, WaitAndMaxSuffixes) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  auto c = Convert(
      "a stream tcp nowait.40 alice /bin/cat cat\n"
      "b stream tcp nowait/16/10/4 alice /bin/cat cat\n"
      "c dgram udp nowait alice /bin/cat cat\n"
      "d dgram udp wait alice /bin/cat cat\n",
      sys);
  ASSERT_EQ(c.services.size(), 4u);
  EXPECT_EQ(c.services[0].rate, "40/m");
  EXPECT_EQ(c.services[0].backoff, "60s");
  EXPECT_EQ(c.services[1].max_instances, 16);
  EXPECT_EQ(c.services[1].per_source, 4);
  EXPECT_TRUE(NoteHas(c, "max-connections-per-ip-per-minute 10"));
  EXPECT_TRUE(c.services[2].udp);
  EXPECT_FALSE(c.services[2].wait);
  EXPECT_TRUE(c.services[3].wait);
}

TEST(ImportInetd, UserAndGroup) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  sys.users.insert("hinetd-a");
  auto c = Convert(
      "a stream tcp nowait root:wheel /bin/cat cat\n"
      "b stream tcp nowait nobody.tty /bin/cat cat\n"
      "c stream tcp nowait alice:staff /bin/cat cat\n"
      "d stream tcp nowait bob /bin/cat cat\n"
      "e stream tcp nowait alice:nogroup-here /bin/cat cat\n",
      sys);
  ASSERT_EQ(c.services.size(), 5u);
  // root never: an account of its own, named after the service.
  EXPECT_EQ(c.services[0].user, "hinetd-a");
  EXPECT_EQ(c.services[0].group, "");
  EXPECT_TRUE(Has(c.services[0].review, "hinetd never runs a service as root"));
  EXPECT_TRUE(Has(c.services[0].review, "group 'wheel' (gid 0) dropped"));
  EXPECT_TRUE(c.services[0].off.empty());
  EXPECT_EQ(c.services[1].user, "nobody");
  EXPECT_EQ(c.services[1].group, "tty");
  EXPECT_EQ(c.services[2].group, "staff");
  // A missing account turns the service off and is listed to be created.
  EXPECT_TRUE(Has(c.services[3].off, "no account 'bob' on this host: create it with useradd"));
  EXPECT_EQ(c.missing_accounts, std::vector<std::string>{"bob"});
  EXPECT_TRUE(Has(c.services[4].off, "no group 'nogroup-here'"));
  // alice's three services share her uid: each says so.
  EXPECT_TRUE(Has(c.services[2].review, "shares the account 'alice' with e"));
}

TEST(ImportInetd, TcpdIsUnwrapped) {
  FakeSystem sys;
  sys.programs.insert("/usr/sbin/in.fingerd");
  auto c = Convert(
      "finger stream tcp nowait nobody /usr/sbin/tcpd /usr/sbin/in.fingerd -w\n"
      "telnet stream tcp nowait root /usr/sbin/tcpd in.telnetd\n",
      sys);
  ASSERT_EQ(c.services.size(), 2u);
  EXPECT_EQ(c.services[0].exec, (std::vector<std::string>{"/usr/sbin/in.fingerd", "-w"}));
  // No /etc/hosts.allow or hosts.deny on this host: no rules, as for tcpd,
  // said in a review comment and a note (ImportHosts tests the rules).
  EXPECT_TRUE(Has(c.services[0].review, "unwrapped from tcpd: no rule of"));
  EXPECT_TRUE(NoteHas(c, "tcpd access control"));
  // A bare name is looked up in tcpd's REAL_DAEMON_DIR, /usr/sbin on Debian.
  EXPECT_EQ(c.services[1].exec[0], "/usr/sbin/in.telnetd");
  EXPECT_TRUE(NoteHas(c, "needs root, which hinetd never gives a service: telnetd runs login"));
}

TEST(ImportInetd, ArgvZeroDifferentFromProgram) {
  FakeSystem sys;
  sys.programs.insert("/usr/bin/rsync");
  auto c = Convert("rsync stream tcp nowait alice /usr/bin/rsync rsyncd --daemon\n", sys);
  ASSERT_EQ(c.services.size(), 1u);
  EXPECT_EQ(c.services[0].exec, (std::vector<std::string>{"/usr/bin/rsync", "--daemon"}));
  EXPECT_TRUE(Has(c.services[0].review, "argv[0] was 'rsyncd'"));
}

TEST(ImportInetd, InternalServices) {
  FakeSystem sys;
  auto c = Convert(
      "echo stream tcp nowait root internal\n"
      "echo dgram udp wait root internal\n"
      "chargen stream tcp nowait root internal\n"
      "tcpmux stream tcp nowait root internal\n"
      "tcpmux/+scp stream tcp nowait alice /bin/cat cat\n",
      sys);
  ASSERT_EQ(c.services.size(), 3u);
  EXPECT_EQ(c.services[0].internal, "echo");
  EXPECT_EQ(c.services[0].user, "");
  EXPECT_EQ(c.services[1].name, "echo-udp");
  EXPECT_EQ(c.services[1].internal, "echo");
  EXPECT_TRUE(Has(c.services[1].review, "from a child of its own"));
  EXPECT_TRUE(NoteHas(c, "internal service 'tcpmux'"));
  EXPECT_TRUE(NoteHas(c, "a TCPMUX service (RFC 1078)"));
  // Without the internal services' account, they are off.
  sys.users.erase("hinetd-internal");
  auto d = Convert("echo stream tcp nowait root internal\n", sys);
  ASSERT_EQ(d.services.size(), 1u);
  EXPECT_TRUE(Has(d.services[0].off, "no account 'hinetd-internal'"));
}

TEST(ImportInetd, UntranslatableEntries) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  auto c = Convert(
      "rstatd/1-3 dgram rpc/udp wait root /usr/sbin/rpc.rstatd rpc.rstatd\n"
      "x raw tcp nowait alice /bin/cat cat\n"
      "y stream tcp wait alice /bin/cat cat\n",
      sys);
  EXPECT_TRUE(c.services.empty());
  ASSERT_EQ(c.notes.size(), 3u);
  EXPECT_NE(c.notes[0].text.find("an RPC service (rpc/udp)"), std::string::npos);
  EXPECT_EQ(c.notes[0].where.line, 1);
  EXPECT_NE(c.notes[1].text.find("socket type 'raw'"), std::string::npos);
  EXPECT_NE(c.notes[2].text.find("a stream service with 'wait'"), std::string::npos);
  // ... and the written file lists them, with their lines.
  std::string toml = WriteToml(c);
  EXPECT_NE(toml.find("# inetd.conf:1: rstatd/1-3: an RPC service"), std::string::npos) << toml;
  EXPECT_NE(toml.find("# inetd.conf:3: y: a stream service"), std::string::npos);
}

TEST(ImportInetd, UnixSockets) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  auto c = Convert("/run/cat.sock stream unix nowait alice /bin/cat cat\n", sys);
  ASSERT_EQ(c.services.size(), 1u);
  EXPECT_EQ(c.services[0].name, "cat-sock");
  EXPECT_EQ(c.services[0].listen, std::vector<std::string>{"unix:/run/cat.sock"});
}

TEST(ImportInetd, DisabledLines) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  auto c = Convert(
      "#<off># a\tstream\ttcp\tnowait\talice\t/bin/cat\tcat\n"
      "#b stream tcp nowait alice /bin/cat cat\n"
      "#<off># not an entry\n",
      sys);
  ASSERT_EQ(c.services.size(), 1u);  // a plain comment is a comment
  EXPECT_TRUE(Has(c.services[0].off, "disabled in the input"));
  std::string toml = WriteToml(c);
  EXPECT_NE(toml.find("#[[service]]\n#name = \"a\"\n"), std::string::npos) << toml;
  EXPECT_TRUE(NoteHas(c, "a \"#<off>#\" line that is not an inetd entry"));
}

TEST(ImportInetd, SyntaxErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("\n\necho stream tcp nowait root\n"),
            "inetd.conf:3:1: an inetd.conf entry has at least 6 fields "
            "(service socket-type "
            "protocol wait/nowait user server [arguments]); this line has 5: "
            "complete it or "
            "comment it out with '#'");
  EXPECT_EQ(ErrorOf("echo strem tcp nowait root internal\n"),
            "inetd.conf:1:6: socket type 'strem': inetd knows stream, dgram, "
            "raw, rdm and "
            "seqpacket");
  EXPECT_EQ(ErrorOf("echo stream tcp later root internal\n"),
            "inetd.conf:1:17: 'later': the fourth field is wait or nowait");
  EXPECT_EQ(ErrorOf("echo stream udp nowait root internal\n"),
            "inetd.conf:1:13: protocol 'udp' does not go with socket type "
            "'stream' (stream is "
            "tcp, dgram is udp)");
  EXPECT_EQ(ErrorOf("echo stream sctp nowait root internal\n"),
            "inetd.conf:1:13: protocol 'sctp': inetd knows tcp, udp (with 4, 6 "
            "or 46 for the "
            "address family), unix and rpc/...");
  EXPECT_EQ(ErrorOf("x stream tcp nowait root bin/cat cat\n"),
            "inetd.conf:1:26: the server 'bin/cat' must be an absolute path or "
            "'internal'");
  EXPECT_EQ(ErrorOf("x stream tcp nowait.0 root /bin/cat cat\n"),
            "inetd.conf:1:14: 'nowait.0': the number after the dot (how many "
            "servers a minute) "
            "is 1 to 1000000");
}

// The sandbox of each program hinetd knows: a jail with its helpers and
// the files its arguments and its config name, a shipped policy of its
// own, the syslog relay where it logs through syslog(3), drops_privileges
// for in.tftpd; a review comment for what the host cannot tell.
TEST(ImportInetd, EachKnownProgramGetsAJailAndAPolicyThatFitIt) {
  FakeSystem sys;
  for (const char *p : {"/usr/sbin/in.fingerd", "/usr/bin/finger", "/usr/sbin/in.tftpd",
                        "/usr/bin/rsync", "/usr/bin/busybox", "/usr/local/bin/upper"}) {
    sys.programs.insert(p);
  }
  for (const char *p : {"/usr/sbin/in.fingerd", "/usr/bin/rsync", "/usr/bin/busybox"}) {
    sys.syslog_programs.insert(p);
  }
  sys.users.insert({"tftp", "hinetd-rsync"});
  sys.ports["http"] = 80;
  sys.files["/etc/rsyncd.conf"] =
      "use chroot = yes\nlog file = /var/log/rsyncd.log\n\n[pub]\n  path = /srv/./pub\n"
      "  Secrets File = /etc/rsyncd.secrets\n  read only = false\n";
  sys.files["/etc/rsyncd.secrets"] = "";
  sys.dirs["/srv/pub"] = {};
  sys.dirs["/srv/tftp"] = {};
  sys.dirs["/var/www"] = {};
  auto c = Convert(
      "finger stream tcp nowait nobody /usr/sbin/in.fingerd in.fingerd\n"
      "tftp dgram udp wait root /usr/sbin/in.tftpd in.tftpd -u tftp -s /srv/tftp\n"
      "rsync stream tcp nowait root /usr/bin/rsync rsyncd --daemon\n"
      "http stream tcp nowait alice /usr/bin/busybox busybox httpd -i -h /var/www\n"
      "hello stream tcp nowait alice /usr/local/bin/upper upper\n",
      sys);
  using Files = std::vector<std::pair<std::string, std::string>>;
  using Strings = std::vector<std::string>;
  for (const Service &s : c.services) {
    EXPECT_TRUE(s.off.empty()) << s.name << ": " << s.off.front();
    EXPECT_TRUE(s.jail.has_value()) << s.name;
  }
  ASSERT_EQ(c.services.size(), 5u);

  const Service &finger = c.services[0];
  EXPECT_EQ(finger.jail->programs, Strings{"/usr/bin/finger"});
  EXPECT_EQ(finger.sandbox, "fingerd");
  EXPECT_TRUE(finger.syslog);
  EXPECT_TRUE(Has(finger.review, "list those it may show in the jail's users"));

  // -u names the account: the service runs as it, nothing is added.
  const Service &tftp = c.services[1];
  EXPECT_EQ(tftp.user, "tftp");
  EXPECT_EQ(tftp.exec, (Strings{"/usr/sbin/in.tftpd", "-u", "tftp", "-s", "/srv/tftp"}));
  EXPECT_FALSE(Has(tftp.review, "ran as root"));
  EXPECT_TRUE(tftp.drops_privileges && tftp.syslog);
  EXPECT_EQ(tftp.sandbox, "tftpd");
  EXPECT_EQ(tftp.jail->files, (Files{{"/srv/tftp", "/srv/tftp"}}));

  // rsyncd.conf read: its modules' paths ("/./" is rsync's divider) and
  // files; what the jail changes for it is said.
  const Service &rsync = c.services[2];
  EXPECT_EQ(rsync.user, "hinetd-rsync");
  EXPECT_EQ(rsync.sandbox, "rsyncd");
  EXPECT_TRUE(rsync.syslog);
  EXPECT_EQ(rsync.jail->files, (Files{{"/etc/rsyncd.conf", "/etc/rsyncd.conf"},
                                      {"/srv/pub", "/srv/pub"},
                                      {"/etc/rsyncd.secrets", "/etc/rsyncd.secrets"}}));
  EXPECT_TRUE(Has(rsync.review, "use chroot = yes"));
  EXPECT_TRUE(Has(rsync.review, "names a log file (/var/log/rsyncd.log)"));
  EXPECT_TRUE(Has(rsync.review, "a module is writable (read only = false)"));

  const Service &http = c.services[3];
  EXPECT_EQ(http.sandbox, "busybox-httpd");
  EXPECT_EQ(http.jail->files, (Files{{"/var/www", "/var/www"}}));
  EXPECT_TRUE(http.syslog);

  // Unknown: the program alone, under default.
  const Service &hello = c.services[4];
  EXPECT_TRUE(hello.jail->programs.empty() && hello.jail->files.empty());
  EXPECT_EQ(hello.sandbox, "default");
  EXPECT_FALSE(hello.syslog);
  EXPECT_TRUE(Has(hello.review, "add the programs it runs to the jail's programs"));

  // Each jail on one line (TOML inline tables cannot span lines).
  std::string toml = WriteToml(c);
  EXPECT_NE(toml.find("\njail = { programs = [\"/usr/bin/finger\"] }\nsyslog = true\n"
                      "sandbox = \"fingerd\"\n"),
            std::string::npos)
      << toml;
  EXPECT_NE(toml.find("\njail = { files = [\"/srv/tftp\"] }\ndrops_privileges = true\n"
                      "syslog = true\nsandbox = \"tftpd\"\n"),
            std::string::npos)
      << toml;
  EXPECT_NE(toml.find("\njail = { files = [\"/etc/rsyncd.conf\", \"/srv/pub\", "
                      "\"/etc/rsyncd.secrets\"] }\n"),
            std::string::npos)
      << toml;
  EXPECT_NE(toml.find("\njail = {}\nsandbox = \"default\"\n"), std::string::npos) << toml;
}

// What the jail needs and the host lacks turns the service off, with the
// fix; rsync without its config too.
TEST(ImportInetd, WhatAJailNeedsAndTheHostLacksTurnsTheServiceOff) {
  FakeSystem sys;
  sys.programs.insert({"/usr/sbin/in.fingerd", "/usr/bin/rsync", "/usr/bin/git"});
  auto c = Convert(
      "finger stream tcp nowait nobody /usr/sbin/in.fingerd in.fingerd\n"
      "rsync stream tcp nowait nobody /usr/bin/rsync rsyncd --daemon --config=/etc/r.conf\n"
      "git stream tcp nowait nobody /usr/bin/git git daemon --inetd /srv/git\n",
      sys);
  ASSERT_EQ(c.services.size(), 3u);
  EXPECT_TRUE(Has(c.services[0].off, "the program /usr/bin/finger (the finger program "
                                     "in.fingerd runs) is not on this host: install it"));
  EXPECT_TRUE(Has(c.services[1].off, "rsync --daemon reads /etc/r.conf, which cannot be read"));
  EXPECT_TRUE(Has(c.services[2].off, "the program /usr/lib/git-core/git "));
  EXPECT_TRUE(Has(c.services[2].off, "the repository directory /srv/git is not on this host"));
}

TEST(ImportInetd, DetectsTheFormat) {
  EXPECT_EQ(DetectFormat("# c\n\necho stream tcp nowait root internal\n"), Format::kInetd);
  EXPECT_EQ(DetectFormat("# c\ndefaults\n{\n}\n"), Format::kXinetd);
  EXPECT_EQ(DetectFormat("service echo\n{\n}\n"), Format::kXinetd);
  EXPECT_EQ(DetectFormat("includedir /etc/xinetd.d\n"), Format::kXinetd);
  EXPECT_EQ(DetectFormat(""), Format::kInetd);
}

// The lines Debian 12 packages register (update-inetd in fingerd, talkd,
// inetutils-talkd and inetutils-telnetd's maintainer scripts) and document
// (tftpd-hpa, rsync, git); see the fixture's comments.
TEST(ImportInetd, DebianRegisteredLines) {
  FakeSystem sys;  // a host with none of those programs but git, and no hinetd-*
                   // account
  sys.programs.insert("/usr/bin/git");
  sys.programs.insert("/usr/lib/git-core/git");
  sys.programs.insert("/usr/lib/git-core/git-daemon");
  sys.dirs["/var/lib/git"] = {};
  auto text = base::ReadFile(testing::SourceDir() + "/tests/fixtures/import/debian-inetd.conf");
  ASSERT_TRUE(text.ok());
  auto p = ParseInetd(*text, "debian-inetd.conf");
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  Conversion c = Translate(*p, "debian-inetd.conf", Format::kInetd, sys);

  std::vector<std::string> names;
  for (const Service &s : c.services) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "discard", "discard-udp", "daytime", "time",
                                             "chargen", "finger", "talk", "ntalk", "ntalk-udp",
                                             "telnet", "tftp", "rsync", "git"}));
  const Service *finger = Find(c, "finger");
  ASSERT_NE(finger, nullptr);
  EXPECT_EQ(finger->exec, std::vector<std::string>{"/usr/sbin/in.fingerd"});
  EXPECT_EQ(finger->user, "nobody");
  EXPECT_TRUE(Has(finger->off, "the program /usr/sbin/in.fingerd is not on this host"));
  const Service *talk = Find(c, "talk");
  ASSERT_NE(talk, nullptr);
  EXPECT_TRUE(talk->udp && talk->wait);
  EXPECT_EQ(talk->group, "tty");
  EXPECT_EQ(talk->listen, std::vector<std::string>{"0.0.0.0:517"});
  // inetutils-talkd's disabled udp4 line, wrapped in tcpd, as root.
  const Service *italk = Find(c, "ntalk-udp");
  ASSERT_NE(italk, nullptr);
  EXPECT_TRUE(Has(italk->off, "disabled in the input"));
  EXPECT_EQ(italk->exec, std::vector<std::string>{"/usr/sbin/talkd"});
  EXPECT_EQ(italk->user, "hinetd-ntalk-udp");
  const Service *telnet = Find(c, "telnet");
  ASSERT_NE(telnet, nullptr);
  EXPECT_EQ(telnet->user, "hinetd-telnet");
  EXPECT_TRUE(NoteHas(c, "telnetd runs login(1)"));
  const Service *tftp = Find(c, "tftp");
  ASSERT_NE(tftp, nullptr);
  EXPECT_EQ(tftp->exec,
            (std::vector<std::string>{"/usr/sbin/in.tftpd", "--user", "hinetd-tftp", "-s",
                                      "/tftpboot", "-r", "blksize"}));
  EXPECT_TRUE(tftp->drops_privileges);
  EXPECT_TRUE(tftp->syslog);
  EXPECT_EQ(tftp->sandbox, "tftpd");
  EXPECT_TRUE(Has(tftp->review, "drops_privileges = true"));
  // Its directory is not on this (fake) host: off until it is.
  EXPECT_TRUE(Has(tftp->off, "the directory in.tftpd serves /tftpboot is not on this host"));
  const Service *git = Find(c, "git");
  ASSERT_NE(git, nullptr);
  EXPECT_EQ(git->listen, (std::vector<std::string>{"0.0.0.0:9418", "[::]:9418"}));
  EXPECT_EQ(git->exec, (std::vector<std::string>{"/usr/bin/git", "daemon", "--inetd",
                                                 "--base-path=/var/lib", "/var/lib/git"}));
  EXPECT_TRUE(git->off.empty()) << git->off.front();
  // In a jail with git's helpers and only the repositories it serves.
  ASSERT_TRUE(git->jail.has_value());
  EXPECT_EQ(git->jail->programs, (std::vector<std::string>{"/usr/lib/git-core/git",
                                                           "/usr/lib/git-core/git-daemon"}));
  EXPECT_EQ(git->jail->files, (std::vector<std::pair<std::string, std::string>>{
                                  {"/var/lib/git", "/var/lib/git"}}));
  EXPECT_TRUE(git->syslog);
  EXPECT_EQ(git->sandbox, "git-daemon");
  EXPECT_EQ(c.missing_accounts, (std::vector<std::string>{"hinetd-ntalk-udp", "hinetd-rsync",
                                                          "hinetd-telnet", "hinetd-tftp"}));
  // The internal services and git are active; everything else is written
  // commented out, with its reasons.
  std::string toml = WriteToml(c);
  EXPECT_NE(toml.find("\n[[service]]\nname = \"git\"\n"), std::string::npos);
  EXPECT_NE(toml.find("\n#[[service]]\n#name = \"telnet\"\n"), std::string::npos);
  EXPECT_NE(toml.find("# off: no account 'hinetd-rsync' on this host: create "
                      "it with useradd"),
            std::string::npos);
  std::string report = Report(c);
  EXPECT_NE(report.find("14 service(s) converted, 7 active, 7 commented out"), std::string::npos)
      << report;
}

// What import writes loads with hinetd's own loader, on this host.
TEST(ImportInetd, OutputLoadsWithTheConfigLoader) {
  if (getpwnam("hinetd-internal") == nullptr || getpwnam("nobody") == nullptr) {
    GTEST_SKIP() << "needs the accounts hinetd-internal "
                    "(scripts/daemon-user.sh) and nobody";
  }
  testing::TempDir dir;
  ASSERT_TRUE(testing::CopyShippedPolicies(dir.path() + "/sandbox"));
  HostSystem host;
  auto text = base::ReadFile(testing::SourceDir() + "/tests/fixtures/import/debian-inetd.conf");
  ASSERT_TRUE(text.ok());
  std::string input = *text + "7007 stream tcp nowait nobody /bin/cat cat\n" +
                      "7008 dgram udp wait nobody /bin/cat cat\n" +
                      "127.0.0.1:7009 stream tcp nowait.30 nobody /usr/sbin/tcpd /bin/cat\n";
  auto p = ParseInetd(input, "inetd.conf");
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  Conversion c = Translate(*p, "inetd.conf", Format::kInetd, host);
  std::string toml = WriteToml(c);
  auto loaded = config::LoadConfigText(toml, dir.path() + "/hinetd.toml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString() << "\n" << toml;
  std::set<std::string> active;
  for (const Service &s : c.services) {
    if (s.off.empty()) active.insert(s.name);
  }
  std::set<std::string> got;
  for (const config::Service &s : loaded->services) got.insert(s.name);
  EXPECT_EQ(got, active);
  for (const char *n : {"echo", "discard-udp", "7007", "7008", "7009"}) {
    EXPECT_EQ(got.count(n), 1u) << n;
  }
  for (const config::Service &s : loaded->services) {
    EXPECT_NE(s.uid, 0u) << s.name;
    if (s.name == "7009") {
      ASSERT_TRUE(s.rate.has_value());
      EXPECT_EQ(s.rate->count, 30u);
      EXPECT_EQ(s.listen[0].text, "127.0.0.1:7009");
      EXPECT_EQ(s.exec, std::vector<std::string>{"/bin/cat"});
    }
    if (s.name == "7008") {
      EXPECT_TRUE(s.wait);
    }
  }
}

}  // namespace
}  // namespace hinetd::importer
