// The monitor: hinetd's privileged half (DESIGN.md §1). uid 0, capabilities
// bounded to what starting children and the listener needs, a seccomp deny
// list; it never accepts or reads from a network socket. It owns the parsed
// configuration and the spawn plans, starts every child from them on a
// descriptor the listener passes it, reaps and times children out, reloads,
// restarts a listener that died, and stops everything.
#pragma once

#include <sys/epoll.h>

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "config/types.h"
#include "sandbox/policy.h"
#include "spawn/identity_ns.h"
#include "spawn/plan.h"
#include "spawn/spawner.h"
#include "supervisor/child_table.h"
#include "supervisor/children.h"
#include "supervisor/host_watch.h"
#include "supervisor/listener_life.h"
#include "supervisor/log_relay.h"
#include "supervisor/protocol.h"
#include "supervisor/recorder.h"
#include "supervisor/reflection.h"
#include "supervisor/requests.h"
#include "supervisor/service_state.h"
#include "supervisor/socket_park.h"
#include "supervisor/sockets.h"
#include "supervisor/seccomp_kills.h"
#include "supervisor/stale_wait.h"
#include "supervisor/stderr_relay.h"
#include "supervisor/syslog_relay.h"
#include "supervisor/systemd.h"
#include "supervisor/wait_idle.h"

namespace hinetd::supervisor {

// The monitor's capability bounding and permitted sets: what spawning needs,
// and CAP_NET_BIND_SERVICE, which it holds only to hand it to the listener
// it starts (and to bind addresses a reload adds); not in its effective set.
[[nodiscard]] std::vector<int> MonitorCapabilities();

// The listener's program (hinetd-listener, listener_setup.h): next to
// hinetd, or in the libexec directory, checked as spawn::OpenRootProgram
// does (it runs as root until it drops its privileges). `found`: its path.
// An error says where it was looked for when it is nowhere.
[[nodiscard]] base::Result<base::UniqueFd> OpenListenerProgram(std::string& found);

struct Options {
  std::string config_path;
  spawn::PlanOptions plan_options;
  // Between SIGTERM and SIGKILL for children at shutdown.
  std::chrono::milliseconds stop_grace{5000};
  // How long an `end` line for a seccomp kill waits for the kernel's audit
  // record naming the syscall.
  // (The kernel's audit thread writes it; on a loaded machine, 250 ms was
  // seen not to be enough.)
  std::chrono::milliseconds seccomp_record_wait{2000};
  // Between TERM and KILL for a child past its timeout.
  std::chrono::milliseconds kill_grace{2000};
  // A child that has not executed this long after its clone is killed (its
  // service's uid could stop it, and it holds a spawn slot).
  std::chrono::milliseconds setup_timeout{2000};
  // While a stale udp wait child runs (its plan changed at a reload), how
  // often it is looked at for idleness (wait_idle.h), and how long it may
  // take to stop (SIGSTOP) for the second look before it is let go on.
  std::chrono::milliseconds idle_check_period{250};
  std::chrono::milliseconds idle_stop_wait{500};
  // How long a child's status pipe stays out of the epoll set after its
  // clone (monitor_children.cc, StartChild): the latest its `accept` line comes
  // after its execve.
  std::chrono::milliseconds exec_watch_delay{100};
  // At most how often the host's events wake the monitor while the host
  // keeps making them (host_watch.h): the rest of the time they queue, and
  // are read in batches. The kernel's process events; its log and audit
  // records (of the host's business: a kill of one of hinetd's processes
  // is read as it comes). Equal periods share their ends.
  std::chrono::milliseconds process_events_period{250};
  std::chrono::milliseconds kernel_records_period{250};
  // How long a listener has to hand over its state at a reload.
  std::chrono::milliseconds handover_wait{2000};
  int listen_backlog = 1024;
  // Socket activation: the listening sockets systemd passed (systemd.h).
  // Each must match a listen address of the table at start; the monitor
  // keeps them all for its lifetime, so a reload can use them again.
  std::vector<std::shared_ptr<PassedSocket>> passed_sockets;
  // sd_notify: READY=1 once the listener serves, RELOADING=1 ... READY=1
  // around a reload, STOPPING=1. Null or disabled: nothing is sent.
  std::shared_ptr<const Notifier> notifier;
  // Tests: the control channel of a listener played by the test itself; the
  // monitor then starts no listener, and stops when the channel closes. As
  // there is no process to kill, a forged request or a full queue to it
  // makes the monitor close the channel and stop. Nor does it park its TCP
  // sockets (socket_park.h): the test takes them from it (pidfd_getfd).
  int external_listener_fd = -1;
  // Tests: keep this process's capabilities and install no filter.
  bool harden_self = true;
  // Tests: relay the listener's log through the monitor (as with syslog,
  // which the chrooted listener cannot reach) even when it could write to
  // stderr itself.
  bool relay_listener_log = false;
  // `hinetd learn`: the service whose children record (recorder.h); the
  // run stops once this many of its connections have ended (0: no limit),
  // or at `stop_at`. A SIGHUP does not reload.
  std::string learn_service;
  uint64_t learn_connections = 0;
  Clock::time_point stop_at = Clock::time_point::max();
};

class Monitor {
 public:
  Monitor(base::Logger& log, Options options);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Binds every listening socket, reduces this process's privileges, starts
  // the listener. An error is a system error at start (exit 71).
  [[nodiscard]] base::Status Start(std::unique_ptr<config::Config> config,
                                   std::unique_ptr<spawn::PlanSet> plans);
  // Serves until stopped and every child is gone. Returns the exit code.
  int Run();
  // The recorder, for `hinetd learn` (after Run: what was learned).
  [[nodiscard]] Recorder* recorder() { return recorder_.get(); }

 private:
  struct PendingReload {
    std::unique_ptr<config::Config> config;
    std::unique_ptr<spawn::PlanSet> plans;
    SocketList sockets;
  };

  [[nodiscard]] base::Status EnsureEmptyChroot();
  void Install(std::unique_ptr<config::Config> config, std::unique_ptr<spawn::PlanSet> plans,
               SocketList sockets);
  void StartListener();
  // Takes the parked sockets back (socket_park.h) before anything that
  // needs the table's descriptors: a listener's fork, a reload's bind. They
  // go back into flight at the end of the loop's iteration.
  [[nodiscard]] base::Status SocketsInHand();
  // One sd_notify datagram; a failure is logged, never fatal.
  void Notify(const std::string& state);
  void OnListenerReady();
  // READY=1 for systemd, and the loading code's pages given back
  // (base::ReleaseLoadedText): after the start and after each reload.
  void Serving();
  // Reads the listener's relayed log lines; `drain`: all of them. Closes
  // the relay at its end.
  void OnListenerLog(bool drain);
  void OnListenerExit(int status);
  // Reads the listener's messages; `drain`: all of them, else a fair share.
  void OnControl(bool drain);
  void OnState(std::string_view state, bool cut);
  // One request, decoded: `lost`, the kernel dropped its descriptors;
  // `grow`: the request cannot wait for a spawn slot (the channel is being
  // drained), so the pool grows for it.
  template <typename R>
  void OnRequest(const R& req, Channel::Received& msg, bool lost, bool grow);
  void OnDescriptorsLost(const RequestRef& req, bool swaps_socket);
  // One handler per request (protocol.h): its checks (requests.h) decide,
  // Answered or Apply acts. Each answers it, starts its child, or kills the
  // listener.
  void OnConnection(const ConnectionRequest& r, Channel::Received& msg, bool grow);
  void OnUdpWaitStart(const UdpWaitStartRequest& r, Channel::Received& msg, bool grow);
  void OnUdpHandover(const UdpHandoverRequest& r, Channel::Received& msg, bool grow);
  void OnUdpLeftover(const UdpLeftoverRequest& r, Channel::Received& msg, bool grow);
  void OnUdpReplaceSocket(const UdpReplaceSocketRequest& r, Channel::Received& msg);
  // What the request checks read of this process's state.
  [[nodiscard]] RequestView View() const;
  // The one place a verdict is acted on. Answered: a verdict that ends the
  // request here (dropped, refused, or the listener killed) is carried out,
  // and true; false for Admit, which the caller carries out.
  [[nodiscard]] bool Answered(const RequestRef& req, const Verdict& v);
  // A spawn request's admission: answered, or its child started on `fd`.
  // `handed`: a udp nowait socket (the same as `fd`), kept with a child in
  // a PID namespace of its own until it is reaped, to see whether it left
  // datagrams (udp_leftovers.h).
  void Apply(const RequestRef& req, const Admission& a, int fd, bool grow,
             base::UniqueFd* handed = nullptr);
  // Starts the child of an admitted request (`wait_ino`: a udp wait
  // child's socket, else 0; `handed` as for Apply); answered by its end
  // report.
  void StartChild(const RequestRef& req, const config::Service& svc, const spawn::Connection& c,
                  const std::string& peer_text, const ListenSocket& from, ino_t wait_ino,
                  bool grow, base::UniqueFd* handed = nullptr, ino_t handed_ino = 0);
  // At a udp nowait child's reaping: true, with its socket kept in
  // leftovers_, if datagrams are left on it; the monitor's copy closes.
  bool KeepLeftovers(Child& c);
  // A request an honest listener can meet (a reload's race, a system
  // limit, a connection its client reset): logged (rate-limited) and
  // answered with an end report; `outcome` kClosed where the client, not
  // the service, is why.
  void Refuse(const RequestRef& req, const std::string& reason,
              Outcome outcome = Outcome::kRefused);
  // A request refused because this process met a system limit: logged once
  // per episode (see spawn_failures_), answered with an end report.
  void RefuseExhausted(const RequestRef& req, const std::string& reason);
  // The end report of a refused request: keeps the listener's counts exact.
  void SendRefused(const RequestRef& req, Outcome outcome);
  // A request no honest listener sends: logged, and the listener killed.
  void Forged(const RequestRef* req, const std::string& reason);
  // Kills the listener and closes its channel at once: nothing more it sent
  // is read. The restart path starts a fresh one from this process's table.
  void KillListener(const std::string& reason);
  // Sends to the listener, after the end reports queued before it; one
  // that lets the queue fill up is killed.
  void SendToListener(const void* msg, size_t len);
  void SendNow(const void* msg, size_t len);
  // End reports wait in end_batch_ and go out as one message at the end of
  // the loop's iteration (or when the batch is full, or before any other
  // message to the listener).
  void QueueEnd(const EndReport& end);
  void FlushEnds();
  // Rings the listener's doorbell if a message it must read at once went
  // out since the last ring, or messages wait here for room in its buffer
  // (it is behind: it must read).
  void RingListener();
  // The index of a child's service in the current table (kNoService).
  [[nodiscard]] uint32_t ReportIndex(const Child& c) const;
  // The most messages an honest listener can leave unread: an end report
  // for each child it counts, and a few control messages.
  [[nodiscard]] size_t ChannelLimit() const;
  [[nodiscard]] bool MayLogRefusal();
  void SendEnd(const Child& c, Outcome outcome, int status, Clock::duration lifetime,
               bool leftover = false);
  void OnSignal();
  // A child's setup is over (its status pipe is readable, or it was
  // reaped): log accept or setup-failed, and free its spawn slot. Never
  // waits; a child still setting up stays as it is. `reaped`: it is being
  // ended now (its stderr is read to the end there, not watched).
  void FinishExec(pid_t pid, bool reaped = false);
  // A child's status pipe joins the epoll set: its exec or exit wakes the
  // loop. Until then nothing but a wanted slot, its reaping or its
  // exec_watch_delay looks at it (see StartChild).
  void WatchExec(pid_t pid);
  // A child's stderr pipe joins the epoll set once its exec_watch_delay is
  // over (Due::kStderr); one still setting up is watched at its exec.
  void WatchStderr(pid_t pid);
  // Looks at every child setting up whose pipe is unwatched (one read
  // each); with `watch`, watches those still setting up. Whether a spawn
  // slot is free after that.
  bool LookAtSetups(bool watch);
  // Spawn slots whose child is gone but whose end was not yet seen.
  void FinishOrphanSlots();
  // The child's own signal to end: TERM to its process group, and KILL at
  // once to an init of a PID namespace that leaves TERM at its default
  // action (the kernel does not deliver such a signal to an init, where it
  // would have ended any other process); one that catches or ignores TERM
  // gets the grace period, as any other child. A child still setting up is
  // killed outright.
  void Terminate(pid_t pid, const Child& c);
  void Reap();
  // A host source woke the loop (host_watch.h): read it, and watch it
  // again unless it found only the host's business.
  void OnHostEvents(int fd);
  // Watches a host source again (host_watch.h's ArmFn).
  void ArmHostSource(int fd, uint64_t tag);
  // A child stopped (WUNTRACED): one still setting up is killed.
  void OnChildStopped(pid_t pid, int sig);
  void EndChild(pid_t pid, int status);
  void LogEnd(pid_t pid, int status, const Child& c, double seconds);
  // What the seccomp kill attribution needs to know besides children.
  [[nodiscard]] KnownProcesses Known() const;
  // The syslog relay's sockets, those of `config`.
  [[nodiscard]] base::Status SyncSyslogRelay(const config::Config& config);
  void EnforceTimeouts();
  // A stale udp wait child found idle (stale_wait.h): TERM while it is
  // stopped, then CONT; KILL after kill_grace.
  void EndStale(pid_t pid, Child& c);
  void Reload();
  void FinishReload();
  void BeginStop();
  void DumpStatus();
  void Watch(int fd, uint64_t tag, uint32_t events);
  // Watch for a descriptor with no registration yet (a child's pipes).
  void WatchNew(int fd, uint64_t tag, uint32_t events);
  // Before a watched descriptor is closed: a close alone leaves it
  // registered while a child in setup holds a copy (EpollRemove).
  void Unwatch(int fd);
  // The listener's channel and doorbell, and the pipe of its log lines,
  // unwatched and closed.
  void CloseChannel();
  void CloseListenerLog();
  // One pass of the event loop over `n` events; false when it must end.
  bool RunOnce(const epoll_event* events, int n);
  // Allocation failed: said once, requests wait until memory comes back.
  void OnOutOfMemory();
  [[nodiscard]] int NextTimeoutMs() const;

  base::Logger& log_;
  Options options_;
  std::shared_ptr<config::Config> config_;
  std::shared_ptr<spawn::PlanSet> plans_;
  // Makes the namespaces of drops_privileges services (null: this process
  // makes them, when it does not harden itself).
  std::unique_ptr<spawn::NamespaceMaker> ns_maker_;
  ServiceStates services_;  // the listener's state as last handed over
  SocketList sockets_;
  std::vector<SocketList> sockets_by_service_;  // sockets_ by service (the request checks)
  // Its TCP sockets, in flight while no listener start or reload needs
  // them, so that no child's clone copies them (socket_park.h). park_due_:
  // some may be in hand, parked again at the iteration's end.
  SocketPark park_;
  bool park_due_ = false;
  // The children, how many run per service, and what is due for each
  // (child_table.h).
  ChildTable children_;
  // The concerns of their own, over the children (declared after them).
  StderrRelay stderr_relay_;      // their stderr, into the log
  SeccompKills seccomp_kills_;    // which service a seccomp kill was
  StaleWaitChildren stale_;       // udp wait children a reload left behind
  PortSet served_ports_;  // of the installed table, for the reflection rules
  UdpLeftovers leftovers_;  // udp nowait sockets whose child left datagrams
  // Per service of the installed table: spawn::PlanIdentity of its plan
  // and its timeout (what a running child keeps of them).
  std::vector<std::shared_ptr<const std::string>> plan_identities_;
  std::vector<int> orphan_slots_;
  std::unique_ptr<sandbox::BpfProgram> children_filter_;
  std::unique_ptr<spawn::Spawner> spawner_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<sandbox::BpfProgram> listener_filter_;
  // hinetd-listener, opened at start: every listener of this monitor runs
  // the program it started with, whatever is installed since.
  base::UniqueFd listener_program_;
  std::string listener_program_path_;
  base::UniqueFd epoll_;
  base::UniqueFd signal_fd_;
  std::unique_ptr<Channel> channel_;
  // The listener's doorbell (an eventfd it watches; ListenerSetup), and
  // whether a message it must read at once is in the channel unrung.
  base::UniqueFd doorbell_;
  bool ring_owed_ = false;
  base::UniqueFd listener_log_;  // the relay's receiving end, if the listener's log goes through it
  LogRelay log_relay_;
  SyslogRelay syslog_relay_{log_};
  bool control_out_ = false;
  bool control_in_ = true;  // false while every spawn slot is taken
  ListenerLife listener_;  // which runs, which ran last, the restart back-off
  std::optional<PendingReload> reload_;
  bool reload_queued_ = false;  // a SIGHUP came during a reload: load again after it
  Clock::time_point handover_deadline_ = Clock::time_point::max();
  uint64_t generation_ = 0;
  // Refusals an honest listener can meet are logged at most this often (a
  // listener could make them at any rate); the rest are counted.
  RateLimiter refusal_log_{10, std::chrono::seconds(10), Clock::now()};
  uint64_t refusals_unlogged_ = 0;
  uint64_t spawn_failures_ = 0;  // spawns refused by the system in a row, for the log
  // Allocation failed (monitor.cc's memory reserve): requests wait in the
  // channel, and one read meanwhile is refused, until the reserve can be
  // taken again, tried every 100 ms.
  bool memory_short_ = false;
  Clock::time_point memory_retry_at_{};
  // The spawn request being handled has had no answer yet (an end report,
  // a started child, or the listener's end): one that fails for want of
  // memory is refused, so that the listener's counts stay exact.
  bool request_open_ = false;
  // The process events (proc_events.h), the kernel log and the audit
  // records are of the whole host: watched one-shot, read in batches while
  // the host keeps making them (host_watch.h). The process events are read
  // in between where attribution needs them (before a reap forgets a child,
  // before a kill record or a syslog message is attributed), the records
  // while a killed child's end line waits for its record.
  HostWatch host_watch_;
  // A child was cloned in this loop: its fork event is queued on the
  // process-events socket; while that is watched, read at the loop's end
  // rather than in a wakeup of its own.
  bool cloned_ = false;
  Channel::Received control_msg_;  // reused by OnControl
  EndBatchBuilder end_batch_;  // for the listener; see QueueEnd
  // Whether this process may create namespaces for its children (root in a
  // container often may not); tests that keep their own capabilities may.
  bool have_sys_admin_ = true;
  // Whether the monitor kept CAP_MKNOD and CAP_CHOWN to build jails: only
  // when the table it started with has one (a reload that adds the first
  // jail needs a restart).
  bool jail_caps_ = false;
  // Builds (or finds, unchanged) the tree of every `jail` of `config`; logs
  // event=jail per service. On error, no running tree has changed.
  [[nodiscard]] base::Status BuildJails(const config::Config& config);
  // Removes the trees of jail_dir no service of the running table and no
  // running child uses.
  void RemoveUnusedJails(const config::Config* previous);
  bool stopping_ = false;
  bool killed_ = false;
  // READY=1 is due when the next listener reports it serves (at start, and
  // after a reload), with this STATUS=.
  bool ready_due_ = false;
  std::string ready_status_;
  Clock::time_point stop_deadline_{};
};

}  // namespace hinetd::supervisor
