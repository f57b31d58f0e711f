// The parent side of spawning: clone into the parent's memory without
// copying it, and later read the status pipe for the pid's fate. Runs on the
// per-connection path, so it allocates nothing and parses nothing; it only
// formats the peer and local addresses into a slot it owns.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
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

// True if this process has a controlling terminal (/proc/self/stat; true
// when that cannot be read).
[[nodiscard]] bool HasControllingTerminal();

// Gives up this process's controlling terminal (TIOCNOTTY on /dev/tty), so
// that no child it starts afterwards inherits it: a service must not reach
// the terminal hinetd was started from (TIOCSTI would type into the
// administrator's shell). A session leader's TIOCNOTTY also sends SIGHUP
// and SIGCONT to the terminal's foreground process group, which may be this
// one: both are ignored meanwhile. Returns !HasControllingTerminal().
bool DropControllingTerminal();

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
  // dispositions, the bounding set), and whether children need a session of
  // their own (this process has a controlling terminal; the daemon gives its
  // up first). Create it after the process has set up its signals and
  // dropped its own capabilities, and before serving.
  // `slots`: how many children may be setting up at once; 0 means one per
  // online CPU. A setup is CPU work: more at once than there are CPUs only
  // adds contention (measured on 2 cores at 16 concurrent clients: 2 slots
  // gave 2670 conn/s with p99 16 ms, 16 slots 2500 conn/s with p99 100 ms).
  // `base_filter`: installed by every child before its service's policy
  // (and alone for a service without one); it must outlive the spawner.
  [[nodiscard]] static base::Result<std::unique_ptr<Spawner>> Create(
      size_t slots = 0, const sandbox::BpfProgram* base_filter = nullptr);
  ~Spawner();  // kills every child still setting up, and waits (bounded) for it
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  // The socket on which children of plans with `notify` send their
  // listener (close-on-exec; the monitor's recorder owns it). Without one,
  // such a plan does not start.
  void set_notify_socket(int fd) { notify_socket_ = fd; }

  // Whether Start can be called now without growing the pool.
  [[nodiscard]] bool HasFreeSlot() const;
  // The kernel's Landlock ABI version (0: none). From 2 on, every child
  // gets a Landlock domain of its own (child.cc, step 14).
  [[nodiscard]] int landlock_abi() const { return landlock_abi_; }
  // The version from which children get a domain: ABI 1 would deny them
  // every rename or link into another directory.
  static constexpr int kLandlockMinAbi = 2;
  // Starts one child for `plan` on `conn` and returns at once, while the
  // child sets itself up (on architectures whose raw system calls child.cc
  // does not write, the child gets a copy of this process's memory instead
  // of sharing it). `plan` must stay alive and unchanged until Finish says
  // the setup is over. With `grow`, a busy pool gets one more slot instead
  // of failing (for requests that cannot wait). An error means no child
  // exists (no free slot, clone or pipe failed).
  [[nodiscard]] base::Result<Started> Start(const SpawnPlan& plan, const Connection& conn,
                                            bool grow = false);
  // What became of a started child's setup, once it is over (EOF on
  // status_fd); nullopt while it is still setting up. Never blocks. Frees
  // its slot and closes status_fd; a failed child has exited (125, 126 or
  // 127) and still needs reaping. Once the child has been reaped, the setup
  // is always over: a process closes its files before it can be reaped.
  [[nodiscard]] std::optional<ExecResult> Finish(int slot);
  // Kills a child that is still setting up (SIGKILL: it is not the service
  // yet, so nothing of a service is lost). Its slot is freed by Finish once
  // the kernel has taken it down.
  void Abort(int slot);
  // Finish, waiting at most `timeout`; past it the child is aborted, and
  // its end awaited for another `timeout`. nullopt if even that did not
  // end it (the slot then stays busy until a later Finish).
  [[nodiscard]] std::optional<ExecResult> Wait(int slot, std::chrono::milliseconds timeout);

  // Start, then Wait: one child, synchronously (tests and tools).
  [[nodiscard]] base::Result<SpawnOutcome> Spawn(
      const SpawnPlan& plan, const Connection& conn,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

 private:
  // What a child reads until it has executed: its stack, its spec and its
  // environment. Owned by the spawner, one per child setting up.
  struct Slot {
    void* stack = nullptr;
    bool busy = false;
    pid_t pid = -1;
    // What has been read of the child's report so far (it may come before
    // the EOF that frees the slot).
    StatusReport report{};
    size_t report_got = 0;
    base::UniqueFd status_read;
    ChildSpec spec{};
    std::vector<char*> envp;  // capacity reserved: filled without allocating
    char env_buf[6][160] = {};
  };

  Spawner() = default;
  [[nodiscard]] base::Status AddSlot();

  size_t stack_size_ = 0;
  std::vector<std::unique_ptr<Slot>> slots_;
  size_t busy_ = 0;
  base::UniqueFd dev_null_;
  std::vector<int> signals_to_reset_;
  std::vector<int> bounding_caps_;
  int last_cap_ = 0;
  bool new_session_ = true;  // this process has a controlling terminal
  const sandbox::BpfProgram* base_filter_ = nullptr;
  int notify_socket_ = -1;
  int landlock_abi_ = 0;
  // The ruleset of every child's Landlock domain (MakeLandlockRuleset, made
  // once), for the children that stay in this process's mount namespace.
  base::UniqueFd landlock_ruleset_;
};

}  // namespace hinetd::spawn
