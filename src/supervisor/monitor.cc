#include "supervisor/monitor.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <new>

#include "base/errno_name.h"
#include "base/text_release.h"
#include "config/config.h"
#include "sandbox/caps.h"
#include "sandbox/daemon_filters.h"
#include "supervisor/bind_table.h"
#include "supervisor/child_status.h"
#include "supervisor/epoll_util.h"
#include "supervisor/listener.h"
#include "supervisor/listener_setup.h"
#include "supervisor/monitor_internal.h"

namespace hinetd::supervisor {

using base::ErrnoError;
using base::Error;
using base::LogLine;
using base::Result;
using base::Status;
using base::UniqueFd;
using namespace monitor_detail;

Result<UniqueFd> OpenListenerProgram(std::string& found) {
  auto candidates = spawn::HelperCandidates(kListenerProgram);
  auto fd = spawn::OpenRootProgram(candidates, found);
  if (!fd.ok() || *fd) return fd;
  std::string tried;
  for (const auto& c : candidates) tried += " " + c;
  return Error(std::string("the listener's program ") + kListenerProgram + " is not found (tried" +
               tried + "); build or install it next to hinetd");
}

std::vector<int> MonitorCapabilities() {
  // CAP_SYS_ADMIN: creating a child's namespaces (clone with CLONE_NEWPID
  // and the like); the monitor's filter keeps what else it would allow
  // (mount, setns, unshare, user namespaces, ...) out of reach.
  // No CAP_SETPCAP: the bounding set is emptied once, here (caps.h), so no
  // child has one to drop.
  return {CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT, CAP_KILL, CAP_SYS_ADMIN};
}

namespace {

// The exit status of a listener's fork that could not execute the
// listener's program (hinetd-listener itself never exits with it).
constexpr int kListenerNotExecuted = 127;

// The listener's process, by vfork: the monitor waits, its memory shared,
// until the execve (none of its page tables is copied, none of its pages
// becomes copy-on-write for the rest of the start). Only system calls in
// the child: FD_CLOEXEC off what `pass` names, standard error to `log_to`
// (if >= 0), then the listener's program, a fresh program with its own
// address layout and none of the monitor's memory. The pid, or -1 (errno).
pid_t SpawnListener(const std::vector<int>& pass, int log_to, int program, char* const* argv) {
  const int* fds = pass.data();
  size_t count = pass.size();
  pid_t pid = vfork();
  if (pid != 0) return pid;
  for (size_t i = 0; i < count; ++i) {
    if (fds[i] >= 0) fcntl(fds[i], F_SETFD, 0);
  }
  if (log_to >= 0 && dup2(log_to, 2) < 0) _exit(kListenerNotExecuted);
  syscall(SYS_execveat, program, "", argv, environ, AT_EMPTY_PATH);
  _exit(kListenerNotExecuted);
}

// The setup of a listener (listener_setup.h) in a memfd for it to read.
Result<UniqueFd> SetupFile(const ListenerSetup& setup) {
  std::string bytes = EncodeListenerSetup(setup);
  UniqueFd fd(memfd_create("hinetd-listener-setup", MFD_CLOEXEC));
  if (!fd) return ErrnoError("memfd_create (listener setup)", errno);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoError("writing the listener setup", n < 0 ? errno : ENOSPC);
    done += static_cast<size_t>(n);
  }
  return fd;
}

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

// The threads that bind a table's sockets at start: one per CPU this
// process may run on, at most four (bind_table.h).
int StartBindThreads() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof cpus, &cpus) != 0) return 1;
  return std::clamp(CPU_COUNT(&cpus), 1, 4);
}

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, s);
  return set;
}

}  // namespace

Monitor::Monitor(base::Logger& log, Options options)
    : log_(log),
      options_(std::move(options)),
      stderr_relay_(log, [this](int fd) { Unwatch(fd); }),
      seccomp_kills_(log, children_.all(), options_.seccomp_record_wait),
      stale_(log, children_.all(), options_.idle_check_period, options_.idle_stop_wait,
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

void Monitor::Watch(int fd, uint64_t tag, uint32_t events) {
  EpollSet(epoll_.get(), fd, tag, events);
}

void Monitor::WatchNew(int fd, uint64_t tag, uint32_t events) {
  EpollAdd(epoll_.get(), fd, tag, events);
}

void Monitor::Unwatch(int fd) { EpollRemove(epoll_.get(), fd); }

void Monitor::CloseChannel() {
  if (channel_) Unwatch(channel_->fd());
  channel_.reset();
  doorbell_.reset();  // never watched here: the listener's to wait on
}

void Monitor::CloseListenerLog() {
  if (!listener_log_) return;
  Unwatch(listener_log_.get());
  listener_log_.reset();
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
  Serving();
}

void Monitor::Serving() {
  Notify("READY=1\nSTATUS=" + ready_status_);
  // A table is loaded and served: the code that loaded it (the TOML parser,
  // the policy compiler, the checks, the start or the reload) has run, and
  // its pages leave this process's resident set until the next reload needs
  // them (from the page cache). The per-connection path faults its own back.
  base::ReleaseLoadedText();
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
  // No listener of its own, nothing to park for (see Options).
  if (options_.external_listener_fd < 0) {
    if (auto s = park_.Open(); !s.ok()) return s;
  }
  Watch(signal_fd_.get(), Tag(kSignal, signal_fd_.get()), EPOLLIN);

  // While still fully root: the kernel log (reading it may need CAP_SYSLOG,
  // checked at open only), the empty jail, the sockets.
  // The process events too (CAP_NET_ADMIN), to name the service of a
  // killed grandchild.
  seccomp_kills_.Open();
  // The host's events, watched one-shot (host_watch.h). Without the
  // process events, the kill records are read as they come: a descendant's
  // kill is then attributed through /proc, while the process is there.
  bool batch_records = seccomp_kills_.process_events_available();
  for (int fd : {seccomp_kills_.kmsg_fd(), seccomp_kills_.audit_fd()}) {
    if (fd < 0) continue;
    if (batch_records) host_watch_.Add(fd, Tag(kKmsg, fd), options_.kernel_records_period);
    Watch(fd, Tag(kKmsg, fd), batch_records ? HostWatch::kArmedEvents : EPOLLIN);
  }
  if (int fd = seccomp_kills_.process_events_fd(); fd >= 0) {
    host_watch_.Add(fd, Tag(kProcEvents, fd), options_.process_events_period);
    Watch(fd, Tag(kProcEvents, fd), HostWatch::kArmedEvents);
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
  // Nothing else runs yet: the sockets of a large table are bound on
  // several threads (a reload binds only what it adds, on this one).
  auto sockets = BindTable(*config, {}, options_.passed_sockets, options_.listen_backlog, log_,
                           StartBindThreads());
  if (!sockets.ok()) return sockets.error();
  if (auto s = SyncSyslogRelay(*config); !s.ok()) return s;
  auto filter = sandbox::ListenerFilter();
  if (!filter.ok()) return filter.error();
  listener_filter_ = std::move(*filter);
  if (options_.external_listener_fd < 0) {
    auto program = OpenListenerProgram(listener_program_path_);
    if (!program.ok()) return program.error();
    listener_program_ = std::move(*program);
  }

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
    // The listener's program starts with what it needs to drop its own
    // privileges (ListenerStartCapabilities), from the inheritable set.
    if (auto s = sandbox::LimitOwnCapabilities(keep, ListenerStartCapabilities()); !s.ok()) {
      return s;
    }
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
  spawn::MergeChildrenLayer(*plans, *children_filter_);
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
    Serving();
  } else {
    ready_due_ = true;
    StartListener();
  }
  return Status();
}

Status Monitor::SocketsInHand() {
  park_due_ = true;
  return park_.UnparkAll();
}

void Monitor::StartListener() {
  // The listener inherits the table's sockets: every one in hand for the fork.
  if (auto s = SocketsInHand(); !s.ok()) {
    log_.Error(LogLine("listener-failed").Add("error", s.error().message()));
    listener_.StartFailed(Clock::now());
    return;
  }
  auto pair = ControlPair();
  if (!pair.ok()) {
    log_.Error(LogLine("listener-failed").Add("error", pair.error().message()));
    listener_.StartFailed(Clock::now());
    return;
  }
  UniqueFd doorbell(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!doorbell) {
    log_.Error(LogLine("listener-failed")
                   .Add("error", ErrnoError("eventfd (doorbell)", errno).message()));
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
  setup.doorbell_fd = doorbell.get();
  setup.filter = listener_filter_.get();
  setup.monitor_pid = getpid();
  setup.children = CountChildren(children_.all(), setup.sockets, setup.services);
  auto setup_file = SetupFile(setup);
  if (!setup_file.ok()) {
    listener_log_.reset();
    log_.Error(LogLine("listener-failed").Add("error", setup_file.error().message()));
    listener_.StartFailed(Clock::now());
    return;
  }
  // What the fork keeps open across the execve; everything else of the
  // monitor's is FD_CLOEXEC (and the listener closes what is not, first).
  std::vector<int> pass = {setup.control_fd, setup.doorbell_fd, setup.log_fd, setup_file->get()};
  for (const auto& s : setup.sockets) pass.push_back(s->fd.get());
  // Without a relay the listener writes to its standard error: where this
  // log goes (2, unless a test captures it elsewhere).
  int log_to = setup.log_fd < 0 && log_.fd() != 2 ? log_.fd() : -1;
  std::string fd_arg = std::to_string(setup_file->get());
  char* argv[] = {const_cast<char*>(kListenerProgram), fd_arg.data(), nullptr};
  // The lines held so far go out first, and none is the listener's to write.
  bool held = log_.held();
  log_.Release();
  pid_t pid = SpawnListener(pass, log_to, listener_program_.get(), argv);
  if (held && pid != 0) log_.Hold();
  if (pid < 0) {
    listener_log_.reset();
    log_.Error(LogLine("listener-failed").Add("error", ErrnoError("vfork", errno).message()));
    listener_.StartFailed(Clock::now());
    return;
  }
  relay_send.reset();  // the listener's alone: its relay ends when it does
  if (listener_log_) Watch(listener_log_.get(), Tag(kListenerLog, listener_log_.get()), EPOLLIN);
  listener_.Started(pid, Clock::now());
  end_batch_.Clear();  // reports for the listener before: this one counts from children_
  channel_ = std::make_unique<Channel>(std::move(pair->first));
  doorbell_ = std::move(doorbell);
  ring_owed_ = false;
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
  if (status == Read::kClosed || drain) CloseListenerLog();
}

void Monitor::OnListenerExit(int status) {
  listener_.Exited();
  // What it sent before it died is still in the channel: spawn requests for
  // connections it had accepted, and at a reload its state. The SIGCHLD can
  // come before the channel is read; read it all now.
  if (channel_) OnControl(/*drain=*/true);
  CloseChannel();
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
  if (WIFEXITED(status) && WEXITSTATUS(status) == kListenerNotExecuted) {
    line.Add("error", "could not execute " + listener_program_path_);
  }
  line.Add("restart_in", FormatSeconds(std::chrono::duration<double>(delay).count()))
      .Add("restarts", listener_.crashes_in_a_row());
  log_.Error(line);
}

// Each handler checks its request against the monitor's own table
// (requests.h), and the verdict is acted on. The environment, and what
// admission depends on, comes from the descriptor itself: nothing the
// listener says about a peer is believed.

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
  CloseChannel();
  CloseListenerLog();
  if (!listener_.running() && options_.external_listener_fd >= 0) {
    BeginStop();  // nothing to kill or restart: as if it had gone
  }
}

int Monitor::NextTimeoutMs() const {
  Clock::time_point next = Clock::time_point::max();
  next = std::min(next, seccomp_kills_.next_deadline());
  next = std::min(next, children_.NextDue());
  next = std::min(next, host_watch_.due());
  if (!orphan_slots_.empty()) next = std::min(next, Clock::now() + std::chrono::milliseconds(100));
  if (!stopping_) next = std::min(next, stale_.next_check());
  if (stopping_) next = std::min(next, stop_deadline_);
  if (!stopping_) next = std::min(next, options_.stop_at);
  if (reload_) next = std::min(next, handover_deadline_);
  if (memory_short_) next = std::min(next, memory_retry_at_);
  if (!listener_.running() && !stopping_) next = std::min(next, listener_.restart_at());
  next = std::min(next, log_relay_.next_report());
  next = std::min(next, syslog_relay_.next_report());
  if (park_due_ && !stopping_ && !reload_) next = Clock::now();  // park at once
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
    // The turn's log lines in one write, at its end (a child's accept and
    // end lines, logged at its reap, are one write, not two).
    log_.Hold();
    try {
      go_on = RunOnce(events, n);
    } catch (const std::bad_alloc&) {
      OnOutOfMemory();
    }
    log_.Release();
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
      case kKmsg:
      case kProcEvents: OnHostEvents(fd); break;
      case kControl:
        if (channel_ && fd == channel_->fd()) {
          if (events[i].events & EPOLLOUT) {
            channel_->Flush();
            RingListener();
          }
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnControl(false);
        }
        break;
      case kStderr: stderr_relay_.OnReadable(fd, children_.all()); break;
      case kExec:
        if (auto owner = children_.StatusOwner(fd)) FinishExec(*owner);
        break;
      case kListenerLog:
        if (listener_log_ && fd == listener_log_.get()) OnListenerLog(false);
        break;
      case kRecorder:
        for (int listener : recorder_->Receive([this](pid_t pid) -> const std::string* {
               const Child* c = children_.Find(pid);
               return c == nullptr ? nullptr : &c->service;
             })) {
          Watch(listener, Tag(kNotify, listener), EPOLLIN);
        }
        break;
      case kNotify:
        if (events[i].events & EPOLLIN) recorder_->OnNotify(fd);
        if (events[i].events & (EPOLLHUP | EPOLLERR)) {
          Unwatch(fd);
          recorder_->Close(fd);
        }
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
  if (park_due_ && !stopping_ && !reload_) {
    // After the listener's start or the reload that took them back: out of
    // the descriptor table again before the next child's clone.
    park_.Park(sockets_);
    park_due_ = false;
  }
  if (stopping_ && !killed_ && now >= stop_deadline_) {
    // Grace is over: KILL what is left, each child's whole process group,
    // and the child itself (the init of its PID namespace takes the rest).
    for (const auto& [pid, c] : children_.all()) {
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
  // A spawn slot freed in this turn while every one was taken before: the
  // requests that waited in the channel (its read interest off) are read
  // now, not by turning the interest back on for the next epoll_wait to
  // report at once. Under load a slot that frees is taken again here, and
  // the interest stays off: no epoll_ctl pair and no extra turn per
  // connection.
  if (channel_ && !control_in_ && spawner_->HasFreeSlot() && !memory_short_) OnControl(false);
  // The iteration's end reports go out together: one message (QueueEnd),
  // one ring of the listener's doorbell at most (RingListener).
  FlushEnds();
  // The fork events of this loop's clones, queued before each clone
  // returned: read now, they do not wake the next epoll_wait (one wakeup
  // less per connection at c=1). Unwatched, they wait for the period.
  int process_events = seccomp_kills_.process_events_fd();
  if (cloned_) {
    cloned_ = false;
    if (host_watch_.armed(process_events)) seccomp_kills_.DrainProcessTree();
  }
  auto arm = [this](int fd, uint64_t tag) { ArmHostSource(fd, tag); };
  if (Clock::now() >= host_watch_.due()) {
    host_watch_.EndPeriods(
        Clock::now(), [this](int fd) { return seccomp_kills_.ReadHostSource(fd, Known()); },
        arm);
  }
  // A killed child's end line waits for its record (FlushEnds above read
  // what was queued): the records are watched as they come meanwhile.
  if (seccomp_kills_.ends_pending()) {
    for (int fd : {seccomp_kills_.kmsg_fd(), seccomp_kills_.audit_fd()}) {
      if (fd >= 0) host_watch_.Arm(fd, arm);
    }
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
  // Every pending signal in one read: the five handled are standard
  // signals, each pending at most once in the process's queue and once in
  // this thread's, so the read returns them all and no second read is
  // needed to find the queues empty (one arriving meanwhile keeps the
  // descriptor readable for the next turn).
  signalfd_siginfo infos[16];
  ssize_t n = read(signal_fd_.get(), infos, sizeof infos);
  for (ssize_t i = 0; n > 0 && i < n / static_cast<ssize_t>(sizeof infos[0]); ++i) {
    switch (infos[i].ssi_signo) {
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

void Monitor::OnHostEvents(int fd) {
  host_watch_.Fired(fd, Clock::now());
  HostWatch::Found found = seccomp_kills_.ReadHostSource(fd, Known());
  host_watch_.Settle(fd, found, [this](int f, uint64_t tag) { ArmHostSource(f, tag); });
}

void Monitor::ArmHostSource(int fd, uint64_t tag) { Watch(fd, tag, HostWatch::kArmedEvents); }

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
  CloseChannel();
  park_.Release();  // the parked ones close with their queue
  sockets_.clear();
  // A child still setting up is killed outright (it is not the service
  // yet); the others get TERM (see Terminate), then KILL after the grace.
  for (const auto& [pid, c] : children_.all()) {
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
