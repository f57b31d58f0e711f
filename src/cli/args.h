#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/result.h"

namespace hinetd::cli {

inline constexpr const char* kDefaultConfig = "/etc/hinetd/hinetd.toml";

enum class Command { kServe, kCheck, kLearn, kAudit, kImport, kHelp, kVersion };

struct Args {
  Command command = Command::kServe;
  std::string config = kDefaultConfig;
  bool foreground = false;
  std::optional<base::LogSink> log;  // default: stderr with -f, syslog without
  // `hinetd learn`.
  std::string service;
  std::string output;     // default ./SERVICE-learned.toml
  uint64_t connections = 0;  // 0: until the duration or a signal
  int64_t duration_ms = 0;   // 0: no limit
  std::string from_log;   // --from-log: fold this log's trial lines instead of running
  // `hinetd audit`.
  std::vector<std::string> services;  // empty: all
  bool json = false;
  std::optional<double> threshold;  // exit 1 when a score is above it
  std::string against;              // an older table to compare with
  bool prove = false;               // run the escape probe under each plan (root)
  // `hinetd import` (output: -o, empty = stdout).
  std::string import_file;
  std::string import_format;  // "inetd", "xinetd", or empty: detect
  bool force = false;         // overwrite OUT
  // tcpd's rules for the services unwrapped from it (--hosts-allow,
  // --hosts-deny; "none": not read). Unset: /etc/hosts.allow and
  // /etc/hosts.deny if FILE is /etc/inetd.conf or /etc/xinetd.conf (this
  // host's own), else none.
  std::optional<std::string> hosts_allow;
  std::optional<std::string> hosts_deny;
};

// Parses argv; an error is a usage error (exit 64) with a message.
[[nodiscard]] base::Result<Args> ParseArgs(const std::vector<std::string>& argv);

[[nodiscard]] const char* UsageText();

}  // namespace hinetd::cli
