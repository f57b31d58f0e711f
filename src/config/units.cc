#include "config/units.h"

#include <signal.h>

#include <charconv>
#include <limits>
#include <string>

namespace hinetd::config {

using base::Error;
using base::Result;

namespace {

// Splits "123abc" into 123 and "abc"; false if there is no leading number or
// it does not fit.
bool SplitNumber(std::string_view text, uint64_t& number, std::string_view& suffix) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || ptr == text.data()) return false;
  suffix = text.substr(static_cast<size_t>(ptr - text.data()));
  return true;
}

bool MulOverflows(uint64_t a, uint64_t b) {
  return b != 0 && a > std::numeric_limits<uint64_t>::max() / b;
}

}  // namespace

Result<Millis> ParseDuration(std::string_view text) {
  const std::string valid =
      " (expected a whole number with a unit: \"500ms\", \"30s\", \"5m\", \"2h\"; a bare "
      "number is seconds)";
  uint64_t n = 0;
  std::string_view unit;
  if (!SplitNumber(text, n, unit)) return Error("'" + std::string(text) + "' is not a duration" + valid);
  uint64_t ms_per;
  if (unit == "ms") {
    ms_per = 1;
  } else if (unit == "s" || unit.empty()) {
    ms_per = 1000;
  } else if (unit == "m") {
    ms_per = 60'000;
  } else if (unit == "h") {
    ms_per = 3'600'000;
  } else {
    return Error("'" + std::string(text) + "' has an unknown unit '" + std::string(unit) + "'" +
                 valid);
  }
  if (MulOverflows(n, ms_per) || n * ms_per > uint64_t{1} << 62) {
    return Error("'" + std::string(text) + "' is too long");
  }
  return Millis(static_cast<int64_t>(n * ms_per));
}

std::string FormatDuration(Millis d) {
  int64_t ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

Result<uint64_t> ParseSize(std::string_view text) {
  const std::string valid =
      " (expected a whole number of bytes with an optional unit K, M or G: \"64K\", "
      "\"256M\", \"1G\")";
  uint64_t n = 0;
  std::string_view unit;
  if (!SplitNumber(text, n, unit)) return Error("'" + std::string(text) + "' is not a size" + valid);
  uint64_t mul;
  if (unit.empty()) {
    mul = 1;
  } else if (unit == "K") {
    mul = 1ULL << 10;
  } else if (unit == "M") {
    mul = 1ULL << 20;
  } else if (unit == "G") {
    mul = 1ULL << 30;
  } else {
    return Error("'" + std::string(text) + "' has an unknown unit '" + std::string(unit) + "'" +
                 valid);
  }
  if (MulOverflows(n, mul)) return Error("'" + std::string(text) + "' is too large");
  return n * mul;
}

Result<int> ParseSignal(std::string_view text) {
  static constexpr struct {
    const char* name;
    int number;
  } kSignals[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                  {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"ALRM", SIGALRM}};
  std::string_view name = text;
  if (name.substr(0, 3) == "SIG") name.remove_prefix(3);
  for (const auto& s : kSignals) {
    if (name == s.name) return s.number;
  }
  return Error("'" + std::string(text) +
               "' is not a signal name (expected one of TERM, KILL, HUP, INT, QUIT, USR1, USR2, "
               "ALRM)");
}

}  // namespace hinetd::config
