// hinetd-bench-filters: what installing its seccomp filters costs every
// child, per policy of a services table. Each child installs the layer
// every child gets (sandbox::ChildrenFilter) and its service's policy:
// merged into one program where they merge (sandbox/merge.h), else as two
// seccomp(2) calls, in each of which the kernel checks the program,
// converts and JIT-compiles it, and works out which system calls it always
// allows (its action cache). This times both ways in fresh processes,
// alternating, ROUNDS times per policy, and prints the medians and the
// programs' lengths (merged: "-" where a policy does not merge).
//
// usage: hinetd-bench-filters CONFIG [ROUNDS]    (ROUNDS: 50)
// CONFIG is loaded as hinetd loads it (root: the same checks).
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "sandbox/daemon_filters.h"
#include "sandbox/merge.h"
#include "spawn/plan.h"

namespace {

struct Times {
  long long base_ns;
  long long policy_ns;
  long long merged_ns;
  int ok;
};

long long Now() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

double MedianUs(std::vector<long long> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : static_cast<double>(v[v.size() / 2]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: hinetd-bench-filters CONFIG [ROUNDS]\n");
    return 64;
  }
  int rounds = argc == 3 ? std::atoi(argv[2]) : 50;
  if (rounds < 1 || rounds > 100000) {
    std::fprintf(stderr, "hinetd-bench-filters: ROUNDS must be 1..100000\n");
    return 64;
  }
  auto table = hinetd::spawn::LoadTable(argv[1]);
  if (!table.ok()) {
    std::fprintf(stderr, "hinetd-bench-filters: %s\n", table.error().ToString().c_str());
    return 78;
  }
  auto base = hinetd::sandbox::ChildrenFilter();
  if (!base.ok()) {
    std::fprintf(stderr, "hinetd-bench-filters: %s\n", base.error().message().c_str());
    return 71;
  }
  // Written by the child after its policy is installed, without a system
  // call (the policy decides which it may make).
  auto* shared = static_cast<Times*>(
      mmap(nullptr, sizeof(Times), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (shared == MAP_FAILED) {
    std::perror("mmap");
    return 71;
  }
  std::printf("%-20s %6s %6s %6s %12s %12s %12s %9s %8s\n", "policy", "base", "policy",
              "merged", "base_us", "policy_us", "merged_us", "merge_ms", "rounds");
  for (const auto& [name, program] : table->plans->programs) {
    long long merge_start = Now();
    auto merged = hinetd::sandbox::MergeFilters(**base, *program);
    double merge_ms = static_cast<double>(Now() - merge_start) / 1e6;
    std::vector<long long> base_ns, policy_ns, merged_ns;
    for (int i = 0; i < rounds; ++i) {
      for (int one = 0; one < (merged.ok() ? 2 : 1); ++one) {
        *shared = Times{0, 0, 0, 0};
        pid_t pid = fork();
        if (pid < 0) {
          std::perror("fork");
          return 71;
        }
        if (pid == 0) {
          if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(1);
          if (one == 1) {
            long long a = Now();
            if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (*merged)->fprog()) != 0) _exit(4);
            long long b = Now();
            *shared = Times{0, 0, b - a, 1};
            _exit(0);
          }
          long long a = Now();
          if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (*base)->fprog()) != 0) _exit(2);
          long long b = Now();
          if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, program->fprog()) != 0) _exit(3);
          long long c = Now();
          *shared = Times{b - a, c - b, 0, 1};
          _exit(0);
        }
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !shared->ok) {
          std::fprintf(stderr, "hinetd-bench-filters: policy %s: the child failed (status %d)\n",
                       name.c_str(), status);
          return 71;
        }
        if (one == 1) {
          merged_ns.push_back(shared->merged_ns);
        } else {
          base_ns.push_back(shared->base_ns);
          policy_ns.push_back(shared->policy_ns);
        }
      }
    }
    char merged_len[16] = "-";
    char merged_us[16] = "-";
    if (merged.ok()) {
      std::snprintf(merged_len, sizeof merged_len, "%zu", (*merged)->insns().size());
      std::snprintf(merged_us, sizeof merged_us, "%.1f", MedianUs(merged_ns));
    }
    std::printf("%-20s %6zu %6zu %6s %12.1f %12.1f %12s %9.2f %8d\n", name.c_str(),
                (*base)->insns().size(), program->insns().size(), merged_len, MedianUs(base_ns),
                MedianUs(policy_ns), merged_us, merge_ms, rounds);
  }
  return 0;
}
