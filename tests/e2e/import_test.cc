// hinetd import through the real binary: the real Debian inetd.conf lines
// convert into a file `hinetd check` accepts; an imported service serves a
// connection on loopback; the exit codes of import.
#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

std::optional<std::string> ReadText(const std::string &path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ImportTest : public E2eTest {
 protected:
  std::string Hinetd() { return BinDir() + "/hinetd"; }
  std::string Fixture(const std::string &name) {
    return SourceDir() + "/tests/fixtures/import/" + name;
  }
  CommandResult Run(const std::vector<std::string> &args) {
    std::vector<std::string> argv{Hinetd()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, milliseconds(20000));
  }
  // Import gives each program a jail, built under [daemon] jail_dir: the
  // test's own, not the host's /var/lib/hinetd/jails.
  void UseOwnJailDir(const std::string &path) {
    auto text = ReadText(path);
    ASSERT_TRUE(text.has_value());
    std::ofstream(path, std::ios::trunc)
        << "[daemon]\njail_dir = \"" << dir_.path() << "/jails\"\n\n" << *text;
  }
};

TEST_F(ImportTest, DebianInetdConfPassesCheck) {
  std::string out = dir_.path() + "/hinetd.toml";
  CommandResult imp = Run({"import", "-o", out, Fixture("debian-inetd.conf")});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_EQ(imp.out, "");
  // The report: what is not translated, what is off, the accounts to create.
  EXPECT_NE(imp.err.find("debian-inetd.conf:16: finger: not translated: tcpd access control"),
            std::string::npos)
      << imp.err;
  EXPECT_NE(imp.err.find("debian-inetd.conf:27: telnet: written commented out: "
                         "disabled in the "
                         "input"),
            std::string::npos)
      << imp.err;
  EXPECT_NE(imp.err.find("hinetd import: wrote " + out), std::string::npos);
  auto text = ReadText(out);
  ASSERT_TRUE(text.has_value());
  EXPECT_NE(text->find("[[service]]\nname = \"echo\"\nlisten = [\"0.0.0.0:7\"]\ninternal = "
                       "\"echo\"\n"),
            std::string::npos)
      << *text;
  CommandResult check = Run({"check", "-c", out});
  EXPECT_EQ(check.exit_code, 0) << check.err << check.out << *text;
  EXPECT_NE(check.out.find("service \"echo\""), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("service \"discard-udp\""), std::string::npos);
}

TEST_F(ImportTest, ImportedServiceServesAConnection) {
  uint16_t port = FreeTcpPort();
  std::string conf = dir_.Write(
      "inetd.conf",
      "# a filter as inetd would run it, wrapped in tcpd\n127.0.0.1:" + std::to_string(port) +
          "\tstream\ttcp\tnowait.100\tnobody\t/usr/sbin/tcpd\t/bin/cat\n");
  std::string out = dir_.path() + "/hinetd.toml";
  CommandResult imp = Run({"import", "-o", out, conf});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  auto text = ReadText(out);
  ASSERT_TRUE(text.has_value());
  // cat: in a jail of its own (its closure), under stdio.
  EXPECT_NE(text->find("exec = [\"/bin/cat\"]\nuser = \"nobody\"\njail = {}\nsandbox = "
                       "\"stdio\"\n"),
            std::string::npos)
      << *text;
  UseOwnJailDir(out);
  ASSERT_TRUE(daemon_.StartAndWait(out)) << daemon_.LogText() << *text;
  EXPECT_EQ(Exchange("127.0.0.1", port, "through an imported service\n"),
            "through an imported service\n");
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=" + std::to_string(port), "status=exit:0"},
                                  milliseconds(5000)))
      << daemon_.LogText();
}

// Debian's shipped xinetd examples (all disabled) and a service of our own,
// with defaults: the result passes check and serves.
TEST_F(ImportTest, XinetdConfPassesCheckAndServes) {
  uint16_t port = FreeTcpPort();
  std::string conf =
      dir_.Write("xinetd.conf",
                 "defaults\n{\n\tonly_from = 127.0.0.1\n\tinstances = 10\n\tcps = 20 5\n}\n"
                 "includedir " +
                     Fixture("xinetd/xinetd.d") +
                     "\n"
                     "service upper\n{\n\tsocket_type = stream\n\twait = no\n"
                     "\tuser = nobody\n\tserver = /bin/cat\n\tport = " +
                     std::to_string(port) +
                     "\n\tbind = 127.0.0.1\n\trlimit_as = 256M\n\tlog_on_success += "
                     "DURATION\n}\n");
  std::string out = dir_.path() + "/hinetd.toml";
  CommandResult imp = Run({"import", "-o", out, conf});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_NE(imp.err.find("echo-stream: written commented out: disabled in the input (disable = "
                         "yes)"),
            std::string::npos)
      << imp.err;
  EXPECT_NE(imp.err.find("upper: not translated: log_on_success = DURATION"), std::string::npos)
      << imp.err;
  EXPECT_NE(imp.err.find("16 service(s) converted, 1 active, 15 commented out"), std::string::npos)
      << imp.err;
  UseOwnJailDir(out);
  CommandResult check = Run({"check", "-c", out});
  auto text = ReadText(out);
  ASSERT_TRUE(text.has_value());
  ASSERT_EQ(check.exit_code, 0) << check.err << check.out << *text;
  EXPECT_NE(check.out.find("service \"upper\""), std::string::npos);
  ASSERT_TRUE(daemon_.StartAndWait(out)) << daemon_.LogText() << *text;
  EXPECT_EQ(Exchange("127.0.0.1", port, "from xinetd\n"), "from xinetd\n");
  // --format inetd reads it as inetd.conf, which it is not.
  CommandResult wrong = Run({"import", "--format", "inetd", conf});
  EXPECT_EQ(wrong.exit_code, 65);
  EXPECT_NE(wrong.err.find(conf + ":1:1: an inetd.conf entry has at least 6 fields"),
            std::string::npos)
      << wrong.err;
}

TEST_F(ImportTest, ExitCodes) {
  std::string conf = dir_.Write("inetd.conf", "echo stream tcp nowait root internal\n");
  std::string out = dir_.path() + "/out.toml";
  // stdout by default.
  CommandResult a = Run({"import", conf});
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.out.find("internal = \"echo\""), std::string::npos) << a.out;
  // Never over an existing file, unless forced.
  ASSERT_EQ(Run({"import", "-o", out, conf}).exit_code, 0);
  CommandResult again = Run({"import", "-o", out, conf});
  EXPECT_EQ(again.exit_code, 73);
  EXPECT_NE(again.err.find(out + " exists; hinetd import never overwrites a file unless told "
                                 "(add --force, or choose another -o)"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(Run({"import", "--force", "-o", out, conf}).exit_code, 0);
  // Unreadable input: 66; an invalid line: 65 with file:line:column.
  CommandResult missing = Run({"import", dir_.path() + "/no-such.conf"});
  EXPECT_EQ(missing.exit_code, 66);
  EXPECT_NE(missing.err.find("no-such.conf"), std::string::npos);
  std::string bad = dir_.Write("bad.conf",
                               "# one good, one bad\necho stream tcp nowait root internal\n"
                               "echo stream tcp\n");
  CommandResult invalid = Run({"import", bad});
  EXPECT_EQ(invalid.exit_code, 65);
  EXPECT_NE(invalid.err.find(bad + ":3:1: an inetd.conf entry has at least 6 fields"),
            std::string::npos)
      << invalid.err;
  // Usage: 64.
  EXPECT_EQ(Run({"import"}).exit_code, 64);
  EXPECT_EQ(Run({"import", "--format", "bsd", conf}).exit_code, 64);
  EXPECT_EQ(Run({"import", "--force", conf}).exit_code, 64);
}

// tcpd's rules come along: a service wrapped in tcpd gets tcpd's decision
// for its daemon as allow/deny, and the daemon enforces it.
TEST_F(ImportTest, HostsAllowAndDenyBecomeAllowAndAreEnforced) {
  uint16_t open_port = FreeTcpPort();
  uint16_t shut_port = FreeTcpPort();
  ASSERT_NE(open_port, 0);
  ASSERT_NE(shut_port, 0);
  // Two programs so that tcpd's process names differ: cat and tac.
  std::string conf = dir_.Write(
      "inetd.conf", "127.0.0.1:" + std::to_string(open_port) +
                        "\tstream\ttcp\tnowait\tnobody\t/usr/sbin/tcpd\t/bin/cat\n" +
                        "127.0.0.1:" + std::to_string(shut_port) +
                        "\tstream\ttcp\tnowait\tnobody\t/usr/sbin/tcpd\t/usr/bin/tac\n");
  std::string allow = dir_.Write("hosts.allow",
                                 "# cat for loopback, tac for another network only\n"
                                 "cat: 127.0.0.1\ntac: 10.0.0.0/255.0.0.0 : spawn logger %a\n");
  std::string deny = dir_.Write("hosts.deny", "ALL: ALL\n");
  std::string out = dir_.path() + "/hinetd.toml";
  CommandResult imp =
      Run({"import", "--hosts-allow", allow, "--hosts-deny", deny, "-o", out, conf});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_NE(imp.err.find("hosts.allow:3: " + std::to_string(shut_port) +
                         ": not translated: hosts_access rule for tac: option 'spawn logger %a'"),
            std::string::npos)
      << imp.err;
  auto text = ReadText(out);
  ASSERT_TRUE(text.has_value());
  EXPECT_NE(text->find("allow = [\"127.0.0.1/32\"]"), std::string::npos) << *text;
  EXPECT_NE(text->find("allow = [\"10.0.0.0/8\"]"), std::string::npos) << *text;
  UseOwnJailDir(out);
  ASSERT_TRUE(daemon_.StartAndWait(out)) << daemon_.LogText() << *text;
  EXPECT_EQ(Exchange("127.0.0.1", open_port, "allowed\n"), "allowed\n");
  EXPECT_EQ(Exchange("127.0.0.1", shut_port, "refused\n"), "");
  EXPECT_TRUE(daemon_.WaitForLine({"event=reject", "reason=acl"}, milliseconds(5000)))
      << daemon_.LogText();
}

}  // namespace
}  // namespace hinetd::testing
