// The daemon's event loop: listening sockets, children, signals. One thread,
// epoll + signalfd, no work in signal handlers (there are none).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
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
  int listen_backlog = 1024;
};

// Per-service state that outlives a reload (matched by name).
struct ServiceState {
  std::string name;
  int active = 0;
  uint64_t accepted = 0;
  uint64_t setup_failures = 0;
  uint64_t seccomp_kills = 0;
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
  struct Listener {
    net::Endpoint ep;
    net::Transport transport = net::Transport::kTcp;
    base::UniqueFd fd;
    size_t service = 0;
    bool polling = false;
  };
  struct Child {
    std::shared_ptr<ServiceState> state;
    std::string peer;
    Clock::time_point started;
    bool setup_failed = false;
    int stderr_fd = -1;
    std::string stderr_partial;
  };
  struct PendingEnd {  // a seccomp kill waiting for its audit record
    pid_t pid;
    std::shared_ptr<ServiceState> state;
    double seconds;
    Clock::time_point deadline;
  };

  [[nodiscard]] base::Result<std::vector<std::unique_ptr<Listener>>> BindNew(
      const config::Config& config, std::vector<std::unique_ptr<Listener>>& reuse);
  [[nodiscard]] base::Status EnsureEmptyChroot(const config::Config& config);
  void Install(std::unique_ptr<config::Config> config, std::unique_ptr<spawn::PlanSet> plans,
               std::vector<std::unique_ptr<Listener>> listeners);

  void OnSignal();
  void OnListener(Listener& l);
  void OnStderr(int fd);
  void Reap();
  void EndChild(pid_t pid, int status);
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
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<int, Listener*> listener_by_fd_;
  std::unordered_map<pid_t, Child> children_;
  std::unordered_map<int, pid_t> stderr_owner_;
  std::vector<PendingEnd> pending_seccomp_;
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
