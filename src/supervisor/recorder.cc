#include "supervisor/recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "config/config.h"
#include "net/fd_passing.h"
#include "sandbox/bpf.h"
#include "sandbox/daemon_filters.h"
#include "sandbox/recording.h"
#include "spawn/child.h"

namespace hinetd::supervisor {

using base::ErrnoError;
using base::Error;
using base::LogLine;
using base::Result;
using base::Status;

namespace {

// Notifications answered per wakeup of one listener: the others wait for
// the next turn of the event loop, as any descriptor's data does.
constexpr int kNotifyBatch = 64;
// Listeners read per wakeup of the recorder's socket.
constexpr int kReceiveBatch = 64;

}  // namespace

bool UserNotifContinue() {
  utsname u{};
  if (uname(&u) != 0) return false;
  int major = 0;
  int minor = 0;
  if (sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 5 || (major == 5 && minor >= 5);
}

Result<std::unique_ptr<Recorder>> Recorder::Create(base::Logger& log) {
  std::unique_ptr<Recorder> r(new Recorder(log));
  int sv[2];
  // Datagrams keep each listener with its own message. Children send on
  // sv[1] (blocking: the message is one byte and a descriptor), the
  // monitor reads sv[0] without blocking.
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoError("socketpair (recorder)", errno);
  }
  r->own_end_.reset(sv[0]);
  r->child_end_.reset(sv[1]);
  int on = 1;
  // The kernel says who sent each listener (its pid in this namespace),
  // whatever the sender claims.
  if (fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0 ||
      setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
    return ErrnoError("setting up the recorder's socket", errno);
  }
  seccomp_notif_sizes sizes{};
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
    // Linux < 5.0: no user notification at all. Only a recording or trial
    // plan needs it, and Arm says so.
    sizes = {};
  }
  r->notif_size_ = std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif));
  r->resp_size_ = std::max<size_t>(sizes.seccomp_notif_resp, sizeof(seccomp_notif_resp));
  r->notif_.resize(r->notif_size_);
  r->resp_.resize(r->resp_size_);
  return r;
}

Recorder::~Recorder() = default;

Status Recorder::Arm(const config::Config& config, spawn::PlanSet& plans) {
  sandbox::Handoff handoff{child_socket(), spawn::HandoffAddress()};
  std::shared_ptr<const sandbox::BpfProgram> recording;
  std::map<std::string, std::shared_ptr<const sandbox::BpfProgram>> trials;
  for (auto& plan : plans.plans) {
    bool learn = !learning_.empty() && plan.service == learning_;
    auto policy = config.policies.find(plan.policy);
    bool trial = !learn && plan.filter && policy != config.policies.end() &&
                 policy->second.default_action.kind == sandbox::ActionKind::kLog;
    if (!learn && !trial) continue;
    const char* what = learn ? "learning" : "trial mode (default_action = \"log\")";
    if (handoff.return_address == 0) {
      return Error("service \"" + plan.service + "\": " + what +
                   " is not available on this architecture");
    }
    if (!UserNotifContinue()) {
      return Error("service \"" + plan.service + "\": " + what +
                   " needs seccomp user notification with SECCOMP_USER_NOTIF_FLAG_CONTINUE "
                   "(Linux 5.5 or later)");
    }
    if (learn) {
      if (!recording) {
        auto p = sandbox::RecordingProgram(handoff);
        if (!p.ok()) return p.error();
        recording = std::move(*p);
      }
      plan.filter = recording;
    } else {
      ReportUnseen(plan.service, plan.policy, *plan.filter);
      auto& program = trials[plan.policy];
      if (!program) {
        auto p = sandbox::TrialProgram(*plan.filter, handoff);
        if (!p.ok()) return p.error().Wrap("policy \"" + plan.policy + "\"");
        program = std::move(*p);
      }
      plan.filter = program;
    }
    plan.notify = true;
  }
  return Status();
}

void Recorder::ReportUnseen(const std::string& service, const std::string& policy,
                            const sandbox::BpfProgram& program) {
  // Each refused call as the policy's own program judges it: "log" (its
  // default) is what enforcing turns into a kill. clone is asked once per
  // namespace flag.
  std::vector<std::string> unseen;
  for (const auto& r : sandbox::BaseLayerRefusals()) {
    int nr = sandbox::NativeSyscallNumber(r.syscall);
    if (nr < 0) continue;
    std::vector<uint64_t> firsts = {0};
    if (r.syscall == "clone") {
      firsts.clear();
      uint64_t all = sandbox::AllCloneNamespaces();
      for (uint64_t bit = 1; bit != 0 && bit <= all; bit <<= 1) {
        if ((all & bit) != 0) firsts.push_back(bit);
      }
    }
    bool logged = false;
    for (uint64_t first : firsts) {
      seccomp_data d{};
      d.nr = nr;
      d.arch = sandbox::NativeAuditArch();
      d.args[0] = first;
      auto ret = sandbox::RunBpf(program.insns(), d);
      logged = logged || (ret.ok() && (*ret & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_LOG);
    }
    if (logged) unseen.push_back(r.when.empty() ? r.syscall : r.syscall + "(" + r.when + ")");
  }
  if (unseen.empty()) return;
  std::string list;
  for (const auto& u : unseen) list += (list.empty() ? "" : ",") + u;
  log_.Warning(LogLine("policy-trial-unseen")
                   .Add("service", service)
                   .Add("policy", policy)
                   .Add("count", unseen.size())
                   .Add("syscalls", list)
                   .Add("message",
                        "hinetd's base layers refuse these with an errno before the policy "
                        "sees them: trial mode cannot log them, and with default_action = "
                        "\"kill\" they kill; give them that errno in the policy's errno table "
                        "(hinetd learn --from-log writes it)"));
}

std::vector<int> Recorder::Receive(const std::function<const std::string*(pid_t)>& service_of) {
  std::vector<int> out;
  for (int i = 0; i < kReceiveBatch; ++i) {
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(own_end_.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::vector<int> fds;
    net::ForEachRight(msg, [&](int fd) { fds.push_back(fd); });
    pid_t pid = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        pid = cred.pid;
      }
    }
    const std::string* service = pid > 0 ? service_of(pid) : nullptr;
    // One listener from one of this monitor's children, as child.cc sends
    // it; anything else is closed (a listener closed unanswered makes the
    // waiting calls fail with ENOSYS; only a child could have sent it).
    if (fds.size() != 1 || service == nullptr || (msg.msg_flags & MSG_CTRUNC) != 0) {
      for (int fd : fds) close(fd);
      log_.Warning(LogLine("warning").Add(
          "message", "recorder: dropped a message that is not one listener from a child (pid " +
                         std::to_string(pid) + ")"));
      continue;
    }
    Stream s;
    s.pid = pid;
    s.service = *service;
    s.learning = !learning_.empty() && *service == learning_;
    if (s.learning) ++connections_;
    streams_[fds[0]] = std::move(s);
    out.push_back(fds[0]);
  }
  return out;
}

void Recorder::OnNotify(int fd) {
  auto it = streams_.find(fd);
  if (it == streams_.end()) return;
  std::vector<char>& notif = notif_;
  std::vector<char>& resp = resp_;
  for (int i = 0; i < kNotifyBatch; ++i) {
    // RECV waits for a notification even on a nonblocking descriptor:
    // only after poll says one is there.
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) != 1 || (p.revents & POLLIN) == 0) return;
    std::fill(notif.begin(), notif.end(), 0);
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, notif.data()) != 0) {
      if (errno == EINTR || errno == ENOENT) continue;  // ENOENT: the caller is gone
      return;
    }
    const auto* n = reinterpret_cast<const seccomp_notif*>(notif.data());
    Handle(it->second, n);
    std::fill(resp.begin(), resp.end(), 0);
    auto* r = reinterpret_cast<seccomp_notif_resp*>(resp.data());
    r->id = n->id;
    r->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    // ENOENT: the caller died (or its call was interrupted) meanwhile.
    (void)ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp.data());
  }
}

void Recorder::Handle(Stream& s, const void* raw) {
  const auto* n = static_cast<const seccomp_notif*>(raw);
  // The programs kill every other architecture before notifying.
  if (n->data.arch != sandbox::NativeAuditArch()) return;
  auto known = names_.find(n->data.nr);
  if (known == names_.end()) {
    known = names_.emplace(n->data.nr, sandbox::SyscallName(n->data.nr)).first;
  }
  const std::string& name = known->second;
  uint64_t args[6];
  for (int i = 0; i < 6; ++i) args[i] = n->data.args[i];
  std::vector<uint64_t> values = sandbox::ValuesThatMatter(name, args);
  if (s.learning) {
    bool beyond = runtime_ && !sandbox::RuntimeAllows(*runtime_, n->data);
    if (sandbox::Observe(observed_, name, values, 1, beyond)) s.added = true;
    return;
  }
  Trial& t = trial_[s.service];
  std::vector<uint64_t> key = sandbox::TrialKey(name, values);
  if (t.seen.count({n->data.nr, key}) != 0) return;
  if (t.seen.size() >= kTrialLinesMax) {
    if (!t.suppressed) {
      t.suppressed = true;
      log_.Warning(LogLine("policy-trial-suppressed")
                       .Add("service", s.service)
                       .Add("distinct", t.seen.size()));
    }
    return;
  }
  t.seen.insert({n->data.nr, key});
  LogLine line("policy-trial");
  line.Add("service", s.service).Add("pid", static_cast<int64_t>(n->pid)).Add("syscall", name);
  std::string raw_values;
  for (const auto& [arg, text] : sandbox::DescribeValues(name, values)) {
    // An argument named like a key of the line itself (kill's pid) gets a
    // prefix.
    bool clash = arg == "event" || arg == "service" || arg == "pid" || arg == "syscall" ||
                 arg == "raw";
    line.Add(clash ? "arg_" + arg : arg, text);
  }
  for (uint64_t v : values) {
    char buf[24];
    snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    raw_values += (raw_values.empty() ? "" : ",") + std::string(buf);
  }
  if (!values.empty()) line.Add("raw", raw_values);
  log_.Warning(line);
}

void Recorder::End(int fd) {
  auto it = streams_.find(fd);
  if (it == streams_.end()) return;
  if (it->second.learning) history_.push_back(it->second.added);
  streams_.erase(it);
  close(fd);
}

void Recorder::Close(int fd) {
  // What the last processes did before they went is still queued only if
  // they were killed in a call; answer nothing more.
  End(fd);
}

void Recorder::CloseAll() {
  while (!streams_.empty()) End(streams_.begin()->first);
}

uint64_t Recorder::quiet_tail() const {
  uint64_t n = 0;
  for (auto it = history_.rbegin(); it != history_.rend() && !*it; ++it) ++n;
  return n;
}

}  // namespace hinetd::supervisor
