// The parent side of spawning: clone (vfork-style), read the status pipe,
// hand back the pid or the failed step. Runs on the per-connection path, so
// it allocates nothing and parses nothing; it only formats the peer and
// local addresses into a buffer it owns.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "net/address.h"
#include "spawn/plan.h"

namespace hinetd::spawn {

struct SpawnOutcome {
  pid_t pid = -1;
  // Set when a step before execve (or execve itself) failed; the child has
  // exited (125, 126 or 127) and still needs reaping.
  int32_t failed_step = 0;
  int32_t failed_errno = 0;
  // Read end of the child's stderr when the service has stderr = "log".
  base::UniqueFd stderr_pipe;

  [[nodiscard]] bool failed() const { return failed_step != 0; }
};

// What the child gets: the socket, and what its environment says about it.
struct Connection {
  enum class Kind { kTcp, kUdp, kUnix };
  int fd = -1;
  Kind kind = Kind::kTcp;
  // TCP and UDP: TCPREMOTEIP/PORT and TCPLOCALIP/PORT (UCSPI; UDP uses the
  // same names). Either may be null, and the variables are then left out.
  const net::Endpoint* peer = nullptr;
  const net::Endpoint* local = nullptr;
  // UNIX: UNIXREMOTEUID/GID/PID from SO_PEERCRED (and ucspi-unix's
  // UNIXREMOTEEUID/EGID), UNIXLOCALPATH from `local`.
  const ucred* cred = nullptr;
};

class Spawner {
 public:
  // Captures what the child must undo of this process (non-default signal
  // dispositions, the bounding set). Create it after the process has set up
  // its signals and dropped its own capabilities, and before serving.
  [[nodiscard]] static base::Result<std::unique_ptr<Spawner>> Create();
  ~Spawner();
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  // Starts one child for `plan` on `conn`. An error means no child exists
  // (clone or pipe failed); a failed setup step is reported in the outcome.
  [[nodiscard]] base::Result<SpawnOutcome> Spawn(const SpawnPlan& plan, const Connection& conn);

 private:
  Spawner() = default;

  void* stack_ = nullptr;
  size_t stack_size_ = 0;
  base::UniqueFd dev_null_;
  std::vector<int> signals_to_reset_;
  std::vector<int> bounding_caps_;
  // Scratch for the per-connection environment (reused; capacity reserved).
  std::vector<char*> envp_;
  char env_buf_[6][160] = {};
};

}  // namespace hinetd::spawn
