#include "spawn/spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "sandbox/caps.h"

namespace hinetd::spawn {

using base::ErrnoError;
using base::Error;
using base::Result;
using base::UniqueFd;

namespace {

// The child's stack. It runs only RunChild (a few hundred bytes of frames),
// but libc calls may use more; 256 KiB plus a guard page costs nothing
// until touched.
constexpr size_t kStackSize = 256 * 1024;

struct KernelSigaction {
  __sighandler_t handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

int ChildEntry(void* arg) { RunChild(*static_cast<const ChildSpec*>(arg)); }

// "NAME=" + value into buf.
char* SetVar(char* buf, size_t size, const char* name, const char* value) {
  snprintf(buf, size, "%s=%s", name, value);
  return buf;
}

}  // namespace

Result<std::unique_ptr<Spawner>> Spawner::Create(size_t slots) {
  std::unique_ptr<Spawner> s(new Spawner());
  long page = sysconf(_SC_PAGESIZE);
  s->stack_size_ = kStackSize + static_cast<size_t>(page);
  if (slots == 0) slots = static_cast<size_t>(std::clamp(sysconf(_SC_NPROCESSORS_ONLN), 1L, 64L));
  for (size_t i = 0; i < slots; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->stack = mmap(nullptr, s->stack_size_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (slot->stack == MAP_FAILED) {
      slot->stack = nullptr;
      return ErrnoError("mmap of a spawn stack", errno);
    }
    // Guard page at the low end: a stack overflow faults instead of writing
    // into whatever lies below.
    if (mprotect(slot->stack, static_cast<size_t>(page), PROT_NONE) != 0) {
      munmap(slot->stack, s->stack_size_);
      return ErrnoError("mprotect of a spawn stack guard", errno);
    }
    slot->envp.reserve(256);
    s->slots_.push_back(std::move(slot));
  }
  s->dev_null_.reset(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!s->dev_null_) return ErrnoError("open /dev/null", errno);

  // Signals the child must reset: anything not SIG_DFL now (SIG_IGN
  // survives execve; a handler must never run in the child).
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    KernelSigaction old{};
    if (syscall(SYS_rt_sigaction, sig, nullptr, &old, sizeof(uint64_t)) != 0) continue;
    if (old.handler != SIG_DFL) s->signals_to_reset_.push_back(sig);
  }
  int last = sandbox::LastCap();
  for (int cap = 0; cap <= last; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) s->bounding_caps_.push_back(cap);
  }
  return s;
}

Spawner::~Spawner() {
  // A child still setting up runs on its slot's stack: let it finish first.
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i]->busy) (void)Finish(static_cast<int>(i), /*block=*/true);
  }
  for (const auto& slot : slots_) {
    if (slot->stack != nullptr) munmap(slot->stack, stack_size_);
  }
}

bool Spawner::HasFreeSlot() const { return busy_ < slots_.size(); }

Result<Spawner::Started> Spawner::Start(const SpawnPlan& plan, const Connection& conn) {
  int index = -1;
  for (size_t i = 0; i < slots_.size() && index < 0; ++i) {
    if (!slots_[i]->busy) index = static_cast<int>(i);
  }
  if (index < 0) return Error("no free spawn slot");
  Slot& slot = *slots_[static_cast<size_t>(index)];
  Started out;

  // The environment: the service's own variables, then the UCSPI ones.
  std::vector<char*>& envp = slot.envp;
  auto& env_buf = slot.env_buf;
  envp.clear();
  for (const auto& e : plan.env_storage) envp.push_back(const_cast<char*>(e.c_str()));
  static constexpr const char* kProto[] = {"PROTO=TCP", "PROTO=UDP", "PROTO=UNIX"};
  envp.push_back(const_cast<char*>(kProto[static_cast<int>(conn.kind)]));
  char ip[64];
  char port[16];
  if (conn.cred != nullptr) {
    snprintf(env_buf[0], sizeof env_buf[0], "UNIXREMOTEUID=%u", conn.cred->uid);
    snprintf(env_buf[1], sizeof env_buf[1], "UNIXREMOTEGID=%u", conn.cred->gid);
    snprintf(env_buf[2], sizeof env_buf[2], "UNIXREMOTEPID=%d", conn.cred->pid);
    // The names ucspi-unix's unixserver uses for the same values.
    snprintf(env_buf[3], sizeof env_buf[3], "UNIXREMOTEEUID=%u", conn.cred->uid);
    snprintf(env_buf[4], sizeof env_buf[4], "UNIXREMOTEEGID=%u", conn.cred->gid);
    for (int i = 0; i < 5; ++i) envp.push_back(env_buf[i]);
    if (conn.local != nullptr && conn.local->IsUnix()) {
      // A path is at most 107 bytes (sun_path), which fits the buffer.
      snprintf(env_buf[5], sizeof env_buf[5], "UNIXLOCALPATH=%s",
               conn.local->UnixPath().c_str());
      envp.push_back(env_buf[5]);
    }
  }
  if (conn.peer != nullptr && net::FormatIp(conn.peer->sa(), ip, sizeof ip) &&
      net::FormatPort(conn.peer->sa(), port, sizeof port)) {
    envp.push_back(SetVar(env_buf[0], sizeof env_buf[0], "TCPREMOTEIP", ip));
    envp.push_back(SetVar(env_buf[1], sizeof env_buf[1], "TCPREMOTEPORT", port));
  }
  if (conn.local != nullptr && net::FormatIp(conn.local->sa(), ip, sizeof ip) &&
      net::FormatPort(conn.local->sa(), port, sizeof port)) {
    envp.push_back(SetVar(env_buf[2], sizeof env_buf[2], "TCPLOCALIP", ip));
    envp.push_back(SetVar(env_buf[3], sizeof env_buf[3], "TCPLOCALPORT", port));
  }
  envp.push_back(nullptr);

  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe2 (status)", errno);
  UniqueFd status_read(status_pipe[0]);
  UniqueFd status_write(status_pipe[1]);
  // Non-blocking for the reader: an event loop may look at it before the
  // child is done (Finish then says so).
  fcntl(status_read.get(), F_SETFL, O_NONBLOCK);

  int stderr_fd = dev_null_.get();
  UniqueFd log_write;
  if (plan.stderr_mode == config::StderrMode::kSocket) {
    stderr_fd = conn.fd;
  } else if (plan.stderr_mode == config::StderrMode::kLog) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return ErrnoError("pipe2 (stderr)", errno);
    out.stderr_pipe.reset(p[0]);
    log_write.reset(p[1]);
    stderr_fd = p[1];
    // The daemon reads it from its event loop.
    fcntl(p[0], F_SETFL, O_NONBLOCK);
  }

  ChildSpec& spec = slot.spec;
  spec = ChildSpec{};
  spec.signals_to_reset = signals_to_reset_.data();
  spec.n_signals_to_reset = static_cast<int>(signals_to_reset_.size());
  spec.conn_fd = conn.fd;
  spec.stderr_fd = stderr_fd;
  spec.status_fd = status_write.get();
  spec.exec_fd = plan.exec_fd;
  spec.rlimits = plan.rlimits.data();
  spec.n_rlimits = static_cast<int>(plan.rlimits.size());
  spec.umask = plan.umask;
  spec.bounding_caps = bounding_caps_.data();
  spec.n_bounding_caps = static_cast<int>(bounding_caps_.size());
  spec.chroot_dir = plan.chroot.empty() ? nullptr : plan.chroot.c_str();
  spec.workdir = plan.workdir.c_str();
  spec.groups = plan.groups.data();
  spec.n_groups = static_cast<int>(plan.groups.size());
  spec.gid = plan.gid;
  spec.uid = plan.uid;
  spec.pdeathsig = plan.pdeathsig;
  spec.filter = plan.filter ? plan.filter->fprog() : nullptr;
  spec.path = plan.path.empty() ? nullptr : plan.path.c_str();
  spec.argv = plan.argv.data();
  spec.envp = envp.data();

  // Block every signal across the clone so that nothing can run on the
  // child's stack with the parent's dispositions; the child sets its own
  // (empty) mask in step 1.
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  // CLONE_VM: no copy of the parent's page tables (the cost of fork grows
  // with the parent's memory). Without CLONE_VFORK the parent goes on at
  // once and children set up in parallel: the child writes only its own
  // stack (raw system calls, not even errno) and reads only this slot and
  // the plan, which stay put until Finish.
  char* stack_top = static_cast<char*>(slot.stack) + stack_size_;
  int flags = CLONE_VM | SIGCHLD | (HINETD_RAW_SYSCALLS ? 0 : CLONE_VFORK);
  pid_t pid = clone(ChildEntry, stack_top, flags, &spec);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) return ErrnoError("clone", clone_errno);

  // Our copies of the write ends must go, or EOF never comes. The child's
  // copy of the status pipe closes on execve (close-on-exec) or exit.
  status_write.reset();
  log_write.reset();
  slot.busy = true;
  ++busy_;
  out.pid = pid;
  out.slot = index;
  out.status_fd = status_read.get();
  slot.status_read = std::move(status_read);
  return out;
}

std::optional<Spawner::ExecResult> Spawner::Finish(int index, bool block) {
  ExecResult result;
  if (index < 0 || static_cast<size_t>(index) >= slots_.size()) return result;
  Slot& slot = *slots_[static_cast<size_t>(index)];
  if (!slot.busy) return result;
  // The slot is free only at EOF: execve closed the close-on-exec write
  // end (the child left this address space for its own), or the child
  // exited (the kernel leaves the address space before it closes files). A
  // failed child writes its report first and still runs on the slot's
  // stack for a moment: the report alone does not free it.
  int fd = slot.status_read.get();
  StatusReport report{};
  size_t got = 0;
  for (;;) {
    char buf[sizeof report];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      if (got + static_cast<size_t>(n) <= sizeof report) {
        std::memcpy(reinterpret_cast<char*>(&report) + got, buf, static_cast<size_t>(n));
      }
      got += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) break;  // cannot happen on a pipe; treat as the end
    if (!block && got == 0) return std::nullopt;  // still setting up
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, -1);  // a report came: EOF follows within microseconds
  }
  if (got == sizeof report) {
    result.failed_step = report.step;
    result.failed_errno = report.err;
  }
  slot.status_read.reset();
  slot.busy = false;
  --busy_;
  return result;
}

Result<SpawnOutcome> Spawner::Spawn(const SpawnPlan& plan, const Connection& conn) {
  auto started = Start(plan, conn);
  if (!started.ok()) return started.error();
  ExecResult r = *Finish(started->slot, /*block=*/true);
  SpawnOutcome out;
  out.pid = started->pid;
  out.failed_step = r.failed_step;
  out.failed_errno = r.failed_errno;
  if (!r.failed()) out.stderr_pipe = std::move(started->stderr_pipe);
  return out;
}

}  // namespace hinetd::spawn
