#include "base/log.h"

#include <algorithm>

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

namespace hinetd::base {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// The length of the well-formed UTF-8 sequence at the start of `s` (1 to 4)
// with its code point in `cp`, or 0 if `s` does not start with one: a stray
// continuation byte, an overlong form (C0, C1, E0 80..9F, F0 80..8F), a
// surrogate (ED A0..BF), a code point above U+10FFFF (F4 90.., F5..FF), or a
// sequence cut short. The byte ranges are those of the Unicode Standard's
// table of well-formed byte sequences (chapter 3, table 3-7).
size_t DecodeUtf8(std::string_view s, char32_t& cp) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
    return i < s.size() && b(i) >= lo && b(i) <= hi;
  };
  unsigned char c = b(0);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf) {
    if (!cont(1)) return 0;
    cp = (static_cast<char32_t>(c & 0x1f) << 6) | (b(1) & 0x3f);
    return 2;
  }
  if (c >= 0xe0 && c <= 0xef) {
    unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
    unsigned char hi = c == 0xed ? 0x9f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2)) return 0;
    cp = (static_cast<char32_t>(c & 0x0f) << 12) | (static_cast<char32_t>(b(1) & 0x3f) << 6) |
         (b(2) & 0x3f);
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return 0;
    cp = (static_cast<char32_t>(c & 0x07) << 18) | (static_cast<char32_t>(b(1) & 0x3f) << 12) |
         (static_cast<char32_t>(b(2) & 0x3f) << 6) | (b(3) & 0x3f);
    return 4;
  }
  return 0;  // 80..BF (a continuation byte alone), C0, C1, F5..FF
}

// Well-formed characters that are escaped all the same: they drive a
// terminal, break a line in some viewers, or change or hide how the text
// around them reads. What a log reader sees must be what the line holds.
bool Disguises(char32_t cp) {
  struct Range {
    char32_t first, last;
  };
  static constexpr Range kRanges[] = {
      {0x0080, 0x009f},    // C1 controls: CSI (U+009B) drives a terminal, NEL breaks a line
      {0x00ad, 0x00ad},    // soft hyphen: invisible
      {0x061c, 0x061c},    // arabic letter mark: bidi
      {0x180e, 0x180e},    // mongolian vowel separator: invisible
      {0x200b, 0x200f},    // zero-width space, non-joiner, joiner; LRM, RLM: invisible, bidi
      {0x2028, 0x202e},    // line and paragraph separators; bidi embeddings and overrides
      {0x2060, 0x206f},    // word joiner, invisible operators, bidi isolates, format controls
      {0xfeff, 0xfeff},    // zero-width no-break space (byte order mark): invisible
      {0xfff9, 0xfffb},    // interlinear annotation controls: hide text
      {0xe0000, 0xe007f},  // tags: invisible ASCII look-alikes
  };
  if (cp < 0x80) return false;
  for (const Range& r : kRanges) {
    if (cp < r.first) return false;  // sorted
    if (cp <= r.last) return true;
  }
  return false;
}

bool AsciiNeedsQuotes(unsigned char c) {
  return c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f;
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (size_t i = 0; i < v.size();) {
    auto c = static_cast<unsigned char>(v[i]);
    if (c < 0x80) {
      if (AsciiNeedsQuotes(c)) return true;
      ++i;
      continue;
    }
    char32_t cp = 0;
    size_t len = DecodeUtf8(v.substr(i), cp);
    if (len == 0 || Disguises(cp)) return true;
    i += len;
  }
  return false;
}

void AppendByteEscape(std::string& out, unsigned char c) {
  out.append("\\x");
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xf]);
}

void AppendCodePointEscape(std::string& out, char32_t cp) {
  bool wide = cp > 0xffff;
  out.append(wide ? "\\U" : "\\u");
  for (int shift = wide ? 28 : 12; shift >= 0; shift -= 4) out.push_back(kHex[(cp >> shift) & 0xf]);
}

}  // namespace

void AppendLogfmtValue(std::string& out, std::string_view value) {
  if (!NeedsQuotes(value)) {
    out.append(value);
    return;
  }
  out.push_back('"');
  for (size_t i = 0; i < value.size();) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {
      char32_t cp = 0;
      size_t len = DecodeUtf8(value.substr(i), cp);
      if (len == 0) {
        AppendByteEscape(out, c);  // not UTF-8: this byte alone, then go on
        ++i;
      } else if (Disguises(cp)) {
        AppendCodePointEscape(out, cp);
        i += len;
      } else {
        out.append(value.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\t': out.append("\\t"); break;
      case '\r': out.append("\\r"); break;
      default:
        if (c < ' ' || c == 0x7f) {
          AppendByteEscape(out, c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
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
  if (held_) {
    AppendHeld(text);
    return;
  }
  std::string out;
  size_t notice = StartBlock(out);
  out.append(text);
  out.push_back('\n');
  FinishBlock(out, notice, 1);
}

void Logger::Hold() { held_ = sink_ == LogSink::kStderr; }

void Logger::AppendHeld(std::string_view text) {
  if (held_lines_ == 0) {
    held_out_.clear();
    held_notice_ = StartBlock(held_out_);
  }
  held_out_.append(text);
  held_out_.push_back('\n');
  ++held_lines_;
  constexpr size_t kHeldMax = 64 * 1024;
  if (held_out_.size() >= kHeldMax) {
    FinishBlock(held_out_, held_notice_, held_lines_);
    held_lines_ = 0;
  }
}

void Logger::Flush() {
  if (held_lines_ == 0) return;
  FinishBlock(held_out_, held_notice_, held_lines_);
  held_lines_ = 0;
  held_out_.clear();
}

void Logger::Release() {
  held_ = false;
  Flush();
}

void Logger::WriteLines(const std::vector<LogLine>& lines, int priority) {
  if (sink_ != LogSink::kStderr) {
    for (const auto& line : lines) WriteText(line.str(), priority);
    return;
  }
  if (lines.empty()) return;
  if (held_) {
    for (const auto& line : lines) AppendHeld(line.str());
    return;
  }
  std::string out;
  size_t notice = StartBlock(out);
  for (const auto& line : lines) {
    out.append(line.str());
    out.push_back('\n');
  }
  FinishBlock(out, notice, lines.size());
}

size_t Logger::StartBlock(std::string& out) const {
  // What could not be written before is counted, not silently gone; a
  // line cut short by the failure is ended first.
  if (broken_line_) out.push_back('\n');
  if (lost_ > 0) {
    out.append("event=log-lost lines=");
    out.append(std::to_string(lost_));
    out.push_back('\n');
  }
  return out.size();
}

void Logger::FinishBlock(const std::string& out, size_t notice, uint64_t lines) {
  size_t written = WriteAll(out);
  if (written == out.size()) {
    lost_ = 0;
    broken_line_ = false;
    return;
  }
  // Nowhere else to report them: the lines not written whole are counted,
  // and said with the next line that can be written. A notice that went
  // out whole is not repeated.
  uint64_t whole = 0;
  for (size_t at = notice; at < written; ++at) whole += out[at] == '\n';
  lost_ = (written >= notice ? 0 : lost_) + (lines - whole);
  if (written > 0) broken_line_ = out[written - 1] != '\n';
}

void Logger::WriteFixed(std::string_view text, int priority) {
  if (sink_ == LogSink::kSyslog) {
    syslog(priority, "%.*s", static_cast<int>(text.size()), text.data());
    return;
  }
  char prefix[4] = {'<', static_cast<char>('0' + (priority & 7)), '>', '\0'};
  iovec iov[2];
  if (sink_ == LogSink::kRelay) {
    iov[0] = {prefix, 3};
    iov[1] = {const_cast<char*>(text.data()), std::min(text.size(), kRelayLineMax)};
    for (int tries = 0; tries < 8; ++tries) {
      if (::writev(fd_, iov, 2) >= 0 || errno != EINTR) return;
    }
    return;
  }
  Flush();  // after the lines held before it (a write of what is already formatted)
  // Whole, or counted as lost (no notice in front: that would need
  // formatting; the next ordinary line carries it).
  char newline = '\n';
  iov[0] = {const_cast<char*>(text.data()), text.size()};
  iov[1] = {&newline, 1};
  ssize_t n;
  do {
    n = ::writev(fd_, iov, 2);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(text.size() + 1)) {
    ++lost_;
    if (n > 0) broken_line_ = true;
  }
}

size_t Logger::WriteAll(std::string_view out) {
  // One write per line keeps lines whole when several processes share the
  // stream; a short write to a pipe or tty is finished in a bounded loop.
  size_t done = 0;
  for (int tries = 0; done < out.size() && tries < 64; ++tries) {
    ssize_t n = ::write(fd_, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace hinetd::base
