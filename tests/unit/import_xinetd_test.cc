// hinetd import, xinetd.conf half: blocks, defaults, += and -=, include and
// includedir, disable, each attribute's translation, errors with their
// position, Debian's shipped examples (tests/fixtures/import/xinetd/), and
// that the output loads with hinetd's config loader.
#include <gtest/gtest.h>
#include <pwd.h>

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

Conversion Convert(FakeSystem& sys, const std::string& text) {
  sys.files["/etc/xinetd.conf"] = text;
  auto p = ParseXinetd("/etc/xinetd.conf", sys);
  EXPECT_TRUE(p.ok()) << p.error().ToString();
  if (!p.ok()) return {};
  return Translate(*p, "/etc/xinetd.conf", Format::kXinetd, sys);
}

std::string ErrorOf(FakeSystem& sys, const std::string& text) {
  sys.files["/etc/xinetd.conf"] = text;
  auto p = ParseXinetd("/etc/xinetd.conf", sys);
  return p.ok() ? "<parsed>" : p.error().ToString();
}

bool Has(const std::vector<std::string>& v, const std::string& needle) {
  for (const std::string& s : v) {
    if (s.find(needle) != std::string::npos) return true;
  }
  return false;
}

bool NoteHas(const Conversion& c, const std::string& needle) {
  for (const Note& n : c.notes) {
    if (n.text.find(needle) != std::string::npos) return true;
  }
  return false;
}

const char* kCat =
    "service hello\n"
    "{\n"
    "\tsocket_type = stream\n"
    "\twait = no\n"
    "\tuser = alice\n"
    "\tserver = /bin/cat\n"
    "}\n";

TEST(ImportXinetd, OneService) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  auto c = Convert(sys, kCat);
  ASSERT_EQ(c.services.size(), 1u);
  const Service& s = c.services[0];
  EXPECT_EQ(s.name, "hello");
  EXPECT_EQ(s.listen, std::vector<std::string>{"0.0.0.0:4242"});
  EXPECT_EQ(s.exec, std::vector<std::string>{"/bin/cat"});
  EXPECT_EQ(s.user, "alice");
  EXPECT_EQ(s.sandbox, "stdio");
  EXPECT_TRUE(s.off.empty());
  EXPECT_EQ(s.where.line, 1);
  EXPECT_EQ(s.where.file, "/etc/xinetd.conf");
}

TEST(ImportXinetd, EveryTranslatedAttribute) {
  FakeSystem sys;
  sys.programs.insert("/usr/local/bin/svc");
  sys.users.insert("svc");
  auto c = Convert(sys,
                   "service svc\n"
                   "{\n"
                   "  id          = my-svc\n"
                   "  socket_type = dgram\n"
                   "  protocol    = udp\n"
                   "  wait        = yes\n"
                   "  user        = svc\n"
                   "  group       = staff\n"
                   "  server      = /usr/local/bin/svc\n"
                   "  server_args = -v --port 99\n"
                   "  port        = 9999\n"
                   "  bind        = 127.0.0.1\n"
                   "  instances   = 8\n"
                   "  per_source  = 2\n"
                   "  cps         = 25 30\n"
                   "  only_from   = 127.0.0.1 10.0.0.0 192.168.{1,2} ::1\n"
                   "  no_access   = 10.1.2.3\n"
                   "  rlimit_as   = 64M\n"
                   "  rlimit_cpu  = 20\n"
                   "  rlimit_files = 128\n"
                   "  rlimit_data = UNLIMITED\n"
                   "  env         = LANG=C TZ=UTC\n"
                   "  umask       = 27\n"
                   "}\n");
  ASSERT_EQ(c.services.size(), 1u);
  const Service& s = c.services[0];
  EXPECT_EQ(s.name, "my-svc");
  EXPECT_EQ(s.listen, std::vector<std::string>{"127.0.0.1:9999"});
  EXPECT_TRUE(s.udp && s.wait);
  EXPECT_EQ(s.exec, (std::vector<std::string>{"/usr/local/bin/svc", "-v", "--port", "99"}));
  EXPECT_EQ(s.group, "staff");
  EXPECT_EQ(s.max_instances, 8);
  EXPECT_EQ(s.per_source, 2);
  EXPECT_EQ(s.rate, "25/s");
  EXPECT_EQ(s.backoff, "30s");
  ASSERT_TRUE(s.allow.has_value());
  // 10.0.0.0 is a network in xinetd (trailing zeros); factorized forms expand.
  EXPECT_EQ(*s.allow, (std::vector<std::string>{"127.0.0.1/32", "10.0.0.0/8", "192.168.1.0/24",
                                                "192.168.2.0/24", "::1"}));
  EXPECT_EQ(s.deny, std::vector<std::string>{"10.1.2.3/32"});
  EXPECT_EQ(
      s.rlimits,
      (std::vector<std::pair<std::string, std::string>>{
          {"as", "\"64M\""}, {"cpu", "\"20s\""}, {"data", "\"unlimited\""}, {"nofile", "128"}}));
  EXPECT_EQ(s.env,
            (std::vector<std::pair<std::string, std::string>>{{"LANG", "C"}, {"TZ", "UTC"}}));
  EXPECT_EQ(s.umask, "027");
  EXPECT_TRUE(s.off.empty()) << s.off[0];
  EXPECT_TRUE(c.notes.empty()) << c.notes[0].text;
}

TEST(ImportXinetd, DefaultsAndPlusMinus) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  auto c = Convert(sys,
                   "defaults\n"
                   "{\n"
                   "  only_from = 127.0.0.1 ::1\n"
                   "  instances = 30\n"
                   "  log_type  = SYSLOG daemon info\n"
                   "  env       = A=1\n"
                   "}\n"
                   "service a\n{\n  socket_type = stream\n  wait = no\n  user = alice\n"
                   "  server = /bin/cat\n  only_from += 192.0.2.7\n}\n"
                   "service b\n{\n  socket_type = stream\n  wait = no\n  user = alice\n"
                   "  server = /bin/cat\n  only_from -= ::1\n  instances = UNLIMITED\n}\n"
                   "service c\n{\n  socket_type = stream\n  wait = no\n  user = alice\n"
                   "  server = /bin/cat\n  only_from = 192.0.2.9\n  env += B=2\n}\n");
  ASSERT_EQ(c.services.size(), 3u);
  EXPECT_EQ(*c.services[0].allow,
            (std::vector<std::string>{"127.0.0.1/32", "::1", "192.0.2.7/32"}));
  EXPECT_EQ(c.services[0].max_instances, 30);
  EXPECT_EQ(*c.services[1].allow, std::vector<std::string>{"127.0.0.1/32"});
  EXPECT_FALSE(c.services[1].max_instances.has_value());
  EXPECT_EQ(*c.services[2].allow, std::vector<std::string>{"192.0.2.9/32"});
  EXPECT_EQ(c.services[2].env,
            (std::vector<std::pair<std::string, std::string>>{{"A", "1"}, {"B", "2"}}));
  // A defaults value with no equivalent is said once, where defaults set it.
  size_t log_notes = 0;
  for (const Note& n : c.notes) {
    if (n.text.find("log_type") != std::string::npos) {
      ++log_notes;
      EXPECT_EQ(n.where.line, 5);
    }
  }
  EXPECT_EQ(log_notes, 1u);
}

TEST(ImportXinetd, IncludeAndIncludedir) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  sys.dirs["/etc/xinetd.d"] = {"a", "b.dpkg-old", "c~", "d"};
  sys.files["/etc/xinetd.d/a"] = "include /etc/more.conf\n";
  sys.files["/etc/more.conf"] = kCat;
  sys.files["/etc/xinetd.d/d"] =
      "service echo\n{\n  type = INTERNAL\n  socket_type = stream\n  wait = no\n}\n";
  sys.files["/etc/xinetd.d/b.dpkg-old"] = "garbage that would not parse\n";
  sys.files["/etc/xinetd.d/c~"] = "garbage that would not parse\n";
  auto c = Convert(sys, "includedir /etc/xinetd.d\n");
  ASSERT_EQ(c.services.size(), 2u);
  EXPECT_EQ(c.services[0].name, "hello");
  EXPECT_EQ(c.services[0].where.file, "/etc/more.conf");
  EXPECT_EQ(c.services[1].internal, "echo");
  EXPECT_EQ(c.services[1].where.file, "/etc/xinetd.d/d");
}

TEST(ImportXinetd, DisabledServices) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  auto c = Convert(sys,
                   "defaults\n{\n  disabled = b\n}\n"
                   "service a\n{\n socket_type = stream\n wait = no\n user = alice\n"
                   " server = /bin/cat\n port = 5001\n disable = yes\n}\n"
                   "service b\n{\n socket_type = stream\n wait = no\n user = alice\n"
                   " server = /bin/cat\n port = 5002\n}\n"
                   "service c\n{\n socket_type = stream\n wait = no\n user = alice\n"
                   " server = /bin/cat\n port = 5003\n disable = no\n}\n");
  ASSERT_EQ(c.services.size(), 3u);
  EXPECT_TRUE(Has(c.services[0].off, "disable = yes"));
  EXPECT_TRUE(Has(c.services[1].off, "listed in 'disabled' of defaults"));
  EXPECT_TRUE(c.services[2].off.empty());
  auto d = Convert(sys,
                   "defaults\n{\n  enabled = c\n}\n"
                   "service a\n{\n socket_type = stream\n wait = no\n user = alice\n"
                   " server = /bin/cat\n port = 5001\n}\n"
                   "service c\n{\n socket_type = stream\n wait = no\n user = alice\n"
                   " server = /bin/cat\n port = 5003\n}\n");
  ASSERT_EQ(d.services.size(), 2u);
  EXPECT_TRUE(Has(d.services[0].off, "not listed in 'enabled' of defaults"));
  EXPECT_TRUE(d.services[1].off.empty());
}

TEST(ImportXinetd, TcpdWithNameInArgsAndRoot) {
  FakeSystem sys;
  sys.programs.insert("/usr/sbin/in.ftpd");
  auto c = Convert(sys,
                   "service ftp\n{\n socket_type = stream\n wait = no\n user = root\n"
                   " flags = NAMEINARGS REUSE IPv6\n server = /usr/sbin/tcpd\n"
                   " server_args = /usr/sbin/in.ftpd -l\n}\n");
  ASSERT_EQ(c.services.size(), 1u);
  const Service& s = c.services[0];
  EXPECT_EQ(s.exec, (std::vector<std::string>{"/usr/sbin/in.ftpd", "-l"}));
  EXPECT_EQ(s.listen, std::vector<std::string>{"[::]:21"});
  EXPECT_EQ(s.user, "hinetd-ftp");
  EXPECT_TRUE(Has(s.off, "no account 'hinetd-ftp'"));
  EXPECT_TRUE(NoteHas(c, "tcpd access control"));
  EXPECT_TRUE(NoteHas(c, "needs root"));
}

TEST(ImportXinetd, WhatHasNoEquivalentIsListed) {
  FakeSystem sys;
  sys.programs.insert("/bin/cat");
  auto c = Convert(sys,
                   "service hello\n{\n socket_type = stream\n wait = no\n user = alice\n"
                   " server = /bin/cat\n access_times = 8:00-17:00\n passenv = PATH\n"
                   " groups = yes\n rlimit_rss = 10M\n nice = 10\n banner = /etc/issue\n"
                   " flags = SENSOR\n only_from = trusted.example.org 127.0.0.1\n}\n"
                   "service r\n{\n type = RPC\n socket_type = stream\n wait = no\n"
                   " user = alice\n server = /bin/cat\n}\n"
                   "service fwd\n{\n socket_type = stream\n wait = no\n user = alice\n"
                   " redirect = 192.0.2.1 80\n port = 8080\n}\n"
                   "service n\n{\n socket_type = stream\n wait = no\n user = alice\n"
                   " server = /bin/cat\n port = 5010\n no_access = evil.example.org\n}\n");
  ASSERT_EQ(c.services.size(), 2u);
  const Service& s = c.services[0];
  for (const char* d :
       {"access_times = 8:00-17:00: hinetd has no time windows",
        "passenv = PATH: hinetd passes nothing of its own environment",
        "groups = yes: hinetd gives a service no supplementary group",
        "rlimit_rss = 10M: Linux ignores RLIMIT_RSS", "nice = 10", "banner = /etc/issue",
        "flags SENSOR", "only_from trusted.example.org: a host or network name"}) {
    EXPECT_TRUE(Has(s.review, d)) << d;
    EXPECT_TRUE(NoteHas(c, d)) << d;
  }
  // Dropping a name from only_from admits fewer clients: still on.
  EXPECT_EQ(*s.allow, std::vector<std::string>{"127.0.0.1/32"});
  EXPECT_TRUE(s.off.empty());
  EXPECT_TRUE(NoteHas(c, "an RPC service (type = RPC)"));
  EXPECT_TRUE(NoteHas(c, "redirect = 192.0.2.1 80: hinetd hands the connection to a program"));
  // Dropping one from no_access would admit it: off.
  EXPECT_EQ(c.services[1].name, "n");
  EXPECT_TRUE(Has(c.services[1].off, "no_access evil.example.org names a host"));
}

TEST(ImportXinetd, SyntaxErrorsNameTheLine) {
  FakeSystem sys;
  EXPECT_EQ(ErrorOf(sys, "service a\n{\n  socket_typ = stream\n}\n"),
            "/etc/xinetd.conf:3:3: unknown attribute 'socket_typ' (xinetd.conf(5) of xinetd "
            "2.3.15 lists them)");
  EXPECT_EQ(ErrorOf(sys, "service a\n{\n  wait = no\n"),
            "/etc/xinetd.conf:1:1: service a: the block is not closed with '}' before the end of "
            "the file");
  EXPECT_EQ(ErrorOf(sys, "service a\n  wait = no\n"),
            "/etc/xinetd.conf:2:3: expected '{' to open the block of 'service a'");
  EXPECT_EQ(ErrorOf(sys, "service a\n{\n  wait no\n}\n"),
            "/etc/xinetd.conf:3:3: 'wait' needs an operator: ATTRIBUTE = VALUE");
  EXPECT_EQ(ErrorOf(sys, "wait = no\n"),
            "/etc/xinetd.conf:1:1: 'wait' outside a block: xinetd.conf holds 'defaults', "
            "'service NAME', 'include' and 'includedir'");
  EXPECT_EQ(ErrorOf(sys, "service a\n{\n  socket_type = stream\n  user = alice\n}\n"),
            "/etc/xinetd.conf:1:1: service a: wait: missing: yes or no");
  EXPECT_EQ(ErrorOf(sys, "service a\n{\n  socket_type = stream\n  wait = maybe\n}\n"),
            "/etc/xinetd.conf:4:1: service a: wait: 'maybe': yes or no");
  EXPECT_EQ(ErrorOf(sys,
                    "service a\n{\n  socket_type = stream\n  wait = no\n  user = x\n"
                    "  server = /bin/cat\n  cps = 10\n}\n"),
            "/etc/xinetd.conf:7:1: service a: cps: '10': two positive numbers, connections a "
            "second and the seconds to wait when over");
  EXPECT_EQ(ErrorOf(sys, "defaults\n{\n  server = /bin/cat\n}\n"),
            "/etc/xinetd.conf:3:1: defaults: 'server' belongs in a service, not in defaults");
  EXPECT_EQ(ErrorOf(sys, "\nincludedir /etc/nowhere\n"),
            "/etc/xinetd.conf:2:1: cannot read the directory /etc/nowhere: No such file or "
            "directory (ENOENT)");
}

// Debian 12's xinetd package ships /etc/xinetd.conf and these examples in
// /etc/xinetd.d, all disabled (tests/fixtures/import/xinetd/).
TEST(ImportXinetd, DebianShippedExamples) {
  FakeSystem sys;
  std::string dir = testing::SourceDir() + "/tests/fixtures/import/xinetd";
  auto main = base::ReadFile(dir + "/xinetd.conf");
  ASSERT_TRUE(main.ok());
  std::vector<std::string> names = {"chargen", "chargen-udp", "daytime", "daytime-udp",
                                    "discard", "discard-udp", "echo",    "echo-udp",
                                    "servers", "services",    "time",    "time-udp"};
  sys.dirs["/etc/xinetd.d"] = names;
  for (const std::string& n : names) {
    auto t = base::ReadFile(dir + "/xinetd.d/" + n);
    ASSERT_TRUE(t.ok()) << n;
    sys.files["/etc/xinetd.d/" + n] = *t;
  }
  auto c = Convert(sys, *main);
  std::vector<std::string> got;
  for (const Service& s : c.services) {
    got.push_back(s.name + " " + s.internal + " " + s.listen[0] + (s.udp ? " udp" : ""));
    EXPECT_TRUE(Has(s.off, "disabled in the input (disable = yes)")) << s.name;
  }
  EXPECT_EQ(got,
            (std::vector<std::string>{
                "chargen-stream chargen 0.0.0.0:19", "chargen-dgram chargen 0.0.0.0:19 udp",
                "chargen-dgram-udp chargen 0.0.0.0:19 udp", "daytime-stream daytime 0.0.0.0:13",
                "daytime-dgram daytime 0.0.0.0:13 udp", "daytime-dgram-udp daytime 0.0.0.0:13 udp",
                "discard-stream discard 0.0.0.0:9", "discard-dgram discard 0.0.0.0:9 udp",
                "discard-dgram-udp discard 0.0.0.0:9 udp", "echo-stream echo 0.0.0.0:7",
                "echo-dgram echo 0.0.0.0:7 udp", "echo-dgram-udp echo 0.0.0.0:7 udp",
                "time-stream time 0.0.0.0:37", "time-dgram time 0.0.0.0:37 udp",
                "time-dgram-udp time 0.0.0.0:37 udp"}));
  // Debian ships each UDP version twice (in "chargen" and in "chargen-udp").
  EXPECT_TRUE(Has(c.services[2].off, "it listens on an address of 'chargen-dgram'"));
  // "servers" and "services" are xinetd's own, with no hinetd equivalent.
  EXPECT_TRUE(NoteHas(c, "internal service 'servers'"));
  EXPECT_TRUE(NoteHas(c, "internal service 'services'"));
  EXPECT_EQ(c.notes.size(), 2u);
}

// What import writes from an xinetd.conf loads with hinetd's own loader.
TEST(ImportXinetd, OutputLoadsWithTheConfigLoader) {
  if (getpwnam("hinetd-internal") == nullptr || getpwnam("nobody") == nullptr) {
    GTEST_SKIP() << "needs the accounts hinetd-internal (scripts/daemon-user.sh) and nobody";
  }
  testing::TempDir dir;
  ASSERT_TRUE(testing::CopyShippedPolicies(dir.path() + "/sandbox"));
  std::string conf = dir.Write("xinetd.conf",
                               "defaults\n{\n  only_from = 127.0.0.0 ::1\n  instances = 20\n"
                               "  cps = 50 10\n  log_type = SYSLOG daemon info\n}\n"
                               "includedir " +
                                   testing::SourceDir() +
                                   "/tests/fixtures/import/xinetd/xinetd.d\n"
                                   "service cat\n{\n  socket_type = stream\n  wait = no\n"
                                   "  user = nobody\n  server = /bin/cat\n  port = 7101\n"
                                   "  bind = 127.0.0.1\n  rlimit_as = 256M\n  rlimit_files = 64\n"
                                   "  env = LANG=C\n  per_source = 4\n  umask = 077\n}\n"
                                   "service echo\n{\n  type = INTERNAL UNLISTED\n"
                                   "  socket_type = dgram\n  wait = yes\n  port = 7102\n}\n");
  HostSystem host;
  auto p = ParseXinetd(conf, host);
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  Conversion c = Translate(*p, conf, Format::kXinetd, host);
  std::string toml = WriteToml(c);
  auto loaded = config::LoadConfigText(toml, dir.path() + "/hinetd.toml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString() << "\n" << toml;
  ASSERT_EQ(loaded->services.size(), 2u) << toml;
  const config::Service& cat = loaded->services[0];
  EXPECT_EQ(cat.name, "cat");
  EXPECT_EQ(cat.max_instances, 20);
  EXPECT_EQ(cat.per_source, 4);
  ASSERT_TRUE(cat.rate.has_value());
  EXPECT_EQ(cat.rate->count, 50u);
  EXPECT_EQ(cat.backoff.count(), 10000);
  EXPECT_EQ(cat.umask, 077u);
  EXPECT_EQ(cat.env, (std::vector<std::pair<std::string, std::string>>{{"LANG", "C"}}));
  const config::Service& echo = loaded->services[1];
  EXPECT_EQ(echo.internal, config::Internal::kEcho);
  EXPECT_EQ(echo.transport, net::Transport::kUdp);
}

}  // namespace
}  // namespace hinetd::importer
