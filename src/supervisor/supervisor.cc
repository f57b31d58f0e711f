#include "supervisor/supervisor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "base/errno_name.h"
#include "config/config.h"
#include "config/system_checks.h"
#include "net/socket.h"
#include "sandbox/caps.h"
#include "sandbox/policy.h"
#include "supervisor/child_status.h"

namespace hinetd::supervisor {

using base::Error;
using base::ErrnoError;
using base::LogLine;
using base::Result;
using base::Status;
using base::UniqueFd;

std::vector<int> DaemonCapabilities() {
  return {CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT, CAP_SETPCAP, CAP_KILL};
}

namespace {

// epoll tags: kind in the high 32 bits, fd in the low.
enum Kind : uint64_t { kSignal = 1, kListener = 2, kStderr = 3, kKmsg = 4 };
uint64_t Tag(Kind k, int fd) { return (static_cast<uint64_t>(k) << 32) | static_cast<uint32_t>(fd); }

constexpr int kAcceptBurst = 16;        // per readiness event, for fairness
// Refusals of reflection-prone datagrams are logged once per peer per this.
constexpr auto kRefusalLogInterval = std::chrono::seconds(60);
constexpr size_t kStderrLineMax = 1024;  // longer lines are split
constexpr auto kAcceptErrorPause = std::chrono::milliseconds(100);

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, s);
  return set;
}

// Reads and throws away one datagram (the one at the head of the queue).
void DropDatagram(int fd) {
  static char sink[65536];
  ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
  (void)n;
}

// The peer of the datagram at the head of the queue, and the address it was
// sent to (IP_PKTINFO, for sockets on a wildcard address), without taking
// it off the queue. False if the queue is empty.
bool PeekDatagram(int fd, const net::Endpoint& bound, net::Endpoint& peer, net::Endpoint& local) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[256];
  msghdr msg{};
  peer = net::Endpoint();
  msg.msg_name = &peer.addr;
  msg.msg_namelen = sizeof peer.addr;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (recvmsg(fd, &msg, MSG_PEEK | MSG_DONTWAIT) < 0) return false;
  peer.len = msg.msg_namelen;
  local = bound;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      memcpy(&info, CMSG_DATA(c), sizeof info);
      local = net::Endpoint::Inet4(info.ipi_addr, bound.port());
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;
      memcpy(&info, CMSG_DATA(c), sizeof info);
      local = net::Endpoint::Inet6(info.ipi6_addr, bound.port());
    }
  }
  return true;
}

// A source no answer should go to: port 0, a broadcast or multicast address,
// or the unspecified address (FreeBSD inetd's loop and reflection checks).
bool BadSource(const net::Endpoint& peer) {
  if (peer.port() == 0) return true;
  if (peer.family() == AF_INET) {
    uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(&peer.addr)->sin_addr.s_addr);
    return a == INADDR_BROADCAST || a == INADDR_ANY || IN_MULTICAST(a) ||
           (a & 0xff) == 0xff;  // the broadcast of a /24, the common case
  }
  const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(&peer.addr)->sin6_addr;
  if (IN6_IS_ADDR_MULTICAST(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6)) return true;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) {
    uint32_t a;
    memcpy(&a, &a6.s6_addr[12], 4);
    a = ntohl(a);
    return a == INADDR_BROADCAST || a == INADDR_ANY || IN_MULTICAST(a);
  }
  return false;
}

std::string CredString(const ucred& c) {
  return "uid:" + std::to_string(c.uid) + ",gid:" + std::to_string(c.gid) + ",pid:" +
         std::to_string(c.pid);
}

}  // namespace

Supervisor::Listener::~Listener() {
  // Remove the socket file this listener created, unless something else
  // has replaced it since.
  if (unix_ino == 0) return;
  std::string path = ep.UnixPath();
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == unix_ino) {
    unlink(path.c_str());
  }
}

void Supervisor::Watch(int fd, uint64_t tag, bool readable) {
  epoll_event ev{};
  ev.events = readable ? static_cast<uint32_t>(EPOLLIN) : 0u;
  ev.data.u64 = tag;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  }
}

// An epoll registration belongs to the open file description, not to the
// fd: a child holding a dup of a socket would keep it alive after our
// close(). So every watched socket is removed explicitly before it goes.
void Supervisor::Unwatch(int fd) { epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

Supervisor::Supervisor(base::Logger& log, Options options)
    : log_(log), options_(std::move(options)) {}

Supervisor::~Supervisor() = default;

Status Supervisor::EnsureEmptyChroot(const config::Config& config) {
  bool needed = std::any_of(config.services.begin(), config.services.end(),
                            [](const config::Service& s) { return s.implicit_chroot; });
  if (!needed) return Status();
  std::string dir = config::kEmptyChroot;
  std::string parent = dir.substr(0, dir.rfind('/'));
  if (mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("creating " + parent + " (the empty jail of internal services)", errno);
  }
  if (mkdir(dir.c_str(), 0555) != 0 && errno != EEXIST) {
    return ErrnoError("creating " + dir + " (the empty jail of internal services)", errno);
  }
  auto checked = config::CheckChroot(dir);
  if (!checked.ok()) return checked.error().Wrap("the empty jail of internal services");
  return Status();
}

Result<Supervisor::ListenerList> Supervisor::BindNew(const config::Config& config,
                                                     ListenerList& reuse) {
  // Every socket of the new table: taken over from `reuse` when the same
  // address is already bound (a reload keeps it, and its backlog), bound
  // fresh otherwise. On error the taken sockets are handed back untouched.
  ListenerList out;
  auto give_back = [&]() {
    for (auto& l : out) {
      if (listener_by_fd_.count(l->fd.get()) != 0) reuse.push_back(std::move(l));
    }
  };
  for (size_t i = 0; i < config.services.size(); ++i) {
    const config::Service& svc = config.services[i];
    for (const auto& addr : svc.listen) {
      for (const auto& ep : addr.endpoints) {
        auto it = std::find_if(reuse.begin(), reuse.end(), [&](const auto& l) {
          return l && l->transport == svc.transport && l->ep == ep;
        });
        std::shared_ptr<Listener> l;
        if (it != reuse.end()) {
          l = std::move(*it);
          reuse.erase(it);
          if (ep.IsUnix()) {
            // A kept socket keeps its file as it is: its owner and mode are
            // set when it is created (changing the owner needs CAP_CHOWN,
            // which hinetd no longer holds), and a reload must not half-apply.
            struct stat st {};
            std::string path = ep.UnixPath();
            if (stat(path.c_str(), &st) == 0 &&
                (st.st_uid != svc.unix_file.uid || st.st_gid != svc.unix_file.gid ||
                 (st.st_mode & 07777) != svc.unix_file.mode)) {
              log_.Warning(LogLine("warning")
                               .Add("service", svc.name)
                               .Add("message", "socket_user, socket_group and socket_mode of " +
                                                   path +
                                                   " apply when the socket is created; the "
                                                   "file keeps its owner and mode until "
                                                   "hinetd restarts"));
            }
          }
        } else {
          auto fd = net::BindListener(ep, svc.transport, options_.listen_backlog, svc.unix_file);
          if (!fd.ok()) {
            give_back();
            return Error(addr.loc, "service \"" + svc.name + "\": " + fd.error().message());
          }
          l = std::make_shared<Listener>();
          l->ep = ep;
          l->transport = svc.transport;
          l->fd = std::move(*fd);
          if (ep.IsUnix()) {
            struct stat st {};
            if (stat(ep.UnixPath().c_str(), &st) == 0) l->unix_ino = st.st_ino;
          }
        }
        l->service = i;
        l->wait = svc.wait;
        out.push_back(std::move(l));
      }
    }
  }
  return out;
}

void Supervisor::Install(std::unique_ptr<config::Config> config,
                         std::unique_ptr<spawn::PlanSet> plans, ListenerList listeners) {
  // Old sockets nobody took over are closed (a busy udp wait socket stays
  // open, held by its child's record, until that child ends).
  for (auto& l : listeners_) {
    bool kept = std::find(listeners.begin(), listeners.end(), l) != listeners.end();
    if (!kept) {
      Unwatch(l->fd.get());
      listener_by_fd_.erase(l->fd.get());
    }
  }
  listeners_ = std::move(listeners);
  for (auto& l : listeners_) {
    if (listener_by_fd_.count(l->fd.get()) == 0) {
      listener_by_fd_[l->fd.get()] = l;
      l->polling = false;
      Watch(l->fd.get(), Tag(kListener, l->fd.get()), false);
    }
  }
  std::vector<std::shared_ptr<ServiceState>> states;
  for (const auto& svc : config->services) {
    auto it = std::find_if(services_.begin(), services_.end(),
                           [&](const auto& s) { return s->name == svc.name; });
    states.push_back(it != services_.end() ? *it : std::make_shared<ServiceState>());
    ServiceState& st = *states.back();
    st.name = svc.name;
    // A changed rate starts a fresh bucket; an unchanged one keeps its
    // tokens (and a running pause) across the reload.
    bool same = st.rate_config.has_value() == svc.rate.has_value() &&
                (!svc.rate || (st.rate_config->count == svc.rate->count &&
                               st.rate_config->period == svc.rate->period));
    if (!same) {
      st.rate_config = svc.rate;
      st.rate.reset();
      if (svc.rate) st.rate.emplace(svc.rate->count, svc.rate->period, Clock::now());
      // A pause of the old rate does not outlive it.
      if (st.pause == Pause::kRate) st.paused_until = Clock::now();
    }
    // A running pause follows the new backoff (ResumeExpired ends it).
    if (st.pause != Pause::kNone) st.paused_until = std::min(st.paused_until, st.paused_at + svc.backoff);
  }
  services_ = std::move(states);
  small_service_ports_ = {7, 9, 13, 19, 37};
  for (const auto& svc : config->services) {
    if (svc.internal == config::Internal::kNone) continue;
    for (const auto& addr : svc.listen) {
      for (const auto& ep : addr.endpoints) small_service_ports_.insert(ep.port());
    }
  }
  config_ = std::move(config);
  plans_ = std::move(plans);
  ++generation_;
  for (const auto& l : listeners_) {
    const config::Service& svc = config_->services[l->service];
    LogLine line("listen");
    line.Add("service", svc.name)
        .Add("address", net::ToString(l->ep))
        .Add("protocol", net::ProtocolName(l->ep, l->transport));
    if (l->transport == net::Transport::kUdp) line.Add("wait", l->wait ? "true" : "false");
    log_.Info(line);
  }
  for (const auto& w : config_->warnings) log_.Warning(LogLine("warning").Add("message", w));
  UpdatePolling();
}

Status Supervisor::Start(std::unique_ptr<config::Config> config,
                         std::unique_ptr<spawn::PlanSet> plans) {
  // Signals become data before anything else can send them.
  sigset_t handled = HandledSignals();
  if (sigprocmask(SIG_BLOCK, &handled, nullptr) != 0) return ErrnoError("sigprocmask", errno);
  signal(SIGPIPE, SIG_IGN);
  signal_fd_.reset(signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_) return ErrnoError("signalfd", errno);
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return ErrnoError("epoll_create1", errno);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = Tag(kSignal, signal_fd_.get());
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, signal_fd_.get(), &ev) != 0) {
    return ErrnoError("epoll_ctl", errno);
  }

  // While still fully root: the kernel log (reading it may need
  // CAP_SYSLOG, checked at open only), the empty jail, the sockets.
  seccomp_log_.Open();
  if (seccomp_log_.available()) {
    ev.data.u64 = Tag(kKmsg, seccomp_log_.fd());
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, seccomp_log_.fd(), &ev);
  } else {
    log_.Warning(LogLine("warning").Add(
        "message", "cannot read /dev/kmsg; seccomp kills will be logged without the syscall"));
  }
  if (auto s = EnsureEmptyChroot(*config); !s.ok()) return s;
  ListenerList none;
  auto listeners = BindNew(*config, none);
  if (!listeners.ok()) return listeners.error();

  // From here on the daemon keeps only what it needs to bind again and to
  // spawn (DESIGN.md §1 until privilege separation splits the roles).
  if (auto s = sandbox::LimitOwnCapabilities(DaemonCapabilities()); !s.ok()) return s;
  auto spawner = spawn::Spawner::Create();
  if (!spawner.ok()) return spawner.error();
  spawner_ = std::move(*spawner);

  size_t count = config->services.size();
  Install(std::move(config), std::move(plans), std::move(*listeners));
  log_.Info(LogLine("start")
                .Add("version", HINETD_VERSION)
                .Add("services", count)
                .Add("listeners", listeners_.size())
                .Add("max_children", config_->daemon.max_children));
  return Status();
}

int Supervisor::NextTimeoutMs() const {
  Clock::time_point next = Clock::time_point::max();
  for (const auto& p : pending_seccomp_) next = std::min(next, p.deadline);
  if (!deadlines_.empty()) next = std::min(next, deadlines_.begin()->first);
  for (const auto& st : services_) {
    if (st->pause != Pause::kNone) next = std::min(next, st->paused_until);
  }
  if (stopping_) next = std::min(next, stop_deadline_);
  if (accept_pause_until_ > Clock::now()) next = std::min(next, accept_pause_until_);
  if (next == Clock::time_point::max()) return -1;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(ms + 1, 0, 60'000));
}

int Supervisor::Run() {
  epoll_event events[64];
  for (;;) {
    if (stopping_ && children_.empty() && pending_seccomp_.empty()) break;
    int n = epoll_wait(epoll_.get(), events, 64, NextTimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      log_.Error(LogLine("error").Add("message", ErrnoError("epoll_wait", errno).message()));
      return 71;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      int fd = static_cast<int>(tag & 0xffffffffu);
      switch (static_cast<Kind>(tag >> 32)) {
        case kSignal: OnSignal(); break;
        case kKmsg: seccomp_log_.Drain(); break;
        case kListener:
          if (auto it = listener_by_fd_.find(fd); it != listener_by_fd_.end()) {
            // A copy, not a reference into the map: a udp nowait handover
            // replaces the listener's map entry while handling it.
            std::shared_ptr<Listener> l = it->second;
            OnListener(l);
          }
          break;
        case kStderr: OnStderr(fd); break;
      }
    }
    FlushPendingSeccomp(false);
    EnforceTimeouts();
    ResumeExpired();
    if (stopping_ && !killed_ && Clock::now() >= stop_deadline_) {
      // Grace is over: KILL what is left, each child's whole process group.
      for (const auto& [pid, c] : children_) kill(-pid, SIGKILL);
      killed_ = true;
      stop_deadline_ = Clock::now() + options_.stop_grace;
    } else if (stopping_ && killed_ && Clock::now() >= stop_deadline_) {
      log_.Error(LogLine("stop").Add("message", "children did not exit after SIGKILL")
                     .Add("children", children_.size()));
      break;
    }
    UpdatePolling();
  }
  FlushPendingSeccomp(true);
  log_.Info(LogLine("stop").Add("status", "done"));
  return 0;
}

void Supervisor::OnSignal() {
  for (int i = 0; i < 64; ++i) {
    signalfd_siginfo info{};
    ssize_t n = read(signal_fd_.get(), &info, sizeof info);
    if (n != static_cast<ssize_t>(sizeof info)) return;
    switch (info.ssi_signo) {
      case SIGCHLD: Reap(); break;
      case SIGHUP:
        if (!stopping_) Reload();
        break;
      case SIGTERM:
      case SIGINT: BeginStop(); break;
      case SIGUSR1: DumpStatus(); break;
      default: break;
    }
  }
}

bool Supervisor::AtCapacity() const {
  return static_cast<int>(children_.size()) >= config_->daemon.max_children;
}

void Supervisor::AddPeer(LogLine& line, const std::string& peer) const {
  if (config_->daemon.log_peers) line.Add("peer", peer);
}

bool Supervisor::LogOncePer(const std::string& key) {
  // A flood of refusals must not turn into a flood of log lines: once per
  // key (peer, reason) and interval. The table is pruned as it grows.
  auto now = Clock::now();
  auto it = refusal_logged_.find(key);
  if (it != refusal_logged_.end() && now - it->second < kRefusalLogInterval) return false;
  if (refusal_logged_.size() > 4096) {
    std::erase_if(refusal_logged_,
                  [&](const auto& e) { return now - e.second >= kRefusalLogInterval; });
  }
  refusal_logged_[key] = now;
  return true;
}

void Supervisor::PauseService(ServiceState& state, Pause why, std::chrono::milliseconds length) {
  auto now = Clock::now();
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

void Supervisor::ResumeExpired() {
  auto now = Clock::now();
  for (const auto& st : services_) {
    if (st->pause == Pause::kNone || now < st->paused_until) continue;
    log_.Info(LogLine("resume")
                  .Add("service", st->name)
                  .Add("reason", st->pause == Pause::kRate ? "rate" : "failing")
                  .Add("paused", FormatSeconds(
                                     std::chrono::duration<double>(now - st->paused_at).count())));
    st->pause = Pause::kNone;
  }
}

void Supervisor::EnforceTimeouts() {
  auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    pid_t pid = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto it = children_.find(pid);
    if (it == children_.end()) continue;
    Child& c = it->second;
    // The whole process group: the service's own children go too.
    if (!c.timed_out) {
      c.timed_out = true;
      kill(-pid, SIGTERM);
      deadlines_.emplace(now + options_.kill_grace, pid);
    } else {
      kill(-pid, SIGKILL);
    }
  }
}

void Supervisor::UpdatePolling() {
  bool want = !stopping_ && !AtCapacity() && Clock::now() >= accept_pause_until_;
  if (!stopping_ && AtCapacity() && Clock::now() - children_full_logged_ >= kRefusalLogInterval) {
    children_full_logged_ = Clock::now();
    log_.Warning(LogLine("pause")
                     .Add("reason", "max_children")
                     .Add("children", std::to_string(children_.size()) + "/" +
                                          std::to_string(config_->daemon.max_children)));
  }
  for (auto& l : listeners_) {
    // At capacity (all services, or this one), or paused, the sockets stay
    // open and connections wait in the kernel's backlog (back-pressure)
    // instead of being accepted and dropped. A udp wait socket is not
    // watched while its child holds it.
    const ServiceState& st = *services_[l->service];
    int max = config_->services[l->service].max_instances;
    bool full = max > 0 && st.active >= max;
    bool poll = want && !l->busy && !full && st.pause == Pause::kNone;
    if (l->polling == poll) continue;
    Watch(l->fd.get(), Tag(kListener, l->fd.get()), poll);
    l->polling = poll;
  }
}

void Supervisor::OnListener(const std::shared_ptr<Listener>& l) {
  if (l->transport == net::Transport::kTcp) {
    OnStream(*l);
  } else if (l->wait) {
    OnUdpWait(l);
  } else {
    OnUdpNowait(l);
  }
}

bool Supervisor::MayStart(size_t service, bool waiting) {
  if (AtCapacity()) return false;
  ServiceState& st = *services_[service];
  const config::Service& svc = config_->services[service];
  if (st.pause != Pause::kNone) return false;
  // `waiting`: the socket was reported readable, so a client is there now.
  // Later rounds of an accept burst do not know, and must neither count a
  // held connection nor pause the service for one that may not exist.
  if (svc.max_instances > 0 && st.active >= svc.max_instances) {
    if (!waiting) return false;
    ++st.held_capacity;
    if (Clock::now() - st.capacity_logged >= kRefusalLogInterval) {
      st.capacity_logged = Clock::now();
      log_.Warning(LogLine("pause")
                       .Add("service", st.name)
                       .Add("reason", "max_instances")
                       .Add("active", std::to_string(st.active) + "/" +
                                          std::to_string(svc.max_instances)));
    }
    return false;
  }
  if (st.rate && !st.rate->Available(Clock::now())) {
    if (waiting) PauseService(st, Pause::kRate, svc.backoff);
    return false;
  }
  return true;
}

bool Supervisor::Admit(size_t service, const net::Endpoint* peer, const std::string& source,
                       const std::string& peer_text) {
  ServiceState& st = *services_[service];
  const config::Service& svc = config_->services[service];
  const char* reason = nullptr;
  if (peer != nullptr && !svc.acl.Admits(*peer)) {
    reason = "acl";
    ++st.refused_acl;
  } else if (svc.per_source > 0) {
    auto it = st.per_source.find(source);
    if (it != st.per_source.end() && it->second >= svc.per_source) {
      reason = "per_source";
      ++st.refused_per_source;
    }
  }
  if (reason == nullptr) return true;
  if (LogOncePer(st.name + " " + reason + " " + source)) {
    LogLine line("reject");
    line.Add("service", st.name);
    AddPeer(line, peer_text);
    line.Add("reason", reason);
    log_.Warning(line);
  }
  return false;
}

bool Supervisor::StartChild(Listener& l, const spawn::Connection& conn, const std::string& peer,
                            const std::string& source,
                            const std::shared_ptr<Listener>& wait_listener) {
  const spawn::SpawnPlan& plan = plans_->plans[l.service];
  const config::Service& svc = config_->services[l.service];
  const std::shared_ptr<ServiceState>& state = services_[l.service];
  if (state->rate) {
    bool granted = state->rate->TryAcquire(Clock::now());
    (void)granted;  // MayStart checked a token is there
  }
  auto outcome = spawner_->Spawn(plan, conn);
  if (!outcome.ok()) {
    LogLine line("spawn-failed");
    line.Add("service", state->name);
    AddPeer(line, peer);
    log_.Error(line.Add("error", outcome.error().message()));
    return false;
  }
  pid_t pid = outcome->pid;
  Child& child = children_[pid];
  child.state = state;
  child.peer = peer;
  child.started = Clock::now();
  // The per_source slot is taken for as long as the child exists, however
  // it ends (setup failure included): it is given back when it is reaped.
  if (svc.per_source > 0) {
    child.source = source;
    ++state->per_source[source];
  }
  if (outcome->failed()) {
    child.setup_failed = true;
    ++state->setup_failures;
    LogLine line("setup-failed");
    line.Add("service", state->name);
    AddPeer(line, peer);
    log_.Error(line.Add("pid", pid)
                   .Add("step", spawn::StepName(outcome->failed_step))
                   .Add("errno", base::ErrnoName(outcome->failed_errno)));
    return false;
  }
  ++state->active;
  ++state->accepted;
  child.wait_listener = wait_listener;
  if (svc.timeout) deadlines_.emplace(child.started + *svc.timeout, pid);
  if (outcome->stderr_pipe) {
    child.stderr_fd = outcome->stderr_pipe.release();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = Tag(kStderr, child.stderr_fd);
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, child.stderr_fd, &ev);
    stderr_owner_[child.stderr_fd] = pid;
  }
  LogLine line("accept");
  line.Add("service", state->name);
  AddPeer(line, peer);
  line.Add("pid", pid);
  if (svc.max_instances > 0) {
    line.Add("active", std::to_string(state->active) + "/" + std::to_string(svc.max_instances));
  } else {
    line.Add("active", state->active);
  }
  log_.Info(line);
  return true;
}

// The per_source key of an IP peer: its address, as bytes (IPv4-mapped
// IPv6 as IPv4), without the port.
std::string SourceKey(const net::Endpoint& peer) {
  if (peer.family() == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in*>(&peer.addr)->sin_addr;
    return std::string(reinterpret_cast<const char*>(&a), 4);
  }
  const auto& a6 = reinterpret_cast<const sockaddr_in6*>(&peer.addr)->sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) return std::string(reinterpret_cast<const char*>(&a6) + 12, 4);
  return std::string(reinterpret_cast<const char*>(&a6), 16);
}

void Supervisor::OnStream(Listener& l) {
  for (int i = 0; i < kAcceptBurst; ++i) {
    if (!MayStart(l.service, i == 0)) return;
    net::Endpoint peer;
    peer.len = sizeof peer.addr;
    int fd = accept4(l.fd.get(), reinterpret_cast<sockaddr*>(&peer.addr), &peer.len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
      // EMFILE/ENFILE/ENOBUFS: the connection stays in the backlog; stop
      // polling for a moment instead of spinning on it.
      log_.Error(LogLine("accept-failed")
                     .Add("service", services_[l.service]->name)
                     .Add("error", base::ErrnoName(errno)));
      accept_pause_until_ = Clock::now() + kAcceptErrorPause;
      return;
    }
    UniqueFd conn(fd);
    if (l.ep.IsUnix()) {
      ucred cred{};
      socklen_t len = sizeof cred;
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
      std::string peer_text = CredString(cred);
      // Per source means per user on a unix: socket.
      std::string source = "uid:" + std::to_string(cred.uid);
      if (!Admit(l.service, nullptr, source, peer_text)) continue;  // closed at once
      StartChild(l, spawn::Connection{fd, spawn::Connection::Kind::kUnix, nullptr, &l.ep, &cred},
                 peer_text, source, nullptr);
      continue;
    }
    std::string peer_text = net::ToString(peer);
    std::string source = SourceKey(peer);
    if (!Admit(l.service, &peer, source, peer_text)) continue;  // closed at once
    net::Endpoint local = l.ep;
    if (l.ep.IsWildcard()) {
      local.len = sizeof local.addr;
      getsockname(fd, reinterpret_cast<sockaddr*>(&local.addr), &local.len);
    }
    StartChild(l, spawn::Connection{fd, spawn::Connection::Kind::kTcp, &peer, &local, nullptr},
               peer_text, source, nullptr);
  }
}

void Supervisor::OnUdpWait(const std::shared_ptr<Listener>& l) {
  if (l->busy || !MayStart(l->service, true)) return;
  // The child gets the listening socket itself and reads every datagram
  // from it until it exits; the environment names the peer of the first.
  net::Endpoint peer;
  net::Endpoint local;
  if (!PeekDatagram(l->fd.get(), l->ep, peer, local)) return;
  if (!StartChild(*l, spawn::Connection{l->fd.get(), spawn::Connection::Kind::kUdp, &peer, &local,
                                        nullptr},
                  net::ToString(peer), "", l)) {
    // Nothing will read the datagram that woke us: drop it, or the loop
    // would spin on it. (A child that failed its setup may have made the
    // shared socket blocking; hinetd's reads never block.)
    int fl = fcntl(l->fd.get(), F_GETFL);
    if (fl >= 0) fcntl(l->fd.get(), F_SETFL, fl | O_NONBLOCK);
    DropDatagram(l->fd.get());
    LogLine line("drop");
    line.Add("service", services_[l->service]->name);
    AddPeer(line, net::ToString(peer));
    log_.Warning(line.Add("reason", "spawn-failed"));
    return;
  }
  l->busy = true;
  UpdatePolling();
}

bool Supervisor::ReflectionRisk(const Listener& l, const net::Endpoint& peer) {
  if (!BadSource(peer) && small_service_ports_.count(peer.port()) == 0) return false;
  ++services_[l.service]->refused_reflection;
  std::string key = net::ToString(peer);
  if (LogOncePer("reflection " + key)) {
    LogLine line("reject");
    line.Add("service", services_[l.service]->name);
    AddPeer(line, key);
    log_.Warning(line.Add("reason", "reflection"));
  }
  return true;
}

void Supervisor::OnUdpNowait(const std::shared_ptr<Listener>& shared) {
  Listener& l = *shared;
  const spawn::SpawnPlan& plan = plans_->plans[l.service];
  for (int i = 0; i < kAcceptBurst; ++i) {
    if (!MayStart(l.service, i == 0)) return;
    net::Endpoint peer;
    net::Endpoint local;
    if (!PeekDatagram(l.fd.get(), l.ep, peer, local)) return;
    if (plan.internal != config::Internal::kNone && ReflectionRisk(l, peer)) {
      DropDatagram(l.fd.get());
      continue;
    }
    std::string peer_text = net::ToString(peer);
    std::string source = SourceKey(peer);
    if (!Admit(l.service, &peer, source, peer_text)) {
      DropDatagram(l.fd.get());
      continue;
    }
    // One child per peer: the socket holding the datagram is connected to
    // the peer and handed over, after a fresh socket on the same address
    // (SO_REUSEPORT) has taken its place. The connected socket is the more
    // specific match, so the peer's next datagrams reach its child.
    auto fresh = net::BindListener(l.ep, net::Transport::kUdp, options_.listen_backlog);
    if (!fresh.ok()) {
      LogLine line("spawn-failed");
      line.Add("service", services_[l.service]->name);
      AddPeer(line, peer_text);
      log_.Error(line.Add("error", fresh.error().message()));
      DropDatagram(l.fd.get());
      accept_pause_until_ = Clock::now() + kAcceptErrorPause;
      return;
    }
    if (connect(l.fd.get(), peer.sa(), peer.len) != 0) {
      LogLine line("spawn-failed");
      line.Add("service", services_[l.service]->name);
      AddPeer(line, peer_text);
      log_.Error(line.Add("error", ErrnoError("connect", errno).message()));
      DropDatagram(l.fd.get());
      continue;
    }
    Unwatch(l.fd.get());
    listener_by_fd_.erase(l.fd.get());
    UniqueFd conn(l.fd.release());
    l.fd = std::move(*fresh);
    listener_by_fd_[l.fd.get()] = shared;
    l.polling = false;
    UpdatePolling();
    StartChild(l, spawn::Connection{conn.get(), spawn::Connection::Kind::kUdp, &peer, &local,
                                    nullptr},
               peer_text, source, nullptr);
  }
}

void Supervisor::LogStderrLine(const Child& c, pid_t pid, std::string_view line) {
  log_.Info(LogLine("stderr").Add("service", c.state->name).Add("pid", pid).Add("line", line));
}

void Supervisor::OnStderr(int fd) {
  auto owner = stderr_owner_.find(fd);
  if (owner == stderr_owner_.end()) return;
  pid_t pid = owner->second;
  Child& c = children_.at(pid);
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    CloseStderr(c, pid);
    return;
  }
  c.stderr_partial.append(buf, static_cast<size_t>(n));
  size_t start = 0;
  for (;;) {
    size_t nl = c.stderr_partial.find('\n', start);
    if (nl == std::string::npos) break;
    LogStderrLine(c, pid, std::string_view(c.stderr_partial).substr(start, nl - start));
    start = nl + 1;
  }
  c.stderr_partial.erase(0, start);
  while (c.stderr_partial.size() >= kStderrLineMax) {
    LogStderrLine(c, pid, std::string_view(c.stderr_partial).substr(0, kStderrLineMax));
    c.stderr_partial.erase(0, kStderrLineMax);
  }
}

void Supervisor::CloseStderr(Child& c, pid_t pid) {
  if (c.stderr_fd < 0) return;
  // Whatever is still in the pipe belongs to the child's last words.
  char buf[4096];
  for (int i = 0; i < 16; ++i) {
    ssize_t n = read(c.stderr_fd, buf, sizeof buf);
    if (n <= 0) break;
    c.stderr_partial.append(buf, static_cast<size_t>(n));
  }
  size_t start = 0;
  while (start < c.stderr_partial.size()) {
    size_t nl = c.stderr_partial.find('\n', start);
    size_t end = nl == std::string::npos ? c.stderr_partial.size() : nl;
    LogStderrLine(c, pid, std::string_view(c.stderr_partial).substr(start, end - start));
    start = end + 1;
  }
  c.stderr_partial.clear();
  stderr_owner_.erase(c.stderr_fd);
  close(c.stderr_fd);  // also removes it from the epoll set
  c.stderr_fd = -1;
}

void Supervisor::Reap() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    EndChild(pid, status);
  }
}

void Supervisor::EndChild(pid_t pid, int status) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  Child& c = it->second;
  CloseStderr(c, pid);
  auto lifetime = Clock::now() - c.started;
  double seconds = std::chrono::duration<double>(lifetime).count();
  std::shared_ptr<ServiceState> state = c.state;
  bool setup_failed = c.setup_failed;
  bool timed_out = c.timed_out;
  std::shared_ptr<Listener> wait_listener = std::move(c.wait_listener);
  if (!c.source.empty()) {
    auto slot = state->per_source.find(c.source);
    if (slot != state->per_source.end() && --slot->second <= 0) state->per_source.erase(slot);
  }
  children_.erase(it);
  bool failed = setup_failed || !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (!setup_failed) {
    --state->active;
    LogEnd(pid, status, state, seconds, timed_out, wait_listener, failed);
  }
  // Loop protection: a service whose children keep failing at once is
  // paused instead of respawning at full speed (after the end is logged).
  if (state->failures.Record(failed && !timed_out, lifetime) && !stopping_) {
    auto svc = std::find_if(config_->services.begin(), config_->services.end(),
                            [&](const config::Service& s) { return s.name == state->name; });
    PauseService(*state, Pause::kFailing,
                 svc != config_->services.end() ? svc->backoff : std::chrono::milliseconds(10000));
  }
}

void Supervisor::LogEnd(pid_t pid, int status, const std::shared_ptr<ServiceState>& state,
                        double seconds, bool timed_out,
                        const std::shared_ptr<Listener>& wait_listener, bool failed) {
  if (wait_listener) {
    // The socket is ours to watch again. The child shared its open file
    // description and may have made it blocking; hinetd's reads never block.
    wait_listener->busy = false;
    int fl = fcntl(wait_listener->fd.get(), F_GETFL);
    if (fl >= 0) fcntl(wait_listener->fd.get(), F_SETFL, fl | O_NONBLOCK);
    if (failed) {
      // A child that failed may have left the datagram that started it
      // unread; dropping it keeps a failing service from respawning on the
      // same datagram forever.
      DropDatagram(wait_listener->fd.get());
    }
  }
  if (timed_out) {
    ++state->timeouts;
    log_.Warning(LogLine("end")
                     .Add("service", state->name)
                     .Add("pid", pid)
                     .Add("status", "timeout")
                     .Add("signal", WIFSIGNALED(status) ? SignalName(WTERMSIG(status)) : "none")
                     .Add("duration", FormatSeconds(seconds)));
    return;
  }
  if (KilledBySeccomp(status)) {
    ++state->seccomp_kills;
    // The kernel's audit record may trail the SIGCHLD by a moment.
    pending_seccomp_.push_back({pid, state, seconds, Clock::now() + options_.seccomp_record_wait});
    FlushPendingSeccomp(false);
    return;
  }
  log_.Info(LogLine("end")
                .Add("service", state->name)
                .Add("pid", pid)
                .Add("status", DescribeWaitStatus(status))
                .Add("duration", FormatSeconds(seconds)));
}

void Supervisor::FlushPendingSeccomp(bool all) {
  if (pending_seccomp_.empty()) return;
  seccomp_log_.Drain();
  auto now = Clock::now();
  for (auto it = pending_seccomp_.begin(); it != pending_seccomp_.end();) {
    auto record = seccomp_log_.Take(it->pid);
    if (!record && !all && now < it->deadline && seccomp_log_.available()) {
      ++it;
      continue;
    }
    LogLine line("end");
    line.Add("service", it->state->name).Add("pid", it->pid).Add("status", "seccomp");
    line.Add("syscall", record ? sandbox::SyscallNameForAuditArch(record->arch, record->syscall)
                               : std::string("unknown"));
    line.Add("duration", FormatSeconds(it->seconds));
    log_.Warning(line);
    it = pending_seccomp_.erase(it);
  }
}

void Supervisor::Reload() {
  auto fail = [&](const Error& e) {
    log_.Error(LogLine("reload-failed")
                   .Add("error", e.ToString())
                   .Add("kept", "generation " + std::to_string(generation_)));
  };
  auto config = config::LoadConfig(options_.config_path);
  if (!config.ok()) return fail(config.error());
  auto plans = spawn::BuildPlans(*config, options_.plan_options);
  if (!plans.ok()) return fail(plans.error());
  if (auto s = EnsureEmptyChroot(*config); !s.ok()) return fail(s.error());
  auto listeners = BindNew(*config, listeners_);
  if (!listeners.ok()) return fail(listeners.error());
  size_t count = config->services.size();
  Install(std::make_unique<config::Config>(std::move(*config)), std::move(*plans),
          std::move(*listeners));
  log_.Info(LogLine("reload")
                .Add("generation", generation_)
                .Add("services", count)
                .Add("listeners", listeners_.size()));
}

void Supervisor::BeginStop() {
  if (stopping_) return;
  stopping_ = true;
  // Stop accepting at once: the listening sockets close, so new clients are
  // refused rather than left waiting in a backlog nobody will read.
  for (auto& l : listeners_) {
    Unwatch(l->fd.get());
    listener_by_fd_.erase(l->fd.get());
  }
  listeners_.clear();
  for (const auto& [pid, c] : children_) kill(-pid, SIGTERM);
  stop_deadline_ = Clock::now() + options_.stop_grace;
  log_.Info(LogLine("stop").Add("children", children_.size()));
}

void Supervisor::DumpStatus() {
  log_.Info(LogLine("status")
                .Add("generation", generation_)
                .Add("children", children_.size())
                .Add("max_children", config_->daemon.max_children));
  for (size_t i = 0; i < services_.size(); ++i) {
    const ServiceState& s = *services_[i];
    const config::Service& svc = config_->services[i];
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

}  // namespace hinetd::supervisor
