#include "supervisor/child_status.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <cmath>

namespace hinetd::supervisor {

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  if (abbrev != nullptr) return abbrev;
  return "SIG" + std::to_string(sig);
}

bool KilledBySeccomp(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS; }

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exit:" + std::to_string(WEXITSTATUS(status));
  if (KilledBySeccomp(status)) return "seccomp";
  if (WIFSIGNALED(status)) return "signal:" + SignalName(WTERMSIG(status));
  return "unknown:" + std::to_string(status);
}

std::string FormatSeconds(double seconds) {
  // In whole milliseconds, with integers: every child's end line has one,
  // and printf's floating-point conversion is the costliest part of it.
  // Negative (or not a number) is 0; past 10^12 s, 10^12 s.
  constexpr double kMaxMs = 1e15;
  double ms = seconds * 1000.0;
  long long whole = 0;
  if (ms >= kMaxMs) {
    whole = static_cast<long long>(kMaxMs);
  } else if (ms > 0) {
    whole = std::llround(ms);
  }
  long long frac = whole % 1000;
  std::string out = std::to_string(whole / 1000);
  out += '.';
  out += static_cast<char>('0' + frac / 100);
  out += static_cast<char>('0' + frac / 10 % 10);
  out += static_cast<char>('0' + frac % 10);
  out += 's';
  return out;
}

}  // namespace hinetd::supervisor
