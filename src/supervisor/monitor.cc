#include "supervisor/monitor.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
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
#include "config/config.h"
#include "config/system_checks.h"
#include "jail/builder.h"
#include "net/socket.h"
#include "sandbox/caps.h"
#include "sandbox/daemon_filters.h"
#include "supervisor/bind_table.h"
#include "supervisor/child_status.h"
#include "supervisor/epoll_util.h"
#include "supervisor/listener.h"

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
    : log_(log),
      options_(std::move(options)),
      stderr_relay_(log),
      seccomp_kills_(log, children_, options_.seccomp_record_wait),
      stale_(log, children_, options_.idle_check_period, options_.idle_stop_wait,
             [this](pid_t pid, Child& c) { EndStale(pid, c); }),
      log_relay_(log, Clock::now()) {}

Monitor::~Monitor() {
  // The relay's socket files go with it (a stale one would only be
  // replaced at the next start).
  syslog_relay_.Close([](int) {});
}

KnownProcesses Monitor::Known() const {
  return KnownProcesses{listener_.pid(), listener_.last_pid(), config_.get()};
}

Status Monitor::SyncSyslogRelay(const config::Config& config) {
  return syslog_relay_.Sync(
      config, [this](int fd) { Watch(fd, Tag(kSyslog, fd), EPOLLIN); },
      [this](int fd) { epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); });
}

void Monitor::Watch(int fd, uint64_t tag, uint32_t events) {
  EpollSet(epoll_.get(), fd, tag, events);
}

void Monitor::WatchNew(int fd, uint64_t tag, uint32_t events) {
  EpollAdd(epoll_.get(), fd, tag, events);
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
  // The new table's view of each socket (in the order BindTable made them).
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
  std::vector<LogLine> listening;  // one write for them all (WriteLines)
  listening.reserve(sockets_.size());
  for (const auto& s : sockets_) {
    const config::Service& svc = config_->services[s->service];
    LogLine& line = listening.emplace_back("listen");
    line.Add("service", svc.name)
        .Add("address", net::ToString(s->ep))
        .Add("protocol", net::ProtocolName(s->ep, s->transport));
    if (s->transport == net::Transport::kUdp) line.Add("wait", s->wait ? "true" : "false");
  }
  log_.WriteLines(listening, LOG_INFO);
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
  // The process events too (CAP_NET_ADMIN), to name the service of a
  // killed grandchild.
  seccomp_kills_.Open();
  for (int fd : {seccomp_kills_.kmsg_fd(), seccomp_kills_.audit_fd()}) {
    if (fd >= 0) Watch(fd, Tag(kKmsg, fd), EPOLLIN);
  }
  if (int fd = seccomp_kills_.process_events_fd(); fd >= 0) {
    Watch(fd, Tag(kProcEvents, fd), EPOLLIN | EPOLLONESHOT);
    process_events_armed_ = true;
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
  auto sockets = BindTable(*config, {}, options_.passed_sockets, options_.listen_backlog, log_);
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
  auto pair = ControlPair();
  if (!pair.ok()) {
    log_.Error(LogLine("listener-failed").Add("error", pair.error().message()));
    listener_.StartFailed(Clock::now());
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
      listener_.StartFailed(Clock::now());
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
  setup.children = CountChildren(children_, setup.sockets, setup.services);
  pid_t pid = fork();
  if (pid < 0) {
    listener_log_.reset();
    log_.Error(LogLine("listener-failed").Add("error", ErrnoError("fork", errno).message()));
    listener_.StartFailed(Clock::now());
    return;
  }
  if (pid == 0) {
    pair->first.release();  // closed by the listener's own descriptor sweep
    listener_log_.release();
    RunListener(std::move(setup), log_);
  }
  relay_send.reset();  // the listener's alone: its relay ends when it does
  if (listener_log_) Watch(listener_log_.get(), Tag(kListenerLog, listener_log_.get()), EPOLLIN);
  listener_.Started(pid, Clock::now());
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
  listener_.Exited();
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
  auto delay = listener_.Crashed(Clock::now());
  LogLine line("listener-exit");
  line.Add("status", DescribeWaitStatus(status));
  if (KilledBySeccomp(status)) {
    // Its own filter killed it: the kernel's audit record names the syscall.
    line.Add("syscall", seccomp_kills_.ListenerSyscall(listener_.last_pid()));
  }
  line.Add("restart_in", FormatSeconds(std::chrono::duration<double>(delay).count()))
      .Add("restarts", listener_.crashes_in_a_row());
  log_.Error(line);
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
RequestRef RefOf(const R& r) {
  RequestRef ref;
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
    // Children that have executed since anyone looked give their slots
    // and status pipes back first (one read each, which their
    // confirmation costs anyway): a request never waits for a slot, and a
    // spawn never fails for descriptors, that only wait to be looked at
    // (see StartChild).
    if (!unwatched_setups_.empty()) LookAtSetups(/*watch=*/false);
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
  (void)Answered(req, CheckDescriptorsLost(OutOfDescriptors(channel_->fd()), swaps_socket));
}

RequestView Monitor::View() const {
  return RequestView{
      .generation = generation_,
      .memory_short = memory_short_,
      .config = *config_,
      .sockets = sockets_,
      .reload_sockets = reload_ ? &reload_->sockets : nullptr,
      .children = children_,
      .running = running_,
      .served_ports = served_ports_,
  };
}

bool Monitor::Answered(const RequestRef& req, const Verdict& v) {
  switch (v.kind) {
    case Verdict::Kind::kAdmit: return false;
    case Verdict::Kind::kDrop: request_open_ = false; return true;
    case Verdict::Kind::kRefuse: Refuse(req, v.reason, v.outcome); return true;
    case Verdict::Kind::kRefuseExhausted: RefuseExhausted(req, v.reason); return true;
    case Verdict::Kind::kForged: Forged(&req, v.reason); return true;
    case Verdict::Kind::kTablesDiffer:
      request_open_ = false;
      log_.Error(LogLine("refuse-request")
                     .Add("reason", v.reason)
                     .Add("service", static_cast<int64_t>(req.service))
                     .Add("generation", req.generation));
      KillListener(v.reason);
      return true;
  }
  return true;
}

void Monitor::Apply(const RequestRef& req, const Admission& a, int fd, bool grow) {
  if (Answered(req, a.verdict)) return;
  spawn::Connection c;
  c.fd = fd;
  c.kind = a.kind;
  if (a.kind == spawn::Connection::Kind::kUnix) {
    c.cred = &a.cred;
    c.local = &a.from->ep;
    return StartChild(req, *a.svc, c, CredString(a.cred), *a.from, 0, grow);
  }
  c.peer = &a.peer;
  c.local = &a.local;
  StartChild(req, *a.svc, c, net::ToString(a.peer), *a.from, a.wait ? a.ino : 0, grow);
}

// Each handler checks its request against the monitor's own table
// (requests.h), and the verdict is acted on. The environment, and what
// admission depends on, comes from the descriptor itself: nothing the
// listener says about a peer is believed.

void Monitor::OnConnection(const ConnectionRequest& r, Channel::Received& msg, bool grow) {
  RequestRef req = RefOf(r);
  int conn = msg.fds[0].get();
  Apply(req, CheckConnection(req, conn, View()), conn, grow);
}

void Monitor::OnUdpWaitStart(const UdpWaitStartRequest& r, Channel::Received& msg, bool grow) {
  RequestRef req = RefOf(r);
  int sock = msg.fds[0].get();
  Apply(req, CheckUdpWaitStart(req, sock, View()), sock, grow);
}

void Monitor::OnUdpHandover(const UdpHandoverRequest& r, Channel::Received& msg, bool grow) {
  RequestRef req = RefOf(r);
  int conn = msg.fds[0].get();
  Admission swap = CheckUdpHandover(req, conn, msg.fds[1].get(), View());
  if (Answered(req, swap.verdict)) return;
  // Taken, not copied: nothing can fail between the check and the swap, so
  // the monitor's table never keeps the old, now connected, socket. Swapped
  // before the limits: the listener has swapped its own.
  swap.from->Replace(std::move(msg.fds[1]));  // the old socket goes to the child alone
  Apply(req, CheckHandedOver(conn, swap, View()), conn, grow);
}

void Monitor::OnUdpReplaceSocket(const UdpReplaceSocketRequest& r, Channel::Received& msg) {
  RequestRef req = RefOf(r);
  Admission a = CheckReplaceSocket(req, msg.fds[0].get(), msg.fds[1].get(), View());
  if (Answered(req, a.verdict)) return;
  a.from->Replace(std::move(msg.fds[1]));  // the broken one closes with the message
  request_open_ = false;  // a replacement has no end report
  log_.Warning(LogLine("socket-replaced")
                   .Add("service", a.svc->name)
                   .Add("listen", net::ToString(a.from->ep)));
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
    line.Add("pid", listener_.running() ? listener_.pid() : listener_.last_pid());
  }
  log_.Error(line);
  // Killed before its channel closes, so that it cannot act on the close.
  // Reaped by OnListenerExit: the restart, with its back-off.
  if (listener_.running()) kill(listener_.pid(), SIGKILL);
  // Nothing more from it is read or queued to it, not even what it sent
  // before this: the fresh listener starts from this process's table.
  channel_.reset();
  listener_log_.reset();
  if (!listener_.running() && options_.external_listener_fd >= 0) {
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
  auto unwatched_node =
      unwatched_setups_.extract(unwatched_setups_.emplace(Clock::time_point::max(), 0));
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
  // says how the setup went. That pipe is not watched at first: the
  // child's execve alone would wake this loop once more per connection,
  // and most inetd children end soon after it, when their reaping reads
  // the pipe. It is looked at when a slot is wanted (LookAtSetups), and
  // watched once every slot is taken or after options_.exec_watch_delay
  // (a child that ends within it costs no wakeup for its execve; one that
  // runs longer is logged that much later at most).
  // No allocation from here (see above).
  request_open_ = false;  // its end report comes when it is reaped
  cloned_ = true;
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
  unwatched_node.key() = child.started + options_.exec_watch_delay;
  unwatched_node.mapped() = pid;
  child.unwatched = unwatched_setups_.insert(std::move(unwatched_node));
  child_node.key() = pid;
  child_node.mapped() = std::move(child);
  children_.insert(std::move(child_node));
  if (spawn_failures_ > 0) {
    log_.Info(LogLine("spawn-recovered").Add("service", svc.name).Add("failed", spawn_failures_));
    spawn_failures_ = 0;
  }
}

void Monitor::FinishExec(pid_t pid, bool reaped) {
  auto it = children_.find(pid);
  if (it == children_.end() || it->second.exec_slot < 0) return;
  Child& c = it->second;
  // Out of epoll before Finish closes it: a child cloned meanwhile may
  // still hold a copy of the descriptor for a moment (until its step 4),
  // which would keep a registration alive.
  if (c.exec_watched) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.exec_fd, nullptr);
  auto done = spawner_->Finish(c.exec_slot);  // closes exec_fd when over
  if (!done) {
    // Not over yet (an event meant for a descriptor number that a setup
    // just ended had, and this one took; or a look before its time): its
    // own EOF will come, or be looked for.
    if (c.exec_watched) WatchNew(c.exec_fd, Tag(kExec, c.exec_fd), EPOLLIN);
    return;
  }
  const auto* result = &*done;
  exec_owner_.erase(c.exec_fd);
  c.exec_slot = -1;
  c.exec_fd = -1;
  c.exec_watched = false;
  if (c.unwatched) {
    unwatched_setups_.erase(*c.unwatched);
    c.unwatched.reset();
  }
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
    // Being reaped: EndChild reads it to its end at once.
    if (!reaped) WatchNew(c.stderr_fd, Tag(kStderr, c.stderr_fd), EPOLLIN);
    stderr_relay_.Add(pid, c);
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

void Monitor::WatchExec(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  Child& c = it->second;
  if (c.unwatched) {
    unwatched_setups_.erase(*c.unwatched);
    c.unwatched.reset();
  }
  if (c.exec_slot < 0 || c.exec_watched) return;
  WatchNew(c.exec_fd, Tag(kExec, c.exec_fd), EPOLLIN);
  c.exec_watched = true;
}

bool Monitor::LookAtSetups(bool watch) {
  for (auto next = unwatched_setups_.begin(); next != unwatched_setups_.end();) {
    pid_t pid = (next++)->second;  // both calls may erase this entry, no other
    FinishExec(pid);
    if (watch) WatchExec(pid);
  }
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
  next = std::min(next, seccomp_kills_.next_deadline());
  if (!deadlines_.empty()) next = std::min(next, deadlines_.begin()->first);
  if (!setup_deadlines_.empty()) next = std::min(next, setup_deadlines_.begin()->first);
  if (!unwatched_setups_.empty()) next = std::min(next, unwatched_setups_.begin()->first);
  if (!process_events_armed_) next = std::min(next, process_events_rearm_at_);
  if (!orphan_slots_.empty()) next = std::min(next, Clock::now() + std::chrono::milliseconds(100));
  if (!stopping_) next = std::min(next, stale_.next_check());
  if (stopping_) next = std::min(next, stop_deadline_);
  if (!stopping_) next = std::min(next, options_.stop_at);
  if (reload_) next = std::min(next, handover_deadline_);
  if (memory_short_) next = std::min(next, memory_retry_at_);
  if (!listener_.running() && !stopping_) next = std::min(next, listener_.restart_at());
  next = std::min(next, log_relay_.next_report());
  next = std::min(next, syslog_relay_.next_report());
  if (next == Clock::time_point::max()) return -1;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(ms + 1, 0, 60'000));
}

int Monitor::Run() {
  epoll_event events[64];
  for (;;) {
    if (stopping_ && children_.empty() && !seccomp_kills_.ends_pending() && !listener_.running()) {
      break;
    }
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
  seccomp_kills_.FlushEnds(true, Known());
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
      case kKmsg: seccomp_kills_.OnRecords(Known()); break;
      case kProcEvents: OnProcessEvents(/*woke=*/true); break;
      case kControl:
        if (channel_ && fd == channel_->fd()) {
          if (events[i].events & EPOLLOUT) channel_->Flush();
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnControl(false);
        }
        break;
      case kStderr: stderr_relay_.OnReadable(fd, children_); break;
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
          seccomp_kills_.DrainProcessTree();
          syslog_relay_.Read(fd, 64, [this](pid_t pid) { return seccomp_kills_.ServiceOf(pid); },
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
  seccomp_kills_.FlushEnds(false, Known());
  EnforceTimeouts();
  if (!stopping_) stale_.Check(sockets_, generation_);
  if (!orphan_slots_.empty()) FinishOrphanSlots();
  auto now = Clock::now();
  log_relay_.ReportDrops(now);
  syslog_relay_.ReportDrops(now);
  if (reload_ && now >= handover_deadline_ && listener_.running()) {
    // The listener did not hand over in time: it goes, the reload goes on
    // (its state is lost, its children are not).
    kill(listener_.pid(), SIGKILL);
    handover_deadline_ = Clock::time_point::max();
  }
  if (!stopping_ && !listener_.running() && !reload_ && options_.external_listener_fd < 0 &&
      now >= listener_.restart_at()) {
    StartListener();
  }
  if (stopping_ && !killed_ && now >= stop_deadline_) {
    // Grace is over: KILL what is left, each child's whole process group,
    // and the child itself (the init of its PID namespace takes the rest).
    for (const auto& [pid, c] : children_) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
    if (listener_.running()) kill(listener_.pid(), SIGKILL);
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
  // The fork events of this loop's clones, queued before each clone
  // returned: read now, they do not wake the next epoll_wait (one wakeup
  // less per connection at c=1). Unwatched, they wait for the period.
  if (cloned_) {
    cloned_ = false;
    if (process_events_armed_) seccomp_kills_.DrainProcessTree();
  }
  if (!process_events_armed_ && Clock::now() >= process_events_rearm_at_) {
    OnProcessEvents(/*woke=*/false);
  }
  // Reading the channel only while a spawn slot is free; writable
  // interest only while messages wait for the listener's buffer.
  // Every slot taken: the first setup to end must wake the loop.
  if (!spawner_->HasFreeSlot()) LookAtSetups(/*watch=*/true);
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

void Monitor::OnProcessEvents(bool woke) {
  int fd = seccomp_kills_.process_events_fd();
  if (fd < 0) return;
  if (woke) {
    // Disarmed by EPOLLONESHOT: quiet for the period (said first, so that
    // a read that runs out of memory still ends in a re-arm).
    process_events_armed_ = false;
    process_events_rearm_at_ = Clock::now() + options_.process_events_period;
    seccomp_kills_.DrainProcessTree();
    return;
  }
  // The host still forks: read again at the end of the next period, by
  // the loop's timeout alone (one wakeup a period instead of two: this
  // one, and the next event's right after a re-arm). Quiet: wait for an
  // event again, so that an idle host never wakes the monitor.
  if (seccomp_kills_.DrainProcessTree() > 0) {
    process_events_rearm_at_ = Clock::now() + options_.process_events_period;
    return;
  }
  // Events that come between the read and this are seen by the MOD.
  Watch(fd, Tag(kProcEvents, fd), EPOLLIN | EPOLLONESHOT);
  process_events_armed_ = true;
  process_events_rearm_at_ = Clock::time_point::max();
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
  auto it = children_.find(pid);
  if (it != children_.end() && it->second.idle_stop_sent && it->second.exec_slot < 0) {
    stale_.FinishIdleStop(pid, it->second, sockets_, generation_);
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
  // Setups unwatched for exec_watch_delay: executed (logged now), or
  // watched from now on.
  while (!unwatched_setups_.empty() && unwatched_setups_.begin()->first <= now) {
    auto entry = unwatched_setups_.begin();
    auto it = children_.find(entry->second);
    if (it == children_.end() || it->second.unwatched != entry) {
      unwatched_setups_.erase(entry);  // no child's (cannot happen)
      continue;
    }
    FinishExec(entry->second);  // erases the entry if it has executed
    WatchExec(it->first);       // else this does
  }
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
    FinishExec(pid, /*reaped=*/true);
    if (it->second.exec_slot >= 0) {
      // Cannot happen; if it did, the slot is not reused before its EOF.
      orphan_slots_.push_back(it->second.exec_slot);
      if (it->second.exec_watched) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.exec_fd, nullptr);
      exec_owner_.erase(it->second.exec_fd);
      if (it->second.setup_deadline) setup_deadlines_.erase(*it->second.setup_deadline);
      if (it->second.unwatched) unwatched_setups_.erase(*it->second.unwatched);
      it->second.exec_slot = -1;
      it->second.setup_failed = true;
      if (--running_[it->second.service] <= 0) running_.erase(it->second.service);
    }
  }
  Child& c = it->second;
  if (c.deadline) deadlines_.erase(*c.deadline);
  stderr_relay_.Close(pid, c);
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
  auto sockets =
      BindTable(*config, sockets_, options_.passed_sockets, options_.listen_backlog, log_);
  if (options_.harden_self) BindCapability(false);
  if (!sockets.ok()) return fail(sockets.error());
  if (auto s = SyncSyslogRelay(*config); !s.ok()) return fail(s.error());
  for (const PassedSocket* p : UnusedPassed(options_.passed_sockets, *sockets)) {
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
  if (listener_.running()) {
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
  // The old table goes now, before the listener's fork (unless a child
  // still holds it): freed after it, every page its destruction writes
  // would be copied first, the listener holding it too.
  previous.reset();
  stale_.Mark(*config_, plan_identities_, sockets_);
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
  if (listener_.running()) kill(listener_.pid(), SIGTERM);
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
                .Add("listener", listener_.pid())
                .Add("listener_starts", listener_.starts()));
  // The per-service lines come from the listener, which owns the counters.
  StatusMessage status;
  SendToListener(&status, sizeof status);
}

}  // namespace hinetd::supervisor
