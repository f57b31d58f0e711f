// `hinetd audit` with the real binary: the text report, the JSON schema,
// --threshold and --against exit codes, and the weak example of README's
// "Auditing" section.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/jail_builder.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

// A JSON value, parsed strictly enough to check the schema: every key and
// the type of every value.
struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<Json> items;
  std::map<std::string, Json> fields;
  std::vector<std::string> order;  // keys as they came
};

class Parser {
 public:
  explicit Parser(const std::string& t) : t_(t) {}
  bool Parse(Json& out) {
    if (!Value(out)) return false;
    Ws();
    return i_ == t_.size();
  }
  size_t pos() const { return i_; }

 private:
  void Ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\t' || t_[i_] == '\r')) {
      ++i_;
    }
  }
  bool Lit(const char* w) {
    size_t n = strlen(w);
    if (t_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }
  bool Str(std::string& out) {
    if (i_ >= t_.size() || t_[i_] != '"') return false;
    ++i_;
    while (i_ < t_.size() && t_[i_] != '"') {
      char c = t_[i_++];
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        if (i_ >= t_.size()) return false;
        char e = t_[i_++];
        if (e == 'u') {
          if (i_ + 4 > t_.size()) return false;
          out += static_cast<char>(std::stoi(t_.substr(i_, 4), nullptr, 16));
          i_ += 4;
          continue;
        }
        if (std::string("\"\\/bfnrt").find(e) == std::string::npos) return false;
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        continue;
      }
      out += c;
    }
    if (i_ >= t_.size()) return false;
    ++i_;
    return true;
  }
  bool Value(Json& v) {
    Ws();
    if (i_ >= t_.size()) return false;
    char c = t_[i_];
    if (c == '{') {
      v.kind = Json::kObject;
      ++i_;
      Ws();
      if (i_ < t_.size() && t_[i_] == '}') return ++i_, true;
      for (;;) {
        Ws();
        std::string k;
        if (!Str(k)) return false;
        Ws();
        if (i_ >= t_.size() || t_[i_++] != ':') return false;
        if (v.fields.count(k) != 0) return false;  // duplicate key
        if (!Value(v.fields[k])) return false;
        v.order.push_back(k);
        Ws();
        if (i_ < t_.size() && t_[i_] == ',') {
          ++i_;
          continue;
        }
        return i_ < t_.size() && t_[i_++] == '}';
      }
    }
    if (c == '[') {
      v.kind = Json::kArray;
      ++i_;
      Ws();
      if (i_ < t_.size() && t_[i_] == ']') return ++i_, true;
      for (;;) {
        v.items.emplace_back();
        if (!Value(v.items.back())) return false;
        Ws();
        if (i_ < t_.size() && t_[i_] == ',') {
          ++i_;
          continue;
        }
        return i_ < t_.size() && t_[i_++] == ']';
      }
    }
    if (c == '"') {
      v.kind = Json::kString;
      return Str(v.s);
    }
    if (Lit("null")) return v.kind = Json::kNull, true;
    if (Lit("true")) return v.kind = Json::kBool, v.b = true, true;
    if (Lit("false")) return v.kind = Json::kBool, true;
    size_t start = i_;
    if (i_ < t_.size() && t_[i_] == '-') ++i_;
    while (i_ < t_.size() && (isdigit(static_cast<unsigned char>(t_[i_])) || t_[i_] == '.')) ++i_;
    if (i_ == start) return false;
    v.kind = Json::kNumber;
    v.n = std::stod(t_.substr(start, i_ - start));
    return true;
  }
  const std::string& t_;
  size_t i_ = 0;
};

class AuditE2eTest : public E2eTest {
 protected:
  CommandResult Audit(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {BinDir() + "/hinetd", "audit"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, milliseconds(20000));
  }

  std::string TwoServices(const std::string& probe_policy) {
    return InternalService("echo", "echo", "\"127.0.0.1:10007\"") +
           "[[service]]\nname = \"prog\"\nlisten = \"127.0.0.1:10100\"\nexec = [\"/probe\"]\n"
           "user = \"nobody\"\nchroot = \"" + jail_.path() + "\"\nsandbox = \"" + probe_policy +
           "\"\ntimeout = \"10s\"\n";
  }
};

TEST_F(AuditE2eTest, TextReport) {
  // The weakest service last in the table, so that worst first is a sort.
  std::string path = WriteConfig(
      TwoServices("stdio") +
      "\n[[service]]\nname = \"weak\"\nlisten = \"127.0.0.1:10102\"\nexec = [\"/bin/cat\"]\n"
      "user = \"root\"\nunconfined = true\nsandbox = \"none\"\n");
  CommandResult r = Audit({"-c", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("service \"echo\": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  ok    2.0  fs.chroot"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  FAIL  0.5  seccomp.exec"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[fix: sandbox]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("narrowed by an argument rule: mprotect"), std::string::npos) << r.out;
  // The summary, worst first: each service once, scores not rising, and
  // each row's score the one its report says.
  size_t table = r.out.find("\nSERVICE  SCORE  BUCKET");
  ASSERT_NE(table, std::string::npos) << r.out;
  std::istringstream rows(r.out.substr(table + 1));
  std::string row;
  std::getline(rows, row);  // the header
  std::vector<std::pair<std::string, double>> summary;
  while (std::getline(rows, row) && !row.empty()) {
    std::istringstream fields(row);
    std::string name;
    double score = -1;
    fields >> name >> score;
    summary.emplace_back(name, score);
    size_t at = r.out.find("service \"" + name + "\": ");
    ASSERT_NE(at, std::string::npos) << name;
    EXPECT_DOUBLE_EQ(std::stod(r.out.substr(at + name.size() + 12)), score) << row;
  }
  ASSERT_EQ(summary.size(), 3u) << r.out;
  EXPECT_EQ(summary[0].first, "weak") << r.out;
  EXPECT_GT(summary[0].second, summary[1].second) << r.out;
  EXPECT_GE(summary[1].second, summary[2].second) << r.out;
  // Only "prog" asked for.
  CommandResult one = Audit({"-c", path, "prog"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out.find("service \"echo\""), std::string::npos);
  CommandResult unknown = Audit({"-c", path, "nope"});
  EXPECT_EQ(unknown.exit_code, 64);
  EXPECT_NE(unknown.err.find("no service \"nope\""), std::string::npos) << unknown.err;
}

TEST_F(AuditE2eTest, WeakExampleIsDangerous) {
  std::string path = WriteConfig(
      "[[service]]\nname = \"weak\"\nlisten = \"127.0.0.1:10100\"\nexec = [\"/bin/cat\"]\n"
      "user = \"root\"\nunconfined = true\nsandbox = \"none\"\n");
  CommandResult r = Audit({"-c", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t at = r.out.find("service \"weak\": ");
  ASSERT_NE(at, std::string::npos) << r.out;
  double score = std::stod(r.out.substr(at + 16));
  EXPECT_GE(score, 9.0) << r.out;
  EXPECT_NE(r.out.find("DANGEROUS"), std::string::npos);
}

TEST_F(AuditE2eTest, JsonSchema) {
  std::string path = WriteConfig(TwoServices("stdio"));
  CommandResult r = Audit({"-c", path, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json doc;
  Parser p(r.out);
  ASSERT_TRUE(p.Parse(doc)) << "invalid JSON near byte " << p.pos() << ":\n" << r.out;
  ASSERT_EQ(doc.kind, Json::kObject);
  EXPECT_EQ(doc.order, (std::vector<std::string>{"schema", "config", "formula", "services"}));
  EXPECT_EQ(doc.fields["schema"].s, "hinetd-audit/1");
  EXPECT_EQ(doc.fields["config"].s, path);
  auto& services = doc.fields["services"];
  ASSERT_EQ(services.kind, Json::kArray);
  ASSERT_EQ(services.items.size(), 2u);
  for (auto& s : services.items) {
    ASSERT_EQ(s.kind, Json::kObject);
    EXPECT_EQ(s.order, (std::vector<std::string>{"name", "score", "bucket", "user", "uid", "gid",
                                                 "chroot", "policy", "allowed_syscalls",
                                                 "checks"}));
    EXPECT_EQ(s.fields["score"].kind, Json::kNumber);
    EXPECT_EQ(s.fields["uid"].kind, Json::kNumber);
    EXPECT_EQ(s.fields["chroot"].kind, Json::kString);
    ASSERT_EQ(s.fields["allowed_syscalls"].kind, Json::kObject);
    auto& checks = s.fields["checks"];
    ASSERT_EQ(checks.kind, Json::kArray);
    ASSERT_FALSE(checks.items.empty());
    double sum = 0;
    for (auto& c : checks.items) {
      EXPECT_EQ(c.order, (std::vector<std::string>{"id", "category", "result", "weight", "counted",
                                                   "risk", "detail", "fix"}));
      const std::string& result = c.fields["result"].s;
      EXPECT_TRUE(result == "pass" || result == "fail" || result == "n/a") << result;
      EXPECT_DOUBLE_EQ(c.fields["counted"].n, result == "fail" ? c.fields["weight"].n : 0.0);
      sum += c.fields["counted"].n;
    }
    // The formula, recomputed from the document.
    EXPECT_NEAR(s.fields["score"].n, std::min(10.0, sum), 1e-9);
  }
  auto& prog = services.items[1];
  EXPECT_EQ(prog.fields["name"].s, "prog");
  EXPECT_EQ(prog.fields["policy"].s, "stdio");
  // An argument rule as written; a whole rule as an empty array.
  auto& allowed = prog.fields["allowed_syscalls"].fields;
  ASSERT_EQ(allowed.count("mprotect"), 1u);
  ASSERT_EQ(allowed["mprotect"].items.size(), 1u);
  EXPECT_EQ(allowed["mprotect"].items[0].s, "prot & PROT_EXEC == 0");
  EXPECT_TRUE(allowed["read"].items.empty());
  EXPECT_EQ(allowed.count("socket"), 0u);
}

TEST_F(AuditE2eTest, ThresholdExitCode) {
  std::string path = WriteConfig(TwoServices("stdio"));
  CommandResult all = Audit({"-c", path, "--threshold", "10"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  CommandResult none = Audit({"-c", path, "--threshold", "0"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("over the threshold 0: echo ("), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("prog ("), std::string::npos) << none.err;
  CommandResult bad = Audit({"-c", path, "--threshold", "11"});
  EXPECT_EQ(bad.exit_code, 64);
  EXPECT_NE(bad.err.find("--threshold takes a score from 0 to 10"), std::string::npos) << bad.err;
}

TEST_F(AuditE2eTest, AgainstAnOlderTable) {
  std::string old_path = dir_.Write("old.toml", "[daemon]\nsandbox_dir = \"sandbox\"\n\n" +
                                                    TwoServices("stdio"));
  // The new table's policy for "prog" adds the network.
  dir_.Write("sandbox/net.toml", "include = [\"stdio\"]\nallow = [\"socket\", \"connect\"]\n");
  std::string new_path = WriteConfig(TwoServices("net"));
  CommandResult worse = Audit({"-c", new_path, "--against", old_path});
  EXPECT_EQ(worse.exit_code, 1) << worse.out << worse.err;
  EXPECT_NE(worse.out.find("  prog: score "), std::string::npos) << worse.out;
  EXPECT_NE(worse.out.find("(+1.5)  WORSE"), std::string::npos) << worse.out;
  EXPECT_NE(worse.out.find("syscalls added:   connect, socket"), std::string::npos) << worse.out;
  EXPECT_NE(worse.out.find("policy stdio -> net"), std::string::npos) << worse.out;
  EXPECT_NE(worse.out.find("  echo: unchanged"), std::string::npos) << worse.out;
  EXPECT_NE(worse.err.find("worse than " + old_path + ": prog"), std::string::npos) << worse.err;
  // The other way round: better, exit 0.
  CommandResult better = Audit({"-c", old_path, "--against", new_path});
  EXPECT_EQ(better.exit_code, 0) << better.out << better.err;
  EXPECT_NE(better.out.find("syscalls removed: connect, socket"), std::string::npos) << better.out;
  EXPECT_NE(better.out.find("(-1.5)"), std::string::npos) << better.out;
  // The same, as JSON.
  CommandResult json = Audit({"-c", new_path, "--against", old_path, "--json"});
  EXPECT_EQ(json.exit_code, 1);
  Json doc;
  Parser p(json.out);
  ASSERT_TRUE(p.Parse(doc)) << json.out;
  auto& changes = doc.fields["changes"];
  ASSERT_EQ(changes.items.size(), 2u);
  auto& prog = changes.items[1];
  EXPECT_EQ(prog.fields["name"].s, "prog");
  EXPECT_TRUE(prog.fields["worse"].b);
  ASSERT_EQ(prog.fields["syscalls_added"].items.size(), 2u);
  EXPECT_EQ(changes.items[0].fields["status"].s, "unchanged");
  // A broken old table is a configuration error.
  std::string broken = dir_.Write("broken.toml", "[[service]]\nname = 1\n");
  EXPECT_EQ(Audit({"-c", new_path, "--against", broken}).exit_code, 78);
}

TEST_F(AuditE2eTest, AgainstNotesChrootAndUser) {
  // The same service moved to another jail and another account: the
  // change says both, with the ids.
  Jail other;
  ASSERT_TRUE(other.ok()) << other.error();
  ASSERT_TRUE(other.Install(BinDir() + "/hinetd-probe", "/probe"));
  passwd* pw = getpwnam("nobody");
  if (pw == nullptr) GTEST_SKIP() << "needs the user nobody";
  passwd nobody_ids = *pw;  // getpwnam's buffer is reused by the next call
  passwd* nobody = &nobody_ids;
  passwd* hello = getpwnam("hinetd-hello");
  if (hello == nullptr) GTEST_SKIP() << "needs the user hinetd-hello";
  auto table = [&](const std::string& user, const std::string& root) {
    return "[[service]]\nname = \"prog\"\nlisten = \"127.0.0.1:10100\"\nexec = [\"/probe\"]\n"
           "user = \"" + user + "\"\nchroot = \"" + root + "\"\nsandbox = \"stdio\"\n";
  };
  std::string old_path = dir_.Write("old.toml", "[daemon]\nsandbox_dir = \"sandbox\"\n\n" +
                                                    table("nobody", jail_.path()));
  std::string new_path = WriteConfig(table("hinetd-hello", other.path()));
  CommandResult r = Audit({"-c", new_path, "--against", old_path});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;  // the same score: not worse
  EXPECT_NE(r.out.find("    chroot " + jail_.path() + " -> " + other.path() + "\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("    user nobody (uid " + std::to_string(nobody->pw_uid) +
                       ") -> hinetd-hello (uid " + std::to_string(hello->pw_uid) + ")\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("    gid " + std::to_string(nobody->pw_gid) + " -> " +
                       std::to_string(hello->pw_gid) + "\n"),
            std::string::npos)
      << r.out;
  // No chroot at all: "none" (the probe at the same path on the host).
  std::string bare = dir_.Write(
      "bare.toml", "[daemon]\nsandbox_dir = \"sandbox\"\n\n[[service]]\nname = \"prog\"\n"
                   "listen = \"127.0.0.1:10100\"\nexec = [\"" + BinDir() + "/hinetd-probe\"]\n"
                   "user = \"nobody\"\nsandbox = \"stdio\"\n");
  CommandResult to_none = Audit({"-c", bare, "--against", old_path});
  EXPECT_EQ(to_none.exit_code, 1) << to_none.out << to_none.err;  // fs.chroot fails: worse
  EXPECT_NE(to_none.out.find("    chroot " + jail_.path() + " -> none\n"), std::string::npos)
      << to_none.out;
  EXPECT_NE(to_none.out.find("    fs.chroot ok -> FAIL\n"), std::string::npos) << to_none.out;
}

}  // namespace
}  // namespace hinetd::testing

namespace hinetd::testing {
namespace {

// --prove: the real children, each running the escape probe.
class ProveTest : public AuditE2eTest {
 protected:
  // The proof lines of `service`: escape -> the line.
  static std::map<std::string, std::string> ProofOf(const std::string& out,
                                                    const std::string& service) {
    std::map<std::string, std::string> lines;
    size_t at = out.find("\nproof: ");
    if (at == std::string::npos) return lines;
    at = out.find("\nservice \"" + service + "\"\n", at);
    if (at == std::string::npos) return lines;
    size_t pos = out.find('\n', at + 1) + 1;
    while (pos < out.size() && out.compare(pos, 2, "  ") == 0) {
      size_t nl = out.find('\n', pos);
      std::string line = out.substr(pos, nl - pos);
      std::string escape = line.substr(15, line.find(' ', 15) - 15);
      lines[escape] = line;
      pos = nl + 1;
    }
    return lines;
  }
};

// The host-side directories of running or leaked `audit --prove` runs.
std::set<std::string> ProveDirs() {
  std::set<std::string> dirs;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/var/tmp", ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("hinetd-prove.", 0) == 0) dirs.insert(e.path().string());
  }
  return dirs;
}

TEST_F(ProveTest, AServiceThatDropsPrivilegesBecomesNoOneElse) {
  // drops_privileges with `default` and the shipped `identity`: its child
  // may call setgroups, set*id and chroot, and every escape is still
  // refused, by the kernel: no id but its own is mapped, and the classic
  // chroot escape stops at the jail, the root of its mount namespace.
  // A directory in the jail for the escape's first chroot.
  ASSERT_EQ(mkdir((jail_.path() + "/srv").c_str(), 0755), 0);
  dir_.Write("sandbox/own.toml", "description = \"default and identity\"\n"
                                 "include = [\"default\", \"identity\"]\n");
  std::string path = WriteConfig(
      "[[service]]\nname = \"own\"\nlisten = \"127.0.0.1:10111\"\nexec = [\"/probe\"]\n"
      "user = \"nobody\"\nchroot = \"" + jail_.path() + "\"\nsandbox = \"own\"\n"
      "drops_privileges = true\n");
  CommandResult r = Audit({"-c", path, "--prove"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto proof = ProofOf(r.out, "own");
  EXPECT_EQ(proof.size(), 12u) << r.out;
  for (const auto& [escape, line] : proof) {
    EXPECT_EQ(line.rfind("  verified ", 0), 0u) << escape << ": " << line;
  }
  EXPECT_NE(proof["setgroups-root"].find("errno EINVAL at setgroups"), std::string::npos)
      << proof["setgroups-root"];
  EXPECT_NE(proof["regain-root"].find("errno EINVAL at setresuid"), std::string::npos)
      << proof["regain-root"];
  // The chroot calls succeed; the host file is not there.
  EXPECT_NE(proof["chroot-escape"].find("errno ENOENT at openat"), std::string::npos)
      << proof["chroot-escape"];
  EXPECT_NE(r.out.find("identity.drops-privileges"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cannot become anyone else"), std::string::npos) << r.out;
}

// Every shipped policy file (sandbox/*.toml): its policies.
std::vector<std::string> ShippedPolicyNames() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(SourceDir() + "/sandbox", ec)) {
    std::string name = e.path().filename().string();
    if (name.size() > 5 && name.ends_with(".toml")) names.push_back(name.substr(0, name.size() - 5));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The policies proved by ShippedPoliciesHaveNoContradiction; the others,
// by ShippedServicePoliciesHaveNoContradiction (two tests, which ctest runs
// side by side: each prove run starts 12 children per service).
const std::set<std::string> kBasePolicies = {"runtime", "stdio", "default", "identity", "internal"};

class ShippedPolicyProveTest : public ProveTest {
 protected:
  // A probe service per policy (internal: the internal echo), each on a
  // port of its own; one that changes its identity (identity, or a policy
  // that includes it) with drops_privileges, as the policy says it needs.
  std::string Services(const std::vector<std::string>& policies) {
    std::string services;
    uint16_t port = 10101;
    for (const auto& policy : policies) {
      if (policy == "internal") {
        services += InternalService("echo", "echo", "\"127.0.0.1:10007\"");
        continue;
      }
      auto text = ReadFile(SourceDir() + "/sandbox/" + policy + ".toml");
      bool identity = policy == "identity" || IncludesIdentity(text);
      services += "[[service]]\nname = \"" + policy + "\"\nlisten = \"127.0.0.1:" +
                  std::to_string(port++) + "\"\nexec = [\"/probe\"]\nuser = \"nobody\"\n"
                  "chroot = \"" + jail_.path() + "\"\nsandbox = \"" + policy + "\"\n" +
                  (identity ? "drops_privileges = true\n" : "") + "\n";
    }
    return services;
  }

  static bool IncludesIdentity(const std::string& text) {
    size_t at = text.find("\ninclude = [");
    if (at == std::string::npos) return false;
    return text.substr(at, text.find(']', at) - at).find("\"identity\"") != std::string::npos;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  // Proves every service of `policies` and expects no contradiction and no
  // error: 12 lines each. Returns the output.
  std::string ProveAll(const std::vector<std::string>& policies) {
    std::string path = WriteConfig(Services(policies));
    CommandResult r = Audit({"-c", path, "--prove"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out.find("CONTRADICTED"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("ERROR"), std::string::npos) << r.out;
    for (const auto& policy : policies) {
      std::string service = policy == "internal" ? "echo" : policy;
      auto proof = ProofOf(r.out, service);
      EXPECT_EQ(proof.size(), 12u) << service << "\n" << r.out;
      for (const auto& [escape, line] : proof) {
        // In a jail of its own, as nobody, in a pid namespace: every escape
        // is refused, and the audit said so.
        EXPECT_EQ(line.rfind("  verified ", 0), 0u) << service << ": " << line;
      }
    }
    return r.out;
  }
};

TEST_F(ShippedPolicyProveTest, ShippedPoliciesHaveNoContradiction) {
  // A directory in the jail for the classic escape's first chroot (the
  // identity service may chroot).
  ASSERT_EQ(mkdir((jail_.path() + "/srv").c_str(), 0755), 0);
  std::set<std::string> before = ProveDirs();
  std::string out =
      ProveAll(std::vector<std::string>(kBasePolicies.begin(), kBasePolicies.end()));
  // How, for a few: the jail, the filter, the kernel's permission checks.
  auto stdio = ProofOf(out, "stdio");
  EXPECT_NE(stdio["write-outside"].find("errno ENOENT at openat"), std::string::npos);
  EXPECT_NE(stdio["connect"].find("killed by the filter at socket"), std::string::npos);
  EXPECT_NE(stdio["raise-limit"].find("errno EPERM at prlimit64"), std::string::npos);
  auto dflt = ProofOf(out, "default");
  EXPECT_NE(dflt["connect"].find("errno EACCES at socket"), std::string::npos) << dflt["connect"];
  EXPECT_NE(dflt["signal"].find("errno ESRCH at kill"), std::string::npos) << dflt["signal"];
  // Nothing is left outside the jails. Other prove tests run in parallel
  // and own the directories that appeared meanwhile: each of those goes
  // when its audit ends, well within the deadline; one this audit leaked
  // stays, and fails the test.
  std::set<std::string> left;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    left.clear();
    for (const std::string& d : ProveDirs()) {
      if (before.count(d) == 0) left.insert(d);
    }
    if (left.empty()) break;
    std::this_thread::sleep_for(milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(left.empty()) << "left behind: " << *left.begin();
}

TEST_F(ShippedPolicyProveTest, ShippedServicePoliciesHaveNoContradiction) {
  // Every other file of sandbox/: the policies of real programs (fingerd,
  // rsyncd, tftpd, ...) and the syslog layer, each proved as a service's.
  ASSERT_EQ(mkdir((jail_.path() + "/srv").c_str(), 0755), 0);
  std::vector<std::string> others;
  for (const auto& name : ShippedPolicyNames()) {
    if (kBasePolicies.count(name) == 0) others.push_back(name);
  }
  ASSERT_GE(others.size(), 6u);  // busybox-httpd fingerd git-daemon rsyncd syslog tftpd
  std::string out = ProveAll(others);
  // tftpd changes its identity: its user namespace maps no group 0.
  EXPECT_NE(ProofOf(out, "tftpd")["setgroups-root"].find("errno EINVAL at setgroups"),
            std::string::npos)
      << out;
}

TEST_F(ProveTest, APolicyThatAllowsSocketConnects) {
  dir_.Write("sandbox/net.toml", "include = [\"stdio\"]\nallow = [\"socket\", \"connect\"]\n");
  std::string path = WriteConfig(
      "[[service]]\nname = \"net\"\nlisten = \"127.0.0.1:10100\"\nexec = [\"/probe\"]\n"
      "user = \"nobody\"\nchroot = \"" + jail_.path() + "\"\nsandbox = \"net\"\n");
  CommandResult r = Audit({"-c", path, "--prove"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;  // the audit said so: no contradiction
  EXPECT_NE(r.out.find("  FAIL  1.5  seccomp.egress"), std::string::npos) << r.out;
  auto proof = ProofOf(r.out, "net");
  EXPECT_EQ(proof["connect"].rfind("  allowed      connect       succeeded: connected to 127.0.0.1",
                                   0), 0u)
      << proof["connect"];
  // The same with a network namespace: the audit says blocked, and the
  // kernel agrees.
  std::string netns = WriteConfig(
      "[[service]]\nname = \"net\"\nlisten = \"127.0.0.1:10100\"\nexec = [\"/probe\"]\n"
      "user = \"nobody\"\nchroot = \"" + jail_.path() + "\"\nsandbox = \"net\"\n"
      "namespaces = [\"pid\", \"net\"]\n");
  CommandResult n = Audit({"-c", netns, "--prove", "--json"});
  EXPECT_EQ(n.exit_code, 0) << n.out << n.err;
  Json doc;
  Parser p(n.out);
  ASSERT_TRUE(p.Parse(doc)) << n.out;
  auto& prove = doc.fields["services"].items[0].fields["prove"];
  ASSERT_EQ(prove.items.size(), 12u);
  auto& connect = prove.items[4];
  EXPECT_EQ(connect.fields["escape"].s, "connect");
  EXPECT_EQ(connect.fields["result"].s, "verified");
  EXPECT_NE(connect.fields["kernel"].s.find("errno ENETUNREACH at connect"), std::string::npos)
      << connect.fields["kernel"].s;
}

TEST_F(ProveTest, AShellTheFilterKillsAfterItsExecveStillRan) {
  // A real, dynamically linked /bin/sh in the jail, and a policy that
  // allows execve but not what the dynamic loader does next (brk, mmap):
  // the shell starts and the filter kills it. The static probe itself
  // needs only write, execve and exit_group.
  JailBuilder builder(jail_);
  ASSERT_TRUE(builder.AddProgram("/bin/sh")) << builder.error();
  dir_.Write("sandbox/exec-only.toml", "description = \"execve, and nothing a shell needs\"\n"
                                       "default_action = \"kill\"\n"
                                       "allow = [\"write\", \"execve\", \"exit_group\"]\n");
  std::string path = WriteConfig(
      "[[service]]\nname = \"sh\"\nlisten = \"127.0.0.1:10100\"\nexec = [\"/probe\"]\n"
      "user = \"nobody\"\nchroot = \"" + jail_.path() + "\"\nsandbox = \"exec-only\"\n");
  CommandResult r = Audit({"-c", path, "--prove"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto proof = ProofOf(r.out, "sh");
  ASSERT_EQ(proof.size(), 12u) << r.out;
  // The shell ran: the escape happened, as the audit said it could.
  EXPECT_EQ(proof["exec-sh"],
            "  allowed      exec-sh       succeeded: /bin/sh ran (then the filter killed it); the "
            "audit: possible: /bin/sh exists and execve is allowed")
      << r.out;
  // A kill at the probe's own first call is still a kill, not a run.
  EXPECT_EQ(proof["connect"].rfind("  verified     connect       killed by the filter at socket",
                                   0),
            0u)
      << proof["connect"];
}

TEST_F(ProveTest, MakesTheEmptyRootOfInternalServices) {
  // On a host where the daemon never ran, /var/lib/hinetd/empty (the jail
  // of internal services) is missing: --prove makes it as the monitor
  // does. Run in a mount namespace of its own, with an empty tmpfs over
  // /var/lib/hinetd, so that the directory other tests use stays as it is.
  if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "needs unshare (util-linux)";
  mkdir("/var/lib/hinetd", 0755);  // the mount point; the daemon makes it too
  std::string path = WriteConfig(InternalService("echo", "echo", "\"127.0.0.1:10007\""));
  const char* script =
      "mount -t tmpfs -o mode=0755 hinetd-prove-test /var/lib/hinetd || exit 90\n"
      "test -e /var/lib/hinetd/empty && exit 91\n"
      "\"$0\" audit -c \"$1\" --prove echo\n"
      "rc=$?\n"
      "echo \"empty: $(stat -c '%a %U' /var/lib/hinetd/empty)\"\n"
      "exit $rc\n";
  CommandResult r = RunCommand({"/usr/bin/unshare", "--mount", "--propagation", "private",
                                "/bin/sh", "-c", script, BinDir() + "/hinetd", path},
                               milliseconds(60000));
  ASSERT_NE(r.exit_code, 90) << "mount failed: " << r.err;
  ASSERT_NE(r.exit_code, 91) << "the tmpfs already holds empty/";
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("ERROR"), std::string::npos) << r.out;
  auto proof = ProofOf(r.out, "echo");
  EXPECT_EQ(proof.size(), 12u) << r.out;
  for (const auto& [escape, line] : proof) {
    EXPECT_EQ(line.rfind("  verified ", 0), 0u) << escape << ": " << line;
  }
  // As the monitor makes it: root's, mode 0555.
  EXPECT_NE(r.out.find("\nempty: 555 root\n"), std::string::npos) << r.out;
}

TEST_F(ProveTest, NeedsRoot) {
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "needs setpriv (util-linux)";
  std::string path = WriteConfig(InternalService("echo", "echo", "\"127.0.0.1:10007\""));
  CommandResult r = RunCommand({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                "--clear-groups", BinDir() + "/hinetd", "audit", "-c", path,
                                "--prove"},
                               milliseconds(10000));
  EXPECT_EQ(r.exit_code, 77) << r.out << r.err;
  EXPECT_NE(r.err.find("audit --prove starts real children (chroot, setuid): run it as root"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace hinetd::testing

namespace hinetd::testing {
namespace {

// The shipped etc/hinetd.toml as README's "Auditing" runs it: the demo jail
// made by the script the README names, the accounts, and the shipped files
// byte for byte in their layout (etc/ and sandbox/ side by side) in a
// directory only root can change.
class ShippedTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HINETD_REQUIRE_ROOT();
    CommandResult jail = RunCommand({"/bin/bash", SourceDir() + "/scripts/make-jail.sh",
                                     "/var/lib/hinetd/demo", "/usr/bin/tr", "/bin/sh"},
                                    milliseconds(30000));
    ASSERT_EQ(jail.exit_code, 0) << jail.err;
    CommandResult users =
        RunCommand({"/bin/bash", SourceDir() + "/scripts/daemon-user.sh", "hinetd",
                    "hinetd-internal", "hinetd-upper", "hinetd-hello"},
                   milliseconds(30000));
    ASSERT_EQ(users.exit_code, 0) << users.err;
    ASSERT_TRUE(CopyShippedPolicies(tree_.path() + "/sandbox"));
    std::ifstream in(SourceDir() + "/etc/hinetd.toml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(text.empty());
    config_ = tree_.Write("etc/hinetd.toml", text);
  }

  // `hinetd audit ARGS` run from the tree (so that "-c etc/hinetd.toml"
  // works as the README writes it).
  CommandResult AuditIn(const std::string& args) {
    return RunCommand({"/bin/sh", "-c", "cd \"$0\" && exec \"$1\" audit " + args, tree_.path(),
                       BinDir() + "/hinetd"},
                      milliseconds(120000));
  }

  TempDir tree_;
  std::string config_;
};

TEST_F(ShippedTableTest, ProveHasNoContradiction) {
  CommandResult r = AuditIn("-c etc/hinetd.toml --prove");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("CONTRADICTED"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ERROR"), std::string::npos) << r.out;
  size_t services = 0, lines = 0;
  size_t at = r.out.find("\nproof: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::istringstream proof(r.out.substr(at + 1));
  for (std::string line; std::getline(proof, line);) {
    if (line.rfind("service \"", 0) == 0) ++services;
    if (line.rfind("  ", 0) == 0) ++lines;
  }
  EXPECT_EQ(services, 12u) << r.out;
  EXPECT_EQ(lines, 12u * 12u) << r.out;
  // The demo jail holds /bin/sh for "hello": the audit says so, and the
  // shell runs.
  EXPECT_NE(r.out.find("  allowed      exec-sh       succeeded: /bin/sh ran; the audit: possible: "
                       "/bin/sh exists and execve is allowed"),
            std::string::npos)
      << r.out;
}

// What differs from host to host: account ids and the Landlock ABI.
std::string Normalized(const std::string& text) {
  static const std::regex kIds("\\b(uid|gid|ABI) [0-9]+");
  return std::regex_replace(text, kIds, "$1 N");
}

struct ShownCommand {
  std::string args;                 // after "hinetd audit "
  std::vector<std::string> output;  // as shown, without the indent
  bool tail = false;                // the output starts with "...": only its end is shown
};

// The commands and outputs between <!-- audit-shipped:begin --> and
// <!-- audit-shipped:end --> markers: indented code lines, each command a
// "# hinetd audit ..." line.
std::vector<ShownCommand> ShownInReadme(const std::string& readme) {
  std::vector<ShownCommand> out;
  size_t pos = 0;
  for (;;) {
    size_t begin = readme.find("<!-- audit-shipped:begin -->", pos);
    if (begin == std::string::npos) break;
    size_t end = readme.find("<!-- audit-shipped:end -->", begin);
    if (end == std::string::npos) break;
    std::istringstream block(readme.substr(begin, end - begin));
    bool in_code = false;
    for (std::string line; std::getline(block, line);) {
      // An empty line inside the code block is one of the output's; any
      // other line not indented by four ends the block.
      if (line.empty()) {
        if (in_code && !out.empty()) out.back().output.push_back("");
        continue;
      }
      in_code = line.rfind("    ", 0) == 0;
      if (!in_code) continue;
      line = line.substr(4);
      if (line.rfind("# hinetd audit ", 0) == 0) {
        out.push_back({line.substr(15), {}, false});
      } else if (!out.empty()) {
        if (line == "..." && out.back().output.empty()) {
          out.back().tail = true;
        } else {
          out.back().output.push_back(line);
        }
      }
    }
    pos = end;
  }
  for (auto& c : out) {
    while (!c.output.empty() && c.output.back().empty()) c.output.pop_back();
  }
  return out;
}

TEST_F(ShippedTableTest, ReadmeShowsWhatTheBinaryPrints) {
  std::ifstream in(SourceDir() + "/README.md");
  std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(readme.empty());
  auto shown = ShownInReadme(readme);
  ASSERT_GE(shown.size(), 3u) << "README.md lost its audit-shipped markers";
  for (const auto& cmd : shown) {
    SCOPED_TRACE("hinetd audit " + cmd.args);
    CommandResult r = AuditIn(cmd.args);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    if (r.out.find("this kernel has no Landlock ABI 2") != std::string::npos) {
      GTEST_SKIP() << "no Landlock ABI 2 here: isolation.landlock fails, the README's scores "
                      "do not apply";
    }
    std::vector<std::string> real;
    std::istringstream lines(Normalized(r.out));
    for (std::string line; std::getline(lines, line);) real.push_back(line);
    while (!real.empty() && real.back().empty()) real.pop_back();
    ASSERT_FALSE(cmd.output.empty());
    if (cmd.tail) {
      ASSERT_GE(real.size(), cmd.output.size()) << r.out;
      real.erase(real.begin(), real.end() - static_cast<ptrdiff_t>(cmd.output.size()));
    }
    std::string want, got;
    for (const auto& l : cmd.output) want += Normalized(l) + "\n";
    for (const auto& l : real) got += l + "\n";
    EXPECT_EQ(want, got) << "README.md shows (first) what the binary no longer prints (second); "
                            "regenerate it";
  }
}

}  // namespace
}  // namespace hinetd::testing
