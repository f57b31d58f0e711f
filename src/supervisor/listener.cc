#include "supervisor/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "base/errno_name.h"
#include "net/socket.h"
#include "sandbox/caps.h"
#include "sandbox/daemon_filters.h"
#include "supervisor/child_status.h"
#include "supervisor/epoll_util.h"
#include "supervisor/reflection.h"

namespace hinetd::supervisor {

using base::ErrnoError;
using base::Error;
using base::LogLine;
using base::Status;
using base::UniqueFd;

std::vector<int> ListenerCapabilities() { return {CAP_NET_BIND_SERVICE}; }

std::vector<int> ListenerStartCapabilities() {
  return {CAP_SYS_CHROOT, CAP_SETGID, CAP_SETUID, CAP_NET_BIND_SERVICE};
}

bool NeedsBindCapability(const SocketList& sockets) {
  // It binds only fresh copies of sockets hinetd bound itself (udp nowait
  // handovers, a wait socket a child shut down). The monitor refuses udp
  // nowait on a socket systemd passed; a passed wait socket that a child
  // shut down is not bound again (socket-broken), as systemd created it.
  for (const auto& s : sockets) {
    if (s->systemd_fd < 0) return true;
  }
  return false;
}

namespace {

enum Kind : uint64_t { kSignal = 1, kSocket = 2, kControl = 3, kDoorbell = 4 };
uint64_t Tag(Kind k, int fd) { return (static_cast<uint64_t>(k) << 32) | static_cast<uint32_t>(fd); }

constexpr int kAcceptBurst = 16;  // datagrams per readiness event, for fairness
// Connections per readiness event: one. The socket is watched level-
// triggered, so the next epoll_wait reports it again at once while its
// backlog holds more; accepting until EAGAIN would spend a failing accept4
// on every wakeup (one system call in seven a connection at one client at a
// time), and the epoll_wait that replaces it under load also brings the
// monitor's reports and the other sockets in turn.
constexpr int kAcceptsPerEvent = 1;
constexpr auto kRefusalLogInterval = std::chrono::seconds(60);
// Refusals are logged once per service, reason and source and interval; past
// this many distinct keys in one interval (a spread-out flood) they are only
// counted, and one line per service and interval says how many went unlogged.
constexpr size_t kMaxRefusalKeys = 4096;
constexpr auto kAcceptErrorPause = std::chrono::milliseconds(100);
// A udp nowait socket is handed on to the peers whose datagrams are left on
// it (ServeLeftover) only this long after it was first handed over: those
// datagrams are older still, and a peer that waited longer has most likely
// sent again, to the fresh socket, and is being served there.
constexpr auto kLeftoverMaxAge = std::chrono::seconds(1);

// Closes every descriptor but those in `keep` (close_range over the gaps).
void CloseAllExcept(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned next = 0;
  for (int fd : keep) {
    if (fd < 0) continue;
    if (static_cast<unsigned>(fd) > next) syscall(SYS_close_range, next, fd - 1, 0);
    next = static_cast<unsigned>(fd) + 1;
  }
  syscall(SYS_close_range, next, ~0U, 0);
}

// An empty root-owned directory as its root, [daemon] user, only
// CAP_NET_BIND_SERVICE (bounding set included), not dumpable, no_new_privs,
// dies with the monitor; then the filter, last.
// `bind`: keep CAP_NET_BIND_SERVICE; false when every socket came from
// systemd (nothing to bind again: see NeedsBindCapability), then it keeps no
// capability at all.
Status DropPrivileges(const config::Daemon& daemon, const sandbox::BpfProgram* filter,
                      pid_t monitor_pid, bool bind) {
  // First, while CAP_SYS_CHROOT is effective: no file, socket file, /proc
  // or /dev to reach, whatever a flaw in this process lets it call. (The
  // monitor checked the directory: root-owned, not writable by others.)
  if (chroot(config::kEmptyChroot) != 0) {
    return ErrnoError(std::string("chroot ") + config::kEmptyChroot, errno);
  }
  if (chdir("/") != 0) return ErrnoError("chdir /", errno);
  // The bounding set is empty already (the monitor's is: it executes
  // nothing but this program); anything left in it is dropped, which needs
  // CAP_SETPCAP: a process that holds none fails here rather than keep it.
  int last = sandbox::LastCap();
  for (int cap = 0; cap <= last; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      return ErrnoError("dropping the bounding set", errno);
    }
  }
  // Keep the permitted set across the id change, then narrow it.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return ErrnoError("PR_SET_KEEPCAPS", errno);
  if (setgroups(0, nullptr) != 0) return ErrnoError("setgroups", errno);
  if (setresgid(daemon.gid, daemon.gid, daemon.gid) != 0) return ErrnoError("setresgid", errno);
  if (setresuid(daemon.uid, daemon.uid, daemon.uid) != 0) return ErrnoError("setresuid", errno);
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  uint64_t keep = bind ? uint64_t{1} << CAP_NET_BIND_SERVICE : 0;
  if (auto set = sandbox::SetOwnCaps({keep, keep, 0}); !set.ok()) {
    return set.error().Wrap("setting the listener's capabilities");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return ErrnoError("clearing ambient capabilities", errno);
  }
  // Verify, as for children: ids, exactly the one capability (or none), and
  // empty inheritable (its program started from the monitor's), ambient and
  // bounding sets.
  uid_t r, e, s;
  if (getresuid(&r, &e, &s) != 0 || r != daemon.uid || e != daemon.uid || s != daemon.uid ||
      setresuid(0, 0, 0) == 0) {
    return Error("the listener's ids are not what they should be");
  }
  auto caps = sandbox::GetOwnCaps();
  if (!caps.ok()) return caps.error();
  for (int cap = 0; cap <= last; ++cap) {
    bool want = bind && cap == CAP_NET_BIND_SERVICE;
    auto has = [&](uint64_t set) { return ((set >> cap) & 1) != 0; };
    if (has(caps->effective) != want || has(caps->permitted) != want || has(caps->inheritable) ||
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1 ||
        prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0) {
      return Error("the listener still holds " + sandbox::CapName(cap));
    }
  }
  // No core dumps or ptrace by its own uid; no gains through execve; gone
  // with the monitor (the id change cleared any earlier setting).
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return ErrnoError("PR_SET_DUMPABLE", errno);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ErrnoError("PR_SET_NO_NEW_PRIVS", errno);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return ErrnoError("PR_SET_PDEATHSIG", errno);
  if (getppid() != monitor_pid) return Error("the monitor is gone");
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, filter->fprog()) != 0) {
    return ErrnoError("installing the listener's seccomp filter", errno);
  }
  sandbox::NoteDaemonFilterInstalled();
  return Status();
}

class Listener {
 public:
  Listener(ListenerSetup setup, base::Logger& log)
      : setup_(std::move(setup)), config_(*setup_.config), log_(log),
        channel_(UniqueFd(setup_.control_fd)),
        doorbell_(setup_.doorbell_fd) {}

  [[noreturn]] void Run();

 private:
  bool Init();
  void OnSignal();
  void OnControl();
  void OnMonitorMessage(const Channel::Received& msg);
  void OnSocket(const std::shared_ptr<ListenSocket>& s);
  void OnStream(ListenSocket& s);
  void OnUdpWait(const std::shared_ptr<ListenSocket>& s);
  void OnUdpNowait(const std::shared_ptr<ListenSocket>& s);
  void OnEnd(const EndReport& end);
  void CountEnd(const EndReport& end);
  // A udp nowait socket handed over (or on), kept until its child's end
  // report: if that says datagrams are left on it, the next peer's child
  // gets it (udp_leftovers.h).
  struct HandedOver {
    std::weak_ptr<ListenSocket> from;  // the service's socket at that address now
    net::Endpoint peer;                // the peer it is connected to
    UniqueFd sock;
    Clock::time_point first;           // when it stopped being a listening socket
  };
  void ServeLeftover(HandedOver h);
  bool MayStart(size_t service, bool waiting);
  // `peer` (an address) or `cred` (a unix: client) names the client in a
  // refusal's log line; formatted only then.
  bool Admit(size_t service, const net::Endpoint* peer, const ucred* cred,
             const SourceKey& source);
  // True, with the refusal counted and logged, if a datagram from `peer`
  // must not start a child of the socket's service (reflection.h).
  bool RefuseReflection(const ListenSocket& s, const net::Endpoint& peer);
  // Sends request R (ConnectionRequest, UdpWaitStartRequest,
  // UdpHandoverRequest) with its descriptors, and counts the child.
  // Returns the request id.
  template <typename R>
  uint64_t Spawn(ListenSocket& s, const std::vector<int>& fds, const SourceKey& source);
  void PauseService(size_t service, Pause why, std::chrono::milliseconds length);
  void ResumeExpired();
  // Sets each socket's watch from its state. Only the sockets of services
  // Touch()ed since the last call are looked at, or all of them when a
  // condition of every socket changed (max_children reached or left, the
  // channel full or drained, an accept pause begun or over): a table of a
  // thousand services costs no more per connection than one.
  void UpdatePolling();
  // Service `service`'s sockets may need another watch: its active count,
  // its pause, or a socket's busy, broken or probe state changed.
  void Touch(size_t service);
  void Watch(int fd, uint64_t tag, uint32_t events);
  void SetWatch(ListenSocket& s, ListenSocket::Watch want);
  // The control channel's watch: readable while a client waits for room
  // (or without a doorbell), writable while messages wait for room in it.
  void WatchControl();
  void HoldBack(size_t service, const char* reason);
  void RepairWaitSocket(ListenSocket& s);
  void PruneRefusalLog();
  void LogStatus();
  [[noreturn]] void Exit(int code);
  [[nodiscard]] bool LogOncePer(const std::string& service, const std::string& key);
  void AddPeer(LogLine& line, const std::string& peer) const;
  [[nodiscard]] int NextTimeoutMs() const;
  [[nodiscard]] bool CountsPerSource(size_t service) const {
    return config_.services[service].per_source > 0;
  }

  ListenerSetup setup_;
  const config::Config& config_;
  base::Logger& log_;
  Channel channel_;
  std::array<Channel::Received, Channel::kBatch> received_;  // OnControl's, reused
  UniqueFd doorbell_;
  // Sockets probing or probed (their service, or hinetd, full): a client
  // may wait for an end report, so the channel is read as it comes.
  size_t probing_ = 0;
  uint32_t control_events_ = 0;  // the channel's watch now
  bool control_events_set_ = false;
  UniqueFd epoll_;
  UniqueFd signal_fd_;
  std::unordered_map<int, std::shared_ptr<ListenSocket>> by_fd_;
  PortSet served_ports_;  // every port of the table: a source no udp service answers
  std::unordered_map<std::string, Clock::time_point> refusal_logged_;
  std::unordered_map<std::string, uint64_t> refusals_unlogged_;  // per service, this interval
  Clock::time_point refusal_log_pruned_ = Clock::now();
  Clock::time_point accept_pause_until_{};
  uint64_t accept_failures_ = 0;  // accept(2) failures in a row, for the log
  Clock::time_point children_full_logged_{};
  int children_ = 0;  // all services: for [daemon] max_children
  // Request ids, unique across listeners: the end reports of a previous
  // listener's children come to this one, and must match none of its own
  // requests. Each listener starts at the monotonic clock in nanoseconds,
  // which has moved on by more than the previous one's requests since it
  // started (each took more than a nanosecond).
  uint64_t next_request_ = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
  // Outstanding udp wait requests: a refused one must give its socket back.
  std::unordered_map<uint64_t, std::weak_ptr<ListenSocket>> wait_requests_;
  // By request id: the nowait sockets whose children may leave datagrams.
  std::unordered_map<uint64_t, HandedOver> handed_;
  // UpdatePolling's work: the sockets of each service, the services touched
  // since its last call, and the conditions of every socket it last saw.
  std::vector<std::vector<ListenSocket*>> sockets_of_;
  std::vector<size_t> touched_;
  std::vector<char> is_touched_;
  bool poll_all_ = true;
  bool polled_all_full_ = false;
  bool polled_accepting_ = true;
  size_t paused_ = 0;  // services with a pause: NextTimeoutMs and ResumeExpired look only then
};

void Listener::Touch(size_t service) {
  if (service >= is_touched_.size() || is_touched_[service]) return;
  is_touched_[service] = 1;
  touched_.push_back(service);
}

void Listener::Watch(int fd, uint64_t tag, uint32_t events) {
  EpollSet(epoll_.get(), fd, tag, events);
}

// An epoll registration belongs to the open file description, which a child
// may share: a socket that is not watched is not registered at all (a
// registration with no events still reports EPOLLHUP and EPOLLERR, which a
// wait child can cause), and every socket is removed before it goes.
void Listener::SetWatch(ListenSocket& s, ListenSocket::Watch want) {
  using W = ListenSocket::Watch;
  if (s.watch == want) return;
  auto probing = [](W w) { return w == W::kProbe || w == W::kProbed; };
  probing_ += probing(want) ? 1 : 0;
  probing_ -= probing(s.watch) ? 1 : 0;
  if (want == W::kNone) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, s.fd.get(), nullptr);
  } else if (want != W::kProbed) {  // kProbed: the one-shot fired, the kernel disarmed it
    uint32_t events = EPOLLIN | (want == W::kProbe ? static_cast<uint32_t>(EPOLLONESHOT) : 0u);
    if (s.watch == W::kNone) {
      // Not registered: one ADD (a listener's start registers every socket).
      EpollAdd(epoll_.get(), s.fd.get(), Tag(kSocket, s.fd.get()), events);
    } else {
      Watch(s.fd.get(), Tag(kSocket, s.fd.get()), events);
    }
  }
  s.watch = want;
}

void Listener::Exit(int code) {
  // Spawn requests still queued carry accepted connections, and the state of
  // a handover: the monitor gets them all before this process goes.
  channel_.FlushBlocking(std::chrono::seconds(2));
  _exit(code);
}

bool Listener::Init() {
  // Its root will be empty: syslog's /dev/log out of reach, the monitor
  // writes its lines (and syslog's socket is closed here). Without a relay
  // the sink is stderr, inherited; the monitor makes one for any other, and
  // a syslog(3) call after the filter would be a kill.
  if (setup_.log_fd >= 0) {
    log_.RelayTo(setup_.log_fd);
  } else if (log_.sink() != base::LogSink::kStderr) {
    return false;
  }
  // Only what the listener needs stays open: stdio (the log), the log
  // relay, the control channel and the listening sockets. Nothing of the
  // monitor's.
  std::vector<int> keep = {0, 1, 2, setup_.log_fd, channel_.fd(), doorbell_.get()};
  for (const auto& s : setup_.sockets) keep.push_back(s->fd.get());
  CloseAllExcept(keep);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  // The monitor alone reloads and reports (send HUP and USR1 there).
  signal(SIGHUP, SIG_IGN);
  signal(SIGUSR1, SIG_IGN);
  signal(SIGCHLD, SIG_DFL);
  sigset_t unblock;
  sigemptyset(&unblock);
  for (int sig : {SIGHUP, SIGUSR1, SIGCHLD}) sigaddset(&unblock, sig);
  sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
  signal_fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!signal_fd_ || !epoll_) return false;
  Watch(signal_fd_.get(), Tag(kSignal, signal_fd_.get()), EPOLLIN);
  if (doorbell_) Watch(doorbell_.get(), Tag(kDoorbell, doorbell_.get()), EPOLLIN);
  WatchControl();  // the monitor's end (EPOLLHUP) from now on
  served_ports_ = ServedPorts(config_);
  // Every running child counts against max_children, also those of a
  // service a reload removed: each sends its end report here.
  children_ = setup_.children;
  sockets_of_.assign(setup_.services.size(), {});
  is_touched_.assign(setup_.services.size(), 0);
  for (auto& s : setup_.sockets) {
    s->watch = ListenSocket::Watch::kNone;
    by_fd_[s->fd.get()] = s;
    if (s->service < sockets_of_.size()) sockets_of_[s->service].push_back(s.get());
  }
  // A reload hands over the pauses running at the time.
  for (const auto& st : setup_.services) paused_ += st->pause != Pause::kNone ? 1 : 0;
  poll_all_ = true;
  bool bind = NeedsBindCapability(setup_.sockets);
  auto dropped = DropPrivileges(config_.daemon, setup_.filter, setup_.monitor_pid, bind);
  if (!dropped.ok()) {
    log_.Error(LogLine("listener-failed").Add("error", dropped.error().message()));
    return false;
  }
  // A datagram socket left connected by a listener that died in the middle
  // of a handover, or damaged by a wait child while no listener ran. (After
  // the drop: a replacement is bound as the nowait handovers' are.)
  for (auto& s : setup_.sockets) {
    if (s->transport == net::Transport::kUdp && !s->busy) RepairWaitSocket(*s);
  }
  log_.Info(LogLine("listener-ready")
                .Add("pid", static_cast<int64_t>(getpid()))
                .Add("user", config_.daemon.user)
                .Add("capabilities", bind ? "net_bind_service" : "none"));
  // The monitor tells the service manager (sd_notify READY=1) only now.
  ReadyMessage ready;
  channel_.Send(&ready, sizeof ready);
  UpdatePolling();
  WatchControl();  // a service full from the start (a reload's children) probes
  return true;
}

void Listener::Run() {
  if (!Init()) _exit(71);
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epoll_.get(), events, 64, NextTimeoutMs());
    if (n < 0 && errno != EINTR) Exit(71);
    // The end reports the monitor did not ring for are read before the
    // first client of a wakeup is admitted: the counts it is judged by are
    // as exact as if each report had woken this process (one wakeup per
    // connection instead of two, the end's and the next client's).
    bool read_ends = !doorbell_;
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      int fd = static_cast<int>(tag & 0xffffffffu);
      switch (static_cast<Kind>(tag >> 32)) {
        case kSignal: OnSignal(); break;
        case kDoorbell: {
          uint64_t rings = 0;
          (void)!read(doorbell_.get(), &rings, sizeof rings);
          OnControl();
          read_ends = true;
          break;
        }
        case kControl:
          if (events[i].events & EPOLLOUT) channel_.Flush();
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            OnControl();
            read_ends = true;
          }
          break;
        case kSocket:
          if (!read_ends) {
            OnControl();
            read_ends = true;
          }
          if (auto it = by_fd_.find(fd); it != by_fd_.end()) {
            std::shared_ptr<ListenSocket> s = it->second;  // a nowait handover replaces the entry
            // A probe that fired: a client waits while the service (or
            // hinetd) was full. The kernel disarmed it; MayStart counts the
            // client held back, or takes it if room came in this round.
            if (s->watch == ListenSocket::Watch::kProbe) {
              s->watch = ListenSocket::Watch::kProbed;
              Touch(s->service);
            }
            OnSocket(s);
          }
          break;
      }
    }
    ResumeExpired();
    PruneRefusalLog();
    UpdatePolling();
    WatchControl();
  }
}

void Listener::WatchControl() {
  // Writable interest only while messages wait for the monitor's buffer.
  // No interest at all still reports the monitor's end (EPOLLHUP).
  uint32_t events = (!doorbell_ || probing_ > 0 ? static_cast<uint32_t>(EPOLLIN) : 0u) |
                    (channel_.pending() ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  if (events == control_events_ && control_events_set_) return;
  control_events_ = events;
  control_events_set_ = true;
  Watch(channel_.fd(), Tag(kControl, channel_.fd()), events);
}

int Listener::NextTimeoutMs() const {
  Clock::time_point next = Clock::time_point::max();
  for (size_t i = 0; paused_ > 0 && i < setup_.services.size(); ++i) {
    const ServiceState& st = *setup_.services[i];
    if (st.pause != Pause::kNone) next = std::min(next, st.paused_until);
  }
  if (accept_pause_until_ > Clock::now()) next = std::min(next, accept_pause_until_);
  if (!refusals_unlogged_.empty()) next = std::min(next, refusal_log_pruned_ + kRefusalLogInterval);
  if (next == Clock::time_point::max()) return -1;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(ms + 1, 0, 60'000));
}

void Listener::OnSignal() {
  signalfd_siginfo info{};
  while (read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) {
      // Stopping is the monitor's work: ask it, and go.
      StopMessage stop;
      channel_.Send(&stop, sizeof stop);
      Exit(0);
    }
  }
}

void Listener::OnControl() {
  // Up to 256 messages a call, a few per system call; a batch that is not
  // full was all there was (no call more to find the queue empty).
  for (int i = 0; i < 256 / static_cast<int>(Channel::kBatch); ++i) {
    size_t got = 0;
    auto status = channel_.RecvSome(received_, got);
    if (status == Channel::RecvStatus::kAgain) return;
    if (status == Channel::RecvStatus::kClosed) Exit(0);  // the monitor is gone
    for (size_t m = 0; m < got; ++m) OnMonitorMessage(received_[m]);
    if (got < Channel::kBatch) return;
  }
}

void Listener::OnMonitorMessage(const Channel::Received& msg) {
  MonitorMessage decoded = DecodeFromMonitor(msg.data, msg.truncated ? kFdsLost : msg.fds.size());
  if (auto* batch = std::get_if<EndBatch>(&decoded)) {
    for (size_t r = 0; r < batch->size(); ++r) OnEnd((*batch)[r]);
  } else if (std::holds_alternative<StatusMessage>(decoded)) {
    LogStatus();
  } else if (std::holds_alternative<HandoverMessage>(decoded)) {
    // A reload: the next listener continues from this state.
    std::string state = SerializeState(setup_.services);
    std::string out(sizeof(MsgHeader), '\0');
    MsgHeader sh{kMagic, MsgType::kState};
    std::memcpy(out.data(), &sh, sizeof sh);
    out += state;
    channel_.Send(out.data(), out.size());
    Exit(0);
  }
  // A DecodeError: the monitor sends none; nothing to act on.
}

void Listener::AddPeer(LogLine& line, const std::string& peer) const {
  if (config_.daemon.log_peers) line.Add("peer", peer);
}

bool Listener::LogOncePer(const std::string& service, const std::string& key) {
  // A flood of refusals must not become a flood of log lines, nor a table
  // without bound: once per key (service, reason, source) and interval, and
  // past kMaxRefusalKeys keys in an interval, only counted.
  auto now = Clock::now();
  PruneRefusalLog();
  auto it = refusal_logged_.find(key);
  if (it != refusal_logged_.end()) {
    if (now - it->second < kRefusalLogInterval) return false;
    it->second = now;
    return true;
  }
  if (refusal_logged_.size() >= kMaxRefusalKeys) {
    if (refusals_unlogged_[service]++ == 0) {
      log_.Warning(LogLine("reject-throttled")
                       .Add("service", service)
                       .Add("sources", static_cast<uint64_t>(kMaxRefusalKeys)));
    }
    return false;
  }
  refusal_logged_.emplace(key, now);
  return true;
}

void Listener::PruneRefusalLog() {
  auto now = Clock::now();
  if (now - refusal_log_pruned_ < kRefusalLogInterval) return;
  refusal_log_pruned_ = now;
  std::erase_if(refusal_logged_,
                [&](const auto& e) { return now - e.second >= kRefusalLogInterval; });
  for (const auto& [service, count] : refusals_unlogged_) {
    log_.Warning(LogLine("reject-unlogged").Add("service", service).Add("count", count).Add(
        "interval", FormatSeconds(std::chrono::duration<double>(kRefusalLogInterval).count())));
  }
  refusals_unlogged_.clear();
}

void Listener::RepairWaitSocket(ListenSocket& s) {
  // A wait child shares the socket's open file description, and what it did
  // to it outlives it. Undo what can be undone: a connect() to one peer, its
  // blocking mode, a pending error.
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  connect(s.fd.get(), &unspec, sizeof unspec);
  int fl = fcntl(s.fd.get(), F_GETFL);
  if (fl >= 0) fcntl(s.fd.get(), F_SETFL, fl | O_NONBLOCK);
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  // A shutdown() cannot be undone on a datagram socket (the kernel keeps
  // sk_shutdown): it would read as always readable and never deliver. A
  // fresh socket on the same address takes its place, here and in the
  // monitor's table; if none can be bound, the address is not watched
  // (rather than spun on) until a restart.
  pollfd p{s.fd.get(), POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) != 1 || (p.revents & (POLLRDHUP | POLLHUP)) == 0) return;
  const std::string& name = setup_.services[s.service]->name;
  if (s.systemd_fd >= 0) {
    // systemd's socket: the address is its to bind (and this process may
    // hold no capability to).
    s.broken = true;
    Touch(s.service);
    SetWatch(s, ListenSocket::Watch::kNone);
    log_.Error(LogLine("socket-broken")
                   .Add("service", name)
                   .Add("listen", net::ToString(s.ep))
                   .Add("error", "shut down by a wait child; the socket came from systemd (fd " +
                                     std::to_string(s.systemd_fd) +
                                     "): not served until hinetd and its .socket unit restart"));
    return;
  }
  auto fresh = net::BindListener(s.ep, net::Transport::kUdp, 0);
  if (!fresh.ok()) {
    s.broken = true;
    Touch(s.service);
    SetWatch(s, ListenSocket::Watch::kNone);
    log_.Error(LogLine("socket-broken")
                   .Add("service", name)
                   .Add("listen", net::ToString(s.ep))
                   .Add("error", "shut down by a wait child, and no fresh socket: " +
                                     fresh.error().message() + "; not served until hinetd restarts"));
    return;
  }
  UdpReplaceSocketRequest req;
  req.generation = setup_.generation;
  req.service = static_cast<uint32_t>(s.service);
  if (!channel_.Send(&req, sizeof req, {s.fd.get(), fresh->get()})) Exit(71);  // the monitor is gone
  SetWatch(s, ListenSocket::Watch::kNone);
  auto entry = by_fd_.extract(s.fd.get());
  s.Replace(std::move(*fresh));
  entry.key() = s.fd.get();
  by_fd_.insert(std::move(entry));
  Touch(s.service);  // the fresh socket is watched at the next UpdatePolling
  log_.Warning(LogLine("socket-broken")
                   .Add("service", name)
                   .Add("listen", net::ToString(s.ep))
                   .Add("error", "shut down by a wait child; replaced by a fresh socket"));
}

void Listener::PauseService(size_t service, Pause why, std::chrono::milliseconds length) {
  ServiceState& state = *setup_.services[service];
  auto now = Clock::now();
  if (state.pause == Pause::kNone) ++paused_;
  Touch(service);
  state.pause = why;
  state.paused_at = now;
  state.paused_until = now + length;
  (why == Pause::kRate ? state.paused_rate : state.paused_failing)++;
  log_.Warning(LogLine("pause")
                   .Add("service", state.name)
                   .Add("reason", why == Pause::kRate ? "rate" : "failing")
                   .Add("for", FormatSeconds(std::chrono::duration<double>(length).count())));
  UpdatePolling();
}

void Listener::ResumeExpired() {
  if (paused_ == 0) return;
  auto now = Clock::now();
  for (size_t i = 0; i < setup_.services.size(); ++i) {
    const auto& st = setup_.services[i];
    if (st->pause == Pause::kNone || now < st->paused_until) continue;
    log_.Info(LogLine("resume")
                  .Add("service", st->name)
                  .Add("reason", st->pause == Pause::kRate ? "rate" : "failing")
                  .Add("paused", FormatSeconds(
                                     std::chrono::duration<double>(now - st->paused_at).count())));
    st->pause = Pause::kNone;
    --paused_;
    Touch(i);
  }
}

void Listener::UpdatePolling() {
  using W = ListenSocket::Watch;
  auto now = Clock::now();
  bool all_full = children_ >= config_.daemon.max_children;
  // While a request waits here for room in the monitor's queue, accept
  // nothing more: a connection in the kernel's backlog survives a crash of
  // this process, one held here would not.
  bool accepting = !channel_.pending() && now >= accept_pause_until_;
  if (all_full && now - children_full_logged_ >= kRefusalLogInterval) {
    children_full_logged_ = now;
    log_.Warning(LogLine("pause")
                     .Add("reason", "max_children")
                     .Add("children", std::to_string(children_) + "/" +
                                          std::to_string(config_.daemon.max_children)));
  }
  bool all = poll_all_ || all_full != polled_all_full_ || accepting != polled_accepting_;
  poll_all_ = false;
  polled_all_full_ = all_full;
  polled_accepting_ = accepting;
  auto want_of = [&](const ListenSocket* s) {
    // Paused or full (this service, or all of them): the sockets stay open
    // and connections wait in the kernel's backlog (back-pressure), instead
    // of being accepted and dropped. A udp wait socket is not watched while
    // its child holds it.
    const ServiceState& st = *setup_.services[s->service];
    int max = config_.services[s->service].max_instances;
    bool full = all_full || (max > 0 && st.active >= max);
    W want = W::kNone;
    if (!s->busy && !s->broken && accepting && st.pause == Pause::kNone) {
      want = !full ? W::kAccept : (s->watch == W::kProbed ? W::kProbed : W::kProbe);
    }
    return want;
  };
  if (all) {
    for (auto& s : setup_.sockets) SetWatch(*s, want_of(s.get()));
  } else {
    for (size_t service : touched_) {
      for (ListenSocket* s : sockets_of_[service]) SetWatch(*s, want_of(s));
    }
  }
  for (size_t service : touched_) is_touched_[service] = 0;
  touched_.clear();
#ifdef HINETD_SANITIZE
  // The test build checks the bookkeeping: every socket now has the watch
  // that looking at all of them would give. One that did not would be a
  // state change without its Touch, a socket never watched again.
  size_t probing = 0;
  for (auto& s : setup_.sockets) {
    if (want_of(s.get()) != s->watch) {
      log_.Error(LogLine("listener-bug")
                     .Add("service", setup_.services[s->service]->name)
                     .Add("error", "a socket's watch is stale (a state change without Touch)"));
      _exit(70);  // the monitor logs the exit and starts another listener
    }
    probing += s->watch == W::kProbe || s->watch == W::kProbed ? 1 : 0;
  }
  if (probing != probing_) {
    // The channel would go unread while a client waits for an end report.
    log_.Error(LogLine("listener-bug").Add("error", "the count of probing sockets is stale"));
    _exit(70);
  }
#endif
}

void Listener::HoldBack(size_t service, const char* reason) {
  ServiceState& st = *setup_.services[service];
  ++st.held_capacity;
  if (Clock::now() - st.capacity_logged < kRefusalLogInterval) return;
  st.capacity_logged = Clock::now();
  LogLine line("pause");
  line.Add("service", st.name).Add("reason", reason);
  if (std::strcmp(reason, "max_instances") == 0) {
    line.Add("active", std::to_string(st.active) + "/" +
                           std::to_string(config_.services[service].max_instances));
  } else {
    line.Add("children", std::to_string(children_) + "/" +
                             std::to_string(config_.daemon.max_children));
  }
  log_.Warning(line);
}

void Listener::OnSocket(const std::shared_ptr<ListenSocket>& s) {
  if (s->transport == net::Transport::kTcp) {
    OnStream(*s);
  } else if (s->wait) {
    OnUdpWait(s);
  } else {
    OnUdpNowait(s);
  }
}

bool Listener::MayStart(size_t service, bool waiting) {
  if (channel_.pending()) return false;
  ServiceState& st = *setup_.services[service];
  const config::Service& svc = config_.services[service];
  if (st.pause != Pause::kNone) return false;
  // `waiting`: the socket was reported readable, so a client is there now
  // (e.g. on the second address of a service the first one just filled).
  // Later rounds of an accept burst do not know, and must neither count a
  // held connection nor pause the service for one that may not exist; the
  // socket's probe (UpdatePolling) counts those.
  bool all_full = children_ >= config_.daemon.max_children;
  if (all_full || (svc.max_instances > 0 && st.active >= svc.max_instances)) {
    if (waiting) HoldBack(service, all_full ? "max_children" : "max_instances");
    return false;
  }
  auto now = Clock::now();
  if (st.rate && !st.rate->Available(now)) {
    // Paused until a token is back, and for at least `backoff`.
    if (waiting) {
      auto until_token = std::chrono::ceil<std::chrono::milliseconds>(st.rate->UntilNext(now));
      PauseService(service, Pause::kRate, std::max(svc.backoff, until_token));
    }
    return false;
  }
  return true;
}

bool Listener::Admit(size_t service, const net::Endpoint* peer, const ucred* cred,
                     const SourceKey& source) {
  ServiceState& st = *setup_.services[service];
  const config::Service& svc = config_.services[service];
  const char* reason = nullptr;
  if (peer != nullptr && !svc.acl.Admits(*peer)) {
    reason = "acl";
    ++st.refused_acl;
  } else if (svc.per_source > 0) {
    auto it = st.per_source.find(source.str());
    if (it != st.per_source.end() && it->second >= svc.per_source) {
      reason = "per_source";
      ++st.refused_per_source;
    }
  }
  if (reason == nullptr) return true;
  if (LogOncePer(st.name, st.name + " " + reason + " " + source.str())) {
    LogLine line("reject");
    line.Add("service", st.name);
    AddPeer(line, peer != nullptr ? net::ToString(*peer) : CredString(*cred));
    log_.Warning(line.Add("reason", reason));
  }
  return false;
}

template <typename R>
uint64_t Listener::Spawn(ListenSocket& s, const std::vector<int>& fds, const SourceKey& source) {
  ServiceState& st = *setup_.services[s.service];
  if (st.rate) {
    bool granted = st.rate->TryAcquire(Clock::now());
    (void)granted;  // MayStart saw a token
  }
  R req;
  req.id = next_request_++;
  req.generation = setup_.generation;
  req.service = static_cast<uint32_t>(s.service);
  if constexpr (requires { req.source; }) req.source = source;
  if (!channel_.Send(&req, sizeof req, fds)) Exit(71);  // the monitor is gone
  // Counted now; the monitor's end report for this request gives it back.
  ++st.active;
  ++st.accepted;
  Touch(s.service);
  ++children_;
  if (CountsPerSource(s.service)) ++st.per_source[source.str()];
  if constexpr (std::is_same_v<R, UdpWaitStartRequest>) s.busy = true;
  return req.id;
}

void Listener::OnStream(ListenSocket& s) {
  for (int i = 0; i < kAcceptsPerEvent; ++i) {
    if (!MayStart(s.service, i == 0)) return;
    net::Endpoint peer;
    peer.len = sizeof peer.addr;
    int fd = accept4(s.fd.get(), reinterpret_cast<sockaddr*>(&peer.addr), &peer.len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
      // EMFILE/ENFILE/ENOBUFS/ENOMEM: the connection stays in the backlog;
      // stop polling for a moment instead of spinning on it. Said once per
      // episode, however long it lasts (every retry would be 10 lines a
      // second); its end is said with how many retries failed.
      if (accept_failures_++ == 0) {
        log_.Error(LogLine("accept-failed")
                       .Add("service", setup_.services[s.service]->name)
                       .Add("error", base::ErrnoName(errno)));
      }
      accept_pause_until_ = Clock::now() + kAcceptErrorPause;
      return;
    }
    if (accept_failures_ > 0) {
      log_.Info(LogLine("accept-recovered")
                    .Add("service", setup_.services[s.service]->name)
                    .Add("failed", accept_failures_));
      accept_failures_ = 0;
    }
    UniqueFd conn(fd);
    if (s.ep.IsUnix()) {
      ucred cred{};
      socklen_t len = sizeof cred;
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
      SourceKey source = SourceKeyOfUid(cred.uid);  // per source = per user here
      if (!Admit(s.service, nullptr, &cred, source)) continue;  // closed at once
      Spawn<ConnectionRequest>(s, {fd}, source);
      continue;
    }
    SourceKey source = SourceKeyOf(peer);
    if (!Admit(s.service, &peer, nullptr, source)) continue;  // closed at once
    Spawn<ConnectionRequest>(s, {fd}, source);
  }
}

void Listener::OnUdpWait(const std::shared_ptr<ListenSocket>& s) {
  if (s->busy || !MayStart(s->service, true)) return;
  // The child gets the listening socket itself and reads every datagram
  // from it until it exits; its environment names the first one's peer.
  // That first datagram decides whether a child starts at all: one from a
  // source no service answers is dropped, and the next one looked at.
  for (int i = 0; i < kAcceptBurst; ++i) {
    net::Endpoint peer;
    net::Endpoint local;
    if (!PeekDatagram(s->fd.get(), s->ep, peer, local)) {
      // Readable, yet no datagram: shut down since the last check (by a
      // process the wait child left behind); repaired, not spun on. (After
      // a refused datagram: simply none left.)
      if (i == 0) RepairWaitSocket(*s);
      return;
    }
    if (RefuseReflection(*s, peer)) {
      DropDatagram(s->fd.get());
      continue;
    }
    uint64_t id = Spawn<UdpWaitStartRequest>(*s, {s->fd.get()}, SourceKey());
    wait_requests_[id] = s;
    SetWatch(*s, ListenSocket::Watch::kNone);  // the child's now
    return;
  }
}

bool Listener::RefuseReflection(const ListenSocket& s, const net::Endpoint& peer) {
  bool internal = config_.services[s.service].internal != config::Internal::kNone;
  if (!ReflectionRisk(peer, served_ports_, internal)) return false;
  ++setup_.services[s.service]->refused_reflection;
  std::string key = net::ToString(peer);
  if (LogOncePer(setup_.services[s.service]->name, "reflection " + key)) {
    LogLine line("reject");
    line.Add("service", setup_.services[s.service]->name);
    AddPeer(line, key);
    log_.Warning(line.Add("reason", "reflection"));
  }
  return true;
}

void Listener::OnUdpNowait(const std::shared_ptr<ListenSocket>& shared) {
  ListenSocket& s = *shared;
  for (int i = 0; i < kAcceptBurst; ++i) {
    if (!MayStart(s.service, i == 0)) return;
    net::Endpoint peer;
    net::Endpoint local;
    if (!PeekDatagram(s.fd.get(), s.ep, peer, local)) return;
    if (RefuseReflection(s, peer)) {
      DropDatagram(s.fd.get());
      continue;
    }
    SourceKey source = SourceKeyOf(peer);
    if (!Admit(s.service, &peer, nullptr, source)) {
      DropDatagram(s.fd.get());
      continue;
    }
    // One child per peer: a fresh socket on the same address (SO_REUSEPORT;
    // binding a port below 1024 is why the listener keeps
    // CAP_NET_BIND_SERVICE) takes over, and the socket holding the datagram
    // is connected to the peer and handed over. The monitor gets both: the
    // fresh one replaces its copy of the old.
    auto fresh = net::BindListener(s.ep, net::Transport::kUdp, 0);
    int connect_errno = 0;
    if (fresh.ok() && connect(s.fd.get(), peer.sa(), peer.len) != 0) connect_errno = errno;
    if (!fresh.ok() || connect_errno != 0) {
      LogLine line("drop");
      line.Add("service", setup_.services[s.service]->name);
      AddPeer(line, net::ToString(peer));
      line.Add("reason", "handover-failed")
          .Add("error", fresh.ok() ? ErrnoError("connect", connect_errno).message()
                                   : fresh.error().message());
      log_.Error(line);
      DropDatagram(s.fd.get());
      if (!fresh.ok()) accept_pause_until_ = Clock::now() + kAcceptErrorPause;
      return;
    }
    SetWatch(s, ListenSocket::Watch::kNone);
    by_fd_.erase(s.fd.get());
    UniqueFd conn(s.fd.release());
    s.Replace(std::move(*fresh));
    by_fd_[s.fd.get()] = shared;
    uint64_t id = Spawn<UdpHandoverRequest>(s, {conn.get(), s.fd.get()}, source);
    // Kept for its child's end report where the monitor keeps it too: a
    // child in a PID namespace of its own leaves nobody holding it.
    if ((config_.services[s.service].namespaces & config::kNsPid) != 0) {
      handed_.emplace(id, HandedOver{shared, peer, std::move(conn), Clock::now()});
    }
    UpdatePolling();
  }
}

void Listener::OnEnd(const EndReport& end) {
  auto handed = handed_.find(end.request);
  if (handed == handed_.end()) return CountEnd(end);
  HandedOver h = std::move(handed->second);
  handed_.erase(handed);
  CountEnd(end);  // first: the child that ended no longer counts
  if (end.leftover != 0 && end.generation == setup_.generation) ServeLeftover(std::move(h));
}

void Listener::ServeLeftover(HandedOver h) {
  // What is left on the socket came from other peers before it was
  // connected (or from its peer since, for the child that just ended).
  // Each is served in turn: the socket, connected to the first one's peer,
  // goes to that peer's child, and comes back here when that one ends.
  // Every round takes one datagram off the queue at least (the child reads
  // it, or it is its own peer's and dropped here), so it ends.
  auto s = h.from.lock();
  if (!s || Clock::now() - h.first > kLeftoverMaxAge) return;  // closed, the rest with it
  for (int i = 0; i < kAcceptBurst; ++i) {
    net::Endpoint peer;
    net::Endpoint local;
    if (!PeekDatagram(h.sock.get(), s->ep, peer, local)) return;
    // Its own peer's: the child that ended had it to read (a failed one
    // would start again on it forever).
    if (peer == h.peer || RefuseReflection(*s, peer)) {
      DropDatagram(h.sock.get());
      continue;
    }
    if (!MayStart(s->service, false)) return;
    SourceKey source = SourceKeyOf(peer);
    if (!Admit(s->service, &peer, nullptr, source)) {
      DropDatagram(h.sock.get());
      continue;
    }
    if (connect(h.sock.get(), peer.sa(), peer.len) != 0) return;
    uint64_t id = Spawn<UdpLeftoverRequest>(*s, {h.sock.get()}, source);
    h.peer = peer;
    handed_.emplace(id, std::move(h));
    return;
  }
}

void Listener::CountEnd(const EndReport& end) {
  if (end.outcome == Outcome::kRefused) {
    // A refused udp wait request: no child holds the socket; watch it again,
    // without the datagram that would only be refused again.
    auto req = wait_requests_.find(end.request);
    if (req != wait_requests_.end()) {
      if (auto s = req->second.lock()) {
        s->busy = false;
        Touch(s->service);
        DropDatagram(s->fd.get());
        log_.Warning(LogLine("drop")
                         .Add("service", setup_.services[s->service]->name)
                         .Add("reason", "refused"));
      }
      wait_requests_.erase(req);
    }
  }
  if (children_ > 0) --children_;
  // By index, in the table of the report's generation: none if that is not
  // this listener's, or the service has none there (a reload removed it).
  if (end.generation != setup_.generation || end.service >= setup_.services.size()) return;
  size_t index = end.service;
  ServiceState& st = *setup_.services[index];
  if (st.active > 0) --st.active;
  Touch(index);
  if (end.source.len > 0) {
    auto slot = st.per_source.find(end.source.str());
    if (slot != st.per_source.end() && --slot->second <= 0) st.per_source.erase(slot);
  }
  // A stale wait child ended while idle (kReplaced) ended well: the
  // datagrams queued on its socket are the next child's.
  bool exited_ok = (end.outcome == Outcome::kExited && WIFEXITED(end.status) &&
                    WEXITSTATUS(end.status) == 0) ||
                   end.outcome == Outcome::kReplaced;
  switch (end.outcome) {
    case Outcome::kSetupFailed: ++st.setup_failures; break;
    case Outcome::kTimedOut: ++st.timeouts; break;
    case Outcome::kExited:
      if (KilledBySeccomp(end.status)) ++st.seccomp_kills;
      break;
    default: break;
  }
  if (end.wait != 0) {
    net::Endpoint ep = net::Endpoint::FromSockaddr(reinterpret_cast<const sockaddr*>(&end.wait_ep),
                                                   end.wait_ep_len);
    std::erase_if(wait_requests_, [&](const auto& r) {
      auto s = r.second.lock();
      return !s || (s->transport == net::Transport::kUdp && s->ep == ep);
    });
    for (auto& s : setup_.sockets) {
      if (s->transport != net::Transport::kUdp || !(s->ep == ep)) continue;
      s->busy = false;
      Touch(s->service);
      // A child that failed may have left the datagram that started it
      // unread; dropping it keeps a failing service from respawning on the
      // same datagram forever. Before any repair: a fresh socket holds no
      // datagram of that child's.
      if (!exited_ok && end.outcome != Outcome::kTimedOut) {
        DropDatagram(s->fd.get());
        log_.Warning(LogLine("drop")
                         .Add("service", st.name)
                         .Add("reason", end.outcome == Outcome::kExited ? "child-failed"
                                                                         : "setup-failed"));
      }
      RepairWaitSocket(*s);
    }
  }
  // Loop protection: ten children in a row failing at once pause the
  // service (an end by timeout is no such failure). A connection its client
  // reset before a child started is neither a failure nor a success: any
  // client could send those at will.
  if (end.outcome == Outcome::kClosed) return;
  using End = FailureStreak::End;
  End kind = End::kFailed;
  if (exited_ok || end.outcome == Outcome::kTimedOut) {
    kind = End::kOk;
  } else if (end.outcome != Outcome::kExited || KilledBySeccomp(end.status) ||
             (WIFEXITED(end.status) &&
              (WEXITSTATUS(end.status) == 126 || WEXITSTATUS(end.status) == 127))) {
    kind = End::kServiceFault;
  }
  if (st.failures.Record(kind, std::chrono::nanoseconds(end.lifetime_ns), end.source.str())) {
    PauseService(index, Pause::kFailing, config_.services[index].backoff);
  }
}

void Listener::LogStatus() {
  for (size_t i = 0; i < setup_.services.size(); ++i) {
    const ServiceState& s = *setup_.services[i];
    const config::Service& svc = config_.services[i];
    const char* state = s.pause == Pause::kRate      ? "paused:rate"
                        : s.pause == Pause::kFailing ? "paused:failing"
                        : svc.max_instances > 0 && s.active >= svc.max_instances ? "full"
                                                                                 : "serving";
    log_.Info(LogLine("status")
                  .Add("service", s.name)
                  .Add("state", state)
                  .Add("active", s.active)
                  .Add("accepted", s.accepted)
                  .Add("refused_acl", s.refused_acl)
                  .Add("refused_per_source", s.refused_per_source)
                  .Add("refused_reflection", s.refused_reflection)
                  .Add("paused_rate", s.paused_rate)
                  .Add("paused_failing", s.paused_failing)
                  .Add("held_capacity", s.held_capacity)
                  .Add("setup_failures", s.setup_failures)
                  .Add("seccomp_kills", s.seccomp_kills)
                  .Add("timeouts", s.timeouts));
  }
}

}  // namespace

void RunListener(ListenerSetup setup, base::Logger& log) {
  Listener listener(std::move(setup), log);
  listener.Run();
}

}  // namespace hinetd::supervisor
