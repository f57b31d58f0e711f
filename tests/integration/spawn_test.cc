// The real spawn path (plan -> clone -> the 15 steps -> execve) run on the
// static probe, which reports what the sandbox left it. One assertion per
// property of DESIGN.md §2, and one test per setup failure.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>

#include "attack/hostile_process.h"
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
namespace hostile = testing::hostile;

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
  // Steps 3-4: the socket on 0 and 1, the log's pipe on 2 (stderr = "log",
  // the default; StderrToDevNull has "null"), nothing else; blocking.
  EXPECT_EQ(r["fds"], "0,1,2");
  EXPECT_EQ(r["fd0"], "socket");
  EXPECT_EQ(r["fd1"], "socket");
  EXPECT_EQ(r["fd2"], "fifo");
  EXPECT_EQ(r["nonblock0"], "0");
  // Step 1: no blocked and no ignored signal.
  EXPECT_EQ(r["sigmask"], "0000000000000000");
  EXPECT_EQ(r["sigign"], "");
  // Step 2: a process group of its own; a session of its own only where
  // this process has a controlling terminal (run from one by hand), else
  // the session stays this process's, outside the child's PID namespace.
  EXPECT_EQ(r["pgid"], r["pid"]);
  if (spawn::HasControllingTerminal()) {
    EXPECT_EQ(r["sid"], r["pid"]);
  } else {
    EXPECT_EQ(r["sid"], "0");
  }
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

TEST_F(SpawnTest, StderrToDevNull) {
  args_ = ", \"stderr\", \"to-nowhere\"";
  ASSERT_TRUE(Load(ProbeService("stderr = \"null\"\n")));
  Run run = Spawn(plan());
  Report r = Parse(run.output);
  EXPECT_EQ(r["fd2"], "chr");
  EXPECT_FALSE(run.outcome.stderr_pipe.valid());
  EXPECT_EQ(run.output.find("\nto-nowhere\n"), std::string::npos) << run.output;
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


// --- A child stopped in its setup (issue 10, items 2 and 10) ---
//
// Between its id change (step 10) and execve a child runs as its service's
// uid, which may signal it (the kernel lets a uid signal a process whose
// real uid is its own), and it still shares this process's memory
// (CLONE_VM). So a service's uid can SIGSTOP it there: the spawner must
// still end it and free its slot, and no process of that uid may read the
// memory meanwhile, whatever fs.suid_dumpable says.

// No passwd entry, and no other test's (the attack tests stop every process
// of theirs).
constexpr uid_t kServiceUid = 64023;

// What the attacker reads: a value only this process's memory holds.
volatile uint64_t g_secret = 0x5ec12e7c0ffee123ULL;

// The next wait status of a child (or tracee) of this process: its end, or
// a ptrace stop; nullopt after `timeout`.
std::optional<int> WaitWithin(pid_t pid, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t w = waitpid(pid, &status, __WALL | WNOHANG);
    if (w == pid) return status;
    if (w < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    usleep(1000);  // polling for the change; bounded by the deadline
  }
}

// Whether pid still runs this test's program: a child that has not
// executed yet (the kernel's view, whatever its ids say).
bool RunsThisProgram(pid_t pid) {
  struct stat self {};
  struct stat other {};
  return stat("/proc/self/exe", &self) == 0 &&
         stat(("/proc/" + std::to_string(pid) + "/exe").c_str(), &other) == 0 &&
         self.st_dev == other.st_dev && self.st_ino == other.st_ino;
}

class SetupStopTest : public SpawnTest {
 protected:
  void SetUp() override {
    SpawnTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(Load("exec = [\"/probe\"]\nuser = \"64023\"\ngroup = \"64023\"\nchroot = \"" +
                     jail_.path() + "\"\nsandbox = \"probe\"\n"));
    // One slot: the stopped child holds all there are, as two did on the
    // red team's two cores.
    auto spawner = spawn::Spawner::Create(1);
    ASSERT_TRUE(spawner.ok()) << spawner.error().ToString();
    spawner_ = std::move(*spawner);
  }
  void TearDown() override {
    // Whatever the test did not end: killed and reaped by its pid.
    if (stopped_pid_ > 0) {
      kill(stopped_pid_, SIGKILL);
      (void)spawner_->Wait(stopped_slot_, milliseconds(2000));
      (void)WaitWithin(stopped_pid_, milliseconds(2000));
    }
    if (client_ >= 0) close(client_);
    SpawnTest::TearDown();
  }

  // Starts a child and leaves it stopped (SIGSTOP, not traced) in the
  // window a hostile uid would stop it in: after step 10 (real and
  // effective uid the service's, no capability left) and before execve (it
  // still runs this program, in this memory). Positioned from this (root)
  // process by ptrace, one system call at a time, so that the test does
  // not depend on winning a race; a child that got past the window anyway
  // is killed and another started (bounded). Sets stopped_pid_,
  // stopped_slot_ and client_.
  bool StartStoppedInSetup() {
    net::Endpoint peer = Ep("192.0.2.1", 4242);
    net::Endpoint local = Ep("127.0.0.1", 7007);
    for (int attempt = 0; attempt < 10; ++attempt) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return false;
      auto started = spawner_->Start(
          plan(), spawn::Connection{sv[0], spawn::Connection::Kind::kTcp, &peer, &local, nullptr});
      close(sv[0]);
      if (!started.ok()) {
        ADD_FAILURE() << started.error().ToString();
        close(sv[1]);
        return false;
      }
      pid_t pid = started->pid;
      bool caught = false;
      if (ptrace(PTRACE_SEIZE, pid, nullptr, PTRACE_O_EXITKILL) == 0 &&
          ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) == 0) {
        for (int step = 0; step < 1000; ++step) {
          auto status = WaitWithin(pid, milliseconds(2000));
          if (!status || !WIFSTOPPED(*status)) break;
          hostile::ProcStatus st;
          if (!hostile::ReadStatus(pid, &st)) break;
          bool executed = !RunsThisProgram(pid);
          if (!executed && st.uid[0] == kServiceUid && st.cap_prm == 0) {
            // In the window: stop it for good, as kill(-1, SIGSTOP) from
            // the service's uid would, and let go of it. The SIGSTOP is
            // pending until the current system call returns.
            kill(pid, SIGSTOP);
            caught = ptrace(PTRACE_DETACH, pid, nullptr, nullptr) == 0;
            break;
          }
          if (executed) break;
          // Not there yet: to the next system-call entry or exit.
          if (ptrace(PTRACE_SYSCALL, pid, nullptr, nullptr) != 0) break;
        }
      }
      stopped_pid_ = pid;
      stopped_slot_ = started->slot;
      client_ = sv[1];
      if (caught) {
        // Stopped, and nobody traces it (an attach to a traced process
        // fails whatever the uids, which would prove nothing).
        for (int i = 0; i < 2000; ++i) {
          hostile::ProcStatus st;
          if (!hostile::ReadStatus(pid, &st)) break;
          if (st.state == 'T' && st.tracer == 0) return true;
          usleep(1000);  // polling a state change; bounded (2 s)
        }
      }
      // Past the window (or lost): end it and try another.
      kill(pid, SIGKILL);
      (void)spawner_->Wait(stopped_slot_, milliseconds(2000));
      (void)WaitWithin(pid, milliseconds(2000));
      close(client_);
      stopped_pid_ = -1;
      client_ = -1;
    }
    ADD_FAILURE() << "no child could be stopped between its id change and execve in 10 tries";
    return false;
  }

  pid_t stopped_pid_ = -1;
  int stopped_slot_ = -1;
  int client_ = -1;
};

// Item 2 at the spawner: a child stopped in its setup is still setting up
// (Finish never blocks on it, nor frees its slot), and Abort + Wait end it
// at once and free the slot for the next child.
TEST_F(SetupStopTest, AChildStoppedInSetupIsAbortedAndItsSlotFreed) {
  ASSERT_TRUE(StartStoppedInSetup());
  hostile::ProcStatus st;
  ASSERT_TRUE(hostile::ReadStatus(stopped_pid_, &st));
  EXPECT_EQ(st.state, 'T');
  EXPECT_EQ(st.uid[0], kServiceUid);
  EXPECT_EQ(st.uid[1], kServiceUid);
  EXPECT_EQ(st.uid[2], 0) << "the saved uid stays 0 until execve";
  EXPECT_EQ(st.cap_prm, 0u);
  EXPECT_EQ(st.cap_eff, 0u);

  auto before = std::chrono::steady_clock::now();
  EXPECT_FALSE(spawner_->Finish(stopped_slot_).has_value()) << "still setting up";
  EXPECT_LT(std::chrono::steady_clock::now() - before, milliseconds(100)) << "Finish blocked";
  EXPECT_FALSE(spawner_->HasFreeSlot());
  EXPECT_FALSE(spawner_->Finish(stopped_slot_).has_value()) << "asked twice, still setting up";

  before = std::chrono::steady_clock::now();
  spawner_->Abort(stopped_slot_);
  auto done = spawner_->Wait(stopped_slot_, milliseconds(2000));
  ASSERT_TRUE(done.has_value()) << "SIGKILL did not end a stopped child within 2 s";
  EXPECT_LT(std::chrono::steady_clock::now() - before, milliseconds(1000));
  EXPECT_TRUE(spawner_->HasFreeSlot());
  auto status = WaitWithin(stopped_pid_, milliseconds(2000));
  ASSERT_TRUE(status.has_value());
  stopped_pid_ = -1;
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) << *status;
  // The service never ran: nothing came on its socket.
  EXPECT_EQ(testing::ReadAll(client_, milliseconds(2000)), "");

  // The slot serves the next child, which executes: execve set its saved
  // uid to the service's (a service with a saved uid of 0 could become
  // root again).
  Run run = Spawn(plan());
  ASSERT_FALSE(run.outcome.failed()) << spawn::StepName(run.outcome.failed_step);
  Report r = Parse(run.output);
  ASSERT_EQ(r["end"], "1") << run.output;
  EXPECT_EQ(r["uid"], "64023,64023,64023");
  EXPECT_EQ(r["gid"], "64023,64023,64023");
}

// Item 10 at the spawner: with fs.suid_dumpable = 1 (the child's id change
// then leaves the shared memory dumpable), a process of the service's uid
// may signal the stopped child but cannot ptrace it, open its
// /proc/PID/mem or environ, or process_vm_readv it. The same process can do
// all of that to a process of its own: the attack works where the kernel
// allows it, and the saved uid of 0 is what stops it here.
TEST_F(SetupStopTest, NoProcessOfTheServiceUidReadsTheMemoryOfAChildInSetup) {
  if (int scope = hostile::YamaPtraceScope(); scope > 0) {
    GTEST_SKIP() << "kernel.yama.ptrace_scope is " << scope
                 << ": Yama refuses the attach whatever the uids, so a refusal would prove "
                    "nothing about them";
  }
  hostile::SuidDumpable dumpable(1);
  ASSERT_TRUE(dumpable.ok()) << dumpable.error();
  // This process starts non-dumpable, as the monitor is.
  int was_dumpable = prctl(PR_GET_DUMPABLE);
  ASSERT_EQ(prctl(PR_SET_DUMPABLE, 0), 0);
  struct RestoreDumpable {
    int value;
    ~RestoreDumpable() { prctl(PR_SET_DUMPABLE, value); }
  } restore{was_dumpable};

  ASSERT_TRUE(StartStoppedInSetup());
  // The child's id change reset the dumpable flag of the memory it shares
  // with this process to fs.suid_dumpable: the flag is no protection.
  EXPECT_EQ(prctl(PR_GET_DUMPABLE), 1);

  struct Outcome {
    hostile::AccessResult setup;  // the stopped child, sharing this memory
    uint64_t setup_read = 0;
    hostile::AccessResult own;    // a process of the attacker's own
    uint64_t own_read = 0;
  };
  hostile::Shared<Outcome> out;
  ASSERT_TRUE(out.ok());
  pid_t target = stopped_pid_;
  auto addr = reinterpret_cast<uintptr_t>(&g_secret);
  pid_t attacker = hostile::ForkAs(kServiceUid, kServiceUid, [&] {
    out->setup = hostile::TryAccess(target, addr, &out->setup_read, sizeof(uint64_t));
    pid_t own = fork();
    if (own == 0) {
      timespec ten{10, 0};
      nanosleep(&ten, nullptr);  // a target; killed by its pid below
      _exit(0);
    }
    if (own < 0) return 2;
    out->own = hostile::TryAccess(own, addr, &out->own_read, sizeof(uint64_t));
    hostile::KillAndReap(own);
    return 0;
  });
  ASSERT_GT(attacker, 0);
  auto status = WaitWithin(attacker, milliseconds(10000));
  if (!status) hostile::KillAndReap(attacker);
  ASSERT_TRUE(status.has_value()) << "the attacker did not finish in 10 s";
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "attacker status " << *status << " (exit 120: it could not become uid 64023)";

  char text[256];
  out->setup.Describe(text, sizeof text);
  EXPECT_EQ(out->setup.signal, 0) << "the service's uid may signal its child in setup: " << text;
  EXPECT_TRUE(out->setup.MemoryDenied()) << "a child in setup: " << text;
  EXPECT_NE(out->setup_read, g_secret) << "the attacker read this process's memory";
  out->own.Describe(text, sizeof text);
  EXPECT_TRUE(out->own.MemoryAllowed()) << "positive control, a process of its own: " << text;
  EXPECT_EQ(out->own_read, g_secret) << "positive control: read the value at the same address";

  // The attempts changed nothing: still stopped in its setup, untraced.
  hostile::ProcStatus st;
  ASSERT_TRUE(hostile::ReadStatus(stopped_pid_, &st));
  EXPECT_EQ(st.state, 'T');
  EXPECT_EQ(st.tracer, 0);
  EXPECT_EQ(st.uid[2], 0);
  EXPECT_TRUE(RunsThisProgram(stopped_pid_));
  EXPECT_FALSE(spawner_->Finish(stopped_slot_).has_value());
}

}  // namespace
}  // namespace hinetd
