// hinetd import, tcpd's half: /etc/hosts.allow and /etc/hosts.deny
// (tests/fixtures/import/hosts.*) translated into the allow and deny of the
// services unwrapped from tcpd, with what cannot be translated noted.
#include <gtest/gtest.h>

#include "base/fs.h"
#include "common/test_env.h"
#include "import/model.h"
#include "unit/import_fake_system.h"

namespace hinetd::importer {
namespace {

using testing::FakeSystem;

std::vector<HostsRule> Rules(const std::string &text, const std::string &path = "hosts.allow") {
  std::vector<Note> notes;
  auto r = ParseHostsAccess(text, path, notes);
  EXPECT_TRUE(notes.empty());
  return r;
}

bool Has(const std::vector<HostsAccessResult::Untranslated> &u, const std::string &needle) {
  for (const auto &x : u) {
    if (x.why.find(needle) != std::string::npos) return true;
  }
  return false;
}

using Strings = std::vector<std::string>;

TEST(ImportHosts, ParsesRulesContinuationsCommentsAndOptions) {
  std::vector<Note> notes;
  auto r = ParseHostsAccess(
      "# comment\n\nin.fingerd : 10.0.0.1, \\\n  10.0.0.2 : spawn echo a:b : c\n"
      "no separator here\nALL: ALL : deny\n",
      "hosts.allow", notes);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].where.ToString(), "hosts.allow:3");
  EXPECT_EQ(r[0].daemons, "in.fingerd ");
  EXPECT_EQ(r[0].clients, " 10.0.0.1,   10.0.0.2 ");
  // A spawn command keeps its colons: the rest of the line is its.
  ASSERT_EQ(r[0].options.size(), 1u);
  EXPECT_EQ(r[0].options[0], "spawn echo a:b : c");
  EXPECT_EQ(r[1].options, Strings{"deny"});
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].where.ToString(), "hosts.allow:5");
}

TEST(ImportHosts, NoRuleForTheDaemonChangesNothing) {
  auto r = TranslateHostsAccess(Rules("in.tftpd: 10.0.0.1\n"), Rules("in.tftpd: ALL\n"),
                                "in.fingerd");
  EXPECT_TRUE(r.rules.empty());
  EXPECT_FALSE(r.allow);
  EXPECT_TRUE(r.deny.empty());
}

TEST(ImportHosts, DenyAllMakesTheAllowRulesTheAllowList) {
  auto r = TranslateHostsAccess(Rules("in.fingerd: 192.168.1. 10.0.0.0/255.0.0.0\n"),
                                Rules("ALL: ALL\n"), "in.fingerd");
  ASSERT_TRUE(r.allow);
  EXPECT_EQ(*r.allow, (Strings{"10.0.0.0/8", "192.168.1.0/24"}));
  EXPECT_TRUE(r.deny.empty());
  EXPECT_TRUE(r.untranslated.empty());
}

TEST(ImportHosts, AllowedAddressesAreCutOutOfAPartialDeny) {
  // tcpd: 10.1.2.0/24 is granted by hosts.allow before hosts.deny denies
  // 10.0.0.0/8; the rest of 10/8 is denied, everything else granted.
  auto r = TranslateHostsAccess(Rules("in.fingerd: 10.1.2.\n"), Rules("ALL: 10.\n"),
                                "in.fingerd");
  EXPECT_FALSE(r.allow);
  EXPECT_EQ(r.deny.size(), 16u);  // 10/8 minus one /24: one block per bit
  EXPECT_EQ(r.deny.front(), "10.0.0.0/16");
  for (const auto &d : r.deny) EXPECT_NE(d, "10.1.2.0/24");
}

TEST(ImportHosts, FirstMatchWinsWithAllowAndDenyOptions) {
  // 10.0.0.5 is denied by the first rule (its deny option); the rest of
  // 10/8 granted by the second; hosts.deny denies all the rest.
  auto r = TranslateHostsAccess(Rules("in.fingerd: 10.0.0.5 : deny\nin.fingerd: 10.\n"),
                                Rules("ALL: ALL\n"), "in.fingerd");
  ASSERT_TRUE(r.allow);
  EXPECT_EQ(r.allow->size(), 32u - 8u);  // 10/8 minus one /32
  for (const auto &a : *r.allow) EXPECT_NE(a, "10.0.0.5/32");
  EXPECT_EQ(r.allow->back(), "10.128.0.0/9");
}

TEST(ImportHosts, ExceptInClientAndDaemonLists) {
  auto r = TranslateHostsAccess(
      Rules("ALL EXCEPT in.tftpd: 10.0.0.0/8 EXCEPT 10.0.0.0/9\n"), Rules("ALL: ALL\n"),
      "in.fingerd");
  ASSERT_TRUE(r.allow);
  EXPECT_EQ(*r.allow, Strings{"10.128.0.0/9"});
  auto t = TranslateHostsAccess(Rules("ALL EXCEPT in.tftpd: 10.0.0.0/8\n"), Rules(""),
                                "in.tftpd");
  EXPECT_TRUE(t.rules.empty());
}

TEST(ImportHosts, Ipv6AndAll) {
  auto r = TranslateHostsAccess(Rules("in.fingerd: [2001:db8::]/32 [::1]\n"),
                                Rules("in.fingerd: ALL\n"), "in.fingerd");
  ASSERT_TRUE(r.allow);
  EXPECT_EQ(*r.allow, (Strings{"::1/128", "2001:db8::/32"}));  // in address order
  // Without a deny rule tcpd grants everybody: nothing to write.
  auto open = TranslateHostsAccess(Rules("in.fingerd: 10.0.0.1\n"), Rules(""), "in.fingerd");
  EXPECT_FALSE(open.allow);
  EXPECT_TRUE(open.deny.empty());
  EXPECT_EQ(open.rules, Strings{"hosts.allow:1"});
}

TEST(ImportHosts, NamesNetgroupsAndCommandsAreNotedNotTranslated) {
  auto r = TranslateHostsAccess(
      Rules("in.fingerd: host.example.org .example.org @group LOCAL KNOWN PARANOID "
            "user@10.0.0.1 10.0.0.* 10.0.0.1/255.0.255.0 10.0.0.2 : spawn logger %a\n"
            "in.fingerd@10.0.0.9: ALL\n"),
      Rules("ALL: ALL\n", "hosts.deny"), "in.fingerd");
  for (const char *why :
       {"host name", "domain patterns", "netgroups", "LOCAL", "KNOWN", "PARANOID", "ident",
        "wildcard", "not contiguous", "option 'spawn logger %a'", "server endpoint"}) {
    EXPECT_TRUE(Has(r.untranslated, why)) << why;
  }
  // What could be translated is: only 10.0.0.2 gets in.
  ASSERT_TRUE(r.allow);
  EXPECT_EQ(*r.allow, Strings{"10.0.0.2/32"});
}

TEST(ImportHosts, TwistDeniesTheServiceToItsClients) {
  auto r = TranslateHostsAccess(Rules("in.telnetd: 10.0.0.0/8 : twist /bin/echo no\n"),
                                Rules(""), "in.telnetd");
  EXPECT_EQ(r.deny, Strings{"10.0.0.0/8"});
  EXPECT_TRUE(Has(r.untranslated, "twist"));
}

// The fixtures through the whole import: inetd.conf entries wrapped in
// tcpd get tcpd's decision as allow/deny, noted where inexact.
TEST(ImportHosts, FixturesThroughTheImport) {
  FakeSystem sys;
  for (const char *f : {"hosts.allow", "hosts.deny"}) {
    auto text = base::ReadFile(testing::SourceDir() + "/tests/fixtures/import/" + f);
    ASSERT_TRUE(text.ok()) << text.error().ToString();
    sys.files[std::string("/etc/") + f] = *text;
  }
  sys.programs = {"/usr/sbin/tcpd", "/usr/sbin/in.fingerd", "/usr/sbin/in.tftpd",
                  "/usr/sbin/in.telnetd", "/usr/sbin/in.talkd"};
  auto p = ParseInetd(
      "finger stream tcp nowait nobody /usr/sbin/tcpd /usr/sbin/in.fingerd -w\n"
      "tftp dgram udp wait nobody /usr/sbin/tcpd in.tftpd -s /srv/tftp\n"
      "telnet stream tcp nowait nobody /usr/sbin/tcpd in.telnetd\n"
      "talk dgram udp wait nobody /usr/sbin/tcpd in.talkd\n"
      "echo stream tcp nowait nobody /bin/cat cat\n",
      "inetd.conf");
  ASSERT_TRUE(p.ok());
  Conversion c = Translate(*p, "inetd.conf", Format::kInetd, sys);
  auto find = [&](const std::string &n) -> const Service * {
    for (const auto &s : c.services) {
      if (s.name == n) return &s;
    }
    return nullptr;
  };
  const Service *finger = find("finger");
  ASSERT_NE(finger, nullptr);
  ASSERT_TRUE(finger->allow);
  // 192.168.1., 10/8 minus 10.9/16, [2001:db8::]/32, 127.0.0.1.
  EXPECT_NE(std::find(finger->allow->begin(), finger->allow->end(), "192.168.1.0/24"),
            finger->allow->end());
  EXPECT_NE(std::find(finger->allow->begin(), finger->allow->end(), "2001:db8::/32"),
            finger->allow->end());
  EXPECT_NE(std::find(finger->allow->begin(), finger->allow->end(), "127.0.0.1/32"),
            finger->allow->end());
  EXPECT_EQ(std::find(finger->allow->begin(), finger->allow->end(), "10.0.0.0/8"),
            finger->allow->end());
  EXPECT_NE(std::find(finger->allow->begin(), finger->allow->end(), "10.8.0.0/16"),
            finger->allow->end());
  const Service *tftp = find("tftp");
  ASSERT_NE(tftp, nullptr);
  ASSERT_TRUE(tftp->allow);
  // 10.1.2.3 (its spawn dropped), 10.1.2.4 denied first, rest of 10.1/16:
  // 10.1/16 without 10.1.2.4, in the fewest blocks.
  ASSERT_EQ(tftp->allow->size(), 16u);
  EXPECT_EQ((*tftp->allow)[0], "10.1.0.0/23");
  EXPECT_EQ((*tftp->allow)[1], "10.1.2.0/30");  // .3 among them
  EXPECT_EQ((*tftp->allow)[2], "10.1.2.5/32");  // .4 not
  EXPECT_EQ((*tftp->allow)[15], "10.1.128.0/17");
  const Service *telnet = find("telnet");
  ASSERT_NE(telnet, nullptr);
  // twist for all but 172.16/12, which hosts.deny refuses: nobody reaches
  // telnetd itself.
  ASSERT_TRUE(telnet->allow);
  EXPECT_TRUE(telnet->allow->empty());
  const Service *talk = find("talk");
  ASSERT_NE(talk, nullptr);
  ASSERT_TRUE(talk->allow);
  EXPECT_EQ(*talk->allow, Strings{"198.51.100.0/24"});
  // The echo service does not run tcpd: no rules apply.
  const Service *echo = find("echo");
  ASSERT_NE(echo, nullptr);
  EXPECT_FALSE(echo->allow);
  bool noted_local = false, noted_spawn = false;
  for (const Note &n : c.notes) {
    noted_local = noted_local || (n.text.find("LOCAL") != std::string::npos &&
                                  n.where.ToString() == "/etc/hosts.allow:9");
    noted_spawn = noted_spawn || (n.text.find("spawn") != std::string::npos && n.service == "tftp");
  }
  EXPECT_TRUE(noted_local);
  EXPECT_TRUE(noted_spawn);
  bool reviewed = false;
  for (const auto &r : tftp->review) reviewed = reviewed || r.find("could not be translated") != std::string::npos;
  EXPECT_TRUE(reviewed);
  // The output is a table hinetd writes (allow lists included).
  std::string toml = WriteToml(c);
  EXPECT_NE(toml.find("198.51.100.0/24"), std::string::npos) << toml;
}

TEST(ImportHosts, FilesThatCannotBeReadGiveNoRulesAndANote) {
  FakeSystem sys;
  sys.programs = {"/usr/sbin/tcpd", "/usr/sbin/in.fingerd"};
  auto p = ParseInetd("finger stream tcp nowait nobody /usr/sbin/tcpd in.fingerd\n", "inetd.conf");
  ASSERT_TRUE(p.ok());
  Conversion c = Translate(*p, "inetd.conf", Format::kInetd, sys, HostsFiles{"/x/allow", ""});
  ASSERT_EQ(c.services.size(), 1u);
  EXPECT_FALSE(c.services[0].allow);
  bool noted = false;
  for (const Note &n : c.notes) noted = noted || n.text.find("/x/allow could not be read") != std::string::npos;
  EXPECT_TRUE(noted);
}

}  // namespace
}  // namespace hinetd::importer
