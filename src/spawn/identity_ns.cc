#include "spawn/identity_ns.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

namespace hinetd::spawn {

using base::ErrnoError;
using base::Error;
using base::Result;
using base::UniqueFd;

namespace {

// What the holder reports: a stage it reached, or the errno of a failed one.
struct HolderReport {
  int32_t stage;
  int32_t err;  // 0 = done
};

enum HolderStage : int32_t {
  kUserNs = 1,   // unshare(CLONE_NEWUSER)
  kMountNs,      // unshare(CLONE_NEWNS)
  kPrivate,      // mount(NULL, "/", MS_REC|MS_PRIVATE)
  kBind,         // mount(jail, jail, MS_BIND|MS_REC)
  kChdir,        // chdir(jail)
  kPivot,        // pivot_root(".", ".")
  kDetach,       // umount2(".", MNT_DETACH)
  kGo,           // waiting for the monitor's go
};

const char* StageName(int32_t stage) {
  switch (stage) {
    case kUserNs: return "unshare(CLONE_NEWUSER)";
    case kMountNs: return "unshare(CLONE_NEWNS)";
    case kPrivate: return "making / private";
    case kBind: return "bind-mounting the chroot onto itself";
    case kChdir: return "chdir to the chroot";
    case kPivot: return "pivot_root into the chroot";
    case kDetach: return "detaching the old root";
    case kGo: return "waiting for the id maps";
  }
  return "setup";
}

// The holder: only system calls (it is a fork of the monitor).
[[noreturn]] void Hold(int report_fd, int go_fd, const char* jail) {
  auto say = [&](int32_t stage, int32_t err) {
    HolderReport r{stage, err};
    if (write(report_fd, &r, sizeof r) != sizeof r) _exit(1);
    if (err != 0) _exit(1);
  };
  if (unshare(CLONE_NEWUSER) != 0) say(kUserNs, errno);
  say(kUserNs, 0);
  char go = 0;
  if (read(go_fd, &go, 1) != 1) say(kGo, EPIPE);
  // The maps are written: it holds every capability in its namespace, and
  // the mount namespace it makes now belongs to it.
  if (jail != nullptr) {
    if (unshare(CLONE_NEWNS) != 0) say(kMountNs, errno);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) say(kPrivate, errno);
    if (mount(jail, jail, nullptr, MS_BIND | MS_REC, nullptr) != 0) say(kBind, errno);
    if (chdir(jail) != 0) say(kChdir, errno);
    // The jail on top of the old root, both at "."; then the old root goes.
    if (syscall(SYS_pivot_root, ".", ".") != 0) say(kPivot, errno);
    if (umount2(".", MNT_DETACH) != 0) say(kDetach, errno);
    if (chdir("/") != 0) say(kChdir, errno);
  }
  // unshare gave it capabilities its parent lacks, which made it
  // non-dumpable: the maker (uid 0, no CAP_SYS_PTRACE) could not open its
  // ns files. Only uid 0 matches its ids.
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) say(kGo, errno);
  say(kGo, 0);
  // Until the monitor has opened the ns files and closes its end.
  while (read(go_fd, &go, 1) > 0) {
  }
  _exit(0);
}

Result<HolderReport> ReadReport(int fd, std::chrono::steady_clock::time_point deadline) {
  HolderReport r{};
  size_t got = 0;
  for (int rounds = 0; rounds < 1000 && got < sizeof r; ++rounds) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error("no answer from the namespace holder in time");
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t k = read(fd, reinterpret_cast<char*>(&r) + got, sizeof r - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return Error("the namespace holder ended early");
    got += static_cast<size_t>(k);
  }
  if (got < sizeof r) return Error("no answer from the namespace holder");
  return r;
}

base::Status WriteFile(const std::string& path, const std::string& text) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoError("open " + path, errno);
  // One write: the kernel takes a map in a single write only.
  ssize_t n = write(fd.get(), text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size())) {
    return ErrnoError("write " + path + " (\"" + text.substr(0, text.find('\n')) + "...\")",
                      n < 0 ? errno : EIO);
  }
  return base::Status();
}

}  // namespace

Result<IdentityNamespaces> MakeIdentityNamespaces(uid_t uid, gid_t gid,
                                                 const std::vector<gid_t>& groups,
                                                 const std::string& jail,
                                                 std::chrono::milliseconds timeout) {
  int report[2];
  int go[2];
  if (pipe2(report, O_CLOEXEC) != 0) return ErrnoError("pipe2", errno);
  UniqueFd report_read(report[0]);
  UniqueFd report_write(report[1]);
  if (pipe2(go, O_CLOEXEC) != 0) return ErrnoError("pipe2", errno);
  UniqueFd go_read(go[0]);
  UniqueFd go_write(go[1]);
  pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork (namespace holder)", errno);
  if (pid == 0) {
    close(report[0]);
    close(go[1]);
    Hold(report[1], go[0], jail.empty() ? nullptr : jail.c_str());
  }
  report_write.reset();
  go_read.reset();
  // The holder ends whatever happens below: its pipe closes, then a kill.
  struct Reap {
    pid_t pid;
    UniqueFd* go;
    ~Reap() {
      go->reset();
      int status = 0;
      for (int i = 0; i < 200; ++i) {  // ~2 s, then SIGKILL
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) return;
        usleep(10'000);
      }
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  } reap{pid, &go_write};

  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto failed = [](const HolderReport& r) {
    std::string why = std::string(StageName(r.stage)) + ": " + strerror(r.err);
    if (r.stage == kUserNs && (r.err == EPERM || r.err == ENOSPC)) {
      why += " (user namespaces disabled? see sysctl user.max_user_namespaces and, on Debian, "
             "kernel.unprivileged_userns_clone)";
    }
    return Error(why);
  };
  auto first = ReadReport(report_read.get(), deadline);
  if (!first.ok()) return first.error();
  if (first->err != 0) return failed(*first);

  std::string proc = "/proc/" + std::to_string(pid);
  // Written by this process (uid 0, CAP_SETUID and CAP_SETGID in the parent
  // namespace), so setgroups stays "allow" (user_namespaces(7)).
  if (auto s = WriteFile(proc + "/uid_map", std::to_string(uid) + " " + std::to_string(uid) +
                                                " 1\n");
      !s.ok()) {
    return s.error();
  }
  std::set<gid_t> gids(groups.begin(), groups.end());
  gids.insert(gid);
  std::string gid_map;
  for (gid_t g : gids) gid_map += std::to_string(g) + " " + std::to_string(g) + " 1\n";
  if (auto s = WriteFile(proc + "/gid_map", gid_map); !s.ok()) return s.error();
  char byte = 'g';
  if (write(go_write.get(), &byte, 1) != 1) return ErrnoError("write to the holder", errno);
  auto second = ReadReport(report_read.get(), deadline);
  if (!second.ok()) return second.error();
  if (second->err != 0) return failed(*second);

  IdentityNamespaces out;
  out.user.reset(open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  if (!out.user) return ErrnoError("open " + proc + "/ns/user", errno);
  if (!jail.empty()) {
    out.mnt.reset(open((proc + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
    if (!out.mnt) return ErrnoError("open " + proc + "/ns/mnt", errno);
  }
  return out;
}

namespace {

constexpr size_t kMaxGroups = 64;

struct MakerRequest {
  uint32_t uid;
  uint32_t gid;
  uint32_t n_groups;
  uint32_t groups[kMaxGroups];
  char jail[4096];  // "" = no mount namespace
};

struct MakerReply {
  int32_t ok;   // 1: the fds follow (user, then mnt if a jail was asked for)
  char error[1024];
};

// The maker's loop: one request, one reply, until the monitor's end closes.
[[noreturn]] void Serve(int sock) {
  for (;;) {
    MakerRequest req{};
    ssize_t n = recv(sock, &req, sizeof req, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof req)) _exit(0);  // EOF: the monitor is done
    req.jail[sizeof req.jail - 1] = '\0';
    std::vector<gid_t> groups(req.groups, req.groups + std::min<size_t>(req.n_groups, kMaxGroups));
    auto ns = MakeIdentityNamespaces(req.uid, req.gid, groups, req.jail);
    MakerReply reply{};
    int fds[2] = {-1, -1};
    int nfds = 0;
    if (ns.ok()) {
      reply.ok = 1;
      fds[nfds++] = ns->user.get();
      if (ns->mnt) fds[nfds++] = ns->mnt.get();
    } else {
      snprintf(reply.error, sizeof reply.error, "%s", ns.error().message().c_str());
    }
    iovec iov{&reply, sizeof reply};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<size_t>(nfds));
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<size_t>(nfds));
      memcpy(CMSG_DATA(c), fds, sizeof(int) * static_cast<size_t>(nfds));
    }
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) _exit(0);
  }
}

}  // namespace

Result<std::unique_ptr<NamespaceMaker>> NamespaceMaker::Start(const sock_fprog* filter) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoError("socketpair (namespace maker)", errno);
  }
  UniqueFd ours(sv[0]);
  UniqueFd theirs(sv[1]);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork (namespace maker)", errno);
  if (pid == 0) {
    // Nothing of the monitor's but stdio and this socket.
    int sock = theirs.release();
    if (dup3(sock, 3, O_CLOEXEC) < 0) _exit(1);
    syscall(SYS_close_range, 4, ~0U, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent) _exit(0);
    if (filter != nullptr && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                              syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, filter) != 0)) {
      _exit(1);
    }
    Serve(3);
  }
  std::unique_ptr<NamespaceMaker> m(new NamespaceMaker());
  m->sock_ = std::move(ours);
  m->pid_ = pid;
  return m;
}

NamespaceMaker::~NamespaceMaker() {
  sock_.reset();  // its EOF
  if (pid_ <= 0) return;
  int status = 0;
  for (int i = 0; i < 200; ++i) {  // ~2 s, then SIGKILL
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) return;  // or reaped by the monitor
    usleep(10'000);
  }
  kill(pid_, SIGKILL);
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

Result<IdentityNamespaces> NamespaceMaker::Make(uid_t uid, gid_t gid,
                                                const std::vector<gid_t>& groups,
                                                const std::string& jail) {
  if (groups.size() > kMaxGroups) {
    return Error("more than " + std::to_string(kMaxGroups) + " supplementary groups");
  }
  MakerRequest req{};
  req.uid = uid;
  req.gid = gid;
  req.n_groups = static_cast<uint32_t>(groups.size());
  std::copy(groups.begin(), groups.end(), req.groups);
  if (jail.size() >= sizeof req.jail) return Error("chroot path too long");
  memcpy(req.jail, jail.data(), jail.size());
  if (send(sock_.get(), &req, sizeof req, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof req)) {
    return ErrnoError("the namespace maker (pid " + std::to_string(pid_) + ") is gone", errno);
  }
  MakerReply reply{};
  int fds[2] = {-1, -1};
  iovec iov{&reply, sizeof reply};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  // Bounded: the maker's own holder wait is bounded (5 s) and it answers
  // every request; a dead maker is EOF.
  pollfd p{sock_.get(), POLLIN, 0};
  if (poll(&p, 1, 15000) <= 0) return Error("no answer from the namespace maker");
  ssize_t n = recvmsg(sock_.get(), &msg, MSG_CMSG_CLOEXEC);
  if (n != static_cast<ssize_t>(sizeof reply)) return Error("the namespace maker is gone");
  int nfds = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      nfds = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      memcpy(fds, CMSG_DATA(c), sizeof(int) * static_cast<size_t>(std::min(nfds, 2)));
    }
  }
  IdentityNamespaces out;
  if (nfds >= 1) out.user.reset(fds[0]);
  if (nfds >= 2) out.mnt.reset(fds[1]);
  if (reply.ok != 1) {
    reply.error[sizeof reply.error - 1] = '\0';
    return Error(reply.error);
  }
  if (!out.user || (!jail.empty() && !out.mnt)) return Error("the namespace maker sent no fds");
  return out;
}

}  // namespace hinetd::spawn
