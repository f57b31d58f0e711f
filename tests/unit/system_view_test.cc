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
    if (text != "alice") return base::Error("no user '" + text + "'");
    return Account{4242, 4343, "alice", true, "alice", "", "", ""};
  }
  base::Result<gid_t> ResolveGroup(const std::string& text, std::string& name) const override {
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

}  // namespace
}  // namespace hinetd::config
