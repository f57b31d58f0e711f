// jail = {...}: the real daemon builds the tree at start, serves from it,
// keeps it when nothing changed, builds a new one on a reload that changes
// it (a running child keeps the old one until it ends), and keeps the old
// table and tree when the new jail is invalid.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <dirent.h>
#include <pwd.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/net.h"
#include "common/process.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// Every path under `root` that is not root's, or that someone but root may
// write (device nodes aside): "path uid mode" lines. Bounded by depth.
void Writable(const std::string& root, const std::string& rel, int depth, std::string& out) {
  struct stat st {};
  std::string path = root + rel;
  if (lstat(path.c_str(), &st) != 0 || depth > 32) return;
  if (!S_ISLNK(st.st_mode) && !S_ISCHR(st.st_mode) &&
      (st.st_uid != 0 || st.st_gid != 0 || (st.st_mode & 022) != 0)) {
    out += (rel.empty() ? "/" : rel) + " " + std::to_string(st.st_uid) + "\n";
  }
  if (!S_ISDIR(st.st_mode)) return;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return;
  while (dirent* de = readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") Writable(root, rel + "/" + n, depth + 1, out);
  }
  closedir(d);
}

class JailE2eTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped()) return;
    data_ = dir_.Write("data.txt", "v1\n");
    port_ = FreeTcpPort();
  }
  // Reads a line, answers with the jail's data file and the line.
  std::string Service(const std::string& programs = "[\"/bin/cat\"]") {
    return "[[service]]\nname = \"jt\"\nlisten = \"127.0.0.1:" + std::to_string(port_) +
           "\"\nexec = [\"/bin/sh\", \"-c\", \"read line; cat /srv/data.txt; echo \\\"$line\\\"\"]\n"
           "user = \"nobody\"\nstderr = \"log\"\n"
           "jail = { programs = " + programs + ", files = [{ from = \"" + data_ +
           "\", to = \"/srv/data.txt\" }], writable = [\"/var/spool/jt\"] }\n";
  }
  std::string Config(const std::string& programs = "[\"/bin/cat\"]") {
    return WriteConfig(Service(programs), "jail_dir = \"" + dir_.path() + "/jails\"\n");
  }
  // The root of the nth event=jail line.
  std::string RootOf(size_t nth) {
    if (!daemon_.WaitForCount({"event=jail ", "service=jt"}, nth, milliseconds(10000))) return "";
    size_t seen = 0;
    for (const auto& l : daemon_.Lines()) {
      if (l.rfind("event=jail ", 0) == 0 && ++seen == nth) return LogField(l, "root");
    }
    return "";
  }
  std::string data_;
  uint16_t port_ = 0;
};

TEST_F(JailE2eTest, ServesFromTheTreeItBuiltAndKeepsItWhenNothingChanged) {
  std::string config = Config();
  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();
  ASSERT_TRUE(daemon_.WaitForLine({"event=jail", "service=jt", "action=built"}, milliseconds(5000)))
      << daemon_.LogText();
  std::string root = RootOf(1);
  ASSERT_EQ(root.rfind(dir_.path() + "/jails/jt-", 0), 0u) << root;
  ASSERT_TRUE(daemon_.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  EXPECT_EQ(Exchange("127.0.0.1", port_, "hello\n"), "v1\nhello\n") << daemon_.LogText();

  // Device nodes, accounts with the service's real ids.
  for (auto [name, minor] : {std::pair{"null", 3u}, {"zero", 5u}, {"urandom", 9u}}) {
    struct stat st {};
    ASSERT_EQ(lstat((root + "/dev/" + name).c_str(), &st), 0) << name;
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << name;
    EXPECT_EQ(st.st_rdev, makedev(1, minor)) << name;
  }
  passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  EXPECT_NE(Slurp(root + "/etc/passwd").find("nobody:x:" + std::to_string(nobody->pw_uid) + ":" +
                                              std::to_string(nobody->pw_gid) + ":"),
            std::string::npos);
  EXPECT_EQ(Slurp(root + "/etc/passwd").rfind("root:x:0:0:", 0), 0u);
  EXPECT_NE(Slurp(root + "/etc/group").find(":x:" + std::to_string(nobody->pw_gid) + ":"),
            std::string::npos);
  // Nothing but the writable directory is the service's, or writable.
  std::string writable;
  Writable(root, "", 0, writable);
  EXPECT_EQ(writable, "/var/spool/jt " + std::to_string(nobody->pw_uid) + "\n");

  // The same inputs: the same tree, checked and kept.
  daemon_.Stop();
  DaemonProcess again;
  ASSERT_TRUE(again.StartAndWait(config)) << again.LogText();
  auto kept = again.WaitForLine({"event=jail", "service=jt"}, milliseconds(5000));
  ASSERT_TRUE(kept);
  EXPECT_NE(kept->find("action=kept"), std::string::npos) << *kept;
  EXPECT_EQ(LogField(*kept, "root"), root);
  again.Stop();
}

TEST_F(JailE2eTest, AReloadThatChangesTheJailBuildsANewTreeAndARunningChildKeepsItsOwn) {
  ASSERT_TRUE(daemon_.StartAndWait(Config())) << daemon_.LogText();
  std::string first = RootOf(1);
  ASSERT_FALSE(first.empty()) << daemon_.LogText();
  ASSERT_TRUE(daemon_.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  int running = ConnectTcp("127.0.0.1", port_);
  ASSERT_GE(running, 0);
  ASSERT_TRUE(daemon_.WaitForLine({"event=accept", "service=jt"}, milliseconds(5000)));

  dir_.Write("data.txt", "v2\n");
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload "}, milliseconds(10000))) << daemon_.LogText();
  std::string second = RootOf(2);
  ASSERT_FALSE(second.empty());
  EXPECT_NE(second, first);
  EXPECT_NE(daemon_.CountLines({"event=jail ", "root=" + second, "action=built"}), 0u);
  EXPECT_TRUE(Exists(first)) << "the running child's tree went away";
  ASSERT_TRUE(daemon_.WaitForCount({"event=listener-ready"}, 2, milliseconds(10000)));
  EXPECT_EQ(Exchange("127.0.0.1", port_, "new\n"), "v2\nnew\n") << daemon_.LogText();

  // The child started before the reload still reads its own tree.
  ASSERT_EQ(write(running, "old\n", 4), 4);
  EXPECT_EQ(ReadAll(running), "v1\nold\n");
  close(running);
  ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=jt"}, 2, milliseconds(5000)));

  // Unused now: the next reload removes it, and keeps the current one.
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=jail-removed", "root=" + first}, milliseconds(10000)))
      << daemon_.LogText();
  EXPECT_FALSE(Exists(first));
  EXPECT_TRUE(Exists(second));
  EXPECT_NE(daemon_.CountLines({"event=jail ", "root=" + second, "action=kept"}), 0u);
}

TEST_F(JailE2eTest, AnInvalidJailAtReloadKeepsTheOldTableAndTree) {
  std::string config = Config();
  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();
  std::string root = RootOf(1);
  ASSERT_FALSE(root.empty());
  ASSERT_TRUE(daemon_.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  Config("[\"/bin/cat\", \"/no/such/program\"]");
  daemon_.Signal(SIGHUP);
  auto failed = daemon_.WaitForLine({"event=reload-failed"}, milliseconds(10000));
  ASSERT_TRUE(failed) << daemon_.LogText();
  EXPECT_NE(failed->find("jail: programs: '/no/such/program': No such file or directory"),
            std::string::npos)
      << *failed;
  EXPECT_NE(failed->find("hinetd.toml:"), std::string::npos) << *failed;
  EXPECT_TRUE(Exists(root));
  EXPECT_EQ(Exchange("127.0.0.1", port_, "still\n"), "v1\nstill\n") << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=jail "}), 1u);
}

TEST_F(JailE2eTest, CheckShowsThePlanAndWhetherTheTreeIsBuilt) {
  std::string config = Config();
  auto check = [&] {
    return RunCommand({BinDir() + "/hinetd", "check", "-c", config}, milliseconds(20000));
  };
  CommandResult before = check();
  ASSERT_EQ(before.exit_code, 0) << before.out << before.err;
  passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  for (const std::string& line :
       {std::string("(a jail hinetd builds; content hash "),
        std::string("    tree      not built yet: the daemon builds it when it starts or reloads"),
        std::string("    programs  /bin/sh, /bin/cat\n"),
        "    files     " + data_ + " -> /srv/data.txt\n",
        std::string("    devices   null, zero, urandom\n"),
        "    users     root 0, nobody " + std::to_string(nobody->pw_uid) + " (/etc/passwd)\n",
        std::string("    writable  /var/spool/jt\n")}) {
    EXPECT_NE(before.out.find(line), std::string::npos) << line << "\n" << before.out;
  }
  EXPECT_NE(before.out.find("    libraries "), std::string::npos) << before.out;
  EXPECT_EQ(before.out.find("    problem "), std::string::npos) << before.out;

  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();
  ASSERT_FALSE(RootOf(1).empty());
  CommandResult after = check();
  EXPECT_NE(after.out.find("    tree      built, and matches the plan;"), std::string::npos)
      << after.out;
  EXPECT_NE(after.out.find(RootOf(1)), std::string::npos) << after.out;
}

}  // namespace
}  // namespace hinetd::testing
