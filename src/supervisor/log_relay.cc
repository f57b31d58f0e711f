#include "supervisor/log_relay.h"

#include <errno.h>
#include <sys/socket.h>

namespace hinetd::supervisor {

using base::LogLine;

LogRelay::LogRelay(base::Logger& log, Clock::time_point now)
    : log_(log), rate_(kBurst, std::chrono::duration_cast<std::chrono::milliseconds>(kPeriod), now) {}

LogRelay::ReadStatus LogRelay::Read(int fd, int max, Clock::time_point now) {
  // One byte more than a well-formed message can hold: a longer one is
  // told apart (MSG_TRUNC) and dropped.
  char buf[base::kRelayLineMax + 8];
  for (int i = 0; i < max; ++i) {
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? ReadStatus::kEmpty : ReadStatus::kClosed;
    }
    // The listener's end is closed (an empty message is none of its).
    if (n == 0) return ReadStatus::kClosed;
    Take(std::string_view(buf, static_cast<size_t>(n)), (msg.msg_flags & MSG_TRUNC) != 0, now);
  }
  return ReadStatus::kMore;
}

std::string LogRelay::Check(std::string_view message, int& priority) {
  // The priority: only those the listener logs at.
  if (message.size() < 3 || message[0] != '<' || message[2] != '>') return "";
  switch (message[1]) {
    case '3': priority = LOG_ERR; break;
    case '4': priority = LOG_WARNING; break;
    case '6': priority = LOG_INFO; break;
    default: return "";
  }
  std::string_view line = message.substr(3);
  // An event name, as hinetd's own: lower-case letters and '-'.
  constexpr std::string_view kEvent = "event=";
  if (line.substr(0, kEvent.size()) != kEvent) return "";
  size_t name = kEvent.size();
  size_t end = name;
  while (end < line.size() && ((line[end] >= 'a' && line[end] <= 'z') || line[end] == '-')) ++end;
  if (end == name || (end < line.size() && line[end] != ' ')) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(line.size());
  for (unsigned char c : line) {
    if (c < 0x20 || c >= 0x7f) {
      out.append("\\x");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

void LogRelay::Take(std::string_view message, bool truncated, Clock::time_point now) {
  if (truncated || message.size() > 3 + base::kRelayLineMax) return Drop(too_long_, now);
  int priority = LOG_INFO;
  std::string line = Check(message, priority);
  if (line.empty()) return Drop(malformed_, now);
  if (!rate_.TryAcquire(now)) return Drop(over_rate_, now);
  log_.WriteText(line, priority);
}

void LogRelay::Drop(uint64_t& reason, Clock::time_point now) {
  ++reason;
  ++dropped_total_;
  ReportDrops(now);
}

LogRelay::Clock::time_point LogRelay::next_report() const {
  if (malformed_ + too_long_ + over_rate_ == 0) return Clock::time_point::max();
  return reported_ ? last_report_ + kReportInterval : Clock::time_point::min();
}

void LogRelay::ReportDrops(Clock::time_point now) {
  if (now < next_report()) return;
  log_.Warning(LogLine("listener-log-dropped")
                   .Add("count", malformed_ + too_long_ + over_rate_)
                   .Add("malformed", malformed_)
                   .Add("too_long", too_long_)
                   .Add("rate", over_rate_));
  malformed_ = too_long_ = over_rate_ = 0;
  last_report_ = now;
  reported_ = true;
}

}  // namespace hinetd::supervisor
