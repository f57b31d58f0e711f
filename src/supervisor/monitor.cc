#include "supervisor/monitor.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>

#include "base/errno_name.h"
#include "base/fs.h"
#include "config/config.h"
#include "config/system_checks.h"
#include "jail/builder.h"
#include "net/socket.h"
#include "sandbox/caps.h"
#include "sandbox/daemon_filters.h"
#include "supervisor/child_status.h"
#include "supervisor/epoll_util.h"
#include "supervisor/listener.h"
#include "supervisor/wait_idle.h"

namespace hinetd::supervisor {

using base::ErrnoError;
using base::Error;
using base::LogLine;
using base::Result;
using base::Status;
using base::UniqueFd;

std::vector<int> MonitorCapabilities() {
  // CAP_SYS_ADMIN: creating a child's namespaces (clone with CLONE_NEWPID
  // and the like); the monitor's filter keeps what else it would allow
  // (mount, setns, unshare, user namespaces, ...) out of reach.
  // No CAP_SETPCAP: the bounding set is emptied once, here (caps.h), so no
  // child has one to drop.
  return {CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT, CAP_KILL, CAP_SYS_ADMIN};
}

namespace {

// Memory kept back for the moment allocation first fails: the new handler
// gives it back, so that what was being done (often a child's bookkeeping)
// completes, and the monitor knows memory is short. Untouched, it costs
// address space, not resident memory. Without it, the handler throws.
constexpr size_t kMemoryReserve = 1 << 20;
void* g_memory_reserve = nullptr;
bool g_memory_reserve_released = false;

void ReleaseMemoryReserve() {
  if (g_memory_reserve == nullptr) throw std::bad_alloc();
  free(g_memory_reserve);
  g_memory_reserve = nullptr;
  g_memory_reserve_released = true;
}

bool AcquireMemoryReserve() {
  if (g_memory_reserve == nullptr) g_memory_reserve = malloc(kMemoryReserve);
  return g_memory_reserve != nullptr;
}


enum Kind : uint64_t {
  kSignal = 1, kControl = 2, kStderr = 3, kKmsg = 4, kExec = 5, kListenerLog = 6,
  kRecorder = 7, kNotify = 8,  // recorder.h: its socket, and each listener
  kProcEvents = 9, kSyslog = 10
};
uint64_t Tag(Kind k, int fd) { return (static_cast<uint64_t>(k) << 32) | static_cast<uint32_t>(fd); }

constexpr size_t kStderrLineMax = 1024;  // longer lines are split
// What is read from a child's stderr pipe once it has ended, at most.
constexpr size_t kStderrDrainMax = 1 << 20;
// A listener that ran this long before dying starts its back-off afresh.
constexpr auto kListenerStable = std::chrono::seconds(30);
constexpr auto kListenerMaxBackoff = std::chrono::seconds(10);
// Room in the channel's queue beyond one end report per child: handover and
// status messages (one per SIGUSR1).
constexpr size_t kChannelSlack = 64;

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, s);
  return set;
}

// Raises or lowers CAP_NET_BIND_SERVICE in this process's effective set
// (it stays permitted): effective only while binding.
void BindCapability(bool on) {
  capng_get_caps_process();
  capng_update(on ? CAPNG_ADD : CAPNG_DROP, CAPNG_EFFECTIVE, CAP_NET_BIND_SERVICE);
  capng_apply(CAPNG_SELECT_CAPS);
}

// Where a descriptor's socket is bound.
bool LocalOf(int fd, net::Endpoint& ep) {
  ep = net::Endpoint();
  ep.len = sizeof ep.addr;
  return getsockname(fd, reinterpret_cast<sockaddr*>(&ep.addr), &ep.len) == 0;
}

int SockOpt(int fd, int opt) {
  int v = -1;
  socklen_t len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) != 0) return -1;
  return v;
}

// True if the socket has a peer (getpeername succeeds).
bool Connected(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  return getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
}

// True if a datagram socket was shut down (shutdown(2)): it then reads as
// always ready and can never be used again. Polled, never read.
bool ShutDown(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP)) != 0;
}

// True if this process cannot take another descriptor now: then the kernel
// drops those of a message it receives (MSG_CTRUNC) whoever sent them.
bool OutOfDescriptors(int any_fd) {
  int probe = fcntl(any_fd, F_DUPFD_CLOEXEC, 0);
  if (probe >= 0) {
    close(probe);
    return false;
  }
  return errno == EMFILE || errno == ENFILE;
}

// True if a connection whose socket is bound to `local` belongs to a
// listening socket bound to `listening` (equal, or that one a wildcard of
// the same family and port).
bool Belongs(const net::Endpoint& local, const net::Endpoint& listening) {
  if (listening.IsUnix()) return local.IsUnix() && local.UnixPath() == listening.UnixPath();
  if (local.family() != listening.family() || local.port() != listening.port()) return false;
  return listening.IsWildcard() || local == listening;
}

// Namespaces for children need CAP_SYS_ADMIN, which root lacks in most
// containers: an error for the first service that asks for one, saying how
// to do without.
Status NamespacesPossible(const config::Config& config, bool have_sys_admin) {
  if (have_sys_admin) return Status();
  for (const auto& svc : config.services) {
    if (svc.namespaces == 0) continue;
    return Error(svc.loc, "service \"" + svc.name +
                              "\": namespaces (default [\"pid\"]) need CAP_SYS_ADMIN, which "
                              "hinetd does not have here (a container?): give it the "
                              "capability, or set namespaces = [] (in [defaults] for all), and "
                              "what a child starts can then outlive it");
  }
  return Status();
}

// True if `sig` would end `pid` by its default action: neither caught nor
// ignored (SigCgt and SigIgn in /proc/PID/status). Read only when a child
// is stopped (timeout, stop), never per connection.
bool HasJail(const config::Config& config) {
  return std::any_of(config.services.begin(), config.services.end(),
                     [](const config::Service& s) { return s.jail != nullptr; });
}

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

Monitor::Monitor(base::Logger& log, Options options)
    : log_(log), options_(std::move(options)), log_relay_(log, Clock::now()) {}

Monitor::~Monitor() {
  // The relay's socket files go with it (a stale one would only be
  // replaced at the next start).
  syslog_relay_.Close([](int) {});
}

std::optional<std::string> Monitor::ServiceOf(pid_t pid) const {
  if (auto it = children_.find(pid); it != children_.end()) return it->second.service;
  if (const auto* e = process_tree_.Find(pid)) return e->service;
  if (!process_tree_.available()) {
    if (auto found = ChildAncestorFromProc(pid)) return found->first;
  }
  return std::nullopt;
}

Status Monitor::SyncSyslogRelay(const config::Config& config) {
  return syslog_relay_.Sync(
      config, [this](int fd) { Watch(fd, Tag(kSyslog, fd), EPOLLIN); },
      [this](int fd) { epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); });
}

void Monitor::Watch(int fd, uint64_t tag, uint32_t events) {
  EpollSet(epoll_.get(), fd, tag, events);
}

Status Monitor::EnsureEmptyChroot() {
  // The root of every listener, whatever the table holds, and the jail of
  // internal services (shared with `hinetd audit --prove`).
  return config::EnsureEmptyChroot();
}

Status Monitor::BuildJails(const config::Config& config) {
  for (const auto& svc : config.services) {
    if (!svc.jail) continue;
    auto report = jail::BuildJail(*svc.jail);
    if (!report.ok()) return Error(svc.loc, report.error().message());
    char seconds[32];
    snprintf(seconds, sizeof seconds, "%.3fs", report->seconds);
    log_.Info(LogLine("jail")
                  .Add("service", svc.name)
                  .Add("action", report->built ? "built" : "kept")
                  .Add("root", svc.jail->root)
                  .Add("entries", report->entries)
                  .Add("bytes", report->bytes)
                  .Add("duration", seconds));
  }
  return Status();
}

void Monitor::RemoveUnusedJails(const config::Config* previous) {
  // The directories to sweep: the running table's, and the one before's
  // (a reload may have moved jail_dir or dropped the last jail).
  std::set<std::string> dirs;
  for (const config::Config* c : {static_cast<const config::Config*>(config_.get()), previous}) {
    if (c != nullptr && HasJail(*c)) dirs.insert(c->daemon.jail_dir);
  }
  if (dirs.empty()) return;
  std::set<std::string> keep;
  for (const auto& svc : config_->services) {
    if (svc.jail) keep.insert(svc.jail->root);
  }
  for (const auto& [pid, c] : children_) {
    if (!c.chroot.empty()) keep.insert(c.chroot);
  }
  for (const auto& dir : dirs) {
    for (const auto& path : jail::RemoveStaleJails(dir, keep)) {
      log_.Info(LogLine("jail-removed").Add("root", path));
    }
  }
}

Result<SocketList> Monitor::BindNew(const config::Config& config, const SocketList& keep) {
  // Every socket of the new table: the one already bound to the address (a
  // reload keeps it, and its backlog), or a fresh one. On error nothing of
  // the running table has changed; the fresh ones close with the list.
  SocketList out;
  std::vector<bool> taken(keep.size(), false);
  for (size_t i = 0; i < config.services.size(); ++i) {
    const config::Service& svc = config.services[i];
    for (const auto& addr : svc.listen) {
      for (const auto& ep : addr.endpoints) {
        std::shared_ptr<ListenSocket> s;
        for (size_t k = 0; k < keep.size(); ++k) {
          if (!taken[k] && keep[k]->transport == svc.transport && keep[k]->ep == ep) {
            taken[k] = true;
            s = keep[k];
            break;
          }
        }
        if (!s) {
          // A socket systemd passed for this address (used only once: no
          // two services can share one address).
          for (const auto& p : options_.passed_sockets) {
            if (p->transport != svc.transport || !(p->ep == ep)) continue;
            ino_t ino = SocketInode(p->fd.get());
            bool used = std::any_of(out.begin(), out.end(), [&](const auto& o) {
              return SocketInode(o->fd.get()) == ino;
            });
            if (used) continue;
            int copy = fcntl(p->fd.get(), F_DUPFD_CLOEXEC, 3);
            if (copy < 0) {
              return Error(addr.loc, "service \"" + svc.name + "\": " +
                                         ErrnoError("dup of the socket systemd passed, " +
                                                        p->Describe(),
                                                    errno)
                                             .message());
            }
            s = std::make_shared<ListenSocket>();
            s->ep = ep;
            s->transport = svc.transport;
            s->fd.reset(copy);
            s->systemd_fd = p->number;
            break;
          }
        }
        if (s && s->systemd_fd >= 0 && svc.transport == net::Transport::kUdp && !svc.wait) {
          return Error(addr.loc,
                       "service \"" + svc.name + "\": udp nowait cannot serve " +
                           net::ToString(ep) + " on the socket systemd passed (fd " +
                           std::to_string(s->systemd_fd) +
                           "): each peer's datagrams go to a fresh socket hinetd binds to the "
                           "same address, which a socket systemd created does not let it do; "
                           "set wait = true, or remove the address from the .socket unit so "
                           "that hinetd binds it itself");
        }
        if (s && s->systemd_fd < 0 && ep.IsUnix()) {
          // A kept socket keeps its file as it is: its owner and mode are set
          // when it is created (a new owner needs CAP_CHOWN, which hinetd no
          // longer holds), and a reload must not half-apply. lstat: the
          // file at the path itself, never what a symlink points to.
          struct stat st {};
          std::string path = ep.UnixPath();
          if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
              (st.st_uid != svc.unix_file.uid || st.st_gid != svc.unix_file.gid ||
               (st.st_mode & 07777) != svc.unix_file.mode)) {
            log_.Warning(LogLine("warning")
                             .Add("service", svc.name)
                             .Add("message", "socket_user, socket_group and socket_mode of " +
                                                 path +
                                                 " apply when the socket is created; the file "
                                                 "keeps its owner and mode until hinetd "
                                                 "restarts"));
          }
        }
        if (!s) {
          // UDP sockets belong to the listener's account, so that it may
          // bind the fresh socket of a udp nowait handover next to them
          // (SO_REUSEPORT is shared by one uid only).
          auto fd = net::BindListener(ep, svc.transport, options_.listen_backlog, svc.unix_file,
                                      config.daemon.uid);
          if (!fd.ok()) {
            return Error(addr.loc, "service \"" + svc.name + "\": " + fd.error().message());
          }
          s = std::make_shared<ListenSocket>();
          s->ep = ep;
          s->transport = svc.transport;
          s->fd = std::move(*fd);
          if (ep.IsUnix()) {
            // The inode of the file BindListener made, which the stop
            // removes if it is still there: lstat, as a symlink in its
            // place must not stand for the file it points to.
            struct stat st {};
            if (lstat(ep.UnixPath().c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
              s->unix_ino = st.st_ino;
            }
          }
        }
        out.push_back(std::move(s));
      }
    }
  }
  return out;
}

std::vector<const PassedSocket*> Monitor::UnusedPassed(const SocketList& sockets) const {
  std::vector<const PassedSocket*> unused;
  for (const auto& p : options_.passed_sockets) {
    ino_t ino = SocketInode(p->fd.get());
    bool used = std::any_of(sockets.begin(), sockets.end(),
                            [&](const auto& s) { return SocketInode(s->fd.get()) == ino; });
    if (!used) unused.push_back(p.get());
  }
  return unused;
}

void Monitor::Notify(const std::string& state) {
  if (!options_.notifier || !options_.notifier->enabled()) return;
  if (auto s = options_.notifier->Send(state); !s.ok()) {
    log_.Warning(LogLine("warning").Add("message", s.error().message()));
  }
}

void Monitor::OnListenerReady() {
  if (!ready_due_) return;  // a listener restarted after a crash: nothing changed
  ready_due_ = false;
  Notify("READY=1\nSTATUS=" + ready_status_);
}

void Monitor::Install(std::unique_ptr<config::Config> config,
                      std::unique_ptr<spawn::PlanSet> plans, SocketList sockets) {
  // The new table's view of each socket (in the order BindNew made them).
  // Set only now: until the switch, the running listener's requests are
  // checked against the old view.
  size_t n = 0;
  for (size_t i = 0; i < config->services.size(); ++i) {
    for (const auto& addr : config->services[i].listen) {
      for (size_t e = 0; e < addr.endpoints.size(); ++e, ++n) {
        sockets[n]->service = i;
        sockets[n]->wait = config->services[i].wait;
      }
    }
  }
  sockets_ = std::move(sockets);  // sockets no longer listed close here
  services_ = CarryOver(services_, config->services);
  config_ = std::move(config);
  plans_ = std::move(plans);
  plan_identities_.clear();
  for (size_t i = 0; i < config_->services.size(); ++i) {
    const config::Service& svc = config_->services[i];
    std::string identity;
    if (svc.wait) {
      identity = spawn::PlanIdentity(plans_->plans[i]);
      // The timeout too: a running child keeps the deadline it started with.
      identity += "timeout:" + (svc.timeout ? std::to_string(svc.timeout->count()) : "none");
    }
    plan_identities_.push_back(std::make_shared<const std::string>(std::move(identity)));
  }
  served_ports_ = ServedPorts(*config_);
  ++generation_;
  if (recorder_) recorder_->NewGeneration();
  if (channel_) channel_->set_queue_limit(ChannelLimit(), ChannelLimit() * kEndReportWireBytes);
  for (const auto& s : sockets_) {
    const config::Service& svc = config_->services[s->service];
    LogLine line("listen");
    line.Add("service", svc.name)
        .Add("address", net::ToString(s->ep))
        .Add("protocol", net::ProtocolName(s->ep, s->transport));
    if (s->transport == net::Transport::kUdp) line.Add("wait", s->wait ? "true" : "false");
    log_.Info(line);
  }
  for (const auto& w : config_->warnings) log_.Warning(LogLine("warning").Add("message", w));
}

Status Monitor::Start(std::unique_ptr<config::Config> config,
                      std::unique_ptr<spawn::PlanSet> plans) {
  // Signals become data before anything else can send them. Their
  // dispositions first go back to the default: one ignored when hinetd was
  // started (SIGINT by a shell without job control, SIGCHLD by some
  // launchers) would be discarded, blocked or not, and never reach the
  // signalfd; an ignored SIGCHLD would even reap the children itself.
  AcquireMemoryReserve();
  std::set_new_handler(ReleaseMemoryReserve);
  sigset_t handled = HandledSignals();
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigismember(&handled, sig) == 1) signal(sig, SIG_DFL);
  }
  if (sigprocmask(SIG_BLOCK, &handled, nullptr) != 0) return ErrnoError("sigprocmask", errno);
  signal(SIGPIPE, SIG_IGN);
  signal_fd_.reset(signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_) return ErrnoError("signalfd", errno);
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return ErrnoError("epoll_create1", errno);
  Watch(signal_fd_.get(), Tag(kSignal, signal_fd_.get()), EPOLLIN);

  // While still fully root: the kernel log (reading it may need CAP_SYSLOG,
  // checked at open only), the empty jail, the sockets.
  seccomp_log_.Open();
  if (seccomp_log_.available()) {
    for (int fd : {seccomp_log_.fd(), seccomp_log_.audit_fd()}) {
      if (fd >= 0) Watch(fd, Tag(kKmsg, fd), EPOLLIN);
    }
  } else {
    log_.Warning(LogLine("warning").Add(
        "message", "cannot read the kernel's audit records (neither the audit netlink "
                   "socket's read-only group nor /dev/kmsg); seccomp kills will be logged "
                   "without the syscall"));
  }
  // Fork and exit events, to name the service of a killed grandchild
  // (proc_events.h); subscribing needs CAP_NET_ADMIN, held only now.
  process_tree_.Open();
  if (process_tree_.available()) {
    Watch(process_tree_.fd(), Tag(kProcEvents, process_tree_.fd()), EPOLLIN);
  } else if (seccomp_log_.available()) {
    log_.Warning(LogLine("warning").Add(
        "message", "cannot subscribe to the kernel's process events (netlink connector); a "
                   "seccomp kill of a process a child started is attributed through /proc, "
                   "which fails once its parent has reaped it"));
  }
  if (options_.harden_self) {
    capng_get_caps_process();
    have_sys_admin_ = capng_have_capability(CAPNG_PERMITTED, CAP_SYS_ADMIN) != 0;
  }
  if (auto s = NamespacesPossible(*config, have_sys_admin_); !s.ok()) return s;
  if (auto s = EnsureEmptyChroot(); !s.ok()) return s;
  if (auto s = CheckPassedSockets(*config, options_.passed_sockets, options_.config_path);
      !s.ok()) {
    return s;
  }
  jail_caps_ = HasJail(*config);
  if (auto s = BuildJails(*config); !s.ok()) return s;
  auto sockets = BindNew(*config, {});
  if (!sockets.ok()) return sockets.error();
  if (auto s = SyncSyslogRelay(*config); !s.ok()) return s;
  auto filter = sandbox::ListenerFilter();
  if (!filter.ok()) return filter.error();
  listener_filter_ = std::move(*filter);

  if (options_.harden_self) {
    // From here on: what starting children and the listener needs, bounding
    // set included; CAP_NET_BIND_SERVICE not effective (the listener binds).
    std::vector<int> keep = MonitorCapabilities();
    if (!have_sys_admin_) std::erase(keep, CAP_SYS_ADMIN);  // no namespaces, as checked
    // Building a jail again on reload: device nodes and the writable
    // directories' owner. Kept only when some service has a jail.
    if (jail_caps_) {
      keep.push_back(CAP_MKNOD);
      keep.push_back(CAP_CHOWN);
    }
    if (auto s = sandbox::LimitOwnCapabilities(keep); !s.ok()) return s;
    BindCapability(false);
    // The namespace maker (spawn/identity_ns.h) before the monitor's
    // filter, which refuses it what it does; it installs its own.
    auto maker_filter = sandbox::NamespaceMakerFilter();
    if (!maker_filter.ok()) return maker_filter.error();
    auto maker = spawn::NamespaceMaker::Start((*maker_filter)->fprog());
    if (!maker.ok()) return maker.error();
    ns_maker_ = std::move(*maker);
    // A deny list, since every child inherits it (see daemon_filters.h);
    // installing it needs no_new_privs, which children set anyway.
    auto monitor_filter = sandbox::MonitorFilter();
    if (!monitor_filter.ok()) return monitor_filter.error();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (*monitor_filter)->fprog()) != 0) {
      return ErrnoError("installing the monitor's seccomp filter", errno);
    }
    sandbox::NoteDaemonFilterInstalled();
  }
  // Under the monitor's own filter and capabilities, as on every reload.
  if (auto s = spawn::PrepareIdentityNamespaces(*plans, ns_maker_.get()); !s.ok()) return s;
  auto children_filter = sandbox::ChildrenFilter();
  if (!children_filter.ok()) return children_filter.error();
  children_filter_ = std::move(*children_filter);
  auto spawner = spawn::Spawner::Create(0, children_filter_.get());
  if (!spawner.ok()) return spawner.error();
  spawner_ = std::move(*spawner);
  auto recorder = Recorder::Create(log_);
  if (!recorder.ok()) return recorder.error();
  recorder_ = std::move(*recorder);
  recorder_->set_learning(options_.learn_service);
  spawner_->set_notify_socket(recorder_->child_socket());
  if (auto s = recorder_->Arm(*config, *plans); !s.ok()) return s;
  Watch(recorder_->socket(), Tag(kRecorder, recorder_->socket()), EPOLLIN);
  if (spawner_->landlock_abi() < spawn::Spawner::kLandlockMinAbi) {
    log_.Warning(LogLine("warning").Add(
        "message", "no Landlock ABI 2 (Linux 5.19) in this kernel: children that run as the "
                   "same uid without a chroot can read and write each other's memory through "
                   "/proc; give each service a uid of its own"));
  }

  size_t count = config->services.size();
  Install(std::move(config), std::move(plans), std::move(*sockets));
  RemoveUnusedJails(nullptr);
  log_.Info(LogLine("start")
                .Add("version", HINETD_VERSION)
                .Add("services", count)
                .Add("listeners", sockets_.size())
                .Add("max_children", config_->daemon.max_children));
  ready_status_ = "serving " + std::to_string(count) + " services, generation " +
                  std::to_string(generation_);
  if (options_.external_listener_fd >= 0) {
    end_batch_.Clear();
    channel_ = std::make_unique<Channel>(UniqueFd(options_.external_listener_fd));
    channel_->set_queue_limit(ChannelLimit(), ChannelLimit() * kEndReportWireBytes);
    Watch(channel_->fd(), Tag(kControl, channel_->fd()), EPOLLIN);
    Notify("READY=1\nSTATUS=" + ready_status_);
  } else {
    ready_due_ = true;
    StartListener();
  }
  return Status();
}

void Monitor::StartListener() {
  listener_restart_at_ = Clock::time_point::max();
  auto pair = ControlPair();
  if (!pair.ok()) {
    log_.Error(LogLine("listener-failed").Add("error", pair.error().message()));
    listener_restart_at_ = Clock::now() + kListenerMaxBackoff;
    return;
  }
  // The listener starts from the monitor's table: the sockets, the state
  // the last listener handed over, and the children now running (their
  // end reports will come to this listener).
  // With a sink the chrooted listener cannot reach (syslog's /dev/log), its
  // lines come here to be checked and written (log_relay.h). A listener's
  // relay is its own: what an earlier one left in its relay is read first.
  UniqueFd relay_send;
  if (listener_log_) OnListenerLog(/*drain=*/true);
  if (log_.sink() != base::LogSink::kStderr || options_.relay_listener_log) {
    int sv[2];
    // Blocking at the listener's end (a line waits for room rather than
    // being lost), nonblocking at this one.
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0 ||
        fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0) {
      log_.Error(LogLine("listener-failed")
                     .Add("error", ErrnoError("socketpair (log relay)", errno).message()));
      listener_restart_at_ = Clock::now() + kListenerMaxBackoff;
      return;
    }
    listener_log_.reset(sv[0]);
    relay_send.reset(sv[1]);
  }
  ListenerSetup setup;
  setup.config = config_.get();
  setup.log_fd = relay_send.get();
  setup.generation = generation_;
  setup.sockets = sockets_;
  setup.services = services_;
  setup.control_fd = pair->second.get();
  setup.filter = listener_filter_.get();
  setup.monitor_pid = getpid();
  for (auto& s : setup.sockets) s->busy = false;
  for (auto& st : setup.services) {
    st->active = 0;
    st->per_source.clear();
  }
  setup.children = static_cast<int>(children_.size());
  for (const auto& [pid, c] : children_) {
    // A wait child holds its socket whatever its service is called now (a
    // reload may have renamed or removed it): by address, before the lookup.
    if (c.wait) {
      for (auto& s : setup.sockets) {
        if (s->transport == net::Transport::kUdp && s->ep == c.wait_ep) s->busy = true;
      }
    }
    auto st = std::find_if(setup.services.begin(), setup.services.end(),
                           [&](const auto& s) { return s->name == c.service; });
    if (st == setup.services.end()) continue;
    ++(*st)->active;
    if (c.source.len > 0) ++(*st)->per_source[c.source.str()];
  }
  pid_t pid = fork();
  if (pid < 0) {
    listener_log_.reset();
    log_.Error(LogLine("listener-failed").Add("error", ErrnoError("fork", errno).message()));
    listener_restart_at_ = Clock::now() + kListenerMaxBackoff;
    return;
  }
  if (pid == 0) {
    pair->first.release();  // closed by the listener's own descriptor sweep
    listener_log_.release();
    RunListener(std::move(setup), log_);
  }
  relay_send.reset();  // the listener's alone: its relay ends when it does
  if (listener_log_) Watch(listener_log_.get(), Tag(kListenerLog, listener_log_.get()), EPOLLIN);
  listener_pid_ = pid;
  listener_started_ = Clock::now();
  ++listener_starts_;
  end_batch_.Clear();  // reports for the listener before: this one counts from children_
  channel_ = std::make_unique<Channel>(std::move(pair->first));
  channel_->set_queue_limit(ChannelLimit(), ChannelLimit() * kEndReportWireBytes);
  control_out_ = false;
  control_in_ = true;  // the loop's end stops reading while no slot is free
  Watch(channel_->fd(), Tag(kControl, channel_->fd()), EPOLLIN);
  log_.Info(LogLine("listener-start")
                .Add("pid", pid)
                .Add("generation", generation_)
                .Add("user", config_->daemon.user));
}

void Monitor::OnListenerLog(bool drain) {
  if (!listener_log_) return;
  // A fair share per wake-up; all of it when the listener is gone or
  // replaced (bounded: its end is closed, nothing more can come).
  constexpr int kShare = 64;
  using Read = LogRelay::ReadStatus;
  Read status = Read::kMore;
  for (int i = 0; status == Read::kMore && i < (drain ? 4096 : 1); ++i) {
    status = log_relay_.Read(listener_log_.get(), kShare, Clock::now());
  }
  if (status == Read::kClosed || drain) listener_log_.reset();  // also leaves the epoll set
}

void Monitor::OnListenerExit(int status) {
  listener_last_pid_ = listener_pid_;
  listener_pid_ = -1;
  // What it sent before it died is still in the channel: spawn requests for
  // connections it had accepted, and at a reload its state. The SIGCHLD can
  // come before the channel is read; read it all now.
  if (channel_) OnControl(/*drain=*/true);
  channel_.reset();  // also leaves the epoll set
  OnListenerLog(/*drain=*/true);
  if (stopping_) return;
  if (reload_) {
    // It handed over (or died doing so): the reload goes on.
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      log_.Error(LogLine("listener-exit").Add("status", DescribeWaitStatus(status)).Add("during", "reload"));
    }
    FinishReload();
    return;
  }
  // A crash. Sockets, children and the backlog are untouched; start another
  // at once, and back off if they keep dying.
  bool stable = Clock::now() - listener_started_ >= kListenerStable;
  listener_restarts_ = stable ? 1 : listener_restarts_ + 1;
  auto delay = listener_restarts_ <= 1
                   ? std::chrono::milliseconds(0)
                   : std::min<std::chrono::milliseconds>(
                         kListenerMaxBackoff,
                         std::chrono::milliseconds(100 << std::min(listener_restarts_ - 2, 10)));
  LogLine line("listener-exit");
  line.Add("status", DescribeWaitStatus(status));
  if (KilledBySeccomp(status)) {
    // Its own filter killed it: the kernel's audit record names the syscall.
    seccomp_log_.Drain();
    auto record = seccomp_log_.Take(listener_last_pid_);
    line.Add("syscall", record ? sandbox::SyscallNameForAuditArch(record->arch, record->syscall)
                               : std::string("unknown"));
  }
  line.Add("restart_in", FormatSeconds(std::chrono::duration<double>(delay).count()))
      .Add("restarts", listener_restarts_);
  log_.Error(line);
  listener_restart_at_ = Clock::now() + delay;
}

namespace {

// std::visit over a message variant, one lambda per message.
template <typename... F>
struct Handlers : F... {
  using F::operator()...;
};
template <typename... F>
Handlers(F...) -> Handlers<F...>;

// What a request names, whatever its kind.
template <typename R>
Monitor::RequestRef RefOf(const R& r) {
  Monitor::RequestRef ref;
  ref.generation = r.generation;
  ref.service = r.service;
  if constexpr (requires { r.id; }) ref.id = r.id;
  if constexpr (requires { r.source; }) ref.source = r.source;
  return ref;
}

}  // namespace

void Monitor::OnControl(bool drain) {
  // The message is reused (no allocation per message); what a handler did
  // not take of its descriptors closes when this returns, on any path.
  struct CloseLeftovers {
    Channel::Received& msg;
    ~CloseLeftovers() { msg.fds.clear(); }
  } close_leftovers{control_msg_};
  for (int i = 0; (drain || i < 256) && channel_; ++i) {
    // Every slot taken by a child still setting up: the rest waits in the
    // channel (the listener stops accepting when its queue fills), unless
    // the channel must be emptied now (then the pool grows for it).
    if (!spawner_->HasFreeSlot() && !drain) return;
    // While memory is short the requests wait in the channel (see
    // OnOutOfMemory), unless it must be emptied now.
    if (memory_short_ && !drain) return;
    Channel::Received& msg = control_msg_;  // reused: no allocation per message
    auto status = channel_->Recv(msg);
    if (status == Channel::RecvStatus::kAgain) return;
    if (status == Channel::RecvStatus::kClosed) {
      if (options_.external_listener_fd >= 0) {
        BeginStop();
      } else {
        // The listener's end closed; its exit status comes with SIGCHLD.
        channel_.reset();
      }
      return;
    }
    // Descriptors the kernel dropped (more than a message carries, or none
    // could be installed here) cannot be counted: see OnDescriptorsLost.
    bool lost = msg.truncated && !msg.data_truncated;
    ListenerMessage decoded = DecodeFromListener(msg.data, lost ? kFdsLost : msg.fds.size());
    bool stop = false;
    std::visit(Handlers{
                   [&](const DecodeError& e) {
                     // The listener holds the same table and speaks the
                     // same protocol: a message it could not have made.
                     if (e.service && e.generation) {
                       RequestRef ref;
                       ref.service = *e.service;
                       ref.generation = *e.generation;
                       Forged(&ref, e.reason);
                     } else {
                       Forged(nullptr, e.reason);
                     }
                   },
                   [&](const StopMessage&) { stop = true; },
                   [&](const ReadyMessage&) { OnListenerReady(); },
                   [&](const StateMessage& state) { OnState(state.text, msg.data_truncated); },
                   [&](const auto& request) { OnRequest(request, msg, lost, drain); },
               },
               decoded);
    if (stop) return BeginStop();
    msg.fds.clear();  // what the handler did not take closes now (the message is reused)
  }
}

void Monitor::OnState(std::string_view state, bool cut) {
  if (!reload_) return;
  std::string text(state);
  if (cut) {
    // Many services: more than one message holds. What did arrive is
    // kept, whole lines only.
    text.erase(text.rfind('\n') + 1);
    log_.Warning(LogLine("warning").Add(
        "message", "the listener's state was too long; some services' counters restart"));
  }
  ApplySerializedState(text, services_, config_->services);
}

template <typename R>
void Monitor::OnRequest(const R& req, Channel::Received& msg, bool lost, bool grow) {
  // Every request but a socket replacement is answered: by a child's end
  // report, or a refusal's. A handler that answers (or starts a child, or
  // kills the listener) closes the request.
  constexpr bool kReplace = std::is_same_v<R, UdpReplaceSocketRequest>;
  request_open_ = !kReplace;
  RequestRef ref = RefOf(req);
  try {
    if (lost) return OnDescriptorsLost(ref, R::kFds == 2);
    if constexpr (std::is_same_v<R, ConnectionRequest>) OnConnection(req, msg, grow);
    if constexpr (std::is_same_v<R, UdpWaitStartRequest>) OnUdpWaitStart(req, msg, grow);
    if constexpr (std::is_same_v<R, UdpHandoverRequest>) OnUdpHandover(req, msg, grow);
    if constexpr (kReplace) OnUdpReplaceSocket(req, msg);
  } catch (const std::bad_alloc&) {
    // Out of memory before its child started: still answered, so that the
    // listener's counts stay exact.
    msg.fds.clear();  // the connection closes now, not at the next message
    if (request_open_) {
      ++spawn_failures_;  // counted in the episode's spawn-recovered
      SendRefused(ref, Outcome::kRefused);
    }
    throw;  // Run() takes note
  }
}

void Monitor::OnDescriptorsLost(const RequestRef& req, bool swaps_socket) {
  // More descriptors than a message carries were sent (forged), or this
  // process is out of descriptors and the kernel could install none (not
  // the listener's doing).
  if (!OutOfDescriptors(channel_->fd())) return Forged(&req, "too many descriptors");
  if (!swaps_socket) return RefuseExhausted(req, "monitor out of descriptors");
  // The listener has swapped in its fresh socket already, and this
  // process never got it: the two tables differ now. A new listener
  // starts again from this one's (and undoes the old socket's connect).
  request_open_ = false;
  log_.Error(LogLine("refuse-request")
                 .Add("reason", "monitor out of descriptors")
                 .Add("service", static_cast<int64_t>(req.service))
                 .Add("generation", req.generation));
  KillListener("monitor out of descriptors");
}

const config::Service* Monitor::CheckTable(const RequestRef& req, bool answered) {
  // A request sent before a reload switched tables: the listener it came
  // from is gone, or (a test's external one) not told. A replacement has no
  // end report: the next listener finds the broken socket again.
  if (req.generation != generation_) {
    if (!answered) {
      request_open_ = false;
      return nullptr;
    }
    Refuse(req, "stale generation");
    return nullptr;
  }
  // A replacement allocates nothing, and must not be lost (the listener
  // has swapped in its fresh socket): taken even while memory is short.
  if (memory_short_ && answered) {
    RefuseExhausted(req, "monitor out of memory");
    return nullptr;
  }
  if (req.service >= config_->services.size()) {
    Forged(&req, "no such service");
    return nullptr;
  }
  return &config_->services[req.service];
}

std::shared_ptr<ListenSocket> Monitor::DatagramSocketOf(uint32_t service, int fd, ino_t& ino) const {
  // A wait child gets, a handover hands over, and a replacement replaces
  // one of the service's listening sockets itself.
  ino = SocketInode(fd);
  std::shared_ptr<ListenSocket> from;
  for (const auto& s : sockets_) {
    if (s->service == service && ino != 0 && SocketInode(s->fd.get()) == ino) from = s;
  }
  return from;
}

bool Monitor::WaitSocketBusy(const ListenSocket& from) const {
  // The listener watches a wait socket only while no child holds it, and
  // learns that one let go from its end report, sent after it was reaped;
  // it repairs one only then too.
  for (const auto& [pid, c] : children_) {
    if (c.wait && c.wait_ep == from.ep) return true;
  }
  return false;
}

const char* Monitor::CheckFreshSocket(const ListenSocket& from, ino_t old_ino, int fresh) const {
  // The fresh socket of a handover or a replacement takes the old one's
  // place in the monitor's table: a datagram socket bound to exactly the
  // same address, unconnected, and none the monitor holds already (or one
  // child would get a listening socket the table keeps too).
  net::Endpoint fresh_ep;
  if (SockOpt(fresh, SO_TYPE) != SOCK_DGRAM || !LocalOf(fresh, fresh_ep) || !(fresh_ep == from.ep)) {
    return "handover socket is not bound to the service's address";
  }
  ino_t fresh_ino = SocketInode(fresh);
  bool known = fresh_ino == 0 || fresh_ino == old_ino || Connected(fresh);
  for (const auto& s : sockets_) known = known || SocketInode(s->fd.get()) == fresh_ino;
  if (reload_) {
    for (const auto& s : reload_->sockets) known = known || SocketInode(s->fd.get()) == fresh_ino;
  }
  return known ? "handover socket is not a fresh one" : nullptr;
}

bool Monitor::WithinLimits(const RequestRef& req, const config::Service& svc) {
  // Admission is the listener's, but the two limits that bound how many
  // processes a subverted listener could have started are held here too.
  // The listener counts a child until its end report arrives, the monitor
  // until it is reaped, so an honest listener should not meet these; they
  // are refused, not taken as forgery, as the limit holds either way.
  if (children_.size() >= static_cast<size_t>(config_->daemon.max_children)) {
    Refuse(req, "over max_children");
    return false;
  }
  if (svc.max_instances > 0) {
    auto running = running_.find(svc.name);
    if (running != running_.end() && running->second >= svc.max_instances) {
      Refuse(req, "over max_instances");
      return false;
    }
  }
  return true;
}

bool Monitor::AdmitsPeer(const RequestRef& req, const config::Service& svc, const net::Endpoint& peer) {
  // The listener's admission, checked again where it matters most: a peer
  // that allow/deny refuses is never served. (An honest listener never
  // asks: it checked the same table.)
  if (!svc.acl.Admits(peer)) {
    Forged(&req, "peer refused by allow/deny");
    return false;
  }
  if (svc.transport == net::Transport::kUdp &&
      ReflectionRisk(peer, served_ports_, svc.internal != config::Internal::kNone)) {
    Forged(&req, "peer refused by the reflection rules");
    return false;
  }
  return true;
}

// Each handler checks its request against the monitor's own table. A
// request the listener could not have made honestly (it runs the same
// table, from this process) is Forged: the listener is killed. Refuse is
// for what an honest one can meet. The environment, and what admission
// depends on, comes from the descriptor itself: nothing the listener says
// about a peer is believed.

void Monitor::OnConnection(const ConnectionRequest& r, Channel::Received& msg, bool grow) {
  RequestRef req = RefOf(r);
  const config::Service* svc = CheckTable(req, true);
  if (svc == nullptr) return;
  if (svc->transport == net::Transport::kUdp) {
    return Forged(&req, "request does not match the service's protocol");
  }
  int conn = msg.fds[0].get();
  if (SockOpt(conn, SO_TYPE) != SOCK_STREAM) {
    return Forged(&req, "descriptor is not the right kind of socket");
  }
  net::Endpoint local;
  if (SockOpt(conn, SO_ACCEPTCONN) != 0 || !LocalOf(conn, local)) {
    return Forged(&req, "descriptor is not a connection");
  }
  // The listening socket this connection came from.
  std::shared_ptr<ListenSocket> from;
  for (const auto& s : sockets_) {
    if (s->service == r.service && Belongs(local, s->ep)) from = s;
  }
  if (!from) return Forged(&req, "descriptor does not belong to the service");
  if (!WithinLimits(req, *svc)) return;
  spawn::Connection c;
  c.fd = conn;
  if (from->ep.IsUnix()) {
    ucred cred{};
    socklen_t len = sizeof cred;
    getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    c.kind = spawn::Connection::Kind::kUnix;
    c.cred = &cred;
    c.local = &from->ep;
    return StartChild(req, *svc, c, CredString(cred), *from, 0, grow);
  }
  net::Endpoint peer;
  peer.len = sizeof peer.addr;
  if (getpeername(conn, reinterpret_cast<sockaddr*>(&peer.addr), &peer.len) != 0) {
    // A stream connection its client reset (before the listener accepted
    // it, or since) has no peer any more: any client can do that to an
    // honest listener, so it is no proof of forgery. Nothing is left to
    // serve, and no failure of the service's for the listener's loop
    // protection to count.
    return Refuse(req, "connection closed before it was served", Outcome::kClosed);
  }
  if (!AdmitsPeer(req, *svc, peer)) return;
  c.kind = spawn::Connection::Kind::kTcp;
  c.peer = &peer;
  c.local = &local;
  StartChild(req, *svc, c, net::ToString(peer), *from, 0, grow);
}

void Monitor::OnUdpWaitStart(const UdpWaitStartRequest& r, Channel::Received& msg, bool grow) {
  RequestRef req = RefOf(r);
  const config::Service* svc = CheckTable(req, true);
  if (svc == nullptr) return;
  if (svc->transport != net::Transport::kUdp || !svc->wait) {
    return Forged(&req, "request does not match the service's protocol");
  }
  int sock = msg.fds[0].get();
  if (SockOpt(sock, SO_TYPE) != SOCK_DGRAM) {
    return Forged(&req, "descriptor is not the right kind of socket");
  }
  ino_t ino = 0;
  std::shared_ptr<ListenSocket> from = DatagramSocketOf(r.service, sock, ino);
  if (!from) return Forged(&req, "descriptor does not belong to the service");
  if (WaitSocketBusy(*from)) return Forged(&req, "wait socket is busy");
  if (!WithinLimits(req, *svc)) return;
  // The first datagram is peeked at for its source (no byte of it is read).
  net::Endpoint peer;
  net::Endpoint local;
  if (!PeekDatagram(sock, from->ep, peer, local)) {
    // The listener saw one, but another process may share the socket and
    // have read it since: one a wait child left behind (without a PID
    // namespace of its own) can. The service's loss, refused as its
    // failure; nothing to serve.
    return Refuse(req, "no datagram waits on the wait socket");
  }
  if (!AdmitsPeer(req, *svc, peer)) return;
  spawn::Connection c;
  c.fd = sock;
  c.kind = spawn::Connection::Kind::kUdp;
  c.peer = &peer;
  c.local = &local;
  StartChild(req, *svc, c, net::ToString(peer), *from, ino, grow);
}

void Monitor::OnUdpHandover(const UdpHandoverRequest& r, Channel::Received& msg, bool grow) {
  RequestRef req = RefOf(r);
  const config::Service* svc = CheckTable(req, true);
  if (svc == nullptr) return;
  if (svc->transport != net::Transport::kUdp || svc->wait) {
    return Forged(&req, "request does not match the service's protocol");
  }
  int conn = msg.fds[0].get();
  if (SockOpt(conn, SO_TYPE) != SOCK_DGRAM) {
    return Forged(&req, "descriptor is not the right kind of socket");
  }
  ino_t ino = 0;
  std::shared_ptr<ListenSocket> from = DatagramSocketOf(r.service, conn, ino);
  if (!from) return Forged(&req, "descriptor does not belong to the service");
  // The old socket, connected to the peer, goes to the child; so it must
  // be connected.
  if (!Connected(conn)) return Forged(&req, "handover socket is not connected");
  if (const char* bad = CheckFreshSocket(*from, ino, msg.fds[1].get())) return Forged(&req, bad);
  // Taken, not copied: nothing can fail between the check and the swap, so
  // the monitor's table never keeps the old, now connected, socket. Swapped
  // before the limits: the listener has swapped its own.
  from->fd = std::move(msg.fds[1]);  // the old socket goes to the child alone
  if (!WithinLimits(req, *svc)) return;
  net::Endpoint peer;
  peer.len = sizeof peer.addr;
  if (getpeername(conn, reinterpret_cast<sockaddr*>(&peer.addr), &peer.len) != 0) {
    return Refuse(req, "connection closed before it was served", Outcome::kClosed);
  }
  // The datagram that woke the listener must be from the peer the socket
  // was connected to: the child reads it as that peer's.
  net::Endpoint local;
  net::Endpoint head;
  net::Endpoint head_local;
  LocalOf(conn, local);
  if (!PeekDatagram(conn, from->ep, head, head_local) || !(head == peer)) {
    return Forged(&req, "handed-over datagram is not from the socket's peer");
  }
  if (!AdmitsPeer(req, *svc, peer)) return;
  spawn::Connection c;
  c.fd = conn;
  c.kind = spawn::Connection::Kind::kUdp;
  c.peer = &peer;
  c.local = &local;
  StartChild(req, *svc, c, net::ToString(peer), *from, 0, grow);
}

void Monitor::OnUdpReplaceSocket(const UdpReplaceSocketRequest& r, Channel::Received& msg) {
  RequestRef req = RefOf(r);
  const config::Service* svc = CheckTable(req, false);
  if (svc == nullptr) return;
  // For any udp socket: one a wait child shut down may belong to a nowait
  // service since a reload.
  if (svc->transport != net::Transport::kUdp) return Forged(&req, "malformed spawn request");
  int old = msg.fds[0].get();
  if (SockOpt(old, SO_TYPE) != SOCK_DGRAM) {
    return Forged(&req, "descriptor is not the right kind of socket");
  }
  ino_t ino = 0;
  std::shared_ptr<ListenSocket> from = DatagramSocketOf(r.service, old, ino);
  if (!from) return Forged(&req, "descriptor does not belong to the service");
  if (WaitSocketBusy(*from)) return Forged(&req, "wait socket is busy");
  // Only a socket that is truly beyond repair may be replaced.
  if (!ShutDown(old)) return Forged(&req, "replaced socket is not shut down");
  if (const char* bad = CheckFreshSocket(*from, ino, msg.fds[1].get())) return Forged(&req, bad);
  from->fd = std::move(msg.fds[1]);  // the broken one closes with the message
  request_open_ = false;  // a replacement has no end report
  log_.Warning(LogLine("socket-replaced")
                   .Add("service", svc->name)
                   .Add("listen", net::ToString(from->ep)));
}

size_t Monitor::ChannelLimit() const {
  // The listener counts a child until it reads its end report and sends
  // nothing while it counts max_children (a reload may leave it more, all
  // counted): that many reports can wait for it, never more.
  return std::max(static_cast<size_t>(config_->daemon.max_children), children_.size()) +
         kChannelSlack;
}

bool Monitor::MayLogRefusal() {
  if (refusal_log_.TryAcquire(Clock::now())) return true;
  ++refusals_unlogged_;
  return false;
}

void Monitor::SendToListener(const void* msg, size_t len) {
  FlushEnds();  // in order: the reports made before this message go first
  SendNow(msg, len);
}

void Monitor::SendNow(const void* msg, size_t len) {
  if (!channel_) return;
  if (channel_->Send(msg, len) || !channel_->over_limit()) return;  // sent, or the peer is gone
  KillListener("not reading its channel");
}

void Monitor::QueueEnd(const EndReport& end) {
  // No listener (it is being restarted): the next one counts the children
  // that are still running, so nothing is lost.
  if (!channel_) return;
  if (end_batch_.full()) FlushEnds();
  if (channel_) end_batch_.Add(end);
}

void Monitor::FlushEnds() {
  if (end_batch_.empty()) return;
  std::string_view batch = end_batch_.bytes();
  SendNow(batch.data(), batch.size());  // copied if it must wait
  end_batch_.Clear();
}

void Monitor::KillListener(const std::string& reason) {
  LogLine line("listener-kill");
  line.Add("reason", reason);
  if (channel_ && channel_->over_limit()) line.Add("queued", channel_->queued());
  if (options_.external_listener_fd >= 0) {
    line.Add("pid", "external");
  } else {
    // Not running: it died, and this is what it left in the channel.
    line.Add("pid", listener_pid_ > 0 ? listener_pid_ : listener_last_pid_);
  }
  log_.Error(line);
  // Killed before its channel closes, so that it cannot act on the close.
  // Reaped by OnListenerExit: the restart, with its back-off.
  if (listener_pid_ > 0) kill(listener_pid_, SIGKILL);
  // Nothing more from it is read or queued to it, not even what it sent
  // before this: the fresh listener starts from this process's table.
  channel_.reset();
  listener_log_.reset();
  if (listener_pid_ < 0 && options_.external_listener_fd >= 0) {
    BeginStop();  // nothing to kill or restart: as if it had gone
  }
}

void Monitor::Forged(const RequestRef* req, const std::string& reason) {
  request_open_ = false;  // no end report for a forgery: the listener goes
  // The listener holds the same table: a request it could not have made is
  // proof it is no longer the listener. No end report; it is killed.
  LogLine line("refuse-request");
  line.Add("reason", reason);
  if (req != nullptr) {
    line.Add("service", static_cast<int64_t>(req->service)).Add("generation", req->generation);
  }
  log_.Error(line);
  KillListener("forged request");
}

void Monitor::Refuse(const RequestRef& req, const std::string& reason, Outcome outcome) {
  // The end report keeps the listener's counts exact.
  if (MayLogRefusal()) {
    LogLine line("refuse-request");
    line.Add("reason", reason)
        .Add("service", static_cast<int64_t>(req.service))
        .Add("generation", req.generation);
    if (refusals_unlogged_ > 0) line.Add("suppressed", refusals_unlogged_);
    refusals_unlogged_ = 0;
    log_.Warning(line);
  }
  SendRefused(req, outcome);
}

void Monitor::RefuseExhausted(const RequestRef& req, const std::string& reason) {
  // A system limit: said once per episode, like spawn-failed (the same
  // count; the next spawn that succeeds ends it).
  if (spawn_failures_++ == 0) {
    log_.Error(LogLine("refuse-request")
                   .Add("reason", reason)
                   .Add("service", static_cast<int64_t>(req.service))
                   .Add("generation", req.generation));
  }
  SendRefused(req, Outcome::kRefused);
}

void Monitor::SendRefused(const RequestRef& req, Outcome outcome) {
  request_open_ = false;
  EndReport end;
  end.generation = generation_;
  if (req.service < config_->services.size() && req.generation == generation_) {
    end.service = req.service;
  }
  end.source = req.source;
  end.outcome = outcome;
  end.request = req.id;
  QueueEnd(end);
}

void Monitor::StartChild(const RequestRef& req, const config::Service& svc,
                         const spawn::Connection& c, const std::string& peer_text,
                         const ListenSocket& from, ino_t wait_ino, bool grow) {
  bool wait = wait_ino != 0;
  const spawn::SpawnPlan& plan = plans_->plans[req.service];
  Child child;
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
  // before the clone (the nodes with placeholder keys, taken out again):
  // once the child exists nothing may fail, or it would run untracked.
  int& running = running_.try_emplace(svc.name, 0).first->second;
  children_.reserve(children_.size() + 1);
  exec_owner_.reserve(exec_owner_.size() + 1);
  auto child_node = children_.extract(children_.try_emplace(0).first);
  auto exec_node = exec_owner_.extract(exec_owner_.try_emplace(-1, 0).first);
  auto setup_node = setup_deadlines_.extract(setup_deadlines_.emplace(Clock::time_point::max(), 0));
  Deadlines::node_type deadline_node;
  if (svc.timeout) deadline_node = deadlines_.extract(deadlines_.emplace(Clock::time_point::max(), 0));
  auto started = spawner_->Start(plan, c, grow);
  auto add_peer = [&](LogLine& line) {
    if (config_->daemon.log_peers) line.Add("peer", peer_text);
  };
  if (!started.ok()) {
    if (running == 0) running_.erase(svc.name);  // made above, for nothing
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
  // says how the setup went. No allocation from here (see above).
  request_open_ = false;  // its end report comes when it is reaped
  pid_t pid = started->pid;
  ++running;
  if (svc.timeout) {
    deadline_node.key() = child.started + *svc.timeout;
    deadline_node.mapped() = pid;
    child.deadline = deadlines_.insert(std::move(deadline_node));
  }
  setup_node.key() = child.started + options_.setup_timeout;
  setup_node.mapped() = pid;
  child.setup_deadline = setup_deadlines_.insert(std::move(setup_node));
  child.stderr_fd = started->stderr_pipe.release();
  child.exec_slot = started->slot;
  child.exec_fd = started->status_fd;
  exec_node.key() = child.exec_fd;
  exec_node.mapped() = pid;
  exec_owner_.insert(std::move(exec_node));
  Watch(child.exec_fd, Tag(kExec, child.exec_fd), EPOLLIN);
  child_node.key() = pid;
  child_node.mapped() = std::move(child);
  children_.insert(std::move(child_node));
  if (spawn_failures_ > 0) {
    log_.Info(LogLine("spawn-recovered").Add("service", svc.name).Add("failed", spawn_failures_));
    spawn_failures_ = 0;
  }
}

void Monitor::FinishExec(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end() || it->second.exec_slot < 0) return;
  Child& c = it->second;
  // Out of epoll before Finish closes it: a child cloned meanwhile may
  // still hold a copy of the descriptor for a moment (until its step 4),
  // which would keep a registration alive.
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.exec_fd, nullptr);
  auto done = spawner_->Finish(c.exec_slot);  // closes exec_fd when over
  if (!done) {
    // Not over yet (an event meant for a descriptor number that a setup
    // just ended had, and this one took): its own EOF will come.
    Watch(c.exec_fd, Tag(kExec, c.exec_fd), EPOLLIN);
    return;
  }
  const auto* result = &*done;
  exec_owner_.erase(c.exec_fd);
  c.exec_slot = -1;
  c.exec_fd = -1;
  if (c.setup_deadline) {
    setup_deadlines_.erase(*c.setup_deadline);
    c.setup_deadline.reset();
  }
  // The plans may go now (a reload replaced them); the table stays with the
  // child for its log lines.
  c.plans.reset();
  const config::Service& svc = c.config->services[c.service_index];
  auto add_peer = [&](LogLine& line) {
    if (config_->daemon.log_peers) line.Add("peer", c.peer);
  };
  if (result->failed() || c.setup_timed_out) {
    c.setup_failed = true;
    if (--running_[c.service] <= 0) running_.erase(c.service);
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
    Watch(c.stderr_fd, Tag(kStderr, c.stderr_fd), EPOLLIN);
    stderr_owner_[c.stderr_fd] = pid;
  }
  int active = running_[c.service];
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

void Monitor::FinishOrphanSlots() {
  for (auto it = orphan_slots_.begin(); it != orphan_slots_.end();) {
    it = spawner_->Finish(*it) ? orphan_slots_.erase(it) : it + 1;
  }
}

void Monitor::Terminate(pid_t pid, const Child& c) {
  if (c.exec_slot >= 0) {
    // Still setting up: not the service yet, and perhaps without its own
    // process group. Nothing to give grace to.
    spawner_->Abort(c.exec_slot);
    return;
  }
  kill(-pid, SIGTERM);
  if (c.pid_namespace && EndsByDefault(pid, SIGTERM)) kill(pid, SIGKILL);
}

void Monitor::SendEnd(const Child& c, Outcome outcome, int status, Clock::duration lifetime) {
  EndReport end;
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

uint32_t Monitor::ReportIndex(const Child& c) const {
  if (c.config == config_) return static_cast<uint32_t>(c.service_index);
  // A child from before a reload: its service's index in this table, found
  // by name (only children that outlived a reload get here), or none.
  for (size_t i = 0; i < config_->services.size(); ++i) {
    if (config_->services[i].name == c.service) return static_cast<uint32_t>(i);
  }
  return kNoService;
}

int Monitor::NextTimeoutMs() const {
  Clock::time_point next = Clock::time_point::max();
  for (const auto& p : pending_seccomp_) next = std::min(next, p.deadline);
  if (!deadlines_.empty()) next = std::min(next, deadlines_.begin()->first);
  if (!setup_deadlines_.empty()) next = std::min(next, setup_deadlines_.begin()->first);
  if (!orphan_slots_.empty()) next = std::min(next, Clock::now() + std::chrono::milliseconds(100));
  if (!stopping_) next = std::min(next, next_idle_check_);
  if (stopping_) next = std::min(next, stop_deadline_);
  if (!stopping_) next = std::min(next, options_.stop_at);
  if (reload_) next = std::min(next, handover_deadline_);
  if (memory_short_) next = std::min(next, memory_retry_at_);
  if (listener_pid_ < 0 && !stopping_) next = std::min(next, listener_restart_at_);
  next = std::min(next, log_relay_.next_report());
  next = std::min(next, syslog_relay_.next_report());
  if (next == Clock::time_point::max()) return -1;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(ms + 1, 0, 60'000));
}

int Monitor::Run() {
  epoll_event events[64];
  for (;;) {
    if (stopping_ && children_.empty() && pending_seccomp_.empty() && listener_pid_ < 0) break;
    int n = epoll_wait(epoll_.get(), events, 64, NextTimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      log_.Error(LogLine("error").Add("message", ErrnoError("epoll_wait", errno).message()));
      return 71;
    }
    // Out of memory anywhere in an iteration: what failed is dropped (a
    // request is refused first, see OnControl), the monitor goes on, and
    // the events not handled come again (level-triggered).
    bool go_on = true;
    try {
      go_on = RunOnce(events, n);
    } catch (const std::bad_alloc&) {
      OnOutOfMemory();
    }
    if (g_memory_reserve_released) {
      g_memory_reserve_released = false;
      OnOutOfMemory();
    }
    if (!go_on) break;
  }
  FlushPendingSeccomp(true);
  log_.Info(LogLine("stop").Add("status", "done"));
  return 0;
}

void Monitor::OnOutOfMemory() {
  if (!memory_short_) {
    memory_short_ = true;
    // Said once, without allocating: the episode's end says how many
    // requests it refused.
    log_.WriteFixed("event=memory-short process=monitor", LOG_ERR);
  }
  memory_retry_at_ = Clock::now() + std::chrono::milliseconds(100);
}

bool Monitor::RunOnce(const epoll_event* events, int n) {
  if (memory_short_ && Clock::now() >= memory_retry_at_) {
    if (AcquireMemoryReserve()) {
      memory_short_ = false;
      log_.Info(LogLine("memory-recovered").Add("process", "monitor"));
    } else {
      memory_retry_at_ = Clock::now() + std::chrono::milliseconds(100);
    }
  }
  for (int i = 0; i < n; ++i) {
    uint64_t tag = events[i].data.u64;
    int fd = static_cast<int>(tag & 0xffffffffu);
    switch (static_cast<Kind>(tag >> 32)) {
      case kSignal: OnSignal(); break;
      case kKmsg:
        seccomp_log_.Drain();
        LogDescendantKills();
        break;
      case kProcEvents: DrainProcessTree(); break;
      case kControl:
        if (channel_ && fd == channel_->fd()) {
          if (events[i].events & EPOLLOUT) channel_->Flush();
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnControl(false);
        }
        break;
      case kStderr: OnStderr(fd); break;
      case kExec:
        if (auto owner = exec_owner_.find(fd); owner != exec_owner_.end()) {
          FinishExec(owner->second);
        }
        break;
      case kListenerLog:
        if (listener_log_ && fd == listener_log_.get()) OnListenerLog(false);
        break;
      case kRecorder:
        for (int listener : recorder_->Receive([this](pid_t pid) -> const std::string* {
               auto c = children_.find(pid);
               return c == children_.end() ? nullptr : &c->second.service;
             })) {
          Watch(listener, Tag(kNotify, listener), EPOLLIN);
        }
        break;
      case kNotify:
        if (events[i].events & EPOLLIN) recorder_->OnNotify(fd);
        if (events[i].events & (EPOLLHUP | EPOLLERR)) recorder_->Close(fd);
        break;
      case kSyslog:
        if (syslog_relay_.owns(fd)) {
          // The sender's fork event precedes its message (proc_events.h).
          DrainProcessTree();
          syslog_relay_.Read(fd, 64, [this](pid_t pid) { return ServiceOf(pid); },
                             Clock::now());
        }
        break;
    }
  }
  if (!stopping_ && (Clock::now() >= options_.stop_at ||
                     (options_.learn_connections > 0 &&
                      recorder_->ended() >= options_.learn_connections))) {
    BeginStop();
  }
  FlushPendingSeccomp(false);
  EnforceTimeouts();
  if (!stopping_) CheckStaleChildren();
  if (!orphan_slots_.empty()) FinishOrphanSlots();
  auto now = Clock::now();
  log_relay_.ReportDrops(now);
  syslog_relay_.ReportDrops(now);
  if (reload_ && now >= handover_deadline_ && listener_pid_ > 0) {
    // The listener did not hand over in time: it goes, the reload goes on
    // (its state is lost, its children are not).
    kill(listener_pid_, SIGKILL);
    handover_deadline_ = Clock::time_point::max();
  }
  if (!stopping_ && listener_pid_ < 0 && !reload_ && options_.external_listener_fd < 0 &&
      now >= listener_restart_at_) {
    StartListener();
  }
  if (stopping_ && !killed_ && now >= stop_deadline_) {
    // Grace is over: KILL what is left, each child's whole process group,
    // and the child itself (the init of its PID namespace takes the rest).
    for (const auto& [pid, c] : children_) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
    if (listener_pid_ > 0) kill(listener_pid_, SIGKILL);
    killed_ = true;
    stop_deadline_ = now + options_.stop_grace;
  } else if (stopping_ && killed_ && now >= stop_deadline_) {
    log_.Error(LogLine("stop").Add("message", "children did not exit after SIGKILL")
                   .Add("children", children_.size()));
    return false;
  }
  if (reload_queued_ && !reload_ && !stopping_) {
    // The reload that was running when a SIGHUP came is done: load the
    // file as it is now.
    reload_queued_ = false;
    Reload();
  }
  // The iteration's end reports go out together: one message, one wakeup
  // of the listener (QueueEnd).
  FlushEnds();
  // Reading the channel only while a spawn slot is free; writable
  // interest only while messages wait for the listener's buffer.
  bool want_in = spawner_->HasFreeSlot() && !memory_short_;
  if (channel_ && (channel_->pending() != control_out_ || want_in != control_in_)) {
    control_out_ = channel_->pending();
    control_in_ = want_in;
    Watch(channel_->fd(), Tag(kControl, channel_->fd()),
          (control_in_ ? static_cast<uint32_t>(EPOLLIN) : 0u) |
              (control_out_ ? static_cast<uint32_t>(EPOLLOUT) : 0u));
  }
  return true;
}

void Monitor::OnSignal() {
  for (int i = 0; i < 64; ++i) {
    signalfd_siginfo info{};
    ssize_t n = read(signal_fd_.get(), &info, sizeof info);
    if (n != static_cast<ssize_t>(sizeof info)) return;
    switch (info.ssi_signo) {
      case SIGCHLD: Reap(); break;
      case SIGHUP:
        if (!options_.learn_service.empty()) {
          log_.Info(LogLine("reload-ignored").Add("reason", "learning"));
        } else if (!stopping_) {
          Reload();
        }
        break;
      case SIGTERM:
      case SIGINT: BeginStop(); break;
      case SIGUSR1: DumpStatus(); break;
      default: break;
    }
  }
}

void Monitor::LogStderrLine(Child& c, pid_t pid, std::string_view line, Clock::time_point now) {
  if (!c.stderr_stream) c.stderr_stream.emplace(stderr_limiter_.Open(c.service, now));
  if (stderr_limiter_.Admit(*c.stderr_stream, now)) {
    log_.Info(LogLine("stderr").Add("service", c.service).Add("pid", pid).Add("line", line));
  }
  ReportStderrSuppressed(c, pid, now, /*closing=*/false);
}

void Monitor::ReportStderrSuppressed(Child& c, pid_t pid, Clock::time_point now, bool closing) {
  if (!c.stderr_stream) return;
  uint64_t lines = stderr_limiter_.TakeReport(*c.stderr_stream, now, closing);
  if (lines == 0) return;
  log_.Warning(LogLine("stderr-suppressed")
                   .Add("service", c.service)
                   .Add("pid", pid)
                   .Add("lines", static_cast<int64_t>(lines)));
}

void Monitor::LogStderrLines(Child& c, pid_t pid, Clock::time_point now, bool final) {
  std::string_view rest = c.stderr_partial;
  std::string_view line;
  while (size_t used = NextStderrLine(rest, kStderrLineMax, final, line)) {
    LogStderrLine(c, pid, line, now);
    rest.remove_prefix(used);
  }
  c.stderr_partial.erase(0, c.stderr_partial.size() - rest.size());
}

void Monitor::OnStderr(int fd) {
  auto owner = stderr_owner_.find(fd);
  if (owner == stderr_owner_.end()) return;
  pid_t pid = owner->second;
  Child& c = children_.at(pid);
  // One read per wakeup: a child that writes without end gets its turn
  // like every other descriptor, and costs here the scan of these bytes
  // (its lines past the rate are only counted); what is kept between reads
  // is less than one line's limit.
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    CloseStderr(c, pid);
    return;
  }
  c.stderr_partial.append(buf, static_cast<size_t>(n));
  LogStderrLines(c, pid, Clock::now(), /*final=*/false);
}

void Monitor::CloseStderr(Child& c, pid_t pid) {
  if (c.stderr_fd < 0) return;
  // Whatever is still in the pipe belongs to the child's last words: read
  // to its end (the pipe is non-blocking), up to the most an unprivileged
  // child can make its pipe hold (F_SETPIPE_SZ up to pipe-max-size, 1 MiB
  // by default). A descendant still writing past that meets a closed pipe.
  char buf[4096];
  auto now = Clock::now();
  for (size_t drained = 0; drained < kStderrDrainMax;) {
    ssize_t n = read(c.stderr_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
    c.stderr_partial.append(buf, static_cast<size_t>(n));
    LogStderrLines(c, pid, now, /*final=*/false);
  }
  LogStderrLines(c, pid, now, /*final=*/true);
  if (c.stderr_stream) {
    ReportStderrSuppressed(c, pid, now, /*closing=*/true);
    stderr_limiter_.Close(*c.stderr_stream, now);
    c.stderr_stream.reset();
  }
  stderr_owner_.erase(c.stderr_fd);
  close(c.stderr_fd);  // also removes it from the epoll set
  c.stderr_fd = -1;
}

void Monitor::Reap() {
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
    if (pid == listener_pid_) {
      OnListenerExit(status);
    } else {
      EndChild(pid, status);  // an old listener after a handover is simply gone
    }
  }
}

void Monitor::OnChildStopped(pid_t pid, int sig) {
  auto it = children_.find(pid);
  if (it != children_.end() && it->second.idle_stop_sent && it->second.exec_slot < 0) {
    FinishIdleStop(pid, it->second);
    return;
  }
  if (it == children_.end() || it->second.exec_slot < 0) return;  // a service may stop
  FinishExec(pid);  // executed just before it stopped?
  Child& c = it->second;
  if (c.exec_slot < 0 || c.setup_timed_out) return;
  c.setup_timed_out = true;
  c.setup_stop_signal = sig;
  spawner_->Abort(c.exec_slot);  // SIGKILL ends a stopped process too
}

void Monitor::EnforceTimeouts() {
  auto now = Clock::now();
  while (!setup_deadlines_.empty() && setup_deadlines_.begin()->first <= now) {
    pid_t pid = setup_deadlines_.begin()->second;
    setup_deadlines_.erase(setup_deadlines_.begin());
    auto it = children_.find(pid);
    if (it == children_.end()) continue;
    Child& c = it->second;
    c.setup_deadline.reset();
    if (c.exec_slot < 0) continue;
    FinishExec(pid);  // its EOF may be waiting, unread, in this very loop
    if (c.exec_slot < 0 || c.setup_timed_out) continue;
    // Not executed in time: killed, and counted as a failed setup when it
    // is reaped (its slot is free then).
    c.setup_timed_out = true;
    spawner_->Abort(c.exec_slot);
  }
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    pid_t pid = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto it = children_.find(pid);
    if (it == children_.end()) continue;  // cannot happen: EndChild erases the entry
    Child& c = it->second;
    c.deadline.reset();
    // The whole process group (and, in its own PID namespace, everything
    // the child started, whatever its sessions and groups).
    if (!c.timed_out && !c.stale_ended) {
      c.timed_out = true;
      Terminate(pid, c);
      c.deadline = deadlines_.emplace(now + options_.kill_grace, pid);
    } else {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
  }
}

void Monitor::EndChild(pid_t pid, int status) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  // Reaped, so its setup is over: the pipe has its EOF (a process closes
  // its files before it can be reaped).
  if (it->second.exec_slot >= 0) {
    FinishExec(pid);
    if (it->second.exec_slot >= 0) {
      // Cannot happen; if it did, the slot is not reused before its EOF.
      orphan_slots_.push_back(it->second.exec_slot);
      epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.exec_fd, nullptr);
      exec_owner_.erase(it->second.exec_fd);
      if (it->second.setup_deadline) setup_deadlines_.erase(*it->second.setup_deadline);
      it->second.exec_slot = -1;
      it->second.setup_failed = true;
      if (--running_[it->second.service] <= 0) running_.erase(it->second.service);
    }
  }
  Child& c = it->second;
  if (c.deadline) deadlines_.erase(*c.deadline);
  CloseStderr(c, pid);
  auto lifetime = Clock::now() - c.started;
  double seconds = std::chrono::duration<double>(lifetime).count();
  if (!c.setup_failed) {
    if (--running_[c.service] <= 0) running_.erase(c.service);
    LogEnd(pid, status, c, seconds);
  }
  Outcome outcome = c.setup_failed ? Outcome::kSetupFailed
                    : c.timed_out  ? Outcome::kTimedOut
                    : c.stale_ended ? Outcome::kReplaced
                                   : Outcome::kExited;
  SendEnd(c, outcome, status, lifetime);
  children_.erase(it);
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
    // The kernel's audit record may trail the SIGCHLD by a moment.
    pending_seccomp_.push_back(
        {pid, c.service, seconds, Clock::now() + options_.seccomp_record_wait});
    FlushPendingSeccomp(false);
    return;
  }
  log_.Info(LogLine("end")
                .Add("service", c.service)
                .Add("pid", pid)
                .Add("status", DescribeWaitStatus(status))
                .Add("duration", FormatSeconds(seconds)));
}

void Monitor::FlushPendingSeccomp(bool all) {
  if (pending_seccomp_.empty()) return;
  seccomp_log_.Drain();
  LogDescendantKills();
  auto now = Clock::now();
  for (auto it = pending_seccomp_.begin(); it != pending_seccomp_.end();) {
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
    it = pending_seccomp_.erase(it);
  }
}

void Monitor::DrainProcessTree() {
  auto now = Clock::now();
  process_tree_.Drain(
      [this](pid_t pid) -> std::optional<std::string> {
        auto it = children_.find(pid);
        if (it == children_.end()) return std::nullopt;
        return it->second.service;
      },
      now);
  uint64_t lost = process_tree_.TakeLost();
  uint64_t overflow = process_tree_.TakeOverflow();
  if (lost + overflow == 0) return;
  process_tree_unsure_until_ = now + ProcessTree::kRetention;
  if (process_tree_warning_.TryAcquire(now)) {
    log_.Warning(LogLine("process-events-lost")
                     .Add("lost", static_cast<int64_t>(lost))
                     .Add("table_full", static_cast<int64_t>(overflow)));
  }
}

std::optional<std::pair<std::string, pid_t>> Monitor::ChildAncestorFromProc(pid_t pid) const {
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

void Monitor::LogDescendantKills() {
  // The fork events of a killed process are queued before its record can
  // be (proc_events.h): read them all first.
  DrainProcessTree();
  auto records = seccomp_log_.TakeUnclaimed([this](pid_t pid) {
    if (children_.count(pid) != 0 || pid == listener_pid_ || pid == listener_last_pid_) {
      return true;
    }
    return std::any_of(pending_seccomp_.begin(), pending_seccomp_.end(),
                       [pid](const PendingEnd& p) { return p.pid == pid; });
  });
  auto now = Clock::now();
  for (const auto& r : records) {
    // A trial policy's logged call (SECCOMP_RET_LOG) was allowed: not a kill.
    if (!r.killed()) continue;
    std::string name = sandbox::SyscallNameForAuditArch(r.arch, r.syscall);
    if (const auto* e = process_tree_.Find(r.pid)) {
      LogLine line("seccomp");
      line.Add("service", e->service).Add("pid", r.pid).Add("child", e->child);
      if (!r.comm.empty()) line.Add("comm", r.comm);
      line.Add("syscall", name).Add("nr", r.syscall);
      log_.Warning(line);
      continue;
    }
    // Not in the table. Where the table is complete, the process was not
    // started by any child: a kill elsewhere on the system, none of
    // hinetd's business.
    bool sure = process_tree_.available() && now >= process_tree_unsure_until_;
    if (sure) continue;
    if (auto found = ChildAncestorFromProc(r.pid)) {
      LogLine line("seccomp");
      line.Add("service", found->first).Add("pid", r.pid).Add("child", found->second);
      if (!r.comm.empty()) line.Add("comm", r.comm);
      line.Add("syscall", name).Add("nr", r.syscall);
      log_.Warning(line);
      continue;
    }
    // Gone, and no table to ask: said, not hidden, when it may be one of
    // ours (the uid of some service).
    bool service_uid = false;
    if (config_) {
      for (const auto& svc : config_->services) {
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

void Monitor::MarkStaleWaitChildren() {
  bool any = false;
  for (auto& [pid, c] : children_) {
    if (!c.wait || c.stale_ended) continue;
    // Fresh only if a service of the same name still serves its address
    // as a wait service, from a plan the same as the child's.
    bool fresh = false;
    for (size_t i = 0; i < config_->services.size() && !fresh; ++i) {
      const config::Service& svc = config_->services[i];
      if (svc.name != c.service || !svc.wait || !c.plan_identity ||
          *plan_identities_[i] != *c.plan_identity) {
        continue;
      }
      for (const auto& s : sockets_) {
        if (s->service == i && s->transport == net::Transport::kUdp && s->ep == c.wait_ep) {
          fresh = true;
        }
      }
    }
    c.stale = !fresh;
    any = any || c.stale;
  }
  if (any) next_idle_check_ = std::min(next_idle_check_, Clock::now());
}

int Monitor::WaitSocketFd(const Child& c) const {
  for (const auto& s : sockets_) {
    if (s->transport == net::Transport::kUdp && c.wait_ino != 0 &&
        SocketInode(s->fd.get()) == c.wait_ino) {
      return s->fd.get();
    }
  }
  return -1;
}

void Monitor::CheckStaleChildren() {
  auto now = Clock::now();
  if (now < next_idle_check_) return;
  next_idle_check_ = Clock::time_point::max();
  bool pending = false;
  for (auto& [pid, c] : children_) {
    if (c.idle_stop_sent) {
      pending = true;
      if (now < c.idle_stop_deadline) {
        next_idle_check_ = std::min(next_idle_check_, c.idle_stop_deadline);
        continue;
      }
      // No stop report in time (it may have come and gone unseen): the
      // state says.
      if (ProcessState(pid) == 'T') {
        FinishIdleStop(pid, c);
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
    int fd = WaitSocketFd(c);
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
    c.idle_stop_deadline = now + options_.idle_stop_wait;
    next_idle_check_ = std::min(next_idle_check_, c.idle_stop_deadline);
  }
  if (pending) next_idle_check_ = std::min(next_idle_check_, now + options_.idle_check_period);
}

void Monitor::FinishIdleStop(pid_t pid, Child& c) {
  c.idle_stop_sent = false;
  // Stopped in its receive, a blocked call is interrupted and would be
  // restarted; stopped just after a receive that took a datagram, it shows
  // the same call: only a mark of what was taken off the socket tells
  // those apart (wait_idle.h). A mark that moved lets it go on; it is
  // looked at again at the next period.
  bool idle = c.stale && !c.stale_ended && c.exec_slot < 0 && !c.timed_out;
  int fd = WaitSocketFd(c);
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
                .Add("generation", generation_));
  // TERM to its group while it is stopped (one that leaves TERM at its
  // default ends at once, without running on), then CONT so that one that
  // catches TERM can act on it; KILL after kill_grace.
  Terminate(pid, c);
  kill(-pid, SIGCONT);
  kill(pid, SIGCONT);
  auto now = Clock::now();
  if (c.deadline) deadlines_.erase(*c.deadline);
  c.deadline = deadlines_.emplace(now + options_.kill_grace, pid);
}

void Monitor::Reload() {
  if (reload_) {
    // Not dropped: the file may have changed again since this reload read it.
    if (!reload_queued_) {
      log_.Info(LogLine("reload-queued").Add("reason", "a reload is in progress"));
    }
    reload_queued_ = true;
    return;
  }
  Notify(ReloadingState());
  auto fail = [&](const Error& e) {
    log_.Error(LogLine("reload-failed")
                   .Add("error", e.ToString())
                   .Add("kept", "generation " + std::to_string(generation_)));
    // Still serving, the old table: ready again, and the status says why
    // nothing changed (systemctl status shows it).
    std::string why = e.ToString();
    std::replace(why.begin(), why.end(), '\n', ' ');
    Notify("READY=1\nSTATUS=reload failed, generation " + std::to_string(generation_) +
           " kept: " + why);
  };
  auto table = spawn::LoadTable(options_.config_path, options_.plan_options);
  if (!table.ok()) return fail(table.error());
  if (auto s = recorder_->Arm(*table->config, *table->plans); !s.ok()) return fail(s.error());
  if (auto s = spawn::PrepareIdentityNamespaces(*table->plans, ns_maker_.get()); !s.ok()) return fail(s.error());
  if (auto s = NamespacesPossible(*table->config, have_sys_admin_); !s.ok()) {
    return fail(s.error());
  }
  auto& config = table->config;
  if (config->daemon.uid != config_->daemon.uid) {
    return fail(Error("[daemon] user cannot change on a reload (the listener's account); "
                      "restart hinetd"));
  }
  if (auto s = EnsureEmptyChroot(); !s.ok()) return fail(s.error());
  if (options_.harden_self && !jail_caps_ && HasJail(*config)) {
    return fail(Error("a jail needs CAP_MKNOD and CAP_CHOWN, which hinetd gave up at start "
                      "because no service had a jail then; restart hinetd"));
  }
  // A tree that fails to build leaves the running ones, and the table, as
  // they are; one that is built stays for the next try.
  if (auto s = BuildJails(*config); !s.ok()) return fail(s.error());
  if (options_.harden_self) BindCapability(true);
  auto sockets = BindNew(*config, sockets_);
  if (options_.harden_self) BindCapability(false);
  if (!sockets.ok()) return fail(sockets.error());
  if (auto s = SyncSyslogRelay(*config); !s.ok()) return fail(s.error());
  for (const PassedSocket* p : UnusedPassed(*sockets)) {
    // The table moved a socket-activated service elsewhere (hinetd bound
    // the new address itself) or removed it: systemd's socket stays open
    // here, unused, for a later reload to take again.
    log_.Warning(LogLine("warning").Add(
        "message", "the socket systemd passed as " + p->Describe() +
                       " matches no listen address of the new table; it stays open but is "
                       "not served (update the .socket unit to match " +
                       options_.config_path + ")"));
  }
  // Everything is ready. The running listener hands over its state and
  // exits; connections wait in the backlog for the one started next.
  reload_ = PendingReload{std::move(table->config), std::move(table->plans), std::move(*sockets)};
  if (listener_pid_ > 0) {
    // A listener whose channel is already closed (it is exiting, or was
    // killed) is waited for too: two must never run at once.
    handover_deadline_ = Clock::now() + options_.handover_wait;
    HandoverMessage handover;
    SendToListener(&handover, sizeof handover);
  } else {
    FinishReload();
  }
}

void Monitor::FinishReload() {
  if (!reload_) return;
  PendingReload pending = std::move(*reload_);
  reload_.reset();
  handover_deadline_ = Clock::time_point::max();
  size_t count = pending.config->services.size();
  // Children still setting up keep the plans they read (Child::plans).
  std::shared_ptr<const config::Config> previous = config_;
  Install(std::move(pending.config), std::move(pending.plans), std::move(pending.sockets));
  RemoveUnusedJails(previous.get());
  MarkStaleWaitChildren();
  log_.Info(LogLine("reload")
                .Add("generation", generation_)
                .Add("services", count)
                .Add("listeners", sockets_.size()));
  ready_status_ = "serving " + std::to_string(count) + " services, generation " +
                  std::to_string(generation_);
  if (stopping_) return;
  if (options_.external_listener_fd < 0) {
    ready_due_ = true;  // READY=1 when the new listener serves
    StartListener();
  } else {
    Notify("READY=1\nSTATUS=" + ready_status_);
  }
}

void Monitor::BeginStop() {
  if (stopping_) return;
  stopping_ = true;
  ready_due_ = false;
  Notify("STOPPING=1");
  reload_.reset();
  reload_queued_ = false;
  // The listener goes first, then the listening sockets: new clients are
  // refused rather than left waiting in a backlog nobody will read.
  if (listener_pid_ > 0) kill(listener_pid_, SIGTERM);
  channel_.reset();
  sockets_.clear();
  // A child still setting up is killed outright (it is not the service
  // yet); the others get TERM (see Terminate), then KILL after the grace.
  for (const auto& [pid, c] : children_) {
    Terminate(pid, c);
    if (c.idle_stop_sent) kill(pid, SIGCONT);  // held for an idle check
  }
  stop_deadline_ = Clock::now() + options_.stop_grace;
  log_.Info(LogLine("stop").Add("children", children_.size()));
}

void Monitor::DumpStatus() {
  log_.Info(LogLine("status")
                .Add("generation", generation_)
                .Add("children", children_.size())
                .Add("max_children", config_->daemon.max_children)
                .Add("listener", listener_pid_)
                .Add("listener_starts", listener_starts_));
  // The per-service lines come from the listener, which owns the counters.
  StatusMessage status;
  SendToListener(&status, sizeof status);
}

}  // namespace hinetd::supervisor
