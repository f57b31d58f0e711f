#include "supervisor/stderr_relay.h"

#include <errno.h>
#include <unistd.h>

namespace hinetd::supervisor {


namespace {

constexpr size_t kStderrLineMax = 1024;  // longer lines are split
// What is read from a child's stderr pipe once it has ended, at most.
constexpr size_t kStderrDrainMax = 1 << 20;

}  // namespace

void StderrRelay::LogStderrLine(Child& c, pid_t pid, std::string_view line, Clock::time_point now) {
  if (!c.stderr_stream) c.stderr_stream.emplace(limiter_.Open(c.service, now));
  if (limiter_.Admit(*c.stderr_stream, now)) {
    log_.Info(base::LogLine("stderr").Add("service", c.service).Add("pid", pid).Add("line", line));
  }
  ReportSuppressed(c, pid, now, /*closing=*/false);
}

void StderrRelay::ReportSuppressed(Child& c, pid_t pid, Clock::time_point now, bool closing) {
  if (!c.stderr_stream) return;
  uint64_t lines = limiter_.TakeReport(*c.stderr_stream, now, closing);
  if (lines == 0) return;
  log_.Warning(base::LogLine("stderr-suppressed")
                   .Add("service", c.service)
                   .Add("pid", pid)
                   .Add("lines", static_cast<int64_t>(lines)));
}

void StderrRelay::LogStderrLines(Child& c, pid_t pid, Clock::time_point now, bool final) {
  std::string_view rest = c.stderr_partial;
  std::string_view line;
  while (size_t used = NextStderrLine(rest, kStderrLineMax, final, line)) {
    LogStderrLine(c, pid, line, now);
    rest.remove_prefix(used);
  }
  c.stderr_partial.erase(0, c.stderr_partial.size() - rest.size());
}

void StderrRelay::OnReadable(int fd, Children& children) {
  auto owner = owner_.find(fd);
  if (owner == owner_.end()) return;
  pid_t pid = owner->second.pid;
  Child& c = children.at(pid);
  // One read per wakeup: a child that writes without end gets its turn
  // like every other descriptor, and costs here the scan of these bytes
  // (its lines past the rate are only counted); what is kept between reads
  // is less than one line's limit.
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    End(pid, c, /*drain=*/false);  // at its end (or broken): nothing left to read
    return;
  }
  c.stderr_partial.append(buf, static_cast<size_t>(n));
  LogStderrLines(c, pid, Clock::now(), /*final=*/false);
}

bool StderrRelay::Watch(int fd) {
  auto owner = owner_.find(fd);
  if (owner == owner_.end() || owner->second.watched) return false;
  owner->second.watched = true;
  return true;
}

void StderrRelay::Close(pid_t pid, Child& c) { End(pid, c, /*drain=*/true); }

void StderrRelay::End(pid_t pid, Child& c, bool drain) {
  if (c.stderr_fd < 0) return;
  // Whatever is still in the pipe belongs to the child's last words: read
  // to its end (the pipe is non-blocking), up to the most an unprivileged
  // child can make its pipe hold (F_SETPIPE_SZ up to pipe-max-size, 1 MiB
  // by default). A descendant still writing past that meets a closed pipe.
  char buf[4096];
  auto now = Clock::now();
  for (size_t drained = 0; drain && drained < kStderrDrainMax;) {
    ssize_t n = read(c.stderr_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
    c.stderr_partial.append(buf, static_cast<size_t>(n));
    LogStderrLines(c, pid, now, /*final=*/false);
  }
  LogStderrLines(c, pid, now, /*final=*/true);
  if (c.stderr_stream) {
    ReportSuppressed(c, pid, now, /*closing=*/true);
    limiter_.Close(*c.stderr_stream, now);
    c.stderr_stream.reset();
  }
  if (auto owner = owner_.find(c.stderr_fd); owner != owner_.end()) {
    if (owner->second.watched && unwatch_) unwatch_(c.stderr_fd);
    owner_.erase(owner);
  }
  close(c.stderr_fd);
  c.stderr_fd = -1;
}

}  // namespace hinetd::supervisor
