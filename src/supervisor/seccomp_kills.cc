#include "supervisor/seccomp_kills.h"

#include <algorithm>
#include <cstdlib>

#include "base/fs.h"
#include "sandbox/policy.h"
#include "supervisor/child_status.h"

namespace hinetd::supervisor {

using base::LogLine;

void SeccompKills::Open() {
  seccomp_log_.Open();
  if (!seccomp_log_.available()) {
    log_.Warning(LogLine("warning").Add(
        "message", "cannot read the kernel's audit records (neither the audit netlink "
                   "socket's read-only group nor /dev/kmsg); seccomp kills will be logged "
                   "without the syscall"));
  }
  // Fork and exit events, to name the service of a killed grandchild
  // (proc_events.h); subscribing needs CAP_NET_ADMIN, held only now.
  process_tree_.Open();
  if (!process_tree_.available() && seccomp_log_.available()) {
    log_.Warning(LogLine("warning").Add(
        "message", "cannot subscribe to the kernel's process events (netlink connector); a "
                   "seccomp kill of a process a child started is attributed through /proc, "
                   "which fails once its parent has reaped it"));
  }
}

std::optional<std::string> SeccompKills::ServiceOf(pid_t pid) const {
  if (auto it = children_.find(pid); it != children_.end()) return it->second.service;
  if (const auto* e = process_tree_.Find(pid)) return e->service;
  if (!process_tree_.available()) {
    if (auto found = ChildAncestorFromProc(pid)) return found->first;
  }
  return std::nullopt;
}

HostWatch::Found SeccompKills::ReadHostSource(int fd, const KnownProcesses& known) {
  bool ours = false;
  if (fd == process_tree_.fd()) {
    DrainProcessTree();
  } else {
    SeccompLog::Drained got =
        fd == seccomp_log_.audit_fd() ? seccomp_log_.DrainAudit() : seccomp_log_.DrainKmsg();
    LogDescendantKills(known);
    ours = std::any_of(got.killed.begin(), got.killed.end(), [&](pid_t pid) {
      return pid == known.listener || pid == known.last_listener || ServiceOf(pid).has_value() ||
             std::any_of(pending_.begin(), pending_.end(),
                         [pid](const PendingEnd& p) { return p.pid == pid; });
    });
  }
  uint64_t now_read = ReadSoFar(fd);
  uint64_t& looked = LookedAt(fd);
  bool any = now_read != looked;
  looked = now_read;
  if (ours) return HostWatch::Found::kOurs;
  return any ? HostWatch::Found::kHost : HostWatch::Found::kNothing;
}

uint64_t SeccompKills::ReadSoFar(int fd) const {
  if (fd == seccomp_log_.fd()) return seccomp_log_.kmsg_read();
  if (fd == seccomp_log_.audit_fd()) return seccomp_log_.audit_read();
  return process_datagrams_;
}

uint64_t& SeccompKills::LookedAt(int fd) {
  if (fd == seccomp_log_.fd()) return looked_at_[0];
  if (fd == seccomp_log_.audit_fd()) return looked_at_[1];
  return looked_at_[2];
}

std::string SeccompKills::ListenerSyscall(pid_t pid) {
  seccomp_log_.Drain();
  auto record = seccomp_log_.Take(pid);
  return record ? sandbox::SyscallNameForAuditArch(record->arch, record->syscall)
                : std::string("unknown");
}

Clock::time_point SeccompKills::next_deadline() const {
  Clock::time_point next = Clock::time_point::max();
  for (const auto& p : pending_) next = std::min(next, p.deadline);
  return next;
}

void SeccompKills::AddEnd(pid_t pid, const std::string& service, double seconds,
                          const KnownProcesses& known) {
  // The kernel's audit record may trail the SIGCHLD by a moment.
  pending_.push_back({pid, service, seconds, Clock::now() + record_wait_});
  FlushEnds(false, known);
}

void SeccompKills::FlushEnds(bool all, const KnownProcesses& known) {
  if (pending_.empty()) return;
  seccomp_log_.Drain();
  LogDescendantKills(known);
  auto now = Clock::now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto record = seccomp_log_.Take(it->pid);
    if (!record && !all && now < it->deadline && seccomp_log_.available()) {
      ++it;
      continue;
    }
    LogLine line("end");
    line.Add("service", it->service).Add("pid", it->pid).Add("status", "seccomp");
    line.Add("syscall", record ? sandbox::SyscallNameForAuditArch(record->arch, record->syscall)
                               : std::string("unknown"));
    line.Add("duration", FormatSeconds(it->seconds));
    log_.Warning(line);
    it = pending_.erase(it);
  }
}

size_t SeccompKills::DrainProcessTree() {
  auto now = Clock::now();
  size_t datagrams = process_tree_.Drain(
      [this](pid_t pid) -> std::optional<ProcessTree::DirectChild> {
        auto it = children_.find(pid);
        if (it == children_.end()) return std::nullopt;
        return ProcessTree::DirectChild{it->second.service, it->second.started};
      },
      now);
  process_datagrams_ += datagrams;
  uint64_t lost = process_tree_.TakeLost();
  uint64_t overflow = process_tree_.TakeOverflow();
  if (lost + overflow == 0) return datagrams;
  process_tree_unsure_until_ = now + ProcessTree::kRetention;
  if (process_tree_warning_.TryAcquire(now)) {
    log_.Warning(LogLine("process-events-lost")
                     .Add("lost", static_cast<int64_t>(lost))
                     .Add("table_full", static_cast<int64_t>(overflow)));
  }
  return datagrams;
}

std::optional<std::pair<std::string, pid_t>> SeccompKills::ChildAncestorFromProc(
    pid_t pid) const {
  // The parent chain of a process still alive: after a double fork, in a
  // PID namespace of its own, the child itself (its init) is the parent.
  for (int depth = 0; depth < 64 && pid > 1; ++depth) {
    if (auto it = children_.find(pid); it != children_.end()) {
      return std::make_pair(it->second.service, pid);
    }
    auto status = base::ReadFile("/proc/" + std::to_string(pid) + "/status");
    if (!status.ok()) return std::nullopt;
    size_t at = status->find("\nPPid:\t");
    if (at == std::string::npos) return std::nullopt;
    pid = static_cast<pid_t>(std::strtol(status->c_str() + at + 7, nullptr, 10));
  }
  return std::nullopt;
}

void SeccompKills::LogDescendantKills(const KnownProcesses& known) {
  // The fork events of a killed process are queued before its record can
  // be (proc_events.h): read them all first.
  DrainProcessTree();
  auto records = seccomp_log_.TakeUnclaimed([this, &known](pid_t pid) {
    if (children_.count(pid) != 0 || pid == known.listener || pid == known.last_listener) {
      return true;
    }
    return std::any_of(pending_.begin(), pending_.end(),
                       [pid](const PendingEnd& p) { return p.pid == pid; });
  });
  auto now = Clock::now();
  for (const auto& r : records) {
    // A record of a call a filter allowed with SECCOMP_RET_LOG (one the
    // service installed itself; hinetd's trial mode makes none): not a kill.
    if (!r.killed()) continue;
    std::string name = sandbox::SyscallNameForAuditArch(r.arch, r.syscall);
    // The kill of a process of service `service`, which descends from the
    // monitor's child `child`.
    auto log_kill = [&](const std::string& service, pid_t child) {
      LogLine line("seccomp");
      line.Add("service", service).Add("pid", r.pid).Add("child", child);
      if (!r.comm.empty()) line.Add("comm", r.comm);
      line.Add("syscall", name).Add("nr", r.syscall);
      log_.Warning(line);
    };
    if (const auto* e = process_tree_.Find(r.pid)) {
      log_kill(e->service, e->child);
      continue;
    }
    // Not in the table. Where the table is complete, the process was not
    // started by any child: a kill elsewhere on the system, none of
    // hinetd's business.
    bool sure = process_tree_.available() && now >= process_tree_unsure_until_;
    if (sure) continue;
    if (auto found = ChildAncestorFromProc(r.pid)) {
      log_kill(found->first, found->second);
      continue;
    }
    // Gone, and no table to ask: said, not hidden, when it may be one of
    // ours (the uid of some service).
    bool service_uid = false;
    if (known.config != nullptr) {
      for (const auto& svc : known.config->services) {
        if (static_cast<int64_t>(svc.uid) == r.uid) service_uid = true;
      }
    }
    if (!service_uid || !unattributed_log_.TryAcquire(now)) continue;
    LogLine line("seccomp");
    line.Add("service", "unknown").Add("pid", r.pid).Add("uid", static_cast<int64_t>(r.uid));
    if (!r.comm.empty()) line.Add("comm", r.comm);
    line.Add("syscall", name).Add("nr", r.syscall);
    line.Add("reason", process_tree_.available()
                           ? "process events were lost and the process is gone"
                           : "no process events and the process is gone");
    log_.Warning(line);
  }
}

}  // namespace hinetd::supervisor
