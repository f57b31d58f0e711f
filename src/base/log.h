// One line per event, logfmt (`key=value`), to stderr or syslog.
// Never used on the child path (after fork nothing but system calls run).
#pragma once

#include <syslog.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hinetd::base {

// Builds one logfmt line: LogLine("accept").Add("service", name)...
class LogLine {
 public:
  explicit LogLine(std::string_view event);

  LogLine& Add(std::string_view key, std::string_view value);
  LogLine& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  LogLine& Add(std::string_view key, const std::string& value) {
    return Add(key, std::string_view(value));
  }
  LogLine& Add(std::string_view key, int64_t value);
  LogLine& Add(std::string_view key, int value) {
    return Add(key, static_cast<int64_t>(value));
  }
  LogLine& Add(std::string_view key, unsigned value) {
    return Add(key, static_cast<int64_t>(value));
  }
  LogLine& Add(std::string_view key, unsigned long value) {
    return Add(key, static_cast<int64_t>(value));
  }
  LogLine& Add(std::string_view key, long long value) {
    return Add(key, static_cast<int64_t>(value));
  }

  [[nodiscard]] const std::string& str() const { return text_; }

 private:
  std::string text_;
};

// Appends `value` to `out`, quoted when it is empty or holds a space, '=',
// '"', '\' or anything escaped. Every value of every line goes through it,
// whoever supplied the text (a peer, a child's stderr, a file): the line
// that comes out is printable, valid UTF-8 and reads as it is. Inside
// quotes:
//   '"' '\' newline tab CR        \" \\ \n \t \r
//   other C0 controls, DEL         \xNN (the byte)
//   a byte that is not part of     \xNN, each such byte (overlong forms,
//     well-formed UTF-8            surrogates, > U+10FFFF, cut short, stray)
//   C1 controls (U+0080..U+009F),  \uNNNN, or \UNNNNNNNN above U+FFFF
//     bidi controls, line and      (see Disguises in log.cc for the list)
//     paragraph separators,
//     invisible format characters
// Any other character, ASCII or not (é, 日本), is copied as it is.
// Hex digits are lower case. Nothing is allocated but `out`'s growth.
void AppendLogfmtValue(std::string& out, std::string_view value);

// kRelay: a process that cannot reach the sink itself (the listener, in its
// empty chroot, has no /dev/log) sends each line to one that can (the
// monitor), which checks it before it writes it: one datagram per line,
// "<P>" and then the line, P the line's syslog priority (one digit).
enum class LogSink { kStderr, kSyslog, kRelay };

// The longest line a relay carries (the prefix not counted); a longer one is
// cut there by the sender, and refused by the receiver.
inline constexpr size_t kRelayLineMax = 2048;

class Logger {
 public:
  // kStderr writes to `fd` (2 unless a test captures it elsewhere).
  explicit Logger(LogSink sink = LogSink::kStderr, int fd = 2);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void Write(const LogLine& line, int priority = LOG_INFO) { WriteText(line.str(), priority); }
  // One line already formatted (a line relayed from another process).
  void WriteText(std::string_view text, int priority);
  // One line, already formatted, written without allocating (for a
  // process that has just run out of memory). Counted as lost if it fails.
  void WriteFixed(std::string_view text, int priority);
  // Several lines of one priority, in order: to a kStderr sink in one
  // write (a table of a thousand services is a thousand `listen` lines at
  // each reload), each counted as lost if it could not be written whole.
  void WriteLines(const std::vector<LogLine>& lines, int priority);
  void Info(const LogLine& line) { Write(line, LOG_INFO); }
  void Warning(const LogLine& line) { Write(line, LOG_WARNING); }
  void Error(const LogLine& line) { Write(line, LOG_ERR); }

  [[nodiscard]] LogSink sink() const { return sink_; }
  // Where a kStderr sink writes.
  [[nodiscard]] int fd() const { return fd_; }
  // Lines a kStderr sink could not write (a full disk, a broken pipe) since
  // the last one it could. The next line that goes through is preceded by
  // `event=log-lost lines=N`, on a line of its own.
  [[nodiscard]] uint64_t lost() const { return lost_; }
  // Lines written between Hold and Release go to a kStderr sink in one
  // write, at Release or Flush (or once 64 KiB wait); other sinks write each
  // line at once. The monitor holds the lines of one turn of its loop: a
  // child's accept and end lines, logged at its reap, cost one write, not
  // two.
  void Hold();
  void Release();
  // Writes the lines held so far and goes on holding: before a message to
  // another process that may log in answer (its line must come after).
  void Flush();
  [[nodiscard]] bool held() const { return held_; }
  // From now on, every line goes to `fd` (the sending end of a datagram
  // socket pair) as kRelay describes; syslog's connection is closed. For a
  // forked process about to lose its way to the sink.
  void RelayTo(int fd);

 private:
  // Writes `out` in a bounded loop over short writes; returns how many
  // bytes went (all of them, unless the kernel refused the rest).
  size_t WriteAll(std::string_view out);
  // A kStderr write of whole lines: StartBlock puts the notice of what was
  // lost before into `out` and returns its length; the caller appends its
  // `lines` lines, each ending in '\n'; FinishBlock writes them and counts
  // those not written whole.
  size_t StartBlock(std::string& out) const;
  void FinishBlock(const std::string& out, size_t notice, uint64_t lines);

  // A line while held: appended to held_out_ (StartBlock's notice first).
  void AppendHeld(std::string_view text);
  LogSink sink_;
  int fd_;
  bool held_ = false;
  std::string held_out_;  // kept between turns: no allocation per line
  size_t held_notice_ = 0;
  uint64_t held_lines_ = 0;
  uint64_t lost_ = 0;
  bool broken_line_ = false;  // a line was cut short: the next starts on a new one
};

}  // namespace hinetd::base
