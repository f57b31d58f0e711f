// Issue 10, item 10: until execve a child shares the monitor's memory
// (CLONE_VM). A process of the service's uid that stops such a child
// (kill(-1, SIGSTOP), as in setup_deadline_test.cc) must not be able to
// ptrace it, open its /proc/PID/mem or environ, or process_vm_readv it,
// whatever fs.suid_dumpable says: the child keeps a saved uid of 0 until
// execve, and the kernel lets an unprivileged process at another only if
// its uid is the target's real, effective and saved uid.
//
// Through the real daemon, with fs.suid_dumpable = 1: the attacker stops
// every process it may, finds in /proc the monitor's children stopped in
// their setup (the service's uid, still the monitor's program by their
// command name) and attacks each. As a positive control it attacks the
// same service's children once they have executed, where the kernel lets
// it in: the attack works where it is allowed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <optional>
#include <thread>

#include "attack/hostile_process.h"
#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

// No passwd entry, and no other test's: the attacker stops every process of
// this uid.
constexpr long long kServiceUid = 64022;

struct PtraceAttack {
  std::atomic<bool> stop{false};
  std::atomic<long> kills{0};
  std::atomic<long> scans{0};
  // Children attacked while stopped in their setup (and still so after
  // the attempts), and how many of them refused every way in.
  std::atomic<int> setup_attacked{0};
  std::atomic<int> setup_denied{0};
  // Attempts that got in while the child was in its setup: the hole.
  std::atomic<int> setup_breaches{0};
  // Children in their setup whose saved uid was not 0.
  std::atomic<int> setup_saved_uid_not_0{0};
  // The positive control: executed children of the same service.
  std::atomic<int> executed_attacked{0};
  std::atomic<int> executed_allowed{0};
  char first_setup_anomaly[256] = {};
  char first_control_failure[256] = {};
};

// The attacker's loop (in the forked process: allocation-free).
int Attack(PtraceAttack* shared, pid_t monitor, const hostile::ProcStatus& monitor_status,
           uintptr_t monitor_addr, seconds limit) {
  constexpr int kMaxTargets = 1024;
  pid_t attacked[kMaxTargets];
  int n_attacked = 0;
  auto already = [&](pid_t pid) {
    for (int i = 0; i < n_attacked; ++i) {
      if (attacked[i] == pid) return true;
    }
    return false;
  };
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long i = 0; i < 1'000'000'000L && !shared->stop.load(std::memory_order_relaxed); ++i) {
    kill(-1, SIGSTOP);
    shared->kills.fetch_add(1, std::memory_order_relaxed);
    if ((i & 63) != 0) continue;
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= limit.count()) break;
    shared->scans.fetch_add(1, std::memory_order_relaxed);
    hostile::ForEachProcess([&](pid_t pid) {
      hostile::ProcStatus st;
      if (!hostile::ReadStatus(pid, &st) || st.ppid != monitor) return true;
      // Stopped and untraced: an attach to a traced process fails
      // whatever the uids, which would prove nothing.
      if (st.state != 'T' || st.tracer != 0 || already(pid)) return true;
      bool setup = st.InSetupAs(kServiceUid, monitor_status);
      bool executed = st.ExecutedAs(kServiceUid, monitor_status);
      if (!setup && !(executed && shared->executed_attacked.load() < 3)) return true;
      if (n_attacked < kMaxTargets) attacked[n_attacked++] = pid;
      // In setup the child's memory is the monitor's: read the monitor's
      // first mapping. Executed, its own.
      uintptr_t addr = setup ? monitor_addr : hostile::FirstMapping(pid);
      if (addr == 0) addr = monitor_addr;
      uint64_t value = 0;
      hostile::AccessResult r = hostile::TryAccess(pid, addr, &value, sizeof value);
      bool got_in = r.attach == 0 || r.seize == 0 || r.mem == 0 || r.environ == 0 ||
                    r.vm_read == 0;
      hostile::ProcStatus after;
      // A target that ended meanwhile (deadline, timeout) makes a refusal
      // meaningless; getting in never is.
      bool still = hostile::ReadStatus(pid, &after) && after.state == 'T' &&
                   (setup ? after.InSetupAs(kServiceUid, monitor_status)
                         : after.ExecutedAs(kServiceUid, monitor_status));
      if (setup) {
        // The mechanism: until execve the saved uid stays 0.
        if (st.uid[2] != 0) shared->setup_saved_uid_not_0.fetch_add(1);
        if (got_in) {
          if (shared->setup_breaches.fetch_add(1) == 0) {
            r.Describe(shared->first_setup_anomaly,
                       sizeof shared->first_setup_anomaly);
          }
        }
        if (still) {
          shared->setup_attacked.fetch_add(1);
          if (r.MemoryDenied()) {
            shared->setup_denied.fetch_add(1);
          } else if (!got_in && shared->first_setup_anomaly[0] == '\0') {
            r.Describe(shared->first_setup_anomaly,
                       sizeof shared->first_setup_anomaly);
          }
        }
      } else if (still) {
        shared->executed_attacked.fetch_add(1);
        if (r.MemoryAllowed()) {
          shared->executed_allowed.fetch_add(1);
        } else if (shared->first_control_failure[0] == '\0') {
          r.Describe(shared->first_control_failure, sizeof shared->first_control_failure);
        }
      }
      return true;
    });
  }
  return 0;
}

std::optional<int> ReapWithin(pid_t pid, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) return status;
    if (w < 0 || Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(5));  // polling a child's end; bounded
  }
}

class PtraceAttackTest : public E2eTest {};

TEST_F(PtraceAttackTest, NoProcessOfTheServiceUidReadsTheMonitorThroughAChildInSetup) {
  if (int scope = hostile::YamaPtraceScope(); scope > 0) {
    GTEST_SKIP() << "kernel.yama.ptrace_scope is " << scope
                 << ": Yama refuses the attach whatever the uids, so a refusal would prove "
                    "nothing about them";
  }
  hostile::SuidDumpable dumpable(1);
  ASSERT_TRUE(dumpable.ok()) << dumpable.error();

  uint16_t port = FreeTcpPort();
  std::string a = "[[service]]\nname = \"a\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
                  "\"\nexec = [\"/probe\"]\nuser = \"64022\"\ngroup = \"64022\"\nchroot = \"" +
                  jail_.path() + "\"\nsandbox = \"probe\"\nmax_instances = 32\ntimeout = \"5s\"\n";
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(a))) << daemon_.LogText();
  pid_t monitor = daemon_.pid();
  uintptr_t monitor_addr = hostile::FirstMapping(monitor);
  ASSERT_NE(monitor_addr, 0u);
  // The monitor's command name: its children keep it until they execute.
  hostile::ProcStatus monitor_status;
  ASSERT_TRUE(hostile::ReadStatus(monitor, &monitor_status));

  hostile::Shared<PtraceAttack> attack;
  ASSERT_TRUE(attack.ok());
  struct AttackerGuard {
    pid_t pid = -1;
    ~AttackerGuard() {
      hostile::KillAndReap(pid);
      hostile::ContinueAll(kServiceUid);
    }
  } guard;
  PtraceAttack* shared = &*attack;
  guard.pid = hostile::ForkAs(kServiceUid, kServiceUid, [=] {
    return Attack(shared, monitor, monitor_status, monitor_addr, seconds(20));
  });
  ASSERT_GT(guard.pid, 0);

  int connections = 0;
  {
    hostile::ConnectLoop clients(port, 2, milliseconds(300), 400);
    auto start = Clock::now();
    for (int i = 0; i < 1000 && Clock::now() - start < seconds(12); ++i) {
      if (attack->setup_attacked >= 3 && attack->executed_attacked >= 1) break;
      std::this_thread::sleep_for(milliseconds(20));  // polling the attacker's counters
    }
    clients.Stop();
    connections = clients.connections();
  }
  attack->stop = true;
  auto status = ReapWithin(guard.pid, milliseconds(5000));
  ASSERT_TRUE(status.has_value()) << "the attacker did not stop";
  guard.pid = -1;
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "attacker status " << *status << " (exit 120: it could not become uid 64022)";

  std::cout << "[  NOTE    ] " << connections << " connections, " << attack->kills.load()
            << " kill(-1, SIGSTOP), " << attack->scans.load() << " scans of /proc: "
            << attack->setup_attacked.load() << " children attacked in their setup, "
            << attack->executed_attacked.load() << " after execve\n";
  EXPECT_EQ(attack->setup_breaches.load(), 0)
      << "got into a child in its setup: " << attack->first_setup_anomaly;
  EXPECT_EQ(attack->setup_saved_uid_not_0.load(), 0) << "the saved uid is 0 until execve";
  EXPECT_EQ(attack->setup_denied.load(), attack->setup_attacked.load())
      << "a way in failed otherwise than by a refusal: "
      << attack->first_setup_anomaly;
  // The positive control: the same attack gets into the same service's
  // children once they have executed (all their uids the service's).
  ASSERT_GE(attack->executed_attacked.load(), 1)
      << "no executed child was caught: the positive control did not run";
  EXPECT_EQ(attack->executed_allowed.load(), attack->executed_attacked.load())
      << "positive control: " << attack->first_control_failure;
  if (attack->setup_attacked.load() == 0) {
    GTEST_SKIP() << "no child was caught stopped in its setup (" << connections
                 << " connections, " << attack->kills.load() << " kill(-1, SIGSTOP), "
                 << attack->scans.load()
                 << " scans): nothing was attacked there; SetupStopTest in the integration "
                    "tests covers the property deterministically";
  }
}

}  // namespace
}  // namespace hinetd::testing
