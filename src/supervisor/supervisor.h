// The daemon's event loop: listening sockets, children, signals. One thread,
// epoll + signalfd, no work in signal handlers (there are none).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "config/types.h"
#include "spawn/plan.h"
#include "spawn/spawner.h"
#include "supervisor/kmsg.h"
#include "supervisor/limits.h"

namespace hinetd::supervisor {

using Clock = std::chrono::steady_clock;

// The capabilities the daemon keeps after binding (until privilege
// separation splits it): binding again on reload, and what spawning needs.
[[nodiscard]] std::vector<int> DaemonCapabilities();

struct Options {
  std::string config_path;
  spawn::PlanOptions plan_options;
  // Between SIGTERM and SIGKILL for children at shutdown.
  std::chrono::milliseconds stop_grace{5000};
  // How long an `end` line for a seccomp kill waits for the kernel's audit
  // record naming the syscall.
  std::chrono::milliseconds seccomp_record_wait{250};
  // Between TERM and KILL for a child past its timeout.
  std::chrono::milliseconds kill_grace{2000};
  int listen_backlog = 1024;
};

// Why a service is not accepting for now.
enum class Pause { kNone, kRate, kFailing };

// Per-service state that outlives a reload (matched by name): what is
// running, the limits' memory, and the counters SIGUSR1 reports.
struct ServiceState {
  std::string name;
  int active = 0;
  // Children per client address (binary key), or per uid for unix:.
  std::unordered_map<std::string, int> per_source;
  std::optional<RateLimiter> rate;
  std::optional<config::Service::Rate> rate_config;  // what `rate` was built from
  FailureStreak failures{10, std::chrono::milliseconds(1000)};
  Pause pause = Pause::kNone;
  Clock::time_point paused_until{};
  Clock::time_point paused_at{};
  Clock::time_point capacity_logged{};

  uint64_t accepted = 0;
  uint64_t refused_acl = 0;
  uint64_t refused_per_source = 0;
  uint64_t refused_reflection = 0;
  uint64_t paused_rate = 0;      // times the rate paused the service
  uint64_t paused_failing = 0;   // times loop protection paused it
  uint64_t held_capacity = 0;    // times max_instances held connections back
  uint64_t setup_failures = 0;
  uint64_t seccomp_kills = 0;
  uint64_t timeouts = 0;
};

class Supervisor {
 public:
  Supervisor(base::Logger& log, Options options);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Binds every listening socket of a validated configuration, reduces the
  // process's capabilities, and prepares the loop. An error here is a
  // system error at start (exit 71); nothing is left bound.
  [[nodiscard]] base::Status Start(std::unique_ptr<config::Config> config,
                                   std::unique_ptr<spawn::PlanSet> plans);

  // Serves until SIGTERM/SIGINT and every child is gone. Returns the exit code.
  int Run();

 private:
  // One listening socket. Shared: a udp wait child keeps its listener
  // (the socket it was given) alive across a reload until it ends.
  struct Listener {
    net::Endpoint ep;
    net::Transport transport = net::Transport::kTcp;
    base::UniqueFd fd;
    size_t service = 0;
    bool wait = false;    // udp wait: the socket itself goes to the child
    bool busy = false;    // a wait child holds it now
    bool polling = false;
    ino_t unix_ino = 0;   // the socket file this listener created, if unix
    ~Listener();          // removes that file if it is still ours
  };
  struct Child {
    std::shared_ptr<ServiceState> state;
    std::string peer;
    std::string source;  // per_source key; empty = not counted
    Clock::time_point started;
    bool setup_failed = false;
    bool timed_out = false;
    int stderr_fd = -1;
    std::string stderr_partial;
    std::shared_ptr<Listener> wait_listener;  // udp wait: resume it at exit
  };
  struct PendingEnd {  // a seccomp kill waiting for its audit record
    pid_t pid;
    std::shared_ptr<ServiceState> state;
    double seconds;
    Clock::time_point deadline;
  };

  using ListenerList = std::vector<std::shared_ptr<Listener>>;
  [[nodiscard]] base::Result<ListenerList> BindNew(const config::Config& config,
                                                   ListenerList& reuse);
  [[nodiscard]] base::Status EnsureEmptyChroot(const config::Config& config);
  void Install(std::unique_ptr<config::Config> config, std::unique_ptr<spawn::PlanSet> plans,
               ListenerList listeners);

  void OnSignal();
  void OnListener(const std::shared_ptr<Listener>& l);
  void OnStream(Listener& l);
  void OnUdpWait(const std::shared_ptr<Listener>& l);
  void OnUdpNowait(const std::shared_ptr<Listener>& l);
  // Starts a child and records it; false if none is running afterwards.
  bool StartChild(Listener& l, const spawn::Connection& conn, const std::string& peer,
                  const std::string& source, const std::shared_ptr<Listener>& wait_listener);
  [[nodiscard]] bool AtCapacity() const;
  // The service may start a child now (not paused, not full); checks the
  // rate without spending it, and pauses the service if it is exceeded.
  [[nodiscard]] bool MayStart(size_t service, bool waiting);
  // allow/deny and per_source for one client; logs and counts a refusal.
  [[nodiscard]] bool Admit(size_t service, const net::Endpoint* peer, const std::string& source,
                           const std::string& peer_text);
  void PauseService(ServiceState& state, Pause why, std::chrono::milliseconds length);
  void ResumeExpired();
  void EnforceTimeouts();
  [[nodiscard]] bool LogOncePer(const std::string& key);
  // "peer=..." unless [daemon] log_peers = false.
  void AddPeer(base::LogLine& line, const std::string& peer) const;
  [[nodiscard]] bool ReflectionRisk(const Listener& l, const net::Endpoint& peer);
  void Watch(int fd, uint64_t tag, bool readable);
  void Unwatch(int fd);
  void OnStderr(int fd);
  void Reap();
  void EndChild(pid_t pid, int status);
  void LogEnd(pid_t pid, int status, const std::shared_ptr<ServiceState>& state, double seconds,
              bool timed_out, const std::shared_ptr<Listener>& wait_listener, bool failed);
  void FlushPendingSeccomp(bool all);
  void Reload();
  void BeginStop();
  void DumpStatus();
  void UpdatePolling();
  void CloseStderr(Child& c, pid_t pid);
  void LogStderrLine(const Child& c, pid_t pid, std::string_view line);
  [[nodiscard]] int NextTimeoutMs() const;

  base::Logger& log_;
  Options options_;
  std::unique_ptr<config::Config> config_;
  std::unique_ptr<spawn::PlanSet> plans_;
  std::vector<std::shared_ptr<ServiceState>> services_;
  ListenerList listeners_;
  std::unordered_map<int, std::shared_ptr<Listener>> listener_by_fd_;
  // Ports of the small services (and of every internal service here): an
  // internal udp service never answers a datagram from one of them.
  std::set<uint16_t> small_service_ports_;
  // When a refused peer was last logged (refusals are logged once per peer
  // and interval, not per datagram).
  std::unordered_map<std::string, Clock::time_point> refusal_logged_;
  std::unordered_map<pid_t, Child> children_;
  std::unordered_map<int, pid_t> stderr_owner_;
  std::vector<PendingEnd> pending_seccomp_;
  // Children with a timeout: when each gets TERM (then, `kill_grace` later,
  // KILL). Ordered, so the next deadline is the first.
  std::multimap<Clock::time_point, pid_t> deadlines_;
  Clock::time_point children_full_logged_{};
  std::unique_ptr<spawn::Spawner> spawner_;
  SeccompLog seccomp_log_;
  base::UniqueFd epoll_;
  base::UniqueFd signal_fd_;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  bool killed_ = false;
  Clock::time_point stop_deadline_{};
  Clock::time_point accept_pause_until_{};
};

}  // namespace hinetd::supervisor
