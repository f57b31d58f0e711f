// The policies shipped in sandbox/: each loads and compiles, and every
// dangerous syscall one allows is named on a line with a comment saying why.
#include <dirent.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "common/jail.h"
#include "common/test_env.h"
#include "config/policy_file.h"
#include "sandbox/policy.h"

namespace hinetd {
namespace {

// A copy of sandbox/ that hinetd trusts whoever owns the checkout and
// wherever it is (policies load only from root-owned directories that no
// one else can write): the same bytes, in the tests' own directory.
// Removed at exit (a static object, not a leaked pointer: each test runs
// in a process of its own under ctest, and each left its copy behind).
const std::string& SandboxDir() {
  static testing::TempDir dir;
  static const std::string path = [] {
    std::string p = dir.path() + "/sandbox";
    testing::CopyShippedPolicies(p);
    return p;
  }();
  return path;
}

std::vector<std::string> ShippedPolicies() {
  std::vector<std::string> names;
  DIR* d = opendir(testing::ShippedSandboxDir().c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string f = e->d_name;
    if (f.size() > 5 && f.ends_with(".toml")) names.push_back(f.substr(0, f.size() - 5));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ShippedPolicies, TheFourArePresent) {
  auto names = ShippedPolicies();
  for (const char* want : {"default", "internal", "runtime", "stdio"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
}

TEST(ShippedPolicies, LoadAndCompile) {
  for (const auto& name : ShippedPolicies()) {
    config::PolicyLoader loader(SandboxDir());
    auto spec = loader.Load(name, base::SourceLoc{"test", 1, 1});
    ASSERT_TRUE(spec.ok()) << spec.error().ToString();
    EXPECT_FALSE(spec->description.empty()) << name << " has no description";
    EXPECT_EQ(spec->default_action.kind, sandbox::ActionKind::kKill) << name;
    auto prog = sandbox::Compile(*spec);
    ASSERT_TRUE(prog.ok()) << name << ": " << prog.error().ToString();
  }
}

// minijail's rule: a dangerous syscall is allowed only with a justification.
// Here: it must be named in the file itself (groups never hold one), on a
// line that carries a comment or right below a comment.
TEST(ShippedPolicies, EveryDangerousSyscallIsJustified) {
  for (const auto& name : ShippedPolicies()) {
    std::string path = SandboxDir() + "/" + name + ".toml";
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    config::PolicyLoader loader(SandboxDir());
    auto spec = loader.Load(name, base::SourceLoc{"test", 1, 1});
    ASSERT_TRUE(spec.ok()) << spec.error().ToString();
    // Only this file's own allow rules (included files are checked on their own).
    for (const auto& rule : spec->rules) {
      if (rule.loc.file != path || rule.action.kind != sandbox::ActionKind::kAllow) continue;
      if (!sandbox::IsDangerous(rule.name)) continue;
      ASSERT_GT(rule.loc.line, 0);
      size_t i = static_cast<size_t>(rule.loc.line) - 1;
      // The line itself has a comment, or the entry lines above it lead up to
      // a comment line (one comment may cover a few lines of names).
      bool commented = lines[i].find('#') != std::string::npos;
      for (size_t j = i; j > 0 && !commented; --j) {
        std::string prev = lines[j - 1];
        prev.erase(0, prev.find_first_not_of(" \t"));
        if (prev.rfind("#", 0) == 0) {
          commented = true;
        } else if (prev.empty() || prev.find_first_of("\"{}]") != 0) {
          // A blank line or the start of the array: no comment. (Entry
          // lines are names, argument rules and their condition lists.)
          break;
        }
      }
      EXPECT_TRUE(commented) << path << ":" << rule.loc.line << ": '" << rule.name
                             << "' is dangerous and needs a comment saying why it is allowed";
    }
  }
}

}  // namespace
}  // namespace hinetd
