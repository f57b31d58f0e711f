#include "spawn/spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "sandbox/caps.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444  // on every architecture (Linux 5.13)
#endif

namespace hinetd::spawn {

using base::ErrnoError;
using base::Error;
using base::Result;
using base::Status;
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

// "NAME=" + value into buf (size > 0), cut to fit as snprintf would, with
// no format to interpret: four of these for every TCP connection.
char* SetVar(char* buf, size_t size, const char* name, const char* value) {
  size_t n = 0;
  for (const char* part : {name, "=", value}) {
    for (; *part != '\0' && n + 1 < size; ++part) buf[n++] = *part;
  }
  buf[n] = '\0';
  return buf;
}

}  // namespace

bool HasControllingTerminal() {
  // "pid (comm) state ppid pgrp session tty_nr ...": comm may hold spaces
  // and parentheses, so the fields count from the last ')'.
  base::UniqueFd fd(open("/proc/self/stat", O_RDONLY | O_CLOEXEC));
  if (!fd) return true;
  char buf[1024];
  ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return true;
  buf[n] = '\0';
  const char* p = strrchr(buf, ')');
  if (p == nullptr) return true;
  char state = 0;
  int ppid = 0, pgrp = 0, session = 0, tty = 0;
  if (sscanf(p + 1, " %c %d %d %d %d", &state, &ppid, &pgrp, &session, &tty) != 5) return true;
  return tty != 0;
}

bool DropControllingTerminal() {
  if (!HasControllingTerminal()) return true;
  base::UniqueFd tty(open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (tty) {
    struct sigaction ignore {}, old_hup{}, old_cont{};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &ignore, &old_hup);
    sigaction(SIGCONT, &ignore, &old_cont);
    (void)ioctl(tty.get(), TIOCNOTTY);
    sigaction(SIGHUP, &old_hup, nullptr);
    sigaction(SIGCONT, &old_cont, nullptr);
  }
  return !HasControllingTerminal();
}

Status Spawner::AddSlot() {
  long page = sysconf(_SC_PAGESIZE);
  auto slot = std::make_unique<Slot>();
  slot->stack = mmap(nullptr, stack_size_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (slot->stack == MAP_FAILED) {
    slot->stack = nullptr;
    return ErrnoError("mmap of a spawn stack", errno);
  }
  // Guard page at the low end: a stack overflow faults instead of writing
  // into whatever lies below.
  if (mprotect(slot->stack, static_cast<size_t>(page), PROT_NONE) != 0) {
    int e = errno;
    munmap(slot->stack, stack_size_);
    slot->stack = nullptr;
    return ErrnoError("mprotect of a spawn stack guard", e);
  }
  slot->envp.reserve(256);
  slots_.push_back(std::move(slot));
  return Status();
}

Result<std::unique_ptr<Spawner>> Spawner::Create(size_t slots,
                                                 const sandbox::BpfProgram* base_filter) {
  std::unique_ptr<Spawner> s(new Spawner());
  long page = sysconf(_SC_PAGESIZE);
  s->stack_size_ = kStackSize + static_cast<size_t>(page);
  s->base_filter_ = base_filter;
  if (slots == 0) slots = static_cast<size_t>(std::clamp(sysconf(_SC_NPROCESSORS_ONLN), 1L, 64L));
  s->slots_.reserve(slots);
  for (size_t i = 0; i < slots; ++i) {
    if (auto st = s->AddSlot(); !st.ok()) return st.error();
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
  s->new_session_ = HasControllingTerminal();
  int last = sandbox::LastCap();
  s->last_cap_ = last;
  for (int cap = 0; cap <= last; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) s->bounding_caps_.push_back(cap);
  }
  // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the
  // ABI version, or ENOSYS / EOPNOTSUPP (not built, or not enabled at boot).
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, 1U << 0);
  s->landlock_abi_ = abi > 0 ? static_cast<int>(abi) : 0;
  if (s->landlock_abi_ >= kLandlockMinAbi) {
    long ruleset = MakeLandlockRuleset();
    if (ruleset < 0) {
      return ErrnoError("a Landlock ruleset for the children", static_cast<int>(-ruleset));
    }
    s->landlock_ruleset_.reset(static_cast<int>(ruleset));
  }
  return s;
}

Spawner::~Spawner() {
  // A child still setting up runs on its slot's stack: it goes first. One
  // that even SIGKILL does not end in time (stuck in the kernel) keeps its
  // stack: leaked, never unmapped under it.
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i]->busy && !Wait(static_cast<int>(i), std::chrono::milliseconds(0))) {
      slots_[i]->stack = nullptr;
    }
  }
  for (const auto& slot : slots_) {
    if (slot->stack != nullptr) munmap(slot->stack, stack_size_);
  }
}

bool Spawner::HasFreeSlot() const { return busy_ < slots_.size(); }

Result<Spawner::Started> Spawner::Start(const SpawnPlan& plan, const Connection& conn,
                                        bool grow) {
  int index = -1;
  for (size_t i = 0; i < slots_.size() && index < 0; ++i) {
    if (!slots_[i]->busy) index = static_cast<int>(i);
  }
  if (index < 0 && grow) {
    if (auto st = AddSlot(); !st.ok()) return st.error();
    index = static_cast<int>(slots_.size() - 1);
  }
  if (index < 0) return Error("no free spawn slot");
  if (plan.notify && notify_socket_ < 0) return Error("a recording plan without a recorder");
  // Fail closed: without its namespaces the child would run as an ordinary one.
  if (plan.drops_privileges && plan.user_ns_fd < 0) {
    return Error("drops_privileges: the service's namespaces were not prepared");
  }
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

  // Non-blocking for the reader: an event loop may look at it before the
  // child is done (Finish then says so). The child's end too, which costs
  // nothing: it writes one 8-byte report at most into an empty pipe.
  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return ErrnoError("pipe2 (status)", errno);
  }
  UniqueFd status_read(status_pipe[0]);
  UniqueFd status_write(status_pipe[1]);

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
  spec.new_session = new_session_;
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
  spec.user_ns_fd = plan.user_ns_fd;
  spec.mnt_ns_fd = plan.mnt_ns_fd;
  spec.last_cap = last_cap_;
  spec.workdir = plan.workdir.c_str();
  spec.groups = plan.groups.data();
  spec.n_groups = static_cast<int>(plan.groups.size());
  spec.gid = plan.gid;
  spec.uid = plan.uid;
  spec.pdeathsig = plan.pdeathsig;
  spec.landlock = landlock_abi_ >= kLandlockMinAbi;
  // Its own ruleset only for a child that changes its mount namespace
  // (its "/" is not this process's).
  bool own_mounts = plan.mnt_ns_fd >= 0 || (plan.clone_flags & CLONE_NEWNS) != 0;
  spec.landlock_ruleset = own_mounts ? -1 : landlock_ruleset_.get();
  // One program for the layer and the policy where they were merged for
  // this spawner's layer (spawn::MergeChildrenLayer), never for a
  // recording (its program is another, and comes with a listener).
  bool merged = plan.merged_filter && plan.merged_from == plan.filter.get() &&
                plan.merged_layer == base_filter_ && !plan.notify;
  spec.base_filter = base_filter_ != nullptr && !merged ? base_filter_->fprog() : nullptr;
  spec.filter = merged ? plan.merged_filter->fprog() : plan.filter ? plan.filter->fprog() : nullptr;
  spec.notify_socket = plan.notify ? notify_socket_ : -1;
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
  // with the parent's memory). The parent goes on at once and children set
  // up in parallel: the child writes only its own stack (raw system calls,
  // not even errno) and reads only this slot and the plan, which stay put
  // until Finish. Where the raw calls are not written, the child gets a copy
  // of the memory instead (fork-style): slower, never blocking the parent.
  // The plan's namespaces: a PID namespace of its own makes the child the
  // init of everything the service starts, which the kernel kills with it.
  char* stack_top = static_cast<char*>(slot.stack) + stack_size_;
  // Shared memory only for the init of a PID namespace of its own: from
  // the moment it takes its service's uid (step 10) that uid may signal it,
  // and a default action would run in this memory (a core dump of it, which
  // on kernels before 5.16 also kills every process sharing it); an init
  // gets no signal from outside but KILL and STOP (which the monitor sees:
  // it reaps with WUNTRACED).
  bool share = HINETD_RAW_SYSCALLS && (plan.clone_flags & CLONE_NEWPID) != 0;
  int flags = (share ? CLONE_VM : 0) | SIGCHLD | plan.clone_flags;
  pid_t pid = clone(ChildEntry, stack_top, flags, &spec);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) return ErrnoError("clone", clone_errno);

  // Our copies of the write ends must go, or EOF never comes. The child's
  // copy of the status pipe closes on execve (close-on-exec) or exit.
  status_write.reset();
  log_write.reset();
  slot.busy = true;
  slot.pid = pid;
  ++busy_;
  out.pid = pid;
  out.slot = index;
  out.status_fd = status_read.get();
  slot.status_read = std::move(status_read);
  return out;
}

std::optional<Spawner::ExecResult> Spawner::Finish(int index) {
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
  bool eof = false;
  for (int reads = 0; reads < 64 && !eof; ++reads) {
    char buf[sizeof(StatusReport)];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      size_t room = sizeof(StatusReport) - std::min(slot.report_got, sizeof(StatusReport));
      std::memcpy(reinterpret_cast<char*>(&slot.report) + (sizeof(StatusReport) - room), buf,
                  std::min(room, static_cast<size_t>(n)));
      slot.report_got += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return std::nullopt;  // still setting up
    eof = true;  // EOF (or an error a pipe cannot have: taken as the end)
  }
  // The child writes one 8-byte report at most: more is not its protocol,
  // and the slot is not freed without an EOF.
  if (!eof) return std::nullopt;
  if (slot.report_got == sizeof(StatusReport)) {
    result.failed_step = slot.report.step;
    result.failed_errno = slot.report.err;
  }
  slot.report = StatusReport{};
  slot.report_got = 0;
  slot.status_read.reset();
  slot.busy = false;
  slot.pid = -1;
  --busy_;
  return result;
}

void Spawner::Abort(int index) {
  if (index < 0 || static_cast<size_t>(index) >= slots_.size()) return;
  Slot& slot = *slots_[static_cast<size_t>(index)];
  // Still busy means not reaped yet (the caller reaps), so the pid is still
  // this child's.
  if (slot.busy && slot.pid > 0) kill(slot.pid, SIGKILL);
}

std::optional<Spawner::ExecResult> Spawner::Wait(int index, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  if (index < 0 || static_cast<size_t>(index) >= slots_.size()) return ExecResult{};
  for (int round = 0; round < 2; ++round) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      if (auto done = Finish(index)) return done;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      pollfd p{slots_[static_cast<size_t>(index)]->status_read.get(), POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 1000)));
    }
    Abort(index);
    if (timeout.count() == 0) timeout = std::chrono::milliseconds(1000);
  }
  return std::nullopt;
}

Result<SpawnOutcome> Spawner::Spawn(const SpawnPlan& plan, const Connection& conn,
                                    std::chrono::milliseconds timeout) {
  auto started = Start(plan, conn);
  if (!started.ok()) return started.error();
  SpawnOutcome out;
  out.pid = started->pid;
  auto r = Wait(started->slot, timeout);
  if (!r) return Error("the child did not end its setup, even after SIGKILL");
  out.failed_step = r->failed_step;
  out.failed_errno = r->failed_errno;
  if (!r->failed()) out.stderr_pipe = std::move(started->stderr_pipe);
  return out;
}

}  // namespace hinetd::spawn
