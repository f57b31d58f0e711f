#include "supervisor/kmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>

namespace hinetd::supervisor {

namespace {

constexpr size_t kMaxRecords = 256;

// The value after " key=" up to the next space.
std::optional<std::string_view> Field(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while ((pos = text.find(key, pos)) != std::string_view::npos) {
    if (pos > 0 && text[pos - 1] == ' ' && pos + key.size() < text.size() &&
        text[pos + key.size()] == '=') {
      size_t start = pos + key.size() + 1;
      size_t end = text.find(' ', start);
      return text.substr(start, end == std::string_view::npos ? text.size() - start : end - start);
    }
    pos += key.size();
  }
  return std::nullopt;
}

template <typename T>
bool ToNumber(std::string_view s, T& out, int base = 10) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::optional<SeccompRecord> ParseSeccompRecord(std::string_view record) {
  // The message follows the first ';' of a /dev/kmsg record.
  size_t semi = record.find(';');
  std::string_view msg = semi == std::string_view::npos ? record : record.substr(semi + 1);
  if (auto nl = msg.find('\n'); nl != std::string_view::npos) msg = msg.substr(0, nl);
  if (msg.find("type=1326") == std::string_view::npos) return std::nullopt;
  auto pid = Field(msg, "pid");
  auto arch = Field(msg, "arch");
  auto nr = Field(msg, "syscall");
  if (!pid || !arch || !nr) return std::nullopt;
  SeccompRecord r;
  if (!ToNumber(*pid, r.pid) || !ToNumber(*arch, r.arch, 16) || !ToNumber(*nr, r.syscall)) {
    return std::nullopt;
  }
  return r;
}

void SeccompLog::Open() {
  fd_.reset(open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd_) lseek(fd_.get(), 0, SEEK_END);
}

void SeccompLog::Drain() {
  if (!fd_) return;
  char buf[8192];
  for (int i = 0; i < 1024; ++i) {
    ssize_t n = read(fd_.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EPIPE) continue;  // EPIPE: records overwritten
      return;                                          // EAGAIN: nothing more
    }
    if (n == 0) return;
    if (auto r = ParseSeccompRecord(std::string_view(buf, static_cast<size_t>(n)))) {
      recent_.push_back(*r);
      if (recent_.size() > kMaxRecords) recent_.pop_front();
    }
  }
}

std::optional<SeccompRecord> SeccompLog::Take(pid_t pid) {
  for (auto it = recent_.begin(); it != recent_.end(); ++it) {
    if (it->pid == pid) {
      SeccompRecord r = *it;
      recent_.erase(it);
      return r;
    }
  }
  return std::nullopt;
}

}  // namespace hinetd::supervisor
