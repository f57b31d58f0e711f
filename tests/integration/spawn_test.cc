// The real spawn path (plan -> clone -> the 15 steps -> execve) run on the
// static probe, which reports what the sandbox left it. One assertion per
// property of DESIGN.md §2, and one test per setup failure.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "common/jail.h"
#include "common/net.h"
#include "common/test_env.h"
#include "config/config.h"
#include "spawn/plan.h"
#include "spawn/spawner.h"

namespace hinetd {
namespace {

using std::chrono::milliseconds;
using testing::BinDir;
using testing::Jail;
using testing::TempDir;

constexpr const char* kProbePolicy = R"(description = "what hinetd-probe does to report"
include = ["runtime"]
allow = ["write", "read", "capget", "fcntl", "getgroups", "getpgid", "getsid", "getresuid",
         "getresgid", "umask", "clock_nanosleep", "socket",
  # the probe asks prctl for capabilities, no_new_privs and the seccomp mode
  "prctl"]
)";

struct Report {
  std::map<std::string, std::string> kv;
  std::vector<std::string> env;
  std::string raw;

  std::string operator[](const std::string& k) const {
    auto it = kv.find(k);
    return it == kv.end() ? "<missing>" : it->second;
  }
};

Report Parse(const std::string& text) {
  Report r;
  r.raw = text;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq);
    if (k == "env") {
      r.env.push_back(line.substr(eq + 1));
    } else {
      r.kv[k] = line.substr(eq + 1);
    }
  }
  return r;
}

net::Endpoint Ep(const char* ip, uint16_t port) {
  in_addr a{};
  inet_pton(AF_INET, ip, &a);
  return net::Endpoint::Inet4(a, port);
}

class SpawnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HINETD_REQUIRE_ROOT();
    ASSERT_TRUE(jail_.ok()) << jail_.error();
    ASSERT_TRUE(jail_.Install(BinDir() + "/hinetd-probe", "/probe"));
    ASSERT_TRUE(testing::CopyShippedPolicies(dir_.path() + "/sandbox"));
    dir_.Write("sandbox/probe.toml", kProbePolicy);
    // What the child must undo: an ignored signal, a blocked one, and a
    // stray inheritable descriptor of a directory outside the jail.
    signal(SIGPIPE, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, nullptr);
    stray_fd_ = open("/", O_RDONLY | O_DIRECTORY);  // no O_CLOEXEC on purpose
    setenv("HINETD_TEST_LEAK", "must-not-reach-the-child", 1);
  }
  void TearDown() override {
    if (stray_fd_ >= 0) close(stray_fd_);
    unsetenv("HINETD_TEST_LEAK");
  }

  // Loads one service through the real config loader and plan builder.
  bool Load(const std::string& service_body) {
    std::string text = "[[service]]\nname = \"probe\"\nlisten = \"127.0.0.1:7007\"\n" +
                       service_body;
    auto cfg = config::LoadConfigText(text, dir_.path() + "/hinetd.toml");
    if (!cfg.ok()) {
      ADD_FAILURE() << cfg.error().ToString();
      return false;
    }
    spawn::PlanOptions opts;
    opts.internal_helper = BinDir() + "/hinetd-internal";
    auto plans = spawn::BuildPlans(*cfg, opts);
    if (!plans.ok()) {
      ADD_FAILURE() << plans.error().ToString();
      return false;
    }
    plans_ = std::move(*plans);
    auto spawner = spawn::Spawner::Create();
    if (!spawner.ok()) {
      ADD_FAILURE() << spawner.error().ToString();
      return false;
    }
    spawner_ = std::move(*spawner);
    return true;
  }

  std::string ProbeService(const std::string& extra = "") {
    return "exec = [\"/probe\"" + args_ + "]\nuser = \"nobody\"\nchroot = \"" + jail_.path() +
           "\"\nsandbox = \"probe\"\n" + extra;
  }

  struct Run {
    spawn::SpawnOutcome outcome;
    std::string output;
    int status = -1;
  };

  // Spawns plan (optionally altered) on one end of a socketpair, sends
  // `input`, reads the other end to EOF, reaps the child.
  Run Spawn(const spawn::SpawnPlan& plan, const std::string& input = "") {
    Run run;
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    // Non-blocking on the child's end: step 3 must clear it.
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    net::Endpoint peer = Ep("192.0.2.1", 4242);
    net::Endpoint local = Ep("127.0.0.1", 7007);
    auto outcome = spawner_->Spawn(plan, spawn::Connection{sv[0], spawn::Connection::Kind::kTcp, &peer, &local, nullptr});
    close(sv[0]);
    EXPECT_TRUE(outcome.ok()) << (outcome.ok() ? "" : outcome.error().ToString());
    if (!outcome.ok()) {
      close(sv[1]);
      return run;
    }
    if (!input.empty()) testing::WriteAll(sv[1], input);
    shutdown(sv[1], SHUT_WR);
    run.output = testing::ReadAll(sv[1], milliseconds(10000));
    close(sv[1]);
    int status = 0;
    EXPECT_EQ(waitpid(outcome->pid, &status, 0), outcome->pid);
    run.status = status;
    run.outcome = std::move(*outcome);
    return run;
  }

  const spawn::SpawnPlan& plan() { return plans_->plans[0]; }

  Jail jail_;
  TempDir dir_;
  std::string args_;
  int stray_fd_ = -1;
  std::unique_ptr<spawn::PlanSet> plans_;
  std::unique_ptr<spawn::Spawner> spawner_;
};

TEST_F(SpawnTest, ProbeSeesEveryPropertyOfTheSandbox) {
  ASSERT_TRUE(Load(ProbeService(
      "env = { LANG = \"C\" }\numask = \"027\"\nrlimits = { nofile = 32, fsize = \"1M\" }\n")));
  Run run = Spawn(plan());
  ASSERT_FALSE(run.outcome.failed()) << spawn::StepName(run.outcome.failed_step);
  Report r = Parse(run.output);
  ASSERT_EQ(r["end"], "1") << run.output;
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status;

  // Steps 8-10: ids, real, effective and saved; no supplementary groups.
  EXPECT_EQ(r["uid"], "65534,65534,65534");
  EXPECT_EQ(r["gid"], "65534,65534,65534");
  EXPECT_EQ(r["groups"], "");
  // Steps 6, 10: every capability set empty, bounding and ambient too.
  for (const char* set : {"cap_eff", "cap_prm", "cap_inh", "cap_bnd", "cap_amb"}) {
    EXPECT_EQ(r[set], "0000000000000000") << set;
  }
  // Step 12: no parent-death signal unless the service asks for one.
  EXPECT_EQ(r["pdeathsig"], "0");
  // Steps 13-14.
  EXPECT_EQ(r["no_new_privs"], "1");
  EXPECT_EQ(r["seccomp"], "2");
  // Steps 3-4: the socket on 0 and 1, /dev/null on 2, nothing else; blocking.
  EXPECT_EQ(r["fds"], "0,1,2");
  EXPECT_EQ(r["fd0"], "socket");
  EXPECT_EQ(r["fd1"], "socket");
  EXPECT_EQ(r["fd2"], "chr");
  EXPECT_EQ(r["nonblock0"], "0");
  // Step 1: no blocked and no ignored signal.
  EXPECT_EQ(r["sigmask"], "0000000000000000");
  EXPECT_EQ(r["sigign"], "");
  // Step 2: a session of its own.
  EXPECT_EQ(r["sid"], r["pid"]);
  EXPECT_EQ(r["pgid"], r["pid"]);
  // Step 7: root and cwd are the jail.
  struct stat jail_st {};
  ASSERT_EQ(stat(jail_.path().c_str(), &jail_st), 0);
  EXPECT_EQ(r["root_ino"], std::to_string(jail_st.st_ino));
  EXPECT_EQ(r["root_dev"], std::to_string(jail_st.st_dev));
  EXPECT_EQ(r["cwd"], "/");
  EXPECT_EQ(r["cwd_ino"], std::to_string(jail_st.st_ino));
  // Step 5.
  EXPECT_EQ(r["rlimit_core"], "0,0");
  EXPECT_EQ(r["rlimit_nofile"], "32,32");
  EXPECT_EQ(r["rlimit_fsize"], "1048576,1048576");
  EXPECT_EQ(r["umask"], "0027");
  // Step 15: exactly the service's env and the UCSPI variables, nothing
  // inherited from the parent.
  EXPECT_EQ(r.env, (std::vector<std::string>{"LANG=C", "PROTO=TCP", "TCPREMOTEIP=192.0.2.1",
                                             "TCPREMOTEPORT=4242", "TCPLOCALIP=127.0.0.1",
                                             "TCPLOCALPORT=7007"}));
}

// Step 12 comes after the id change, which clears the parent-death signal;
// set before it, the probe would read 0.
TEST_F(SpawnTest, PdeathsigIsSetWhenConfigured) {
  ASSERT_TRUE(Load(ProbeService("pdeathsig = \"TERM\"\n")));
  Run run = Spawn(plan());
  ASSERT_FALSE(run.outcome.failed()) << spawn::StepName(run.outcome.failed_step);
  Report r = Parse(run.output);
  ASSERT_EQ(r["end"], "1") << run.output;
  EXPECT_EQ(r["pdeathsig"], "15");  // SIGTERM

  ASSERT_TRUE(Load(ProbeService("pdeathsig = \"SIGKILL\"\n")));
  EXPECT_EQ(Parse(Spawn(plan()).output)["pdeathsig"], "9");
}

TEST_F(SpawnTest, WorkdirAndSupplementaryGroups) {
  ASSERT_TRUE(jail_.MakeDir("/srv/data"));
  ASSERT_TRUE(Load(ProbeService("workdir = \"/srv/data\"\ngroups = [\"adm\", 4242]\n")));
  Report r = Parse(Spawn(plan()).output);
  EXPECT_EQ(r["cwd"], "/srv/data");
  EXPECT_EQ(r["groups"], "4,4242");
}

TEST_F(SpawnTest, StderrToTheSocket) {
  args_ = ", \"stderr\", \"to-the-socket\"";
  ASSERT_TRUE(Load(ProbeService("stderr = \"socket\"\n")));
  Run run = Spawn(plan());
  Report r = Parse(run.output);
  EXPECT_EQ(r["fd2"], "socket");
  EXPECT_NE(run.output.find("to-the-socket\n"), std::string::npos) << run.output;
}

TEST_F(SpawnTest, StderrToALogPipe) {
  args_ = ", \"stderr\", \"to-the-log\"";
  ASSERT_TRUE(Load(ProbeService("stderr = \"log\"\n")));
  Run run = Spawn(plan());
  Report r = Parse(run.output);
  EXPECT_EQ(r["fd2"], "fifo");
  ASSERT_TRUE(run.outcome.stderr_pipe.valid());
  EXPECT_EQ(testing::ReadAll(run.outcome.stderr_pipe.get(), milliseconds(5000)), "to-the-log\n");
  // Not on the socket (the report echoes its arguments as arg=..., so look
  // for the bare line).
  EXPECT_EQ(run.output.find("\nto-the-log\n"), std::string::npos) << run.output;
}

TEST_F(SpawnTest, ForbiddenSyscallKillsWithSigsys) {
  args_ = ", \"syscall\", \"ptrace\"";
  ASSERT_TRUE(Load(ProbeService()));
  Run run = Spawn(plan());
  EXPECT_NE(run.output.find("end=1"), std::string::npos);
  EXPECT_EQ(run.output.find("after=ptrace"), std::string::npos) << "ptrace ran";
  ASSERT_TRUE(WIFSIGNALED(run.status)) << run.status;
  EXPECT_EQ(WTERMSIG(run.status), SIGSYS);
}

TEST_F(SpawnTest, ErrnoRuleFailsTheCallInstead) {
  dir_.Write("sandbox/probe-eperm.toml",
             "include = [\"probe\"]\nerrno = { ptrace = \"EPERM\" }\n");
  ASSERT_TRUE(Load("exec = [\"/probe\", \"syscall\", \"ptrace\"]\nuser = \"nobody\"\nchroot = \"" +
                   jail_.path() + "\"\nsandbox = \"probe-eperm\"\n"));
  Run run = Spawn(plan());
  EXPECT_NE(run.output.find("after=ptrace rc=-1 errno=1"), std::string::npos) << run.output;
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
}

// Setup failures: the step and errno come back over the status pipe, and the
// child exits 125 (or 126/127 for execve).
TEST_F(SpawnTest, MissingChrootIsStepChrootENOENT) {
  ASSERT_TRUE(Load(ProbeService()));
  spawn::SpawnPlan p = plan();
  p.chroot = jail_.path() + "/gone";
  Run run = Spawn(p);
  EXPECT_EQ(run.outcome.failed_step, static_cast<int32_t>(spawn::Step::kChroot));
  EXPECT_EQ(run.outcome.failed_errno, ENOENT);
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == spawn::kExitSetupFailed);
  EXPECT_EQ(run.output, "");
}

TEST_F(SpawnTest, UnchangeableUidIsCaughtByVerify) {
  ASSERT_TRUE(Load(ProbeService()));
  spawn::SpawnPlan p = plan();
  p.uid = static_cast<uid_t>(-1);  // setresuid(-1,...) changes nothing: still root
  Run run = Spawn(p);
  EXPECT_EQ(run.outcome.failed_step, static_cast<int32_t>(spawn::Step::kVerify));
  EXPECT_EQ(run.outcome.failed_errno, EPERM);
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == spawn::kExitSetupFailed);
}

TEST_F(SpawnTest, ChildrenSetUpInParallelEachWithItsOwnEnvironment) {
  // Start returns while the child sets itself up, on a slot of its own: all
  // slots at once, each child with another peer port, and none may see
  // another's environment. One more Start waits for a free slot.
  ASSERT_TRUE(Load(ProbeService()));
  constexpr int kSlots = 16;
  auto spawner = spawn::Spawner::Create(kSlots);
  ASSERT_TRUE(spawner.ok()) << spawner.error().ToString();
  spawner_ = std::move(*spawner);
  struct Pending {
    spawn::Spawner::Started started;
    int client = -1;
    uint16_t port = 0;
  };
  std::vector<Pending> pending;
  std::vector<net::Endpoint> peers(kSlots);
  net::Endpoint local = Ep("127.0.0.1", 7007);
  for (int i = 0; i < kSlots; ++i) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peers[i] = Ep("192.0.2.1", static_cast<uint16_t>(5000 + i));
    auto started = spawner_->Start(
        plan(), spawn::Connection{sv[0], spawn::Connection::Kind::kTcp, &peers[i], &local, nullptr});
    close(sv[0]);
    ASSERT_TRUE(started.ok()) << started.error().ToString();
    pending.push_back({std::move(*started), sv[1], static_cast<uint16_t>(5000 + i)});
  }
  EXPECT_FALSE(spawner_->HasFreeSlot());
  int spare[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, spare), 0);
  auto over = spawner_->Start(
      plan(), spawn::Connection{spare[0], spawn::Connection::Kind::kTcp, &peers[0], &local, nullptr});
  EXPECT_FALSE(over.ok());
  close(spare[0]);
  close(spare[1]);
  for (auto& p : pending) {
    auto result = spawner_->Wait(p.started.slot, milliseconds(10000));
    ASSERT_TRUE(result.has_value());
    EXPECT_FALSE(result->failed()) << spawn::StepName(result->failed_step);
    shutdown(p.client, SHUT_WR);
    Report r = Parse(testing::ReadAll(p.client, milliseconds(10000)));
    close(p.client);
    EXPECT_EQ(r["end"], "1");
    EXPECT_NE(std::find(r.env.begin(), r.env.end(), "TCPREMOTEPORT=" + std::to_string(p.port)),
              r.env.end())
        << r.raw;
    int status = 0;
    EXPECT_EQ(waitpid(p.started.pid, &status, 0), p.started.pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  EXPECT_TRUE(spawner_->HasFreeSlot());
}

TEST_F(SpawnTest, MissingProgramIsExecveENOENTExit127) {
  ASSERT_TRUE(Load(ProbeService()));
  spawn::SpawnPlan p = plan();
  p.path = "/no-such-program";
  Run run = Spawn(p);
  EXPECT_EQ(run.outcome.failed_step, static_cast<int32_t>(spawn::Step::kExec));
  EXPECT_EQ(run.outcome.failed_errno, ENOENT);
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == spawn::kExitNotFound);
}

TEST_F(SpawnTest, NonExecutableProgramIsExecveEACCESExit126) {
  ASSERT_TRUE(jail_.Install(BinDir() + "/hinetd-probe", "/not-exec", 0644));
  ASSERT_TRUE(Load(ProbeService()));
  spawn::SpawnPlan p = plan();
  p.path = "/not-exec";
  Run run = Spawn(p);
  EXPECT_EQ(run.outcome.failed_step, static_cast<int32_t>(spawn::Step::kExec));
  EXPECT_EQ(run.outcome.failed_errno, EACCES);
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == spawn::kExitNotExecutable);
}

TEST_F(SpawnTest, InternalEchoRunsByDescriptorInAnEmptyJail) {
  // An empty directory inside the (root-owned) jail stands in for /var/lib/hinetd/empty.
  ASSERT_TRUE(jail_.MakeDir("/empty"));
  std::string text = "[[service]]\nname = \"echo\"\nlisten = \"127.0.0.1:7007\"\ninternal = \"echo\"\n"
         "chroot = \"" + jail_.path() + "/empty\"\n";
  auto cfg = config::LoadConfigText(text, dir_.path() + "/hinetd.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  spawn::PlanOptions opts;
  opts.internal_helper = BinDir() + "/hinetd-internal";
  auto plans = spawn::BuildPlans(*cfg, opts);
  ASSERT_TRUE(plans.ok()) << plans.error().ToString();
  plans_ = std::move(*plans);
  auto spawner = spawn::Spawner::Create();
  ASSERT_TRUE(spawner.ok());
  spawner_ = std::move(*spawner);
  Run run = Spawn(plan(), "hello, echo\n");
  EXPECT_FALSE(run.outcome.failed()) << spawn::StepName(run.outcome.failed_step) << " "
                                     << run.outcome.failed_errno;
  EXPECT_EQ(run.output, "hello, echo\n");
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status;
}

}  // namespace
}  // namespace hinetd
