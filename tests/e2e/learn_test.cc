// `hinetd learn` and trial mode with the real binary on loopback: a shell
// service that forks and executes a helper (ls) is learned over a few
// connections; the written policy loads, allows what it did, and the
// service then works with it enforcing; a policy in trial mode logs each
// distinct call outside it once and kills nothing; --from-log folds those
// lines into a policy.
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

// SECCOMP_USER_NOTIF_FLAG_CONTINUE: Linux 5.5.
bool KernelHasNotifContinue() {
  utsname u{};
  int major = 0;
  int minor = 0;
  if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 5 || (major == 5 && minor >= 5);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A shell service: answers "got LINE", then runs ls (a fork and an execve:
// getdents64 is ls's alone, never the shell's).
std::string ShellService(const std::string& name, uint16_t port, const std::string& policy,
                         const std::string& extra_command = "") {
  return "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
         "\"\nexec = [\"/bin/sh\", \"-c\", \"read line; echo got $line; ls / >/dev/null" +
         extra_command + "\"]\nuser = \"nobody\"\nsandbox = \"" + policy + "\"\n\n";
}

class LearnTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!KernelHasNotifContinue()) {
      GTEST_SKIP() << "needs seccomp user notification with SECCOMP_USER_NOTIF_FLAG_CONTINUE "
                      "(Linux 5.5)";
    }
    if (access("/bin/sh", X_OK) != 0 || access("/bin/ls", X_OK) != 0) {
      GTEST_SKIP() << "needs /bin/sh and /bin/ls";
    }
  }

  // A probe service (in its jail, as nobody) under policy `policy`.
  std::string ProbeUnder(const std::string& name, uint16_t port, const std::string& args,
                         const std::string& policy) {
    std::string text = ProbeService(name, port, args);
    size_t at = text.find("sandbox = \"probe\"");
    text.replace(at, std::string("sandbox = \"probe\"").size(), "sandbox = \"" + policy + "\"");
    return text;
  }

  // Learns service `name` of `config` over `connections` connections,
  // each of which must answer with every one of `want`; returns the
  // policy written ("" on failure, with the test failed).
  std::string LearnProbe(const std::string& config, const std::string& name, uint16_t port,
                         int connections, const std::vector<std::string>& want) {
    std::string out = dir_.path() + "/" + name + "-learned.toml";
    if (!StartLearn("-c " + config + " " + name + " --connections " +
                    std::to_string(connections) + " -o " + out)) {
      ADD_FAILURE() << "learn did not start";
      return "";
    }
    if (!daemon_.WaitForLine({"event=listener-ready"}, milliseconds(10000))) {
      ADD_FAILURE() << daemon_.LogText();
      return "";
    }
    for (int i = 0; i < connections; ++i) {
      std::string answer = Exchange("127.0.0.1", port, "");
      for (const auto& w : want) EXPECT_NE(answer.find(w), std::string::npos) << w << answer;
    }
    auto status = daemon_.WaitExit(milliseconds(15000));
    if (!status.has_value() || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      ADD_FAILURE() << daemon_.LogText();
      return "";
    }
    daemon_.Stop();
    return ReadFile(out);
  }

  // Runs service `name` (the probe) under `policy_text` as policy "learned"
  // for one connection: its answer must have every one of `want`, and it
  // must exit 0, killed by nothing.
  void Enforce(const std::string& name, const std::string& args,
               const std::string& policy_text, const std::vector<std::string>& want) {
    dir_.Write("sandbox/learned.toml", policy_text);
    uint16_t port = FreeTcpPort();
    std::string config = WriteConfig(ProbeUnder(name, port, args, "learned"));
    DaemonProcess enforcing;
    ASSERT_TRUE(enforcing.StartAndWait(config)) << enforcing.LogText();
    ASSERT_TRUE(enforcing.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
    std::string answer = Exchange("127.0.0.1", port, "");
    for (const auto& w : want) EXPECT_NE(answer.find(w), std::string::npos) << w << answer;
    EXPECT_TRUE(enforcing.WaitForLine({"event=end", "service=" + name, "status=exit:0"},
                                      milliseconds(10000)))
        << enforcing.LogText();
    EXPECT_EQ(enforcing.CountLines({"status=seccomp"}), 0u) << enforcing.LogText();
    enforcing.Stop();
  }

  // Runs `hinetd learn ARGS` as daemon_ (its stdout joins its log).
  bool StartLearn(const std::string& args) {
    daemon_.WrapIn({"/bin/sh", "-c", "exec \"$0\" learn " + args + " 1>&2",
                    BinDir() + "/hinetd"});
    // Start appends hinetd's usual arguments: the shell ignores them.
    return daemon_.Start("unused");
  }
};

TEST_F(LearnTest, LearnsAForkingServiceAndItsLearnedPolicyRunsItEnforcing) {
  uint16_t port = FreeTcpPort();
  std::string config = WriteConfig(ShellService("sh", port, "stdio"));
  std::string out = dir_.path() + "/sh-learned.toml";
  ASSERT_TRUE(StartLearn("-c " + config + " sh --connections 3 -o " + out));
  ASSERT_TRUE(daemon_.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Exchange("127.0.0.1", port, "hello\n"), "got hello\n") << "connection " << i;
  }
  // It stops by itself once the three have ended.
  auto status = daemon_.WaitExit(milliseconds(15000));
  ASSERT_TRUE(status.has_value()) << daemon_.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForLine({"policy written to " + out}, milliseconds(1000)))
      << daemon_.LogText();
  // Coverage: the second and third added nothing the first had not done.
  EXPECT_TRUE(daemon_.WaitForLine({"coverage: 3 connections, the last 2 added nothing new"},
                                  milliseconds(1000)))
      << daemon_.LogText();
  // The diff against stdio: ls's directory reading is new.
  auto diff = daemon_.WaitForLine({"learned allows, \"stdio\" does not"}, milliseconds(1000));
  ASSERT_TRUE(diff.has_value()) << daemon_.LogText();
  EXPECT_NE(diff->find("getdents64"), std::string::npos) << *diff;

  std::string policy = ReadFile(out);
  SCOPED_TRACE(policy);
  EXPECT_NE(policy.find("include = [\"runtime\"]"), std::string::npos);
  EXPECT_NE(policy.find("default_action = \"kill\""), std::string::npos);
  // After execve in a forked child (ls), and the fork itself in the shell.
  EXPECT_NE(policy.find("\"getdents64\""), std::string::npos);
  EXPECT_TRUE(policy.find("\"wait4\"") != std::string::npos ||
              policy.find("\"@process-wait\"") != std::string::npos);
  EXPECT_TRUE(policy.find("vfork") != std::string::npos ||
              policy.find("\"clone\"") != std::string::npos);
  EXPECT_NE(policy.find("# REVIEW: "), std::string::npos);

  // Enforcing: the same service works under it; another whose shell does one
  // thing more (chdir) is killed for it.
  daemon_.Stop();
  dir_.Write("sandbox/learned.toml", policy);
  uint16_t port2 = FreeTcpPort();
  config = WriteConfig(ShellService("sh", port, "learned") +
                       ShellService("more", port2, "learned", "; cd /tmp"));
  DaemonProcess enforcing;
  ASSERT_TRUE(enforcing.StartAndWait(config)) << enforcing.LogText();
  ASSERT_TRUE(enforcing.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  EXPECT_EQ(Exchange("127.0.0.1", port, "again\n"), "got again\n");
  EXPECT_TRUE(enforcing.WaitForLine({"event=end", "service=sh ", "status=exit:0"},
                                    milliseconds(10000)))
      << enforcing.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", port2, "x\n"), "got x\n");
  EXPECT_TRUE(enforcing.WaitForLine({"event=end", "service=more", "status=seccomp",
                                     "syscall=chdir"},
                                    milliseconds(10000)))
      << enforcing.LogText();
  EXPECT_EQ(enforcing.CountLines({"service=sh ", "status=seccomp"}), 0u) << enforcing.LogText();
  enforcing.Stop();
}

TEST_F(LearnTest, LearnsAChrootedServiceWithAnArgumentRule) {
  // The probe in its jail, as nobody, in its own PID namespace: every other
  // protection stays in place while it records. Its policy does not allow
  // socket; learned, socket is allowed for the one family it used.
  uint16_t port = FreeTcpPort();
  std::string config = WriteConfig(ProbeService("probe", port, ", \"syscall\", \"socket\""));
  std::string out = dir_.path() + "/probe-learned.toml";
  ASSERT_TRUE(StartLearn("-c " + config + " probe --connections 2 -o " + out));
  ASSERT_TRUE(daemon_.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  for (int i = 0; i < 2; ++i) {
    std::string answer = Exchange("127.0.0.1", port, "");
    EXPECT_NE(answer.find("uid=65534"), std::string::npos) << answer;
    EXPECT_NE(answer.find("after=socket rc="), std::string::npos) << answer;
    EXPECT_EQ(answer.find("after=socket rc=-1"), std::string::npos) << answer;
  }
  auto status = daemon_.WaitExit(milliseconds(15000));
  ASSERT_TRUE(status.has_value()) << daemon_.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << daemon_.LogText();
  std::string policy = ReadFile(out);
  SCOPED_TRACE(policy);
  EXPECT_NE(policy.find("{ syscall = \"socket\", when = \"family == AF_INET\" },"),
            std::string::npos);
  EXPECT_NE(policy.find("# socket: seen 2 times; family=AF_INET 2"), std::string::npos);
  // The probe's policy allows prctl whole; the learned one, for the
  // options the probe used.
  EXPECT_TRUE(daemon_.WaitForLine({"  \"probe\" allows whole, learned only with argument rules "
                                   "(1): prctl"},
                                  milliseconds(1000)))
      << daemon_.LogText();

  daemon_.Stop();
  dir_.Write("sandbox/probe-learned.toml", policy);
  config = WriteConfig(ProbeService("probe", port, ", \"syscall\", \"socket\"") );
  std::string text = ReadFile(config);
  size_t at = text.find("sandbox = \"probe\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("sandbox = \"probe\"").size(), "sandbox = \"probe-learned\"");
  config = dir_.Write("hinetd.toml", text);
  DaemonProcess enforcing;
  ASSERT_TRUE(enforcing.StartAndWait(config)) << enforcing.LogText();
  ASSERT_TRUE(enforcing.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  std::string answer = Exchange("127.0.0.1", port, "");
  EXPECT_NE(answer.find("after=socket rc="), std::string::npos) << answer;
  EXPECT_EQ(answer.find("after=socket rc=-1"), std::string::npos) << answer;
  EXPECT_TRUE(enforcing.WaitForLine({"event=end", "service=probe", "status=exit:0"},
                                    milliseconds(10000)))
      << enforcing.LogText();
  enforcing.Stop();
}

TEST_F(LearnTest, LearnStopsAfterItsDurationAndRefusesAnUnknownService) {
  uint16_t port = FreeTcpPort();
  std::string config = WriteConfig(ShellService("sh", port, "stdio"));
  std::string out = dir_.path() + "/idle.toml";
  ASSERT_TRUE(StartLearn("-c " + config + " sh --duration 1s -o " + out));
  auto status = daemon_.WaitExit(milliseconds(15000));
  ASSERT_TRUE(status.has_value()) << daemon_.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForLine({"coverage: 0 connections"}, milliseconds(1000)))
      << daemon_.LogText();
  EXPECT_NE(ReadFile(out).find("include = [\"runtime\"]"), std::string::npos);
  // Without -o: ./sh-learned.toml in the working directory, named without
  // the "./".
  CommandResult in_dir = RunCommand(
      {"/bin/sh", "-c", "cd \"$1\" && exec \"$0\" learn -c \"$2\" sh --duration 1s",
       BinDir() + "/hinetd", dir_.path(), config},
      milliseconds(15000));
  EXPECT_EQ(in_dir.exit_code, 0) << in_dir.out << in_dir.err;
  EXPECT_NE(in_dir.out.find("policy written to " + dir_.path() + "/sh-learned.toml\n"),
            std::string::npos)
      << in_dir.out;
  EXPECT_EQ(access((dir_.path() + "/sh-learned.toml").c_str(), R_OK), 0);

  CommandResult r = RunCommand({BinDir() + "/hinetd", "learn", "-c", config, "nosuch"},
                               milliseconds(10000));
  EXPECT_EQ(r.exit_code, 64) << r.err;
  EXPECT_NE(r.err.find("no service \"nosuch\""), std::string::npos) << r.err;
  // Never over the service's current policy file.
  r = RunCommand({BinDir() + "/hinetd", "learn", "-c", config, "sh", "-o",
                  dir_.path() + "/sandbox/stdio.toml"},
                 milliseconds(10000));
  EXPECT_EQ(r.exit_code, 64) << r.err;
  EXPECT_NE(r.err.find("current policy"), std::string::npos) << r.err;
}

TEST_F(LearnTest, TrialModeLogsEachCallOutsideThePolicyOnceAndKillsNothing) {
  dir_.Write("sandbox/trial.toml",
             "default_action = \"log\"\ninclude = [\"stdio\"]\nallow = [\"wait4\"]\n"
             "errno = { unshare = \"EPERM\" }\n");
  uint16_t port = FreeTcpPort();
  std::string config = WriteConfig(ShellService("sh", port, "trial"));
  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();
  ASSERT_TRUE(daemon_.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  // What the base layers refuse and the policy leaves to its default: all
  // but unshare, which its errno table answers.
  auto unseen = daemon_.WaitForLine({"event=policy-trial-unseen", "service=sh", "policy=trial"},
                                    milliseconds(1000));
  ASSERT_TRUE(unseen.has_value()) << daemon_.LogText();
  EXPECT_EQ(unseen->find("unshare"), std::string::npos) << *unseen;
  EXPECT_NE(unseen->find(",ptrace,"), std::string::npos) << *unseen;
  EXPECT_EQ(daemon_.CountLines({"event=policy-trial-unseen"}), 1u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Exchange("127.0.0.1", port, "hello\n"), "got hello\n") << "connection " << i;
    ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=sh", "status=exit:0"},
                                     static_cast<size_t>(i + 1), milliseconds(10000)))
        << daemon_.LogText();
  }
  // ls reads the directory many times per connection, in two connections:
  // one line.
  auto line = daemon_.WaitForLine({"event=policy-trial", "service=sh", "syscall=getdents64"},
                                  milliseconds(1000));
  ASSERT_TRUE(line.has_value()) << daemon_.LogText();
  EXPECT_NE(LogField(*line, "pid"), "");
  EXPECT_EQ(daemon_.CountLines({"event=policy-trial", "syscall=getdents64"}), 1u)
      << daemon_.LogText();
  // stdio answers ioctl with ENOTTY (an errno rule): not a trial line. And
  // no line is there twice.
  EXPECT_EQ(daemon_.CountLines({"event=policy-trial", "syscall=ioctl"}), 0u) << daemon_.LogText();
  std::vector<std::string> trial;
  for (const auto& l : daemon_.Lines()) {
    if (l.find("event=policy-trial ") == std::string::npos) continue;
    std::string key = l.substr(l.find(" syscall="));
    for (const auto& seen : trial) EXPECT_NE(seen, key) << daemon_.LogText();
    trial.push_back(key);
  }
  EXPECT_EQ(daemon_.CountLines({"status=seccomp"}), 0u);
  daemon_.Stop();

  // --from-log: the lines folded into the policy, which then allows them.
  std::string log = dir_.Write("trial.log", daemon_.LogText());
  std::string out = dir_.path() + "/folded.toml";
  CommandResult r = RunCommand({BinDir() + "/hinetd", "learn", "--from-log", log, "-c", config,
                                "sh", "-o", out},
                               milliseconds(10000));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("policy-trial lines of service \"sh\" folded in"), std::string::npos)
      << r.out;
  std::string folded = ReadFile(out);
  EXPECT_NE(folded.find("\"getdents64\""), std::string::npos) << folded;
  EXPECT_NE(folded.find("# wait4: from the current policy"), std::string::npos) << folded;
  // The current policy's errno for unshare kept, the other refusals added.
  EXPECT_NE(folded.find("# From the current policy, as it was.\nioctl = \"ENOTTY\"\n"
                        "unshare = \"EPERM\"\n"),
            std::string::npos)
      << folded;
  EXPECT_NE(folded.find("\nptrace = \"EPERM\"\n"), std::string::npos) << folded;
  dir_.Write("sandbox/folded.toml", folded);
  std::string check_config = WriteConfig(ShellService("sh", port, "folded"));
  r = RunCommand({BinDir() + "/hinetd", "check", "-c", check_config}, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(LearnTest, CallsTheBaseLayersRefuseFailAsWhileLearningInsteadOfKilling) {
  // clone(CLONE_NEWUSER), clone3 and unshare(CLONE_NEWUSER): the base
  // layers refuse them with an errno before the recording program, so
  // learning never sees them; the probe goes on after each. Under the
  // learned policy (default kill, which outranks an errno) it must go on
  // the same way.
  uint16_t port = FreeTcpPort();
  std::string config = WriteConfig(ProbeService("userns", port, ", \"userns\""));
  const std::vector<std::string> want = {"clone_newuser=err:EPERM\n",
                                         "clone3_newuser=err:ENOSYS\n",
                                         "unshare_newuser=err:EPERM\n", "end=1"};
  std::string policy = LearnProbe(config, "userns", port, 2, want);
  ASSERT_FALSE(policy.empty());
  SCOPED_TRACE(policy);
  EXPECT_NE(policy.find("\nunshare = \"EPERM\"\n"), std::string::npos);
  EXPECT_NE(policy.find("\nclone3 = \"ENOSYS\"\n"), std::string::npos);
  EXPECT_NE(policy.find("\nclone = { errno = \"EPERM\", when = "), std::string::npos);
  Enforce("userns", ", \"userns\"", policy, want);

  // Without its errno table the same policy kills the probe at its first
  // such call: the blind spot the table closes.
  size_t table = policy.find("\n[errno]\n");
  ASSERT_NE(table, std::string::npos);
  dir_.Write("sandbox/learned.toml", policy.substr(0, table + 1));
  uint16_t port2 = FreeTcpPort();
  config = WriteConfig(ProbeUnder("userns", port2, ", \"userns\"", "learned"));
  DaemonProcess bare;
  ASSERT_TRUE(bare.StartAndWait(config)) << bare.LogText();
  ASSERT_TRUE(bare.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  EXPECT_EQ(Exchange("127.0.0.1", port2, "").find("end=1"), std::string::npos);
  EXPECT_TRUE(bare.WaitForLine({"event=end", "service=userns", "status=seccomp"},
                               milliseconds(10000)))
      << bare.LogText();
  bare.Stop();
}

TEST_F(LearnTest, LearnsKillOfItsOwnProcessGroupAsAnArgumentRule) {
  uint16_t port = FreeTcpPort();
  std::string config =
      WriteConfig(ProbeService("killer", port, ", \"syscall\", \"kill-group\""));
  const std::vector<std::string> want = {"after=kill-group rc=0 errno=0"};
  std::string policy = LearnProbe(config, "killer", port, 2, want);
  ASSERT_FALSE(policy.empty());
  SCOPED_TRACE(policy);
  EXPECT_NE(policy.find("  # REVIEW: kill "), std::string::npos);
  EXPECT_NE(policy.find("  # kill: seen 2 times; pid=0 2\n"
                        "  { syscall = \"kill\", when = \"pid == 0\" },\n"),
            std::string::npos);
  Enforce("killer", ", \"syscall\", \"kill-group\"", policy, want);
}

TEST_F(LearnTest, LearnsWhatAThreadDoes) {
  // The thread shares the process's filter and listener: its sysinfo is
  // recorded; glibc's clone3 is refused (ENOSYS) by the base layers and it
  // falls back to clone, whose flags make a rule.
  uint16_t port = FreeTcpPort();
  std::string config = WriteConfig(ProbeService("threads", port, ", \"thread\""));
  const std::vector<std::string> want = {"thread_sysinfo=ok\n", "end=1"};
  std::string policy = LearnProbe(config, "threads", port, 2, want);
  ASSERT_FALSE(policy.empty());
  SCOPED_TRACE(policy);
  EXPECT_NE(policy.find("  # sysinfo: seen 2 times\n  \"sysinfo\",\n"), std::string::npos);
  EXPECT_NE(policy.find("clone_flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"),
            std::string::npos);
  EXPECT_NE(policy.find("{ syscall = \"clone\", when = \"clone_flags & ("), std::string::npos);
  Enforce("threads", ", \"thread\"", policy, want);
}

TEST_F(LearnTest, TrialLinesCarryArgumentValuesAndFoldIntoARule) {
  // The probe's policy in trial mode, without kill: the daemon's line for
  // kill(0, 0) names its pid argument (prefixed: the line has a pid of its
  // own) and its raw value; --from-log makes it a rule again.
  dir_.Write("sandbox/probe-trial.toml", std::string("default_action = \"log\"\n") + kProbePolicy);
  uint16_t port = FreeTcpPort();
  std::string config = WriteConfig(
      ProbeUnder("killer", port, ", \"syscall\", \"kill-group\"", "probe-trial"));
  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();
  ASSERT_TRUE(daemon_.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  // The calls trial mode cannot see, said once at the start.
  auto unseen = daemon_.WaitForLine({"event=policy-trial-unseen", "service=killer",
                                     "policy=probe-trial"},
                                    milliseconds(1000));
  ASSERT_TRUE(unseen.has_value()) << daemon_.LogText();
  // (kProbePolicy names none of them.)
  EXPECT_NE(unseen->find(",unshare,"), std::string::npos) << *unseen;
  EXPECT_NE(unseen->find(",clone3,"), std::string::npos) << *unseen;
  std::string answer = Exchange("127.0.0.1", port, "");
  EXPECT_NE(answer.find("after=kill-group rc=0 errno=0"), std::string::npos) << answer;
  auto line = daemon_.WaitForLine({"event=policy-trial ", "service=killer", "syscall=kill"},
                                  milliseconds(10000));
  ASSERT_TRUE(line.has_value()) << daemon_.LogText();
  EXPECT_EQ(LogField(*line, "arg_pid"), "0") << *line;
  EXPECT_EQ(LogField(*line, "raw"), "0x0") << *line;
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=killer", "status=exit:0"},
                                  milliseconds(10000)))
      << daemon_.LogText();
  daemon_.Stop();
  std::string log = dir_.Write("trial.log", daemon_.LogText());
  std::string out = dir_.path() + "/folded.toml";
  CommandResult r = RunCommand({BinDir() + "/hinetd", "learn", "--from-log", log, "-c", config,
                                "killer", "-o", out},
                               milliseconds(10000));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string folded = ReadFile(out);
  EXPECT_NE(folded.find("{ syscall = \"kill\", when = \"pid == 0\" },"), std::string::npos)
      << folded;
  // The diff names the rule against the current policy, which lacks kill.
  EXPECT_NE(r.out.find("learned allows, \"probe-trial\" does not (1): kill\n"),
            std::string::npos)
      << r.out;
}

TEST_F(LearnTest, TrialLinesStopAt256DistinctCallsWithOneLineSayingSo) {
  dir_.Write("sandbox/sweep.toml",
             "default_action = \"log\"\ninclude = [\"runtime\"]\nallow = [\"write\"]\n");
  uint16_t port = FreeTcpPort();
  std::string config =
      WriteConfig(ProbeUnder("sweep", port, ", \"prctl-sweep\", \"300\"", "sweep"));
  ASSERT_TRUE(daemon_.StartAndWait(config)) << daemon_.LogText();
  ASSERT_TRUE(daemon_.WaitForLine({"event=listener-ready"}, milliseconds(10000)));
  for (int i = 0; i < 2; ++i) {
    EXPECT_NE(Exchange("127.0.0.1", port, "").find("swept=300\n"), std::string::npos);
    ASSERT_TRUE(daemon_.WaitForCount({"event=end", "service=sweep", "status=exit:0"},
                                     static_cast<size_t>(i + 1), milliseconds(10000)))
        << daemon_.LogText();
  }
  auto suppressed = daemon_.WaitForLine({"event=policy-trial-suppressed", "service=sweep"},
                                        milliseconds(1000));
  ASSERT_TRUE(suppressed.has_value()) << daemon_.LogText();
  EXPECT_EQ(LogField(*suppressed, "distinct"), "256");
  EXPECT_EQ(daemon_.CountLines({"event=policy-trial-suppressed"}), 1u);
  EXPECT_EQ(daemon_.CountLines({"event=policy-trial ", "service=sweep"}), 256u);
  daemon_.Stop();
}

TEST_F(LearnTest, TheDiffNamesSyscallsTheTwoPoliciesNarrowDifferently) {
  // The current policy narrows socket and ioctl; the trial lines add a
  // family to socket's rule, and make ioctl's values too many for a rule.
  dir_.Write("sandbox/cur.toml",
             "default_action = \"log\"\ninclude = [\"runtime\"]\n"
             "allow = [\"write\", { syscall = \"socket\", when = \"family == AF_UNIX\" },\n"
             "  { syscall = \"ioctl\", when = \"cmd == TCGETS\" }]\n");
  std::string config = WriteConfig(ShellService("sh", FreeTcpPort(), "cur"));
  std::string log = "event=policy-trial service=sh pid=7 syscall=socket family=AF_INET raw=0x2\n";
  for (int i = 0; i < 9; ++i) {
    log += "event=policy-trial service=sh pid=7 syscall=ioctl cmd=" + std::to_string(i + 1) +
           " raw=0x" + std::to_string(i + 1) + "\n";
  }
  std::string log_path = dir_.Write("trial.log", log);
  std::string out = dir_.path() + "/folded.toml";
  CommandResult r = RunCommand({BinDir() + "/hinetd", "learn", "--from-log", log_path, "-c",
                                config, "sh", "-o", out},
                               milliseconds(10000));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("  learned allows whole, \"cur\" only with argument rules (1): ioctl\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  both with argument rules, not the same (1):\n"
                       "    socket (learned: family == AF_INET || family == AF_UNIX; current: "
                       "family == AF_UNIX)\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("learned allows, \"cur\" does not (0): -\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"cur\" allows, learned does not (0): -\n"), std::string::npos) << r.out;
}

TEST_F(LearnTest, NeverWritesOverAPolicyFileAnyServiceLoads) {
  dir_.Write("sandbox/shared-base.toml", "allow = [\"read\"]\n");
  dir_.Write("sandbox/other.toml",
             "default_action = \"kill\"\ninclude = [\"stdio\", \"shared-base\"]\n");
  uint16_t port = FreeTcpPort();
  std::string config = WriteConfig(ShellService("sh", port, "stdio") +
                                    ShellService("other", FreeTcpPort(), "other"));
  struct Case {
    std::string file;
    std::string error;
  };
  const Case cases[] = {
      {"stdio.toml", "is the service's current policy"},
      {"other.toml", "is a policy service \"other\" uses"},
      {"shared-base.toml", "is a policy service \"other\" uses (its policy \"other\" includes it)"},
      {"runtime.toml", "is the policy \"runtime\", which the learned policy includes"},
  };
  for (const auto& c : cases) {
    std::string path = dir_.path() + "/sandbox/" + c.file;
    std::string before = ReadFile(path);
    CommandResult r = RunCommand({BinDir() + "/hinetd", "learn", "-c", config, "sh", "--duration",
                                  "1s", "-o", path},
                                 milliseconds(10000));
    EXPECT_EQ(r.exit_code, 64) << c.file << r.out << r.err;
    EXPECT_NE(r.err.find(c.error), std::string::npos) << r.err;
    EXPECT_EQ(ReadFile(path), before) << c.file;
  }
}

TEST_F(LearnTest, CheckListsArgumentRulesAndClone3) {
  dir_.Write("sandbox/narrow.toml",
             "default_action = \"kill\"\ninclude = [\"stdio\"]\n"
             "allow = [{ syscall = \"socket\", when = [\"family == AF_UNIX\", "
             "\"family == AF_INET\"] },\n"
             "  { syscall = \"clone\", when = \"clone_flags & CLONE_NEWUSER == 0\" }]\n");
  std::string config = WriteConfig(ShellService("sh", FreeTcpPort(), "narrow"));
  CommandResult r = RunCommand({BinDir() + "/hinetd", "check", "-c", config}, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("argument rules (a call that matches none: kill):\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("              socket     allow when family == AF_UNIX\n"
                       "                         allow when family == AF_INET\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("              clone      allow when clone_flags & CLONE_NEWUSER == 0\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("              clone3     errno:ENOSYS (its flags cannot be checked; the C "
                       "library falls back to clone)\n"),
            std::string::npos)
      << r.out;
}

TEST(LearnUsage, MistakesExit64WithWhatIsWrong) {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const Case cases[] = {
      {{"learn"}, "learn needs the name of a service"},
      {{"learn", "sh", "--connections", "0"}, "--connections takes a positive number"},
      {{"learn", "sh", "--connections", "-3"}, "--connections takes a positive number"},
      {{"learn", "sh", "--duration", "soon"}, "--duration takes a duration"},
      {{"learn", "sh", "--from-log", "x.log", "--duration", "1s"},
       "--from-log reads a log: --connections and --duration do not apply"},
      {{"learn", "sh", "-f"}, "unknown argument '-f'"},
      {{"learn", "sh", "other"}, "unknown argument 'other'"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {BinDir() + "/hinetd"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult r = RunCommand(argv, milliseconds(5000));
    EXPECT_EQ(r.exit_code, 64) << c.error;
    EXPECT_NE(r.err.find(c.error), std::string::npos) << r.err;
  }
  CommandResult h = RunCommand({BinDir() + "/hinetd", "--help"}, milliseconds(5000));
  EXPECT_NE(h.out.find("\n       hinetd learn [-c FILE] SERVICE [-o OUT] [--connections N] "
                       "[--duration DUR]\n"),
            std::string::npos)
      << h.out;
}

}  // namespace
}  // namespace hinetd::testing
