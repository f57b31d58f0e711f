#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/result.h"

namespace hinetd::cli {

inline constexpr const char* kDefaultConfig = "/etc/hinetd/hinetd.toml";

enum class Command { kServe, kCheck, kHelp, kVersion };

struct Args {
  Command command = Command::kServe;
  std::string config = kDefaultConfig;
  bool foreground = false;
  std::optional<base::LogSink> log;  // default: stderr with -f, syslog without
};

// Parses argv; an error is a usage error (exit 64) with a message.
[[nodiscard]] base::Result<Args> ParseArgs(const std::vector<std::string>& argv);

[[nodiscard]] const char* UsageText();

}  // namespace hinetd::cli
