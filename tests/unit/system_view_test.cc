// The loaders ask the system through config::SystemView (accounts, stat,
// the chroot and program checks, policy files): one that answers from
// memory loads a table with no account and no file of the machine, which is
// how fuzz/ drives them. Errors keep their positions.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config/config.h"
#include "config/policy_file.h"
#include "config/system_checks.h"

namespace hinetd::config {
namespace {

class MemorySystem : public SystemView {
 public:
  base::Result<Account> ResolveUser(const std::string& text) const override {
    ++user_lookups;
    if (text != "alice") return base::Error("no user '" + text + "'");
    return Account{4242, 4343, "alice", true, "alice", "", "", ""};
  }
  base::Result<gid_t> ResolveGroup(const std::string& text, std::string& name) const override {
    ++group_lookups;
    if (text != "4343" && text != "staff") return base::Error("no group '" + text + "'");
    name = "staff";
    return gid_t{4343};
  }
  base::Result<std::string> CheckChroot(const std::string& path) const override {
    ++checked;
    return path;
  }
  base::Status CheckProgram(const std::string&, const std::string&,
                            const Identity&) const override {
    ++checked;
    return base::Status();
  }
  base::Result<std::string> ReadTrustedFile(const std::string& path) const override {
    auto it = files.find(path);
    if (it == files.end()) return base::Error(path + ": not here");
    return it->second;
  }
  int Stat(const std::string& path, struct stat& st) const override {
    st = {};
    if (path == "/mem/sandbox") {
      st.st_mode = S_IFDIR | 0755;
      return 0;
    }
    if (files.count(path) == 0) return ENOENT;
    st.st_mode = S_IFREG | 0644;
    return 0;
  }
  std::optional<std::string> RealPath(const std::string& path) const override { return path; }
  std::vector<std::string> ListPolicies(const std::string&) const override { return {"p"}; }

  std::map<std::string, std::string> files{{"/mem/sandbox/p.toml", "allow = [\"read\"]\n"}};
  mutable int checked = 0;
  mutable int user_lookups = 0;
  mutable int group_lookups = 0;
};

const char* kTable =
    "[[service]]\nname = \"cat\"\nlisten = \"127.0.0.1:7\"\nexec = [\"/bin/cat\"]\n"
    "user = \"alice\"\nchroot = \"/jail\"\nsandbox = \"p\"\n";

TEST(SystemView, LoadsATableFromMemory) {
  MemorySystem sys;
  auto c = LoadConfigText(kTable, "/mem/hinetd.toml", sys);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  ASSERT_EQ(c->services.size(), 1u);
  EXPECT_EQ(c->services[0].uid, 4242u);
  EXPECT_EQ(c->services[0].gid, 4343u);
  EXPECT_EQ(c->services[0].group, "staff");
  EXPECT_EQ(c->daemon.sandbox_dir, "/mem/sandbox");
  EXPECT_EQ(c->policies.count("p"), 1u);
  EXPECT_EQ(sys.checked, 2);  // the chroot and the program, through the view
}

TEST(SystemView, ErrorsKeepTheirPositions) {
  MemorySystem sys;
  std::string text = kTable;
  text.replace(text.find("alice"), 5, "bob");
  auto c = LoadConfigText(text, "/mem/hinetd.toml", sys);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().ToString(), "/mem/hinetd.toml:5:8: service \"cat\": user: no user 'bob'");

  PolicyLoader loader("/mem/sandbox", sys);
  auto missing = loader.Load("q", base::SourceLoc{"/mem/hinetd.toml", 7, 11});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().ToString(),
            "/mem/hinetd.toml:7:11: no policy 'q' (no file /mem/sandbox/q.toml; policies in "
            "/mem/sandbox: p)");
}

// A large table: each account is looked up once per load, not once per
// service (a thousand services read /etc/passwd and /etc/group a thousand
// times each), and the duplicate checks, indexed, still find a clash
// between the first service and the last.
TEST(SystemView, AThousandServicesLookEachAccountUpOnceAndClashesAreStillFound) {
  auto table = [](const std::string& last_name, int last_port) {
    std::string text;
    for (int i = 0; i < 1000; ++i) {
      std::string name = i == 999 ? last_name : "s" + std::to_string(i);
      int port = i == 999 ? last_port : 10000 + i;
      text += "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" +
              std::to_string(port) + "\"\nexec = [\"/bin/cat\"]\nuser = \"alice\"\n" +
              "group = \"staff\"\nchroot = \"/jail\"\nsandbox = \"p\"\n";
    }
    return text;
  };
  MemorySystem sys;
  auto c = LoadConfigText(table("s999", 10999), "/mem/hinetd.toml", sys);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->services.size(), 1000u);
  EXPECT_EQ(sys.user_lookups, 1);
  EXPECT_LE(sys.group_lookups, 2);  // "staff", and the primary gid's name

  MemorySystem again;
  auto same_name = LoadConfigText(table("s0", 10999), "/mem/hinetd.toml", again);
  ASSERT_FALSE(same_name.ok());
  EXPECT_NE(same_name.error().ToString().find("a service named 's0' is already defined at "
                                              "/mem/hinetd.toml:1:1"),
            std::string::npos)
      << same_name.error().ToString();
  auto same_port = LoadConfigText(table("last", 10000), "/mem/hinetd.toml", again);
  ASSERT_FALSE(same_port.ok());
  EXPECT_NE(same_port.error().ToString().find("'127.0.0.1:10000' is the same as '127.0.0.1:10000' "
                                              "of service \"s0\""),
            std::string::npos)
      << same_port.error().ToString();
  auto wildcard = LoadConfigText(table("last", 10000).replace(
                                     table("last", 10000).rfind("127.0.0.1:10000"), 9, "*"),
                                 "/mem/hinetd.toml", again);
  ASSERT_FALSE(wildcard.ok());
  EXPECT_NE(wildcard.error().ToString().find("'*:10000' overlaps '127.0.0.1:10000'"),
            std::string::npos)
      << wildcard.error().ToString();
}

}  // namespace
}  // namespace hinetd::config
