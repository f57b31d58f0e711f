// Result<T>: a value or an Error, for every fallible call in the daemon.
// Exceptions never cross a module boundary; toml++ errors are caught at the
// config boundary and turned into these.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace hinetd::base {

// Where in a file a problem was found. line/column are 1-based; 0 = unknown.
struct SourceLoc {
  std::string file;
  int line = 0;
  int column = 0;

  [[nodiscard]] bool known() const { return !file.empty(); }
  // "file:line:column", or "file" when the position is unknown.
  [[nodiscard]] std::string ToString() const;
};

class Error {
 public:
  Error() = default;
  explicit Error(std::string message) : message_(std::move(message)) {}
  Error(SourceLoc loc, std::string message)
      : loc_(std::move(loc)), message_(std::move(message)) {}

  [[nodiscard]] const std::string& message() const { return message_; }
  [[nodiscard]] const SourceLoc& loc() const { return loc_; }
  // "file:line:col: message" or just "message".
  [[nodiscard]] std::string ToString() const;

  // Returns a copy with "prefix: " put in front of the message.
  [[nodiscard]] Error Wrap(const std::string& prefix) const {
    return Error(loc_, prefix + ": " + message_);
  }

 private:
  SourceLoc loc_;
  std::string message_;
};

// errno-based error: "what: strerror (ENAME)".
[[nodiscard]] Error ErrnoError(const std::string& what, int err);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit on purpose
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  [[nodiscard]] const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  [[nodiscard]] bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  [[nodiscard]] const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace hinetd::base
