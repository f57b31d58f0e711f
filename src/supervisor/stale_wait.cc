#include "supervisor/stale_wait.h"

#include <signal.h>

#include <algorithm>

#include "supervisor/wait_idle.h"

namespace hinetd::supervisor {

using base::LogLine;

namespace {

// The monitor's descriptor of a wait child's socket, or -1.
int WaitSocketFd(const SocketList& sockets, const Child& c) {
  for (const auto& s : sockets) {
    if (s->transport == net::Transport::kUdp && c.wait_ino != 0 &&
        s->inode() == c.wait_ino) {
      return s->fd.get();
    }
  }
  return -1;
}

}  // namespace

void StaleWaitChildren::Mark(const config::Config& config,
                             const std::vector<std::shared_ptr<const std::string>>& plan_identities,
                             const SocketList& sockets) {
  bool any = false;
  for (auto& [pid, c] : children_) {
    if (!c.wait || c.stale_ended) continue;
    // Fresh only if a service of the same name still serves its address
    // as a wait service, from a plan the same as the child's.
    bool fresh = false;
    for (size_t i = 0; i < config.services.size() && !fresh; ++i) {
      const config::Service& svc = config.services[i];
      if (svc.name != c.service || !svc.wait || !c.plan_identity ||
          *plan_identities[i] != *c.plan_identity) {
        continue;
      }
      for (const auto& s : sockets) {
        if (s->service == i && s->transport == net::Transport::kUdp && s->ep == c.wait_ep) {
          fresh = true;
        }
      }
    }
    c.stale = !fresh;
    any = any || c.stale;
  }
  if (any) next_check_ = std::min(next_check_, Clock::now());
}

void StaleWaitChildren::Check(const SocketList& sockets, uint64_t generation) {
  auto now = Clock::now();
  if (now < next_check_) return;
  next_check_ = Clock::time_point::max();
  bool pending = false;
  for (auto& [pid, c] : children_) {
    if (c.idle_stop_sent) {
      pending = true;
      if (now < c.idle_stop_deadline) {
        next_check_ = std::min(next_check_, c.idle_stop_deadline);
        continue;
      }
      // No stop report in time (it may have come and gone unseen): the
      // state says.
      if (ProcessState(pid) == 'T') {
        FinishIdleStop(pid, c, sockets, generation);
      } else {
        c.idle_stop_sent = false;
        kill(pid, SIGCONT);
      }
      continue;
    }
    if (!c.stale || c.stale_ended) continue;
    pending = true;
    // Still setting up, or already being stopped by its timeout.
    if (c.exec_slot >= 0 || c.timed_out) continue;
    // The first look, without disturbing it. The mark comes first: any
    // datagram taken after it shows at the second look.
    int fd = WaitSocketFd(sockets, c);
    ReceiveMark mark = MarkReceives(fd);
    if (!mark.stamp && mark.delivered < 0) continue;
    if (fd >= 0 && DatagramQueued(fd)) continue;
    if (!LookIdle(pid, c.uid, c.gid, c.wait_ino).idle) continue;
    // It looks idle, but a datagram may come and be taken between a look
    // and a signal: stopped, it can take none, and the second look is
    // sure. (SIGSTOP reaches the init of a PID namespace from here.)
    if (kill(pid, SIGSTOP) != 0) continue;
    c.idle_stop_sent = true;
    c.mark = mark;
    c.idle_stop_deadline = now + stop_wait_;
    next_check_ = std::min(next_check_, c.idle_stop_deadline);
  }
  if (pending) next_check_ = std::min(next_check_, now + check_period_);
}

void StaleWaitChildren::FinishIdleStop(pid_t pid, Child& c, const SocketList& sockets,
                                       uint64_t generation) {
  c.idle_stop_sent = false;
  // Stopped in its receive, a blocked call is interrupted and would be
  // restarted; stopped just after a receive that took a datagram, it shows
  // the same call: only a mark of what was taken off the socket tells
  // those apart (wait_idle.h). A mark that moved lets it go on; it is
  // looked at again at the next period.
  bool idle = c.stale && !c.stale_ended && c.exec_slot < 0 && !c.timed_out;
  int fd = WaitSocketFd(sockets, c);
  IdleLook look;
  if (idle) look = LookIdle(pid, c.uid, c.gid, c.wait_ino);
  idle = idle && look.idle && !(fd >= 0 && DatagramQueued(fd)) &&
         NothingTakenBetween(c.mark, MarkReceives(fd));
  if (!idle) {
    kill(pid, SIGCONT);
    return;
  }
  c.stale_ended = true;
  log_.Info(LogLine("stale-stop")
                .Add("service", c.service)
                .Add("pid", pid)
                .Add("idle", look.what)
                .Add("generation", generation));
  end_(pid, c);
}

}  // namespace hinetd::supervisor
