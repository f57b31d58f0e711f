#include "supervisor/syslog_relay.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "base/errno_name.h"

namespace hinetd::supervisor {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "Mmm dd hh:mm:ss " as syslog(3) writes the time (the day padded with a
// space).
bool IsTimestamp(std::string_view s) {
  if (s.size() < 16) return false;
  auto alpha = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  return alpha(s[0]) && alpha(s[1]) && alpha(s[2]) && s[3] == ' ' &&
         (s[4] == ' ' || IsDigit(s[4])) && IsDigit(s[5]) && s[6] == ' ' && IsDigit(s[7]) &&
         IsDigit(s[8]) && s[9] == ':' && IsDigit(s[10]) && IsDigit(s[11]) && s[12] == ':' &&
         IsDigit(s[13]) && IsDigit(s[14]) && s[15] == ' ';
}

}  // namespace

SyslogMessage ParseSyslogMessage(std::string_view d) {
  SyslogMessage m;
  // What a program leaves at the end: a newline, the NUL some send.
  while (!d.empty() && (d.back() == '\n' || d.back() == '\0')) d.remove_suffix(1);
  if (d.size() >= 3 && d[0] == '<') {
    size_t close = d.find('>');
    if (close != std::string_view::npos && close >= 2 && close <= 4) {
      int pri = 0;
      bool ok = true;
      for (size_t i = 1; i < close; ++i) {
        if (!IsDigit(d[i])) ok = false;
        else pri = pri * 10 + (d[i] - '0');
      }
      if (ok && pri <= 191) {
        m.priority = pri;
        d.remove_prefix(close + 1);
      }
    }
  }
  if (IsTimestamp(d)) d.remove_prefix(16);
  // TAG[PID]: or TAG: — a tag is at most 48 characters without spaces.
  size_t colon = d.find(": ");
  if (colon != std::string_view::npos && colon > 0 && colon <= 64 &&
      d.substr(0, colon).find(' ') == std::string_view::npos) {
    std::string_view tag = d.substr(0, colon);
    if (size_t open = tag.find('['); open != std::string_view::npos && tag.back() == ']') {
      tag = tag.substr(0, open);  // the text's pid: not trusted, not kept
    }
    m.tag = tag;
    d.remove_prefix(colon + 2);
  }
  m.text = d;
  return m;
}

std::string SyslogFacilityName(int priority) {
  static const char* const kNames[] = {
      "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
      "uucp",   "cron",   "authpriv", "ftp",  "ntp",    "audit",  "alert",  "clock",
      "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
  int f = priority >> 3;
  if (f >= 0 && f < 24) return kNames[f];
  return std::to_string(f);
}

std::string SyslogSeverityName(int priority) {
  static const char* const kNames[] = {"emerg",   "alert",  "crit", "err",
                                       "warning", "notice", "info", "debug"};
  return kNames[priority & 7];
}

namespace {

base::Result<base::UniqueFd> BindAt(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    return base::Error(path + ": too long for a unix socket's path (at most " +
                       std::to_string(sizeof sa.sun_path - 1) + " bytes)");
  }
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return base::Error(path + " exists and is not a socket; remove it: hinetd binds its "
                                "syslog relay there (syslog = true)");
    }
    if (unlink(path.c_str()) != 0) return base::ErrnoError("unlink " + path, errno);
  }
  base::UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return base::ErrnoError("socket", errno);
  int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
    return base::ErrnoError("SO_PASSCRED", errno);
  }
  // 0666: any uid in the jail may send (connect needs write permission);
  // who sent is told by the credentials, not by the permission.
  mode_t old = umask(0111);
  int rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int err = errno;
  umask(old);
  if (rc != 0) return base::ErrnoError("bind " + path, err);
  return fd;
}

void UnlinkSocket(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());
}

}  // namespace

base::Status SyslogRelay::Sync(const config::Config& config,
                               const std::function<void(int)>& watch,
                               const std::function<void(int)>& unwatch) {
  std::map<std::string, std::vector<std::string>> want;
  for (const auto& svc : config.services) {
    if (svc.syslog && svc.chroot) want[*svc.chroot + "/dev/log"].push_back(svc.name);
  }
  std::vector<Socket> next;
  std::vector<bool> kept(sockets_.size(), false);
  for (auto& [path, services] : want) {
    auto old = std::find_if(sockets_.begin(), sockets_.end(),
                            [&](const Socket& s) { return s.path == path; });
    if (old != sockets_.end()) {
      kept[static_cast<size_t>(old - sockets_.begin())] = true;
      continue;
    }
    auto fd = BindAt(path);
    if (!fd.ok()) {
      for (auto& s : next) UnlinkSocket(s.path);
      return fd.error();
    }
    next.push_back(Socket{path, std::move(*fd), services});
  }
  for (size_t i = 0; i < sockets_.size(); ++i) {
    Socket& s = sockets_[i];
    if (kept[i]) {
      s.services = want[s.path];
      continue;
    }
    unwatch(s.fd.get());
    s.fd.reset();
    UnlinkSocket(s.path);
  }
  std::erase_if(sockets_, [](const Socket& s) { return !s.fd.valid(); });
  for (auto& s : next) {
    watch(s.fd.get());
    sockets_.push_back(std::move(s));
  }
  return {};
}

void SyslogRelay::Close(const std::function<void(int)>& unwatch) {
  for (auto& s : sockets_) {
    unwatch(s.fd.get());
    s.fd.reset();
    UnlinkSocket(s.path);
  }
  sockets_.clear();
}

bool SyslogRelay::owns(int fd) const {
  return std::any_of(sockets_.begin(), sockets_.end(),
                     [fd](const Socket& s) { return s.fd.get() == fd; });
}

void SyslogRelay::AddForTest(base::UniqueFd fd, std::vector<std::string> services) {
  sockets_.push_back(Socket{"", std::move(fd), std::move(services)});
}

void SyslogRelay::Read(int fd, int max, const Sender& sender, Clock::time_point now) {
  auto it = std::find_if(sockets_.begin(), sockets_.end(),
                         [fd](const Socket& s) { return s.fd.get() == fd; });
  if (it == sockets_.end()) return;
  size_t index = static_cast<size_t>(it - sockets_.begin());
  char buf[2 * kMaxMessage];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
  for (int i = 0; i < max; ++i) {
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: nothing more
    }
    pid_t pid = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
          c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
        ucred cred{};
        memcpy(&cred, CMSG_DATA(c), sizeof cred);
        pid = cred.pid;
      }
    }
    Take(index, std::string_view(buf, static_cast<size_t>(n)), (msg.msg_flags & MSG_TRUNC) != 0,
         pid, sender, now);
  }
}

SyslogRelay::PerService& SyslogRelay::For(const std::string& service, Clock::time_point now) {
  auto it = services_.find(service);
  if (it == services_.end()) {
    it = services_.emplace(service, PerService{RateLimiter(kBurst, kPeriod, now)}).first;
  }
  return it->second;
}

void SyslogRelay::Take(size_t socket, std::string_view datagram, bool truncated, pid_t pid,
                       const Sender& sender, Clock::time_point now) {
  if (socket >= sockets_.size()) return;
  const Socket& sock = sockets_[socket];
  std::optional<std::string> service;
  if (pid > 0) service = sender(pid);
  if (!service || std::find(sock.services.begin(), sock.services.end(), *service) ==
                      sock.services.end()) {
    ++unknown_senders_;
    next_report_ = std::min(next_report_, unknown_reported_ + kReportInterval);
    return;
  }
  PerService& ps = For(*service, now);
  if (!ps.rate.TryAcquire(now)) {
    ++ps.suppressed;
    next_report_ = std::min(next_report_, ps.last_report + kReportInterval);
    return;
  }
  SyslogMessage m = ParseSyslogMessage(datagram);
  std::string_view text = m.text;
  if (text.size() > kMaxMessage) {
    text = text.substr(0, kMaxMessage);
    truncated = true;
  }
  base::LogLine line("syslog");
  line.Add("service", *service).Add("pid", static_cast<int64_t>(pid));
  if (m.priority >= 0) {
    line.Add("facility", SyslogFacilityName(m.priority))
        .Add("severity", SyslogSeverityName(m.priority));
  }
  if (!m.tag.empty()) line.Add("tag", m.tag.substr(0, 64));
  line.Add("msg", text);
  if (truncated) line.Add("truncated", "true");
  int severity = m.priority >= 0 ? (m.priority & 7) : 6;
  if (severity <= 3) {
    log_.Error(line);
  } else if (severity == 4) {
    log_.Warning(line);
  } else {
    log_.Info(line);
  }
}

void SyslogRelay::ReportDrops(Clock::time_point now) {
  if (now < next_report_) return;
  next_report_ = Clock::time_point::max();
  for (auto& [name, ps] : services_) {
    if (ps.suppressed == 0) continue;
    if (now - ps.last_report < kReportInterval) {
      next_report_ = std::min(next_report_, ps.last_report + kReportInterval);
      continue;
    }
    log_.Warning(base::LogLine("syslog-suppressed")
                     .Add("service", name)
                     .Add("lines", static_cast<int64_t>(ps.suppressed)));
    ps.suppressed = 0;
    ps.last_report = now;
  }
  if (unknown_senders_ > 0) {
    if (now - unknown_reported_ < kReportInterval) {
      next_report_ = std::min(next_report_, unknown_reported_ + kReportInterval);
    } else {
      log_.Warning(base::LogLine("syslog-dropped")
                       .Add("reason", "not a process of a service with this relay")
                       .Add("count", static_cast<int64_t>(unknown_senders_)));
      unknown_senders_ = 0;
      unknown_reported_ = now;
    }
  }
}

SyslogRelay::Clock::time_point SyslogRelay::next_report() const { return next_report_; }

}  // namespace hinetd::supervisor
