#include "base/log.h"

#include <errno.h>
#include <unistd.h>

namespace hinetd::base {

namespace {

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

void AppendLogfmtValue(std::string& out, std::string_view value) {
  if (!NeedsQuotes(value)) {
    out.append(value);
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : value) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\t': out.append("\\t"); break;
      case '\r': out.append("\\r"); break;
      default:
        if (c < ' ' || c == 0x7f) {
          out.append("\\x");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

LogLine::LogLine(std::string_view event) {
  text_.reserve(128);
  text_.append("event=");
  AppendLogfmtValue(text_, event);
}

LogLine& LogLine::Add(std::string_view key, std::string_view value) {
  text_.push_back(' ');
  text_.append(key);
  text_.push_back('=');
  AppendLogfmtValue(text_, value);
  return *this;
}

LogLine& LogLine::Add(std::string_view key, int64_t value) {
  text_.push_back(' ');
  text_.append(key);
  text_.push_back('=');
  text_.append(std::to_string(value));
  return *this;
}

Logger::Logger(LogSink sink, int fd) : sink_(sink), fd_(fd) {
  if (sink_ == LogSink::kSyslog) openlog("hinetd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

Logger::~Logger() {
  if (sink_ == LogSink::kSyslog) closelog();
}

void Logger::RelayTo(int fd) {
  if (sink_ == LogSink::kSyslog) closelog();
  sink_ = LogSink::kRelay;
  fd_ = fd;
}

void Logger::WriteText(std::string_view text, int priority) {
  if (sink_ == LogSink::kSyslog) {
    std::string line(text);
    syslog(priority, "%s", line.c_str());
    return;
  }
  if (sink_ == LogSink::kRelay) {
    // One datagram: a blocking write waits for room in the receiver's
    // buffer (as syslog(3) waits for /dev/log) instead of losing the line.
    std::string out = "<" + std::to_string(priority & 7) + ">";
    out.append(text.substr(0, kRelayLineMax));
    for (int tries = 0; tries < 8; ++tries) {
      if (::write(fd_, out.data(), out.size()) >= 0 || errno != EINTR) return;
    }
    return;
  }
  std::string out(text);
  out.push_back('\n');
  // One write per line keeps lines whole when several processes share the
  // stream; a short write to a pipe or tty is finished in a bounded loop.
  const char* p = out.data();
  size_t left = out.size();
  for (int tries = 0; left > 0 && tries < 64; ++tries) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // Nowhere left to report a logging failure.
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace hinetd::base
