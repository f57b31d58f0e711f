#include "supervisor/child_status.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

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
  char buf[32];
  snprintf(buf, sizeof buf, "%.3fs", seconds < 0 ? 0.0 : seconds);
  return buf;
}

}  // namespace hinetd::supervisor
