// The parent side of spawning: clone into the parent's memory without
// copying it, and later read the status pipe for the pid's fate. Runs on the
// per-connection path, so it allocates nothing and parses nothing; it only
// formats the peer and local addresses into a slot it owns.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <optional>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "net/address.h"
#include "spawn/child.h"
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
  // A child started and not yet known to have executed.
  struct Started {
    pid_t pid = -1;
    int slot = -1;
    int status_fd = -1;  // readable (a report, or EOF) once the setup is over
    // Read end of the child's stderr when the service has stderr = "log".
    base::UniqueFd stderr_pipe;
  };
  struct ExecResult {
    int32_t failed_step = 0;  // 0: execve succeeded
    int32_t failed_errno = 0;
    [[nodiscard]] bool failed() const { return failed_step != 0; }
  };

  // Captures what the child must undo of this process (non-default signal
  // dispositions, the bounding set). Create it after the process has set up
  // its signals and dropped its own capabilities, and before serving.
  // `slots`: how many children may be setting up at once; 0 means one per
  // online CPU. A setup is CPU work: more at once than there are CPUs only
  // adds contention (measured on 2 cores at 16 concurrent clients: 2 slots
  // gave 2670 conn/s with p99 16 ms, 16 slots 2500 conn/s with p99 100 ms).
  [[nodiscard]] static base::Result<std::unique_ptr<Spawner>> Create(size_t slots = 0);
  ~Spawner();  // waits for every child still setting up
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  // Whether Start can be called now.
  [[nodiscard]] bool HasFreeSlot() const;
  // Starts one child for `plan` on `conn` and returns at once, while the
  // child sets itself up (vfork-style where the child's raw system calls are
  // not written for the architecture: then it returns once the child has
  // executed). `plan` must stay alive and unchanged until Finish. An error
  // means no child exists (no free slot, clone or pipe failed).
  [[nodiscard]] base::Result<Started> Start(const SpawnPlan& plan, const Connection& conn);
  // What became of a started child's setup, once it is over (EOF on
  // status_fd); until then nullopt, or, with `block`, waiting for it (a
  // setup takes a fraction of a millisecond). Frees its slot and closes
  // status_fd; a failed child has exited (125, 126 or 127) and still needs
  // reaping.
  [[nodiscard]] std::optional<ExecResult> Finish(int slot, bool block);

  // Start, then Finish: one child, synchronously.
  [[nodiscard]] base::Result<SpawnOutcome> Spawn(const SpawnPlan& plan, const Connection& conn);

 private:
  // What a child reads until it has executed: its stack, its spec and its
  // environment. Owned by the spawner, one per child setting up.
  struct Slot {
    void* stack = nullptr;
    bool busy = false;
    base::UniqueFd status_read;
    ChildSpec spec{};
    std::vector<char*> envp;  // capacity reserved: filled without allocating
    char env_buf[6][160] = {};
  };

  Spawner() = default;

  size_t stack_size_ = 0;
  std::vector<std::unique_ptr<Slot>> slots_;
  size_t busy_ = 0;
  base::UniqueFd dev_null_;
  std::vector<int> signals_to_reset_;
  std::vector<int> bounding_caps_;
};

}  // namespace hinetd::spawn
