// What a hostile local user does to another process: signal it, ptrace it,
// read its memory through /proc and process_vm_readv. Shared by the attack
// tests and the Spawner-level test of the same property.
//
// The attacker runs in a process forked from the test, which may have
// threads (the daemon's log reader): everything that runs there is a system
// call on stack buffers, no allocation and no lock.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"

namespace hinetd::testing::hostile {

// --- Allocation-free text helpers ---

// "/proc/" + pid + suffix into buf (at least 64 bytes).
inline void ProcPath(char* buf, size_t size, pid_t pid, const char* suffix) {
  char digits[16];
  int n = 0;
  unsigned long v = static_cast<unsigned long>(pid);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < 15);
  size_t len = 0;
  for (const char* p = "/proc/"; *p != '\0' && len + 1 < size; ++p) buf[len++] = *p;
  while (n > 0 && len + 1 < size) buf[len++] = digits[--n];
  for (const char* p = suffix; *p != '\0' && len + 1 < size; ++p) buf[len++] = *p;
  buf[len] = '\0';
}

// The unsigned number at p (base 10 or 16), skipping blanks; -1 if none.
inline long long ParseNumber(const char* p, const char* end, int base = 10) {
  while (p < end && (*p == ' ' || *p == '\t')) ++p;
  long long v = 0;
  bool any = false;
  for (; p < end; ++p) {
    int d;
    if (*p >= '0' && *p <= '9') {
      d = *p - '0';
    } else if (base == 16 && *p >= 'a' && *p <= 'f') {
      d = *p - 'a' + 10;
    } else {
      break;
    }
    v = v * base + d;
    any = true;
  }
  return any ? v : -1;
}

// Reads a small file into buf (NUL-terminated); its length, or -errno.
inline long ReadSmallFile(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t got = 0;
  while (got + 1 < size) {
    ssize_t n = read(fd, buf + got, size - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  buf[got] = '\0';
  return static_cast<long>(got);
}

// --- /proc/PID/status ---

struct ProcStatus {
  char name[17] = {};    // the command name: the program's until it executes another
  char state = '?';      // R, S, T (stopped), t (traced), Z, ...
  long long ppid = -1;   // in the reader's PID namespace
  long long tracer = -1;  // TracerPid: 0 = not traced
  long long uid[4] = {-1, -1, -1, -1};  // real, effective, saved, filesystem
  unsigned long long cap_prm = ~0ULL;
  unsigned long long cap_eff = ~0ULL;

  // A child of `parent` that has taken the service's uid (step 10) and
  // not executed yet: it still runs its parent's program (the same command
  // name; anyone may read it), in its parent's memory.
  [[nodiscard]] bool InSetupAs(long long service_uid, const ProcStatus& parent) const {
    return uid[0] == service_uid && uid[1] == service_uid &&
           strcmp(name, parent.name) == 0 && name[0] != '\0';
  }
  // A child of `parent` that has executed the service: another program,
  // all its uids the service's.
  [[nodiscard]] bool ExecutedAs(long long service_uid, const ProcStatus& parent) const {
    return uid[0] == service_uid && uid[1] == service_uid && uid[2] == service_uid &&
           uid[3] == service_uid && strcmp(name, parent.name) != 0;
  }
};

// The fields above; false if the process is gone.
inline bool ReadStatus(pid_t pid, ProcStatus* out) {
  char path[64];
  ProcPath(path, sizeof path, pid, "/status");
  char buf[4096];
  long n = ReadSmallFile(path, buf + 1, sizeof buf - 1);
  if (n <= 0) return false;
  buf[0] = '\n';  // every field, the first one too, follows a newline
  const char* end = buf + 1 + n;
  auto field = [&](const char* name) -> const char* {
    size_t len = strlen(name);
    for (const char* p = buf; p + len + 1 < end; ++p) {
      if (p[0] == '\n' && memcmp(p + 1, name, len) == 0) return p + 1 + len;
    }
    return nullptr;
  };
  *out = ProcStatus{};
  if (const char* p = field("Name:")) {
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    size_t i = 0;
    for (; p < end && *p != '\n' && i + 1 < sizeof out->name; ++p) out->name[i++] = *p;
    out->name[i] = '\0';
  }
  if (const char* p = field("State:")) {
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    if (p < end) out->state = *p;
  }
  if (const char* p = field("PPid:")) out->ppid = ParseNumber(p, end);
  if (const char* p = field("TracerPid:")) out->tracer = ParseNumber(p, end);
  if (const char* p = field("Uid:")) {
    for (long long& u : out->uid) {
      while (p < end && (*p == ' ' || *p == '\t')) ++p;
      u = ParseNumber(p, end);
      while (p < end && *p >= '0' && *p <= '9') ++p;
    }
  }
  if (const char* p = field("CapPrm:")) {
    out->cap_prm = static_cast<unsigned long long>(ParseNumber(p, end, 16));
  }
  if (const char* p = field("CapEff:")) {
    out->cap_eff = static_cast<unsigned long long>(ParseNumber(p, end, 16));
  }
  return out->state != '?';
}

// Calls fn(pid) for every process in /proc; stops early if fn returns false.
template <typename Fn>
void ForEachProcess(Fn fn) {
  int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  alignas(8) char buf[8192];
  for (int rounds = 0; rounds < 4096; ++rounds) {
    long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
      unsigned short reclen;
      memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char* name = buf + off + 19;
      long long pid = name[0] >= '1' && name[0] <= '9' ? ParseNumber(name, name + 16) : -1;
      off += reclen;
      if (pid > 0 && !fn(static_cast<pid_t>(pid))) {
        close(dir);
        return;
      }
    }
  }
  close(dir);
}

// The start address of the first mapping of pid (from /proc/PID/maps), or 0.
inline uintptr_t FirstMapping(pid_t pid) {
  char path[64];
  ProcPath(path, sizeof path, pid, "/maps");
  char buf[128];
  long n = ReadSmallFile(path, buf, sizeof buf);
  if (n <= 0) return 0;
  long long v = ParseNumber(buf, buf + n, 16);
  return v > 0 ? static_cast<uintptr_t>(v) : 0;
}

// --- The attack ---

// One errno per way in; 0 means it worked. Never -1 after TryAccess.
struct AccessResult {
  int signal = -1;    // kill(pid, 0): the service's uid may signal its child
  int attach = -1;    // PTRACE_ATTACH
  int seize = -1;     // PTRACE_SEIZE
  int mem = -1;       // open /proc/PID/mem and pread `len` bytes at `addr`
  int environ = -1;   // open /proc/PID/environ and read it
  int vm_read = -1;   // process_vm_readv of `len` bytes at `addr`

  // Every way to the memory refused, as the kernel refuses a process whose
  // uid does not match all three of the target's (EPERM, or EACCES for
  // the /proc files).
  [[nodiscard]] bool MemoryDenied() const {
    auto denied = [](int e) { return e == EPERM || e == EACCES; };
    return denied(attach) && denied(seize) && denied(mem) && denied(environ) && denied(vm_read);
  }
  [[nodiscard]] bool MemoryAllowed() const {
    return attach == 0 && seize == 0 && mem == 0 && environ == 0 && vm_read == 0;
  }
  // "signal=0 attach=EPERM ..." into buf.
  void Describe(char* buf, size_t size) const {
    size_t len = 0;
    auto put = [&](const char* s) {
      while (*s != '\0' && len + 1 < size) buf[len++] = *s++;
    };
    auto put_errno = [&](const char* name, int e) {
      put(name);
      put("=");
      const char* text = e == 0 ? "ok" : strerrorname_np(e);
      put(text != nullptr ? text : "?");
      put(" ");
    };
    put_errno("signal", signal);
    put_errno("attach", attach);
    put_errno("seize", seize);
    put_errno("mem", mem);
    put_errno("environ", environ);
    put_errno("vm_read", vm_read);
    buf[len] = '\0';
  }
};

// After an attach or seize that worked: wait (bounded) for the tracee's
// stop and detach, leaving it as it was (a group stop is kept).
inline void Release(pid_t pid, bool seized) {
  if (seized) ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr);
  for (int i = 0; i < 2000; ++i) {  // at most 2 s
    int status = 0;
    pid_t w = waitpid(pid, &status, __WALL | WNOHANG);
    if (w == pid && WIFSTOPPED(status)) {
      ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
      return;
    }
    if (w == pid || (w < 0 && errno == ECHILD)) return;  // it died
    timespec ms{0, 1000000};
    nanosleep(&ms, nullptr);
  }
}

// Tries every way into pid's memory, reading `len` bytes at `addr` into
// `buf`, and undoes what worked.
inline AccessResult TryAccess(pid_t pid, uintptr_t addr, void* buf, size_t len) {
  AccessResult r;
  r.signal = kill(pid, 0) == 0 ? 0 : errno;
  if (ptrace(PTRACE_ATTACH, pid, nullptr, nullptr) == 0) {
    r.attach = 0;
    Release(pid, false);
  } else {
    r.attach = errno;
  }
  if (ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) == 0) {
    r.seize = 0;
    Release(pid, true);
  } else {
    r.seize = errno;
  }
  char path[64];
  ProcPath(path, sizeof path, pid, "/mem");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.mem = errno;
  } else {
    ssize_t n = pread(fd, buf, len, static_cast<off_t>(addr));
    r.mem = n == static_cast<ssize_t>(len) ? 0 : n < 0 ? errno : EIO;
    close(fd);
  }
  ProcPath(path, sizeof path, pid, "/environ");
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.environ = errno;
  } else {
    char env[64];
    // An empty environment reads 0 bytes: that is access too.
    r.environ = read(fd, env, sizeof env) >= 0 ? 0 : errno;
    close(fd);
  }
  iovec local{buf, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  r.vm_read = n == static_cast<ssize_t>(len) ? 0 : n < 0 ? errno : EIO;
  return r;
}

// --- The attacker process ---

// Forks a process that becomes uid/gid with no supplementary group and no
// capability (as any local user is), dies with the test, and exits with
// fn()'s value (fn must be allocation-free). The parent gets the pid, or
// -1. Exit 120: the ids could not be dropped.
template <typename Fn>
pid_t ForkAs(uid_t uid, gid_t gid, Fn fn) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
      setresuid(uid, uid, uid) != 0) {
    _exit(120);
  }
  // After the id change, which clears it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(121);
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[2] = {};
  if (syscall(SYS_capget, &hdr, caps) != 0 || caps[0].effective != 0 || caps[0].permitted != 0 ||
      caps[1].effective != 0 || caps[1].permitted != 0) {
    _exit(120);
  }
  _exit(fn());
}

// Kills pid (SIGKILL) and reaps it; its wait status, or -1.
inline int KillAndReap(pid_t pid) {
  if (pid <= 0) return -1;
  kill(pid, SIGKILL);
  int status = 0;
  return waitpid(pid, &status, 0) == pid ? status : -1;
}

// Memory shared with a forked attacker (MAP_SHARED), zeroed, holding one T
// (atomics in it work across the processes).
template <typename T>
class Shared {
 public:
  Shared() {
    void* p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) value_ = new (p) T();
  }
  ~Shared() {
    if (value_ != nullptr) {
      value_->~T();
      munmap(value_, sizeof(T));
    }
  }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  [[nodiscard]] bool ok() const { return value_ != nullptr; }
  T* operator->() const { return value_; }
  T& operator*() const { return *value_; }

 private:
  T* value_ = nullptr;
};

// SIGCONT to every process whose real or saved uid is `uid` (what a SIGSTOP
// attacker may have stopped); how many there were.
inline int ContinueAll(long long uid) {
  int n = 0;
  ForEachProcess([&](pid_t pid) {
    ProcStatus st;
    if (ReadStatus(pid, &st) && (st.uid[0] == uid || st.uid[2] == uid)) {
      kill(pid, SIGCONT);
      ++n;
    }
    return true;
  });
  return n;
}

// --- Settings the attack depends on ---

// fs.suid_dumpable set to `value` while the object lives, then restored
// (also when the test fails: the object goes with the test's scope).
class SuidDumpable {
 public:
  explicit SuidDumpable(int value) {
    char buf[16];
    if (ReadSmallFile(kPath, buf, sizeof buf) <= 0) {
      error_ = std::string("cannot read ") + kPath;
      return;
    }
    saved_ = static_cast<int>(ParseNumber(buf, buf + strlen(buf)));
    if (!Write(value)) {
      error_ = std::string("cannot write ") + kPath + ": " + strerror(errno);
      saved_ = -1;
    }
  }
  ~SuidDumpable() {
    if (saved_ >= 0) Write(saved_);
  }
  SuidDumpable(const SuidDumpable&) = delete;
  SuidDumpable& operator=(const SuidDumpable&) = delete;
  [[nodiscard]] bool ok() const { return saved_ >= 0; }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  static constexpr const char* kPath = "/proc/sys/fs/suid_dumpable";
  static bool Write(int value) {
    int fd = open(kPath, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char c[2] = {static_cast<char>('0' + value), '\n'};
    bool ok = write(fd, c, 2) == 2;
    close(fd);
    return ok;
  }
  int saved_ = -1;
  std::string error_;
};

// kernel.yama.ptrace_scope, or -1 without Yama. Above 0, Yama refuses
// attaching to a process that is not a descendant, whatever the uids: an
// attack that fails then proves nothing about them.
inline int YamaPtraceScope() {
  char buf[16];
  if (ReadSmallFile("/proc/sys/kernel/yama/ptrace_scope", buf, sizeof buf) <= 0) return -1;
  return static_cast<int>(ParseNumber(buf, buf + strlen(buf)));
}

// --- The test's side ---

// Threads that connect to 127.0.0.1:port over and over (each reads what
// comes for at most `read_for`, then closes), until Stop or `max_each`
// connections each: spawns for the attacker to catch.
class ConnectLoop {
 public:
  ConnectLoop(uint16_t port, int threads, std::chrono::milliseconds read_for, int max_each) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, port, read_for, max_each] {
        for (int i = 0; i < max_each && !stop_; ++i) {
          int fd = ConnectTcp("127.0.0.1", port, std::chrono::milliseconds(2000));
          if (fd < 0) continue;
          ++connections_;
          ReadAll(fd, read_for);
          close(fd);
        }
      });
    }
  }
  ~ConnectLoop() { Stop(); }
  ConnectLoop(const ConnectLoop&) = delete;
  ConnectLoop& operator=(const ConnectLoop&) = delete;
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  [[nodiscard]] int connections() const { return connections_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::vector<std::thread> threads_;
};

}  // namespace hinetd::testing::hostile
