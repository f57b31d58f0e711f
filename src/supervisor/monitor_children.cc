// The monitor (monitor.h): a child from its clone to its end line: its
// start from the service's plan, its setup's end (accept or
// setup-failed), its reaping, timeouts and stops, and the end report.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "base/errno_name.h"
#include "supervisor/child_status.h"
#include "supervisor/monitor.h"
#include "supervisor/monitor_internal.h"

namespace hinetd::supervisor {

using base::Error;
using base::LogLine;
using base::UniqueFd;

using namespace monitor_detail;

namespace {

// True if `sig` would end `pid` by its default action: neither caught nor
// ignored (SigCgt and SigIgn in /proc/PID/status). Read only when a child
// is stopped (timeout, stop), never per connection.
bool EndsByDefault(pid_t pid, int sig) {
  std::string path = "/proc/" + std::to_string(pid) + "/status";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;  // gone, or cannot tell: TERM, and KILL after the grace
  char buf[4096];
  ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return false;
  buf[n] = '\0';
  unsigned long long handled = 0;
  for (const char* key : {"\nSigIgn:", "\nSigCgt:"}) {
    const char* line = std::strstr(buf, key);
    if (line == nullptr) return false;
    handled |= std::strtoull(line + std::strlen(key), nullptr, 16);
  }
  return ((handled >> (sig - 1)) & 1ULL) == 0;
}

}  // namespace

void Monitor::StartChild(const RequestRef& req, const config::Service& svc,
                         const spawn::Connection& c, const std::string& peer_text,
                         const ListenSocket& from, ino_t wait_ino, bool grow,
                         UniqueFd* handed, ino_t handed_ino) {
  bool wait = wait_ino != 0;
  const spawn::SpawnPlan& plan = plans_->plans[req.service];
  Child child;
  child.request = req.id;
  child.service = svc.name;
  child.source = req.source;
  child.wait = wait;
  child.wait_ep = from.ep;
  child.peer = peer_text;
  child.started = Clock::now();
  child.service_index = req.service;
  child.plans = plans_;
  child.config = config_;
  child.pid_namespace = (plan.clone_flags & config::kNsPid) != 0;
  if (wait) {
    child.wait_ino = wait_ino;
    child.uid = plan.uid;
    child.gid = plan.gid;
    child.plan_identity = plan_identities_[req.service];
  }
  child.chroot = plan.chroot;
  // Every allocation the bookkeeping of a started child needs is made
  // before the clone: once the child exists nothing may fail, or it would
  // run untracked.
  ChildTable::Reservation room = children_.Reserve(
      svc.name, svc.timeout.has_value(), plan.stderr_mode == config::StderrMode::kLog);
  auto started = spawner_->Start(plan, c, grow);
  auto add_peer = [&](LogLine& line) {
    if (config_->daemon.log_peers) line.Add("peer", peer_text);
  };
  if (!started.ok()) {
    children_.Cancel(std::move(room));
    // A system limit (EAGAIN from the pid limit, EMFILE, ENOMEM), met once
    // per request: said once per episode, however many requests it
    // refuses; its end is said with how many it refused.
    if (spawn_failures_++ == 0) {
      LogLine line("spawn-failed");
      line.Add("service", svc.name);
      add_peer(line);
      line.Add("error", started.error().message());
      log_.Error(line);
    }
    SendEnd(child, Outcome::kSpawnFailed, 0, Clock::duration::zero());
    return;
  }
  // The child sets itself up while this process goes on; it counts as
  // running (max_instances) from now, and is logged once its status pipe
  // says how the setup went. That pipe is not watched at first: the
  // child's execve alone would wake this loop once more per connection,
  // and most inetd children end soon after it, when their reaping reads
  // the pipe. It is looked at when a slot is wanted (LookAtSetups), and
  // watched once every slot is taken or after options_.exec_watch_delay
  // (a child that ends within it costs no wakeup for its execve; one that
  // runs longer is logged that much later at most). Its stderr pipe
  // likewise, from its exec on: read at its reap, or watched after the
  // same delay (its lines are logged that much later at most).
  // No allocation from here (see above).
  request_open_ = false;  // its end report comes when it is reaped
  cloned_ = true;
  child.stderr_fd = started->stderr_pipe.release();
  child.exec_slot = started->slot;
  if (handed != nullptr && child.pid_namespace) {
    child.handed_ino = handed_ino;
    child.handed = std::move(*handed);
  }
  Clock::time_point look_at = child.started + options_.exec_watch_delay;
  Clock::time_point setup_deadline = child.started + options_.setup_timeout;
  std::optional<Clock::time_point> timeout_at;
  if (svc.timeout) timeout_at = child.started + *svc.timeout;
  children_.Add(std::move(room), started->pid, std::move(child), started->status_fd, look_at,
                setup_deadline, timeout_at);
  if (spawn_failures_ > 0) {
    log_.Info(LogLine("spawn-recovered").Add("service", svc.name).Add("failed", spawn_failures_));
    spawn_failures_ = 0;
  }
}

void Monitor::FinishExec(pid_t pid, bool reaped) {
  Child* found = children_.Find(pid);
  if (found == nullptr || found->exec_slot < 0) return;
  Child& c = *found;
  // Out of epoll before Finish closes it: a child cloned meanwhile may
  // still hold a copy of the descriptor for a moment (until its step 4),
  // which would keep a registration alive.
  if (c.exec_watched) Unwatch(c.exec_fd);
  auto done = spawner_->Finish(c.exec_slot);  // closes exec_fd when over
  if (!done) {
    // Not over yet (an event meant for a descriptor number that a setup
    // just ended had, and this one took; or a look before its time): its
    // own EOF will come, or be looked for.
    if (c.exec_watched) WatchNew(c.exec_fd, Tag(kExec, c.exec_fd), EPOLLIN);
    return;
  }
  const auto* result = &*done;
  children_.SetupOver(c);
  // The plans may go now (a reload replaced them); the table stays with the
  // child for its log lines.
  c.plans.reset();
  const config::Service& svc = c.config->services[c.service_index];
  auto add_peer = [&](LogLine& line) {
    if (config_->daemon.log_peers) line.Add("peer", c.peer);
  };
  if (result->failed() || c.setup_timed_out) {
    children_.SetupFailed(c);
    if (c.stderr_fd >= 0) {
      close(c.stderr_fd);
      c.stderr_fd = -1;
    }
    LogLine line("setup-failed");
    line.Add("service", svc.name);
    add_peer(line);
    line.Add("pid", pid);
    if (c.setup_stop_signal != 0) {
      // Stopped before it executed (by a signal of its service's uid): killed.
      line.Add("step", "stopped").Add("signal", SignalName(c.setup_stop_signal));
    } else if (c.setup_timed_out) {
      // Killed: it had not executed by its deadline (stuck).
      line.Add("step", "deadline")
          .Add("timeout", FormatSeconds(std::chrono::duration<double>(options_.setup_timeout).count()));
    } else {
      line.Add("step", spawn::StepName(result->failed_step))
          .Add("errno", base::ErrnoName(result->failed_errno));
      if (result->failed_step == static_cast<int32_t>(spawn::Step::kExec) &&
          result->failed_errno == EAGAIN) {
        // The kernel's only EAGAIN from execve: the user's processes are
        // at its RLIMIT_NPROC, which counts all of them, not this service's.
        line.Add("reason", "nproc");
      }
    }
    log_.Error(line);
    return;  // reaped soon; its end report goes out then
  }
  if (c.stderr_fd >= 0) {
    // Being reaped: EndChild reads it to its end at once. Before its delay
    // is over (Due::kStderr) nobody watches it either: a child that ends
    // by then is read at its reap, and its pipe's end costs no wakeup.
    bool watch = !reaped && !c.stderr_look;
    if (watch) WatchNew(c.stderr_fd, Tag(kStderr, c.stderr_fd), EPOLLIN);
    stderr_relay_.Add(pid, c, watch);
  }
  int active = children_.running(c.service);
  LogLine line("accept");
  line.Add("service", svc.name);
  add_peer(line);
  line.Add("pid", pid);
  if (svc.max_instances > 0) {
    line.Add("active", std::to_string(active) + "/" + std::to_string(svc.max_instances));
  } else {
    line.Add("active", active);
  }
  log_.Info(line);
}

void Monitor::WatchStderr(pid_t pid) {
  Child* c = children_.Find(pid);
  // Not executed yet (or failed): its exec watches it (see FinishExec).
  if (c == nullptr || c->stderr_fd < 0) return;
  if (stderr_relay_.Watch(c->stderr_fd)) {
    WatchNew(c->stderr_fd, Tag(kStderr, c->stderr_fd), EPOLLIN);
  }
}

void Monitor::WatchExec(pid_t pid) {
  Child* found = children_.Find(pid);
  if (found == nullptr) return;
  Child& c = *found;
  children_.Watched(c);
  if (c.exec_slot < 0 || c.exec_watched) return;
  WatchNew(c.exec_fd, Tag(kExec, c.exec_fd), EPOLLIN);
  c.exec_watched = true;
}

bool Monitor::LookAtSetups(bool watch) {
  children_.ForEachUnwatched([&](pid_t pid) {
    FinishExec(pid);
    if (watch) WatchExec(pid);
  });
  return spawner_->HasFreeSlot();
}

void Monitor::FinishOrphanSlots() {
  for (auto it = orphan_slots_.begin(); it != orphan_slots_.end();) {
    it = spawner_->Finish(*it) ? orphan_slots_.erase(it) : it + 1;
  }
}

void Monitor::Terminate(pid_t pid, const Child& c) {
  // Perhaps it has executed already, and only nobody looked.
  if (c.exec_slot >= 0) FinishExec(pid);
  if (c.exec_slot >= 0) {
    // Still setting up: not the service yet, and perhaps without its own
    // process group. Nothing to give grace to.
    spawner_->Abort(c.exec_slot);
    return;
  }
  kill(-pid, SIGTERM);
  if (c.pid_namespace && EndsByDefault(pid, SIGTERM)) kill(pid, SIGKILL);
}

void Monitor::SendEnd(const Child& c, Outcome outcome, int status, Clock::duration lifetime,
                      bool leftover) {
  EndReport end;
  end.request = c.request;
  end.leftover = leftover ? 1 : 0;
  end.generation = generation_;
  end.service = ReportIndex(c);
  end.source = c.source;
  end.wait = c.wait ? 1 : 0;
  if (c.wait) {
    std::memcpy(&end.wait_ep, &c.wait_ep.addr, c.wait_ep.len);
    end.wait_ep_len = c.wait_ep.len;
  }
  end.outcome = outcome;
  end.status = status;
  end.lifetime_ns = static_cast<uint64_t>(std::chrono::nanoseconds(lifetime).count());
  QueueEnd(end);
}

bool Monitor::KeepLeftovers(Child& c) {
  if (!c.handed) return false;
  UniqueFd sock = std::move(c.handed);  // this process's copy closes on return
  net::Endpoint peer;
  net::Endpoint local;
  if (!PeekDatagram(sock.get(), c.wait_ep, peer, local)) return false;
  uint32_t index = ReportIndex(c);
  if (index == kNoService) return false;
  const ListenSocket* like = nullptr;
  for (const auto& s : sockets_by_service_[index]) {
    if (s->ep == c.wait_ep && s->fd.valid()) like = s.get();
  }
  if (like == nullptr || !ClearChildSocketState(sock.get(), like->fd.get())) return false;
  leftovers_.Add({c.handed_ino, index, generation_, c.wait_ep, Clock::now()});
  return true;
}

uint32_t Monitor::ReportIndex(const Child& c) const {
  if (c.config == config_) return static_cast<uint32_t>(c.service_index);
  // A child from before a reload: its service's index in this table, found
  // by name (only children that outlived a reload get here), or none.
  for (size_t i = 0; i < config_->services.size(); ++i) {
    if (config_->services[i].name == c.service) return static_cast<uint32_t>(i);
  }
  return kNoService;
}

void Monitor::Reap() {
  // A reaped child is forgotten (EndChild): the forks it made must be read
  // while it is still one, or its descendants are not known to be its.
  // (Out of memory there, the reaps still happen: their SIGCHLD is read.)
  try {
    seccomp_kills_.DrainProcessTree();
  } catch (const std::bad_alloc&) {
    OnOutOfMemory();
  }
  for (;;) {
    int status = 0;
    // WUNTRACED: a child that stops is reported too. Once it has taken its
    // service's uid (step 10), that uid may stop it before it executes, and
    // it would hold its spawn slot, which all services share, until the
    // setup deadline; one stopped in its setup is killed at once instead.
    pid_t pid = waitpid(-1, &status, WNOHANG | WUNTRACED);
    if (pid <= 0) return;
    if (WIFSTOPPED(status)) {
      OnChildStopped(pid, WSTOPSIG(status));
      continue;
    }
    if (pid == listener_.pid()) {
      OnListenerExit(status);
    } else {
      EndChild(pid, status);  // an old listener after a handover is simply gone
    }
  }
}

void Monitor::OnChildStopped(pid_t pid, int sig) {
  Child* found = children_.Find(pid);
  if (found != nullptr && found->idle_stop_sent && found->exec_slot < 0) {
    stale_.FinishIdleStop(pid, *found, sockets_, generation_);
    return;
  }
  if (found == nullptr || found->exec_slot < 0) return;  // a service may stop
  FinishExec(pid);  // executed just before it stopped?
  Child& c = *found;
  if (c.exec_slot < 0 || c.setup_timed_out) return;
  c.setup_timed_out = true;
  c.setup_stop_signal = sig;
  spawner_->Abort(c.exec_slot);  // SIGKILL ends a stopped process too
}

void Monitor::EnforceTimeouts() {
  using Due = ChildTable::Due;
  auto now = Clock::now();
  // Setups unwatched for exec_watch_delay: executed (logged now), or
  // watched from now on.
  while (auto pid = children_.TakeDue(Due::kLook, now)) {
    FinishExec(*pid);
    WatchExec(*pid);
  }
  // Stderr pipes unread for the same delay: watched from now on.
  while (auto pid = children_.TakeDue(Due::kStderr, now)) WatchStderr(*pid);
  while (auto pid = children_.TakeDue(Due::kSetup, now)) {
    Child& c = *children_.Find(*pid);
    if (c.exec_slot < 0) continue;
    FinishExec(*pid);  // its EOF may be waiting, unread, in this very loop
    if (c.exec_slot < 0 || c.setup_timed_out) continue;
    // Not executed in time: killed, and counted as a failed setup when it
    // is reaped (its slot is free then).
    c.setup_timed_out = true;
    spawner_->Abort(c.exec_slot);
  }
  while (auto pid = children_.TakeDue(Due::kTimeout, now)) {
    Child& c = *children_.Find(*pid);
    // The whole process group (and, in its own PID namespace, everything
    // the child started, whatever its sessions and groups).
    if (!c.timed_out && !c.stale_ended) {
      c.timed_out = true;
      Terminate(*pid, c);
      children_.Rearm(*pid, c, now + options_.kill_grace);
    } else {
      kill(-*pid, SIGKILL);
      kill(*pid, SIGKILL);
    }
  }
}

void Monitor::EndChild(pid_t pid, int status) {
  Child* found = children_.Find(pid);
  if (found == nullptr) return;
  Child& c = *found;
  // Reaped, so its setup is over: the pipe has its EOF (a process closes
  // its files before it can be reaped).
  if (c.exec_slot >= 0) {
    FinishExec(pid, /*reaped=*/true);
    if (c.exec_slot >= 0) {
      // Cannot happen; if it did, the slot is not reused before its EOF.
      orphan_slots_.push_back(c.exec_slot);
      if (c.exec_watched) Unwatch(c.exec_fd);
      children_.SetupOver(c);
      children_.SetupFailed(c);
    }
  }
  stderr_relay_.Close(pid, c);
  auto lifetime = Clock::now() - c.started;
  double seconds = std::chrono::duration<double>(lifetime).count();
  if (!c.setup_failed) LogEnd(pid, status, c, seconds);
  Outcome outcome = c.setup_failed ? Outcome::kSetupFailed
                    : c.timed_out  ? Outcome::kTimedOut
                    : c.stale_ended ? Outcome::kReplaced
                                   : Outcome::kExited;
  SendEnd(c, outcome, status, lifetime, KeepLeftovers(c));
  children_.Remove(pid);  // and it no longer counts as running
}

void Monitor::LogEnd(pid_t pid, int status, const Child& c, double seconds) {
  if (c.timed_out) {
    log_.Warning(LogLine("end")
                     .Add("service", c.service)
                     .Add("pid", pid)
                     .Add("status", "timeout")
                     .Add("signal", WIFSIGNALED(status) ? SignalName(WTERMSIG(status)) : "none")
                     .Add("duration", FormatSeconds(seconds)));
    return;
  }
  if (KilledBySeccomp(status)) {
    // The end line waits for the kernel's audit record naming the syscall.
    seccomp_kills_.AddEnd(pid, c.service, seconds, Known());
    return;
  }
  log_.Info(LogLine("end")
                .Add("service", c.service)
                .Add("pid", pid)
                .Add("status", DescribeWaitStatus(status))
                .Add("duration", FormatSeconds(seconds)));
}

void Monitor::EndStale(pid_t pid, Child& c) {
  // TERM to its group while it is stopped (one that leaves TERM at its
  // default ends at once, without running on), then CONT so that one that
  // catches TERM can act on it; KILL after kill_grace.
  Terminate(pid, c);
  kill(-pid, SIGCONT);
  kill(pid, SIGCONT);
  children_.Rearm(pid, c, Clock::now() + options_.kill_grace);
}

}  // namespace hinetd::supervisor
