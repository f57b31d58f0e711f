// `hinetd audit`'s checks, one fixture each: a table that differs from a
// clean baseline in one thing only, and the score moves by that check's
// weight. Root: the baseline's jail is a real, root-owned chroot.
#include "audit/audit.h"
#include "audit/prove.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "base/fs.h"
#include "sandbox/bpf.h"
#include "common/jail.h"
#include "common/test_env.h"
#include "config/config.h"
#include "spawn/plan.h"

namespace hinetd::audit {
namespace {

using testing::Jail;
using testing::TempDir;

constexpr const char* kTight = R"(default_action = "kill"
allow = ["read", "write", "exit_group", "exit", "rt_sigreturn", "brk"]
)";

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: the fixtures' jail must be root-owned";
    if (getpwnam("nobody") == nullptr) GTEST_SKIP() << "needs the user nobody";
    ASSERT_TRUE(jail_.ok()) << jail_.error();
    // The same path inside the jail and outside: fixtures without a chroot
    // run it from the host.
    prog_ = testing::BinDir() + "/hinetd-probe";
    ASSERT_TRUE(jail_.Install(prog_, prog_));
    dir_.Write("sandbox/tight.toml", kTight);
    // The baseline: everything a check looks at is as it should be.
    keys_ = {
        {"name", "\"s\""},
        {"listen", "[\"127.0.0.1:7\"]"},
        {"exec", "[\"" + prog_ + "\"]"},
        {"user", "\"nobody\""},
        {"group", "\"nogroup\""},
        {"chroot", "\"" + jail_.path() + "\""},
        {"sandbox", "\"tight\""},
        {"timeout", "\"10s\""},
        {"rlimits", "{ cpu = \"10s\", as = \"256M\", nofile = 64, nproc = 16 }"},
        {"max_instances", "4"},
        {"per_source", "2"},
        {"rate", "\"10/s\""},
        {"namespaces", "[\"pid\", \"net\", \"ipc\", \"uts\"]"},
    };
  }

  std::string Table(const std::map<std::string, std::string>& keys, const std::string& extra = "") {
    std::string t = "[daemon]\nsandbox_dir = \"sandbox\"\n\n[[service]]\n";
    for (const auto& [k, v] : keys) {
      if (!v.empty()) t += k + " = " + v + "\n";
    }
    return t + extra;
  }

  // The audit of service "s" in `keys` (the baseline with changes), under
  // `base` (nullptr: hinetd's own base layers), after `edit` changed the
  // loaded table.
  ServiceAudit Audit(const std::map<std::string, std::string>& changes,
                     const std::string& extra = "", int landlock = 7,
                     const BaseLayers* base = nullptr,
                     const std::function<void(config::Config&)>& edit = {}) {
    auto keys = keys_;
    for (const auto& [k, v] : changes) keys[k] = v;
    std::string text = Table(keys, extra);
    auto config = config::LoadConfigText(text, dir_.path() + "/hinetd.toml");
    EXPECT_TRUE(config.ok()) << (config.ok() ? "" : config.error().ToString()) << "\n" << text;
    if (!config.ok()) return {};
    if (edit) edit(*config);
    auto plans = spawn::BuildPlans(*config);
    EXPECT_TRUE(plans.ok()) << (plans.ok() ? "" : plans.error().ToString());
    if (!plans.ok()) return {};
    AuditOptions options;
    options.landlock_abi = landlock;
    options.base_layers = base;
    auto audits = AuditTable(*config, **plans, {"s"}, options);
    EXPECT_TRUE(audits.ok()) << (audits.ok() ? "" : audits.error().ToString());
    if (!audits.ok() || audits->size() != 1) return {};
    return (*audits)[0];
  }

  static const CheckResult* Find(const ServiceAudit& a, const std::string& id) {
    for (const auto& c : a.checks) {
      if (id == c.info->id) return &c;
    }
    return nullptr;
  }
  // A pointer into a temporary audit dangles once the statement ends (the
  // ASan pass of CI caught one): name the audit first.
  static const CheckResult* Find(ServiceAudit&&, const std::string&) = delete;

  // `changes` fails exactly `id` (against `base`, which passes it) and
  // moves the score by its weight.
  void ExpectMoves(const std::string& id, const std::map<std::string, std::string>& changes,
                   const std::map<std::string, std::string>& base = {},
                   const std::string& extra = "", const BaseLayers* layers = nullptr) {
    SCOPED_TRACE(id);
    const CheckInfo* info = FindCheck(id);
    ASSERT_NE(info, nullptr);
    ServiceAudit before = Audit(base, extra, 7, layers);
    auto after_keys = base;
    for (const auto& [k, v] : changes) after_keys[k] = v;
    ServiceAudit after = Audit(after_keys, extra, 7, layers);
    ExpectOneDifference(id, before, after);
  }

  // `after` fails exactly `id` more than `before`, which does not fail it.
  static void ExpectOneDifference(const std::string& id, const ServiceAudit& before,
                                  const ServiceAudit& after) {
    const CheckInfo* info = FindCheck(id);
    ASSERT_NE(info, nullptr);
    const CheckResult* b = Find(before, id);
    const CheckResult* c = Find(after, id);
    ASSERT_NE(b, nullptr);
    ASSERT_NE(c, nullptr);
    EXPECT_NE(b->outcome, Outcome::kFail) << b->detail;
    EXPECT_EQ(c->outcome, Outcome::kFail) << c->detail;
    EXPECT_EQ(after.score - before.score, info->weight)
        << "before " << before.score << ", after " << after.score;
    // Every other check counts what it counted before.
    ASSERT_EQ(before.checks.size(), after.checks.size());
    for (size_t i = 0; i < after.checks.size(); ++i) {
      const CheckResult& x = after.checks[i];
      if (x.info == info) continue;
      EXPECT_EQ(x.counted(), before.checks[i].counted())
          << x.info->id << " moved too: " << before.checks[i].detail << " -> " << x.detail;
    }
  }

  Jail jail_;
  TempDir dir_;
  std::map<std::string, std::string> keys_;
  std::string prog_;
};

TEST_F(AuditTest, BaselineIsPerfect) {
  ServiceAudit a = Audit({});
  for (const auto& e : Escapes()) {
    ASSERT_EQ(a.predictions.count(e.id), 1u) << e.id;
    EXPECT_FALSE(a.predictions[e.id].allowed) << e.id << ": " << a.predictions[e.id].how;
  }
  EXPECT_EQ(a.score, 0);
  EXPECT_EQ(a.bucket, "PERFECT");
  for (const auto& c : a.checks) {
    EXPECT_NE(c.outcome, Outcome::kFail) << c.info->id << ": " << c.detail;
  }
  // Every documented check is reported, once, in order.
  ASSERT_EQ(a.checks.size(), Checks().size());
  for (size_t i = 0; i < a.checks.size(); ++i) EXPECT_EQ(a.checks[i].info, &Checks()[i]);
}

TEST_F(AuditTest, ScoreIsTheSumOfFailedWeightsCappedAtTen) {
  ServiceAudit a = Audit({{"user", "\"root\""}, {"group", "\"root\""}, {"unconfined", "true"},
                          {"sandbox", "\"none\""}, {"chroot", ""}, {"namespaces", "[]"},
                          {"timeout", ""}, {"rlimits", ""}});
  int sum = 0;
  for (const auto& c : a.checks) sum += c.counted();
  EXPECT_GT(sum, 100);
  EXPECT_EQ(a.score, 100);
  EXPECT_EQ(a.bucket, "DANGEROUS");
}

TEST_F(AuditTest, WeakExampleScoresAtLeastNine) {
  // The README's weak example: an unconfined root service with no chroot.
  ServiceAudit a = Audit({{"user", "\"root\""}, {"unconfined", "true"}, {"sandbox", "\"none\""},
                          {"chroot", ""}});
  EXPECT_GE(a.score, 90);
}

TEST_F(AuditTest, Identity) {
  {
    // As root, every file of the jail is writable too: both count.
    ServiceAudit before = Audit({{"unconfined", "true"}});
    ServiceAudit root = Audit({{"unconfined", "true"}, {"user", "\"root\""}});
    EXPECT_EQ(Find(root, "identity.root")->outcome, Outcome::kFail);
    EXPECT_EQ(Find(root, "fs.writable")->outcome, Outcome::kFail);
    EXPECT_EQ(root.score - before.score,
              FindCheck("identity.root")->weight + FindCheck("fs.writable")->weight);
  }
  // Without a jail (fs.chroot fails in both, fs.* do not apply): root is
  // the one difference.
  ExpectMoves("identity.root", {{"user", "\"root\""}}, {{"unconfined", "true"}, {"chroot", ""}});
  ExpectMoves("identity.gid0", {{"group", "\"root\""}}, {{"unconfined", "true"}});
  ExpectMoves("identity.unconfined", {{"unconfined", "true"}});
  ExpectMoves("identity.groups", {{"groups", "[\"nogroup\"]"}});
  ExpectMoves("identity.drops-privileges", {{"drops_privileges", "true"}});
  {
    ServiceAudit own = Audit({{"drops_privileges", "true"}});
    const CheckResult* c = Find(own, "identity.drops-privileges");
    ASSERT_NE(c, nullptr);
    EXPECT_NE(c->detail.find("cannot become anyone else"), std::string::npos) << c->detail;
  }
  // Another service as the same user: each of them is told.
  ServiceAudit shared = Audit({}, "\n[[service]]\nname = \"t\"\nlisten = [\"127.0.0.1:8\"]\n"
                                  "exec = [\"" + prog_ + "\"]\nuser = \"nobody\"\nchroot = \"" +
                                      jail_.path() + "\"\nsandbox = \"tight\"\n");
  const CheckResult* c = Find(shared, "identity.shared-uid");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->outcome, Outcome::kFail);
  EXPECT_NE(c->detail.find("\"t\""), std::string::npos) << c->detail;
  EXPECT_EQ(shared.score, FindCheck("identity.shared-uid")->weight);
}

TEST_F(AuditTest, NoChroot) {
  ExpectMoves("fs.chroot", {{"chroot", ""}});
  ServiceAudit a = Audit({{"chroot", ""}});
  EXPECT_EQ(Find(a, "fs.writable")->outcome, Outcome::kNa);  // n/a counts nothing
}

TEST_F(AuditTest, JailContents) {
  ServiceAudit before = Audit({});
  auto moved = [&](const std::string& id) {
    ServiceAudit after = Audit({});
    EXPECT_EQ(Find(after, id)->outcome, Outcome::kFail) << id;
    EXPECT_EQ(after.score - before.score, FindCheck(id)->weight) << id;
    before = after;
  };
  ASSERT_TRUE(jail_.Write("/setid", "", 04755));
  ASSERT_EQ(chmod((jail_.path() + "/setid").c_str(), 04755), 0);
  moved("fs.setid");
  ASSERT_TRUE(jail_.Write("/data/open", "", 0666));
  ASSERT_EQ(chmod((jail_.path() + "/data/open").c_str(), 0666), 0);
  moved("fs.writable");
  ASSERT_EQ(mknod((jail_.path() + "/null").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
  moved("fs.devices");
  ASSERT_TRUE(jail_.Install(testing::BinDir() + "/hinetd-probe", "/bin/sh"));
  moved("fs.shell");
  ASSERT_TRUE(jail_.Write("/theirs", "", 0444));
  ASSERT_EQ(chown((jail_.path() + "/theirs").c_str(), 4321, 4321), 0);
  moved("fs.owner");
  const CheckResult* shell = Find(before, "fs.shell");
  EXPECT_NE(shell->detail.find("/bin/sh"), std::string::npos) << shell->detail;
}

void WritePolicy(TempDir& dir, const std::string& name, const std::string& allow,
                 const std::string& rest = "") {
  dir.Write("sandbox/" + name + ".toml", std::string("default_action = \"kill\"\nallow = [") +
                                             "\"read\", \"write\", \"exit_group\", " + allow +
                                             "]\n" + rest);
}

TEST_F(AuditTest, ChrootToSlashIsNoChroot) {
  // chroot = "/" confines nothing: it fails fs.chroot as no chroot does, the
  // jail's checks do not apply (the host is not a jail to walk), and the
  // escapes out of a jail are predicted possible.
  ExpectMoves("fs.chroot", {{"chroot", "\"/\""}});
  ServiceAudit a = Audit({{"chroot", "\"/\""}});
  EXPECT_EQ(Find(a, "fs.chroot")->detail, "chroot /");
  for (const char* id : {"fs.setid", "fs.writable", "fs.devices", "fs.shell", "fs.owner"}) {
    EXPECT_EQ(Find(a, id)->outcome, Outcome::kNa) << id;
  }
  // The tight policy still kills openat and chdir: the filter blocks what
  // the jail does not.
  EXPECT_FALSE(a.predictions["write-outside"].allowed) << a.predictions["write-outside"].how;
  // With a policy that allows them, the host is reachable.
  WritePolicy(dir_, "files", "\"openat\", \"chdir\"");
  ServiceAudit files = Audit({{"chroot", "\"/\""}, {"sandbox", "\"files\""}});
  EXPECT_TRUE(files.predictions["write-outside"].allowed);
  EXPECT_EQ(files.predictions["dotdot"].how, "no chroot: .. reaches the host");
}

TEST_F(AuditTest, SyscallsFromTheCompiledFilter) {
  WritePolicy(dir_, "exec", "\"execve\"");
  ExpectMoves("seccomp.exec", {{"sandbox", "\"exec\""}});
  WritePolicy(dir_, "net", "\"socket\", \"connect\"");
  ExpectMoves("seccomp.egress", {{"sandbox", "\"net\""}}, {{"namespaces", "[\"pid\"]"}});
  WritePolicy(dir_, "ioctl", "\"ioctl\"");
  ExpectMoves("seccomp.ioctl", {{"sandbox", "\"ioctl\""}});
  WritePolicy(dir_, "wx", "\"mprotect\"");
  ExpectMoves("seccomp.exec-memory", {{"sandbox", "\"wx\""}});
  WritePolicy(dir_, "prctl", "\"prctl\"");
  ExpectMoves("seccomp.prctl", {{"sandbox", "\"prctl\""}});
  WritePolicy(dir_, "kill", "\"kill\"");
  ExpectMoves("seccomp.kill", {{"sandbox", "\"kill\""}}, {{"namespaces", "[\"net\"]"}});
}

// Every call a seccomp check attempts that the base layers leave to the
// policy (the others they refuse whatever the policy says).
constexpr const char* kProbedCalls =
    "\"execve\", \"execveat\", \"socket\", \"connect\", \"sendto\", \"kill\", \"tgkill\", "
    "\"tkill\", \"rt_sigqueueinfo\", \"pidfd_send_signal\", \"ioctl\", \"mmap\", \"mprotect\", "
    "\"pkey_mprotect\", \"prctl\"";

TEST_F(AuditTest, PolicyAndTrialMode) {
  // No policy, against a policy that allows every call the checks attempt:
  // the one difference is the policy itself.
  WritePolicy(dir_, "wide", kProbedCalls);
  ExpectMoves("seccomp.policy", {{"sandbox", "\"none\""}},
              {{"unconfined", "true"}, {"sandbox", "\"wide\""}});
  ServiceAudit none = Audit({{"unconfined", "true"}, {"sandbox", "\"none\""}});
  EXPECT_EQ(Find(none, "seccomp.default")->outcome, Outcome::kNa);
  // Against the tight baseline, no policy also fails what only the policy
  // refused (the namespaces contain egress and kill).
  ServiceAudit base = Audit({{"unconfined", "true"}});
  int refused_by_policy = 0;
  for (const char* id : {"seccomp.policy", "seccomp.exec", "seccomp.ioctl", "seccomp.exec-memory",
                         "seccomp.prctl"}) {
    EXPECT_EQ(Find(none, id)->outcome, Outcome::kFail) << id;
    refused_by_policy += FindCheck(id)->weight;
  }
  EXPECT_EQ(none.score - base.score, refused_by_policy);
  // Trial mode, against the same policy in kill mode: each attempted call
  // fails with an errno in both, so only the default action differs.
  std::string refuse = "[errno]\n";
  for (const char* call : {"execve", "execveat", "socket", "connect", "sendto", "kill", "tgkill",
                           "tkill", "rt_sigqueueinfo", "pidfd_send_signal", "ioctl", "mmap",
                           "mprotect", "pkey_mprotect", "prctl"}) {
    refuse += std::string(call) + " = \"EPERM\"\n";
  }
  dir_.Write("sandbox/strict.toml",
             "default_action = \"kill\"\nallow = [\"read\", \"write\", \"exit_group\"]\n" + refuse);
  dir_.Write("sandbox/trial.toml",
             "default_action = \"log\"\nallow = [\"read\", \"write\", \"exit_group\"]\n" + refuse);
  ExpectMoves("seccomp.default", {{"sandbox", "\"trial\""}}, {{"sandbox", "\"strict\""}});
  ServiceAudit trial = Audit({{"sandbox", "\"trial\""}});
  EXPECT_EQ(Find(trial, "seccomp.default")->detail, "default_action = \"log\"");
  // Read from the compiled program, for every kind of default action.
  dir_.Write("sandbox/eperm.toml",
             "default_action = \"errno:EPERM\"\nallow = [\"read\", \"write\", \"exit_group\"]\n");
  ServiceAudit eperm = Audit({{"sandbox", "\"eperm\""}});
  EXPECT_EQ(Find(eperm, "seccomp.default")->outcome, Outcome::kPass);
  EXPECT_EQ(Find(eperm, "seccomp.default")->detail, "default_action = \"errno:EPERM\"");
  ServiceAudit enforcing = Audit({});
  EXPECT_EQ(Find(enforcing, "seccomp.default")->detail, "default_action = \"kill\"");
}

// A base layer of one program: for the native architecture, `native`;
// for any other, `foreign`.
BaseLayers OneLayer(uint32_t native, uint32_t foreign) {
  std::vector<sock_filter> insns = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, sandbox::NativeAuditArch(), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, native),
      BPF_STMT(BPF_RET | BPF_K, foreign),
  };
  BaseLayers b;
  b.monitor = std::make_unique<sandbox::BpfProgram>(std::move(insns));
  return b;
}

TEST_F(AuditTest, BaseLayerChecksFailWhereNoLayerRefuses) {
  // The checks hinetd's base layers always pass, each seen failing: under
  // base layers that allow everything, a policy that allows the call is
  // the one difference.
  BaseLayers open;  // no program: every call passes the base
  const std::pair<const char*, const char*> kCases[] = {
      {"seccomp.namespaces", "\"unshare\""},
      {"seccomp.ptrace", "\"ptrace\""},
      {"seccomp.process-vm", "\"process_vm_writev\""},
      {"seccomp.io-uring", "\"io_uring_setup\""},
      {"seccomp.bpf", "\"bpf\""},
      {"seccomp.perf", "\"perf_event_open\""},
      {"seccomp.keyctl", "\"add_key\""},
      {"seccomp.personality", "\"personality\""},
  };
  for (const auto& [id, call] : kCases) {
    std::string name = std::string("base-") + (strchr(id, '.') + 1);
    WritePolicy(dir_, name, call);
    ExpectMoves(id, {{"sandbox", "\"" + name + "\""}}, {}, "", &open);
  }
  // The same policies under hinetd's own base layers: refused there.
  for (const auto& [id, call] : kCases) {
    std::string name = std::string("base-") + (strchr(id, '.') + 1);
    ServiceAudit audit = Audit({{"sandbox", "\"" + name + "\""}});
    const CheckResult* c = Find(audit, id);
    ASSERT_NE(c, nullptr) << id;
    EXPECT_EQ(c->outcome, Outcome::kPass) << id << ": " << c->detail;
  }
  // seccomp.arch: the policy kills other architectures; without one, a
  // base that refuses native calls but lets foreign ones through fails it
  // (and only it: every native call is refused in both).
  BaseLayers native_only = OneLayer(SECCOMP_RET_ERRNO | EPERM, SECCOMP_RET_KILL_PROCESS);
  BaseLayers foreign_open = OneLayer(SECCOMP_RET_ERRNO | EPERM, SECCOMP_RET_ALLOW);
  std::map<std::string, std::string> none = {{"unconfined", "true"}, {"sandbox", "\"none\""}};
  ServiceAudit before = Audit(none, "", 7, &native_only);
  ServiceAudit after = Audit(none, "", 7, &foreign_open);
  ExpectOneDifference("seccomp.arch", before, after);
  EXPECT_EQ(Find(after, "seccomp.arch")->detail.rfind("allowed: ", 0), 0u)
      << Find(after, "seccomp.arch")->detail;
}

TEST_F(AuditTest, ArgumentRulesNarrow) {
  // Allowed only under rules that exclude the dangerous values: not flagged,
  // and the line says why.
  WritePolicy(dir_, "narrow",
              "{ syscall = \"mprotect\", when = \"prot & PROT_EXEC == 0\" }, "
              "{ syscall = \"ioctl\", when = \"cmd == TCGETS\" }, "
              "{ syscall = \"prctl\", when = \"option == PR_SET_NAME\" }, "
              "{ syscall = \"socket\", when = \"family == AF_UNIX\" }, \"connect\"",
              "[errno]\nmprotect = { errno = \"EACCES\", when = \"prot & PROT_EXEC == PROT_EXEC\" }\n");
  ServiceAudit a = Audit({{"sandbox", "\"narrow\""}, {"namespaces", "[\"pid\"]"}});
  for (const char* id : {"seccomp.exec-memory", "seccomp.ioctl", "seccomp.prctl", "seccomp.egress"}) {
    const CheckResult* c = Find(a, id);
    EXPECT_EQ(c->outcome, Outcome::kPass) << id << ": " << c->detail;
    EXPECT_NE(c->detail.find("narrowed by an argument rule"), std::string::npos)
        << id << ": " << c->detail;
  }
  EXPECT_NE(Find(a, "seccomp.exec-memory")->detail.find("errno EACCES"), std::string::npos);
}

TEST_F(AuditTest, BaseLayersRefuseWhatAPolicyAllows) {
  // What the kernel does: the monitor's and the children's layers refuse
  // these whatever the policy says, and the checks say so.
  WritePolicy(dir_, "wide",
              "\"ptrace\", \"unshare\", \"setns\", \"bpf\", \"perf_event_open\", \"keyctl\", "
              "\"io_uring_setup\", \"process_vm_readv\", \"personality\", \"clone\"");
  ServiceAudit a = Audit({{"sandbox", "\"wide\""}});
  for (const char* id : {"seccomp.ptrace", "seccomp.namespaces", "seccomp.bpf", "seccomp.perf",
                         "seccomp.keyctl", "seccomp.io-uring", "seccomp.process-vm",
                         "seccomp.personality"}) {
    const CheckResult* c = Find(a, id);
    EXPECT_EQ(c->outcome, Outcome::kPass) << id << ": " << c->detail;
    EXPECT_NE(c->detail.find("errno EPERM"), std::string::npos) << id << ": " << c->detail;
  }
  EXPECT_EQ(Find(a, "seccomp.arch")->outcome, Outcome::kPass);
}

TEST_F(AuditTest, Resources) {
  ExpectMoves("resources.timeout", {{"timeout", ""}});
  ExpectMoves("resources.as",
              {{"rlimits", "{ cpu = \"10s\", as = \"unlimited\", nofile = 64, nproc = 16 }"}});
  ExpectMoves("resources.cpu",
              {{"rlimits", "{ cpu = \"unlimited\", as = \"256M\", nofile = 64, nproc = 16 }"}});
  // nproc and nofile have defaults (hinetd.toml(5)); "unlimited" fails them
  // where hinetd's own hard limit allows it to be set at all.
  ServiceAudit defaults = Audit({{"rlimits", ""}});
  EXPECT_EQ(Find(defaults, "resources.nproc")->outcome, Outcome::kPass);
  EXPECT_EQ(Find(defaults, "resources.nofile")->outcome, Outcome::kPass);
  EXPECT_EQ(Find(defaults, "resources.nofile")->detail, "nofile 1024");
  // nproc = "unlimited" loads only where hinetd's own hard limit is
  // unlimited too (a unit's LimitNPROC=infinity), and nofile never can be
  // (the kernel caps it at fs.nr_open): an unlimited one set on the loaded
  // table stands for each.
  ServiceAudit before = Audit({});
  for (auto [key, resource] : {std::pair{"nproc", RLIMIT_NPROC}, {"nofile", RLIMIT_NOFILE}}) {
    auto unlimited = [resource](config::Config& c) {
      for (auto& r : c.services[0].rlimits) {
        if (r.resource == resource) r.soft = r.hard = RLIM_INFINITY;
      }
    };
    std::string id = std::string("resources.") + key;
    ServiceAudit after = Audit({}, "", 7, nullptr, unlimited);
    ExpectOneDifference(id, before, after);
    EXPECT_EQ(Find(after, id)->detail, std::string("no ") + key + " limit");
  }
}

TEST_F(AuditTest, Admission) {
  ExpectMoves("admission.allow", {{"allow", ""}},
              {{"listen", "[\"0.0.0.0:7\"]"}, {"allow", "[\"127.0.0.0/8\"]"}});
  ServiceAudit loopback = Audit({});
  EXPECT_EQ(Find(loopback, "admission.allow")->outcome, Outcome::kNa);
  ExpectMoves("admission.max-instances", {{"max_instances", ""}});
  ExpectMoves("admission.per-source", {{"per_source", ""}});
  ExpectMoves("admission.rate", {{"rate", ""}});
}

TEST_F(AuditTest, Exposure) {
  ExpectMoves("exposure.udp", {{"listen", "[\"0.0.0.0:7\"]"}},
              {{"protocol", "\"udp\""}, {"allow", "[\"127.0.0.0/8\"]"}});
  ExpectMoves("exposure.stderr", {{"stderr", "\"socket\""}});
  std::string sock = "[\"unix:" + dir_.path() + "/s.sock\"]";
  ExpectMoves("exposure.unix-mode", {{"socket_mode", "\"0666\""}},
              {{"listen", sock}, {"socket_mode", "\"0660\""}});
}

TEST_F(AuditTest, Isolation) {
  ExpectMoves("isolation.pid", {{"namespaces", "[\"net\", \"ipc\", \"uts\"]"}});
  ExpectMoves("isolation.net", {{"namespaces", "[\"pid\", \"ipc\", \"uts\"]"}});
  ExpectMoves("isolation.ipc", {{"namespaces", "[\"pid\", \"net\", \"uts\"]"}});
  ExpectMoves("isolation.uts", {{"namespaces", "[\"pid\", \"net\", \"ipc\"]"}});
  ServiceAudit uts = Audit({});
  EXPECT_EQ(Find(uts, "isolation.uts")->detail, "its own UTS namespace");
  ServiceAudit with = Audit({}, "", 7);
  ServiceAudit without = Audit({}, "", 0);
  EXPECT_EQ(Find(without, "isolation.landlock")->outcome, Outcome::kFail);
  EXPECT_EQ(without.score - with.score, FindCheck("isolation.landlock")->weight);
}

TEST_F(AuditTest, UnknownServiceIsAnError) {
  auto config = config::LoadConfigText(Table(keys_), dir_.path() + "/hinetd.toml");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  auto plans = spawn::BuildPlans(*config);
  ASSERT_TRUE(plans.ok());
  auto a = AuditTable(*config, **plans, {"nope"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().message(), "no service \"nope\" in " + dir_.path() + "/hinetd.toml (it has s)");
}

TEST(AuditProve, Classify) {
  // Only "the audit said blocked, the kernel allowed it" is a contradiction.
  EXPECT_EQ(Classify(false, true, false), ProveOutcome::kContradicted);
  EXPECT_EQ(Classify(false, false, false), ProveOutcome::kVerified);
  EXPECT_EQ(Classify(true, true, false), ProveOutcome::kAllowed);
  EXPECT_EQ(Classify(true, false, false), ProveOutcome::kRefused);
  EXPECT_EQ(Classify(false, true, true), ProveOutcome::kError);
  EXPECT_STREQ(ProveOutcomeText(ProveOutcome::kContradicted), "CONTRADICTED");
  // Every escape the probe knows has a prediction in every audit.
  ASSERT_EQ(Escapes().size(), 12u);
}

TEST(AuditTable, WeightsAreDocumented) {
  // hinetd(8) lists every check with its weight; keep them equal.
  auto text = base::ReadFile(testing::SourceDir() + "/man/hinetd.8");
  ASSERT_TRUE(text.ok());
  const std::string& man = *text;
  for (const auto& c : Checks()) {
    char line[128];
    snprintf(line, sizeof line, ".It Sy %s Pq %d.%d", c.id, c.weight / 10, c.weight % 10);
    EXPECT_NE(man.find(line), std::string::npos) << "hinetd.8 lacks \"" << line << "\"";
  }
}

}  // namespace
}  // namespace hinetd::audit
