// The monitor's side of recording (`hinetd learn`) and of trial mode
// (default_action = "log"): see sandbox/recording.h for the programs. Each
// child of such a plan installs its program with a seccomp listener and
// sends that to the monitor over this recorder's socket; the monitor
// watches every listener in its event loop and answers each notification
// at once with SECCOMP_USER_NOTIF_FLAG_CONTINUE (the call runs as if
// unfiltered), after noting it: in learning, as an observation of the
// service; in trial mode, as one `event=policy-trial` line per service and
// distinct call. A listener stands for one connection: it is shared by the
// child and everything it starts, and hangs up (EPOLLHUP) when the last of
// them is gone.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "config/types.h"
#include "sandbox/learned.h"
#include "sandbox/policy.h"
#include "spawn/plan.h"

namespace hinetd::supervisor {

// Distinct policy-trial lines per service and generation; past it, one
// line says further ones are suppressed.
inline constexpr size_t kTrialLinesMax = 256;

// Whether the kernel answers notifications with
// SECCOMP_USER_NOTIF_FLAG_CONTINUE (Linux 5.5).
[[nodiscard]] bool UserNotifContinue();

class Recorder {
 public:
  [[nodiscard]] static base::Result<std::unique_ptr<Recorder>> Create(base::Logger& log);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // The socket children send their listener on (close-on-exec), and the
  // one this recorder reads them from.
  [[nodiscard]] int child_socket() const { return child_end_.get(); }
  [[nodiscard]] int socket() const { return own_end_.get(); }

  // Learning: the children of `service` record (instead of their policy).
  void set_learning(std::string service) { learning_ = std::move(service); }
  [[nodiscard]] const std::string& learning() const { return learning_; }
  // Learning: runtime's program (which the learned policy includes), run on
  // each call to tell the calls it allows from those it does not allow with
  // their arguments (Observed::beyond_runtime). Before the first child.
  void set_runtime(std::shared_ptr<const sandbox::BpfProgram> runtime) {
    runtime_ = std::move(runtime);
  }

  // Gives the plans that record or run a policy in trial mode their
  // program (and `notify`); the other plans are left as they are. Before
  // the plans are installed (start and reload). For each service in trial
  // mode, logs once (event=policy-trial-unseen) the calls hinetd's base
  // layers refuse with an errno that its policy leaves to its default:
  // trial mode cannot see them, and with default_action = "kill" they kill.
  [[nodiscard]] base::Status Arm(const config::Config& config, spawn::PlanSet& plans);
  // A new generation is installed: trial lines start afresh.
  void NewGeneration() { trial_.clear(); }

  // Reads the listeners children sent; `service_of` names the service of a
  // child pid (nullptr: not a child). Returns the listeners to watch.
  [[nodiscard]] std::vector<int> Receive(
      const std::function<const std::string*(pid_t)>& service_of);
  // Answers what is pending on a listener (a bounded number per call).
  void OnNotify(int fd);
  // The listener hung up: its connection is over.
  void Close(int fd);
  // Every listener still open is closed and counted (at the end of a run).
  void CloseAll();

  // Learning: what the service did, and the coverage.
  [[nodiscard]] const sandbox::Observations& observations() const { return observed_; }
  [[nodiscard]] uint64_t connections() const { return connections_; }  // listeners received
  [[nodiscard]] uint64_t ended() const { return history_.size(); }
  // How many of the last connections to end added nothing new.
  [[nodiscard]] uint64_t quiet_tail() const;

 private:
  struct Stream {
    pid_t pid = -1;
    std::string service;
    bool learning = false;
    bool added = false;  // learning: something not seen before
  };
  struct Trial {
    std::set<std::pair<int, std::vector<uint64_t>>> seen;
    bool suppressed = false;
  };

  explicit Recorder(base::Logger& log) : log_(log) {}
  void Handle(Stream& s, const void* notif);
  void ReportUnseen(const std::string& service, const std::string& policy,
                    const sandbox::BpfProgram& program);
  void End(int fd);

  base::Logger& log_;
  base::UniqueFd own_end_;
  base::UniqueFd child_end_;
  std::string learning_;
  std::shared_ptr<const sandbox::BpfProgram> runtime_;
  std::map<int, Stream> streams_;  // by listener fd (owned)
  std::map<std::string, Trial> trial_;
  sandbox::Observations observed_;
  uint64_t connections_ = 0;
  std::vector<bool> history_;  // per ended learning connection: added something
  size_t notif_size_ = 0;
  size_t resp_size_ = 0;
  std::vector<char> notif_;  // buffers of those sizes
  std::vector<char> resp_;
  std::map<int, std::string> names_;  // syscall number -> name, as met
};

}  // namespace hinetd::supervisor
