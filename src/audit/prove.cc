#include "audit/prove.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>

#include "base/errno_name.h"
#include "base/fs.h"
#include "base/unique_fd.h"
#include "config/system_checks.h"
#include "sandbox/daemon_filters.h"
#include "spawn/identity_ns.h"
#include "spawn/spawner.h"

namespace hinetd::audit {

using base::Error;
using base::ErrnoError;
using base::Result;
using base::UniqueFd;
using Clock = std::chrono::steady_clock;

namespace {

const std::vector<Escape> kEscapes = {
    {"write-outside", "create a file outside the jail"},
    {"dotdot", "climb out of the jail with .. and read a host file"},
    {"proc1", "open /proc/1/environ (pid 1 of the host)"},
    {"exec-sh", "execute /bin/sh"},
    {"connect", "open a socket and connect to 127.0.0.1"},
    {"userns", "create a user namespace"},
    {"ptrace", "ptrace another process of its uid"},
    {"signal", "signal another process of its uid"},
    {"regain-root", "regain uid 0 or a capability"},
    {"raise-limit", "raise a hard resource limit"},
    {"setgroups-root", "join group 0 (setgroups)"},
    {"chroot-escape", "leave the jail with a second chroot and .. (the classic escape)"},
};

Result<UniqueFd> OpenProbe(std::string& found) {
  // It runs as every service.
  auto fd = spawn::OpenRootProgram(ProbeCandidates(), found);
  if (!fd.ok() || *fd) return fd;
  std::string tried;
  for (const auto& c : ProbeCandidates()) tried += " " + c;
  return Error("--prove needs hinetd-probe-escape; not found (tried" + tried +
               "); build or install it next to hinetd");
}

std::string Hex(const std::vector<sock_filter>& insns) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  auto* bytes = reinterpret_cast<const unsigned char*>(insns.data());
  for (size_t i = 0; i < insns.size() * sizeof(sock_filter); ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 15];
  }
  return out;
}

// A process of the service's ids that the probe may try to reach.
class Victim {
 public:
  Victim(uid_t uid, gid_t gid) {
    pid_ = fork();
    if (pid_ == 0) {
      if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
          setresuid(uid, uid, uid) != 0) {
        _exit(1);
      }
      for (int i = 0; i < 600; ++i) sleep(1);  // ends with the run, at the latest in 10 min
      _exit(0);
    }
  }
  ~Victim() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Where the probe's host-side targets live: a directory the service's uid
// owns (so that only the jail stands between it and a write), with a file
// root owns that it may read.
class Outside {
 public:
  Result<bool> Create(uid_t uid, gid_t gid) {
    char tmpl[] = "/var/tmp/hinetd-prove.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return ErrnoError("mkdtemp /var/tmp/hinetd-prove.XXXXXX", errno);
    dir_ = tmpl;
    std::string marker = dir_ + "/marker";
    int fd = open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("create " + marker, errno);
    close(fd);
    if (chown(dir_.c_str(), uid, gid) != 0) return ErrnoError("chown " + dir_, errno);
    return true;
  }
  ~Outside() {
    if (dir_.empty()) return;
    unlink((dir_ + "/marker").c_str());
    unlink((dir_ + "/written").c_str());
    rmdir(dir_.c_str());
  }
  [[nodiscard]] std::string written() const { return dir_ + "/written"; }
  [[nodiscard]] std::string marker_relative() const { return dir_.substr(1) + "/marker"; }

 private:
  std::string dir_;
};

struct Run {
  bool started = false;
  std::string setup_error;
  int status = 0;
  std::string out;
  // The process's name when it ended (read from the zombie, before it is
  // reaped): execve sets it to the program's file name, so it says whether
  // the exec-sh attempt's execve went through before a kill.
  std::string comm_at_end;
};

// The name (comm) of `pid`, which has ended but is not reaped yet.
std::string ZombieComm(pid_t pid) {
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0) return "";
  auto read = base::ReadFile("/proc/" + std::to_string(pid) + "/comm");
  if (!read.ok()) return "";
  std::string comm = *read;
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

// One child of the plan, running the probe for one attempt, to its end.
Run RunOne(spawn::Spawner& spawner, const spawn::SpawnPlan& plan, net::Transport transport) {
  Run run;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    run.setup_error = "socketpair: " + base::ErrnoName(errno);
    return run;
  }
  UniqueFd ours(sv[0]);
  UniqueFd theirs(sv[1]);
  spawn::Connection conn;
  conn.fd = theirs.get();
  conn.kind = transport == net::Transport::kUdp ? spawn::Connection::Kind::kUdp
                                                : spawn::Connection::Kind::kTcp;
  auto outcome = spawner.Spawn(plan, conn, std::chrono::milliseconds(10000));
  theirs.reset();
  if (!outcome.ok()) {
    run.setup_error = outcome.error().message();
    return run;
  }
  pid_t pid = outcome->pid;
  if (outcome->failed()) {
    run.setup_error = std::string("setup failed at step ") +
                      spawn::StepName(outcome->failed_step) + ": " +
                      base::ErrnoName(outcome->failed_errno);
    waitpid(pid, nullptr, 0);
    return run;
  }
  run.started = true;
  // Read its report until it ends (EOF), for at most 10 s.
  auto deadline = Clock::now() + std::chrono::seconds(10);
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{ours.get(), POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t n = read(ours.get(), buf, sizeof buf);
    if (n <= 0) break;
    if (run.out.size() < 65536) run.out.append(buf, static_cast<size_t>(n));
  }
  // EOF once every holder of the socket is gone; the process is then done
  // or about to be. Past the deadline, it is killed.
  for (int i = 0; i < 200; ++i) {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid) {
      run.comm_at_end = ZombieComm(pid);
      waitpid(pid, &run.status, 0);
      return run;
    }
    if (Clock::now() > deadline) break;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  run.comm_at_end = ZombieComm(pid);
  waitpid(pid, &run.status, 0);
  return run;
}

// What the kernel did, from the probe's lines and how it ended.
struct KernelResult {
  bool allowed = false;
  bool error = false;
  std::string text;
};

KernelResult Interpret(const Escape& e, const Run& run) {
  KernelResult k;
  if (!run.started) {
    k.error = true;
    k.text = "could not start the child: " + run.setup_error;
    return k;
  }
  std::string last_try;
  std::string refused, escaped, error;
  size_t pos = 0;
  while (pos < run.out.size()) {
    size_t nl = run.out.find('\n', pos);
    std::string line = run.out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? run.out.size() : nl + 1;
    if (line.rfind("try ", 0) == 0) last_try = line.substr(4);
    if (line.rfind("refused ", 0) == 0) refused = line.substr(8);
    if (line.rfind("escaped ", 0) == 0) escaped = line.substr(8);
    if (line.rfind("error ", 0) == 0) error = line.substr(6);
  }
  if (!escaped.empty()) {
    k.allowed = true;
    k.text = "succeeded: " + escaped;
    return k;
  }
  if (!refused.empty()) {
    size_t sp = refused.rfind(' ');
    int err = atoi(refused.c_str() + sp + 1);
    k.text = "errno " + base::ErrnoName(err) + " at " + refused.substr(0, sp);
    return k;
  }
  // execve sets the process's name to the program's file name, and a kill
  // at the execve call itself leaves the probe's: a shell the filter killed
  // afterwards still ran, which is the escape.
  if (std::string(e.id) == "exec-sh" && run.comm_at_end == "sh") {
    k.allowed = true;
    k.text = "succeeded: /bin/sh ran";
    if (WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGSYS) {
      k.text += " (then the filter killed it)";
    }
    return k;
  }
  if (WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGSYS) {
    k.text = "killed by the filter at " + (last_try.empty() ? std::string("start") : last_try);
    return k;
  }
  if (!error.empty()) {
    k.error = true;
    k.text = "probe error: " + error;
    return k;
  }
  k.error = true;
  if (WIFSIGNALED(run.status)) {
    k.text = "killed by signal " + std::to_string(WTERMSIG(run.status)) +
             (last_try.empty() ? "" : " at " + last_try);
  } else {
    k.text = "exited " + std::to_string(WEXITSTATUS(run.status)) + " without a report";
  }
  return k;
}

}  // namespace

const std::vector<Escape>& Escapes() { return kEscapes; }

const char* ProveOutcomeText(ProveOutcome o) {
  switch (o) {
    case ProveOutcome::kVerified: return "verified";
    case ProveOutcome::kContradicted: return "CONTRADICTED";
    case ProveOutcome::kAllowed: return "allowed";
    case ProveOutcome::kRefused: return "refused";
    case ProveOutcome::kError: return "ERROR";
  }
  return "?";
}

ProveOutcome Classify(bool predicted_allowed, bool kernel_allowed, bool error) {
  if (error) return ProveOutcome::kError;
  if (kernel_allowed) return predicted_allowed ? ProveOutcome::kAllowed : ProveOutcome::kContradicted;
  return predicted_allowed ? ProveOutcome::kRefused : ProveOutcome::kVerified;
}

std::vector<std::string> ProbeCandidates() { return spawn::HelperCandidates("hinetd-probe-escape"); }

Result<std::vector<ProveReport>> Prove(const config::Config& config, const spawn::PlanSet& plans,
                                       const std::vector<ServiceAudit>& audits) {
  std::string probe_path;
  auto probe = OpenProbe(probe_path);
  if (!probe.ok()) return probe.error();
  // The empty root internal services run in, made as the monitor makes it
  // at start: on a host where the daemon never ran it is missing.
  for (const auto& a : audits) {
    for (const auto& s : config.services) {
      if (s.name != a.name || !s.chroot || *s.chroot != config::kEmptyChroot) continue;
      if (auto made = config::EnsureEmptyChroot(); !made.ok()) return made.error();
    }
  }
  // The namespaces of drops_privileges services, as the monitor's maker
  // makes them, before this process takes the monitor's filter (which
  // refuses what making them takes).
  std::map<size_t, spawn::IdentityNamespaces> identity;
  for (size_t i = 0; i < config.services.size(); ++i) {
    const spawn::SpawnPlan& p = plans.plans[i];
    if (!p.drops_privileges) continue;
    auto ns = spawn::MakeIdentityNamespaces(p.uid, p.gid, p.groups, p.chroot);
    if (!ns.ok()) {
      return ns.error().Wrap("service \"" + p.service + "\": drops_privileges");
    }
    identity.emplace(i, std::move(*ns));
  }
  // As the monitor: its deny list, which every child inherits; then the
  // layer every child installs, through the same spawner.
  auto monitor_filter = sandbox::MonitorFilter();
  if (!monitor_filter.ok()) return monitor_filter.error();
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (*monitor_filter)->fprog()) != 0) {
    return ErrnoError("installing the monitor's seccomp filter", errno);
  }
  sandbox::NoteDaemonFilterInstalled();
  auto children_filter = sandbox::ChildrenFilter();
  if (!children_filter.ok()) return children_filter.error();
  auto spawner = spawn::Spawner::Create(1, children_filter->get());
  if (!spawner.ok()) return spawner.error();

  std::vector<ProveReport> reports;
  for (const auto& a : audits) {
    size_t index = 0;
    while (index < config.services.size() && config.services[index].name != a.name) ++index;
    if (index == config.services.size()) continue;
    const config::Service& s = config.services[index];
    const spawn::SpawnPlan& real = plans.plans[index];
    std::string filter_hex = real.filter ? Hex(real.filter->insns()) : "-";

    Outside outside;
    if (auto r = outside.Create(s.uid, s.gid); !r.ok()) return r.error();
    UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (!listener || bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listener.get(), 16) != 0 ||
        getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return ErrnoError("a listening socket on 127.0.0.1 for the connect attempt", errno);
    }
    std::string port = std::to_string(ntohs(addr.sin_port));

    ProveReport report;
    report.service = a.name;
    for (const auto& e : kEscapes) {
      std::string id = e.id;
      std::unique_ptr<Victim> victim;
      std::string arg = "-";
      if (id == "write-outside") arg = outside.written();
      if (id == "dotdot" || id == "chroot-escape") arg = outside.marker_relative();
      if (id == "connect") arg = port;
      if (id == "regain-root") arg = std::to_string(s.uid);
      if (id == "ptrace" || id == "signal") {
        victim = std::make_unique<Victim>(s.uid, s.gid);
        if (victim->pid() <= 0) return ErrnoError("fork of a target process", errno);
        arg = std::to_string(victim->pid());
      }
      // The service's plan, with the probe to execute instead of the service.
      spawn::SpawnPlan plan = real;
      plan.path.clear();
      plan.exec_fd = probe->get();
      plan.filter = nullptr;  // the probe installs the same program (see prove.h)
      plan.notify = false;
      if (auto it = identity.find(index); it != identity.end()) {
        plan.user_ns_fd = it->second.user.get();
        plan.mnt_ns_fd = it->second.mnt.get();
      }
      plan.argv_storage = {"hinetd-probe-escape", id, filter_hex, arg};
      plan.argv.clear();
      for (auto& w : plan.argv_storage) plan.argv.push_back(w.data());
      plan.argv.push_back(nullptr);

      Run run = RunOne(**spawner, plan, s.transport);
      KernelResult k = Interpret(e, run);
      ProveLine line;
      line.escape = &e;
      line.kernel = k.text;
      auto it = a.predictions.find(id);
      bool predicted_allowed = it != a.predictions.end() && it->second.allowed;
      std::string predicted = it == a.predictions.end() ? "" : it->second.how;
      line.predicted = (predicted_allowed ? "possible: " : "blocked: ") + predicted;
      line.outcome = Classify(predicted_allowed, k.allowed, k.error);
      report.lines.push_back(std::move(line));
    }
    reports.push_back(std::move(report));
  }
  return reports;
}

}  // namespace hinetd::audit
