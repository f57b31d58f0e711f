// The jail table: SHA-256, the ELF closure of real binaries against ldd,
// every validation error with its position, and the plan (what goes in,
// with which owner and mode, and a hash that names exactly that).
#include "config/jail.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "base/sha256.h"
#include "common/jail.h"
#include "common/process.h"
#include "config/config.h"
#include "config/elf_closure.h"

namespace hinetd::config {
namespace {

using testing::TempDir;

std::string Sha(const std::string& s) {
  base::Sha256 h;
  h.Update(s);
  return h.HexDigest();
}

TEST(Sha256, MatchesTheStandardsTestVectors) {
  EXPECT_EQ(Sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A million 'a', fed in uneven pieces: the block boundary handling.
  base::Sha256 h;
  std::string chunk(997, 'a');
  size_t left = 1'000'000;
  while (left > 0) {
    size_t n = std::min(left, chunk.size());
    h.Update(chunk.data(), n);
    left -= n;
  }
  EXPECT_EQ(h.HexDigest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

std::string Real(const std::string& p) {
  char buf[PATH_MAX];
  return realpath(p.c_str(), buf) != nullptr ? buf : p;
}

// What ldd lists for `program`: every path it prints, canonical.
std::set<std::string> LddPaths(const std::string& program) {
  auto r = hinetd::testing::RunCommand({"/usr/bin/ldd", program}, std::chrono::milliseconds(20000));
  std::set<std::string> out;
  std::istringstream in(r.out);
  std::string word;
  while (in >> word) {
    if (!word.empty() && word[0] == '/') out.insert(Real(word));
  }
  return out;
}

TEST(ElfClosure, OfRealBinariesMatchesLdd) {
  int checked = 0;
  for (const char* program : {"/usr/bin/rsync", "/usr/bin/git", "/usr/sbin/in.fingerd",
                              "/usr/bin/finger", "/bin/ls"}) {
    if (access(program, X_OK) != 0 || access("/usr/bin/ldd", X_OK) != 0) continue;
    SCOPED_TRACE(program);
    auto closure = ResolveElfClosure(program);
    ASSERT_TRUE(closure.ok()) << closure.error().ToString();
    std::set<std::string> ours;
    if (!closure->interpreter.empty()) ours.insert(Real(closure->interpreter));
    for (const auto& lib : closure->libraries) ours.insert(Real(lib));
    std::set<std::string> ldd = LddPaths(program);
    ASSERT_FALSE(ldd.empty());
    EXPECT_EQ(ours, ldd);
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "none of the programs, or ldd, is installed";
}

TEST(ElfClosure, ScriptNeedsItsInterpreterAndAMissingFileIsAnError) {
  TempDir dir;
  std::string script = dir.Write("run.sh", "#!/bin/sh -e\necho hi\n");
  auto c = ResolveElfClosure(script);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->interpreters_of_scripts, std::vector<std::string>{"/bin/sh"});
  EXPECT_FALSE(c->libraries.empty());  // /bin/sh's
  auto missing = ResolveElfClosure(dir.path() + "/nothing");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("No such file"), std::string::npos);
}

TEST(JailPath, RefusesWhatCouldLeaveTheJail) {
  EXPECT_EQ(JailPathProblem("/srv/data"), "");
  EXPECT_NE(JailPathProblem("srv"), "");
  EXPECT_NE(JailPathProblem("/srv/../etc"), "");
  EXPECT_NE(JailPathProblem("/srv/./x"), "");
  EXPECT_NE(JailPathProblem("/srv//x"), "");
  EXPECT_NE(JailPathProblem("/srv/"), "");
}

class JailConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (getpwnam("nobody") == nullptr) GTEST_SKIP() << "needs the account nobody";
    dir_.Write("sandbox/default.toml", "allow = [\"read\", \"write\", \"@exit\", \"execve\"]\n");
    path_ = dir_.path() + "/hinetd.toml";
  }
  std::string Text(const std::string& jail, const std::string& extra = "") {
    return "[daemon]\njail_dir = \"" + dir_.path() + "/jails\"\n\n[[service]]\nname = \"s\"\n"
           "listen = \"127.0.0.1:7007\"\nexec = [\"/bin/cat\"]\nuser = \"nobody\"\n" + extra +
           "jail = " + jail + "\n";
  }
  base::Result<Config> Load(const std::string& text) { return LoadConfigText(text, path_); }
  // "L:C: message" of the error for `text`.
  std::string ErrorOf(const std::string& text) {
    auto r = Load(text);
    if (r.ok()) return "<loaded>";
    std::string e = r.error().ToString();
    return e.rfind(path_ + ":", 0) == 0 ? e.substr(path_.size() + 1) : e;
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(JailConfigTest, ErrorsNameTheItemsPositionAndTheFix) {
  EXPECT_EQ(ErrorOf(Text("{ programs = [\"bin/ls\"] }")),
            "9:22: service \"s\": jail: programs: 'bin/ls' is not an absolute path");
  EXPECT_EQ(ErrorOf(Text("{ programs = [\"/usr/bin/ls\", \"/no/such/prog\"] }")),
            "9:37: service \"s\": jail: programs: '/no/such/prog': No such file or directory "
            "on this host (a program is copied from the host into the jail)");
  EXPECT_EQ(ErrorOf(Text("{ files = [\"/etc/../etc/hostname\"] }")),
            "9:19: service \"s\": jail: files: '/etc/../etc/hostname' has a '..' component "
            "(write the path plainly: '..' could leave the jail)");
  EXPECT_EQ(ErrorOf(Text("{ files = [{ from = \"/etc/hostname\", to = \"/x/../y\" }] }")),
            "9:28: service \"s\": jail: files: '/x/../y' has a '..' component (write the path "
            "plainly: '..' could leave the jail)");
  EXPECT_EQ(ErrorOf(Text("{ devices = [\"null\", \"sda\"] }")),
            "9:29: service \"s\": jail: devices: 'sda' is not a device hinetd creates "
            "(expected \"null\", \"zero\", \"full\", \"random\" or \"urandom\")");
  EXPECT_EQ(ErrorOf(Text("{ writable = [\"/etc\"] }")),
            "9:22: service \"s\": jail: writable: '/etc' holds what hinetd puts in the jail; "
            "name a directory of its own, e.g. /var/spool/NAME");
  EXPECT_EQ(ErrorOf(Text("{ writable = [\"/bin\"] }")),
            "9:22: service \"s\": jail: writable: '/bin' would hold /bin/cat (from the item at " +
                path_ + ":7:8), which the service could then replace");
  EXPECT_EQ(ErrorOf(Text("{ files = [{ from = \"/etc/hostname\", to = \"/etc/passwd\" }] }")),
            "9:28: service \"s\": jail: files: /etc/passwd is written by hinetd (root and the "
            "service's own user and group); it cannot come from the host");
  EXPECT_EQ(ErrorOf(Text("{ program = [\"/bin/ls\"] }"))
                .rfind("9:10: service \"s\": jail: unknown key 'program'", 0),
            0u);
  EXPECT_EQ(ErrorOf(Text("{}", "chroot = \"/\"\n")),
            "10:8: service \"s\": jail: a service has either jail (a tree hinetd builds) or chroot "
            "(one you build), not both (chroot is set at " + path_ + ":9:10)");
  EXPECT_EQ(ErrorOf(Text("{}", "workdir = \"/srv\"\n")),
            "9:11: service \"s\": workdir: '/srv' is not a directory of the jail (add it to "
            "jail's files or writable)");
}

TEST_F(JailConfigTest, PlanHoldsProgramLibrariesDevicesAccountsAndWritable) {
  auto c = Load(Text("{ programs = [\"/usr/bin/head\"], files = [{ from = \"" + dir_.path() +
                     "/sandbox\", to = \"/srv/data\" }], writable = [\"/var/spool/s\"] }"));
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  const Service& s = c->services[0];
  ASSERT_TRUE(s.jail);
  const JailPlan& p = *s.jail;
  EXPECT_EQ(*s.chroot, p.root);
  EXPECT_EQ(p.root, dir_.path() + "/jails/s-" + p.hash.substr(0, 16));
  EXPECT_EQ(p.programs, (std::vector<std::string>{"/bin/cat", "/usr/bin/head"}));
  EXPECT_EQ(p.devices, (std::vector<std::string>{"null", "zero", "urandom"}));
  EXPECT_EQ(p.writable, std::vector<std::string>{"/var/spool/s"});
  std::map<std::string, JailEntry> by;
  for (const auto& e : p.entries) by[e.path] = e;
  ASSERT_TRUE(by.count("/lib64/ld-linux-x86-64.so.2") || by.count("/lib/ld-linux-aarch64.so.1"));
  EXPECT_EQ(by["/srv/data/default.toml"].kind, JailEntryKind::kFile);
  EXPECT_EQ(by["/dev/null"].kind, JailEntryKind::kDevice);
  EXPECT_EQ(by["/dev/null"].minor, 3u);
  passwd* nobody = getpwnam("nobody");
  EXPECT_EQ(by["/etc/passwd"].text,
            "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:" + std::to_string(nobody->pw_uid) +
                ":" + std::to_string(nobody->pw_gid) + ":nobody:/nonexistent:/usr/sbin/nologin\n");
  EXPECT_EQ(by["/etc/group"].text.rfind("root:x:0:\n", 0), 0u);
  EXPECT_NE(by["/etc/group"].text.find(":" + std::to_string(nobody->pw_gid) + ":"),
            std::string::npos);
  // Everything root's and not writable, but the writable directory.
  for (const auto& e : p.entries) {
    SCOPED_TRACE(e.path);
    if (e.writable) {
      EXPECT_EQ(e.path, "/var/spool/s");
      EXPECT_EQ(e.uid, nobody->pw_uid);
      EXPECT_EQ(e.mode, 0700u);
      continue;
    }
    EXPECT_EQ(e.uid, 0u);
    EXPECT_EQ(e.gid, 0u);
    if (e.kind != JailEntryKind::kDevice && e.kind != JailEntryKind::kSymlink) {
      EXPECT_EQ(e.mode & 0222, e.kind == JailEntryKind::kDir ? 0200u : 0u);
    }
  }
}

// users: host accounts a program shows or looks up (finger's), copied with
// their passwd fields and primary group, never a password; root and the
// service's own are there already and cannot be listed again.
TEST_F(JailConfigTest, UsersAddTheNamedHostAccountsAndNothingElse) {
  passwd* daemon = getpwnam("daemon");
  if (daemon == nullptr) GTEST_SKIP() << "needs the account daemon (base-passwd)";
  std::string line = std::string(daemon->pw_name) + ":x:" + std::to_string(daemon->pw_uid) +
                     ":" + std::to_string(daemon->pw_gid) + ":" + daemon->pw_gecos + ":" +
                     daemon->pw_dir + ":" + daemon->pw_shell + "\n";
  gid_t gid = daemon->pw_gid;
  auto c = Load(Text("{ users = [\"daemon\"] }"));
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  const JailPlan& p = *c->services[0].jail;
  std::map<std::string, JailEntry> by;
  for (const auto& e : p.entries) by[e.path] = e;
  const std::string& pw = by["/etc/passwd"].text;
  EXPECT_NE(pw.find("\n" + line), std::string::npos) << pw;
  EXPECT_EQ(std::count(pw.begin(), pw.end(), '\n'), 3) << pw;  // root, nobody, daemon
  EXPECT_NE(by["/etc/group"].text.find(":x:" + std::to_string(gid) + ":\n"), std::string::npos)
      << by["/etc/group"].text;
  EXPECT_NE(std::find(p.users.begin(), p.users.end(),
                      "daemon " + std::to_string(daemon->pw_uid)),
            p.users.end());
  // The hash names the accounts too.
  auto without = Load(Text("{}"));
  ASSERT_TRUE(without.ok());
  EXPECT_NE(without->services[0].jail->hash, p.hash);

  EXPECT_EQ(ErrorOf(Text("{ users = [\"root\"] }")),
            "9:19: service \"s\": jail: users: 'root' is root or in group 0; root is always in "
            "the jail's /etc/passwd (with no home and no shell), and no other account of uid 0 "
            "or gid 0 may be");
  EXPECT_EQ(ErrorOf(Text("{ users = [\"nobody\"] }")),
            "9:19: service \"s\": jail: users: 'nobody' (uid " +
                std::to_string(getpwnam("nobody")->pw_uid) +
                ") is already in the jail's /etc/passwd (root and the service's own user always "
                "are; list each other once)");
  EXPECT_EQ(ErrorOf(Text("{ users = [\"daemon\", \"hinetd-no-such-user\"] }")),
            "9:29: service \"s\": jail: users: no user 'hinetd-no-such-user' on this system "
            "(check /etc/passwd, or give a uid)");
  EXPECT_EQ(ErrorOf(Text("{ users = [\"4000000000\"] }")),
            "9:19: service \"s\": jail: users: uid 4000000000 has no passwd entry to copy; name "
            "an account of /etc/passwd");
}

TEST_F(JailConfigTest, SameInputsSameHashAndAChangedFileChangesIt) {
  std::string data = dir_.Write("data.txt", "one\n");
  std::string text = Text("{ files = [\"" + data + "\"] }");
  auto a = Load(text);
  auto b = Load(text);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->services[0].jail->hash, b->services[0].jail->hash);
  dir_.Write("data.txt", "two\n");
  auto c = Load(text);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->services[0].jail->hash, c->services[0].jail->hash);
  EXPECT_NE(a->services[0].jail->root, c->services[0].jail->root);
}

}  // namespace
}  // namespace hinetd::config
