#include "cli/args.h"

namespace hinetd::cli {

using base::Error;
using base::Result;

const char* UsageText() {
  return "usage: hinetd [-c FILE] [-f] [--log stderr|syslog]   serve the services in FILE\n"
         "       hinetd check [-c FILE]                        validate FILE, show each plan\n"
         "       hinetd --help | --version\n"
         "\n"
         "  -c, --config FILE   services table (default /etc/hinetd/hinetd.toml)\n"
         "  -f, --foreground    stay in the foreground; log to stderr\n"
         "      --log SINK      stderr or syslog (default: stderr with -f, else syslog)\n"
         "\n"
         "Signals: HUP reloads FILE, TERM/INT stop, USR1 logs a status line per service.\n"
         "Exit: 0 ok, 64 usage, 71 system error, 78 configuration error.\n"
         "See hinetd(8), hinetd.toml(5), hinetd-sandbox(5).\n";
}

Result<Args> ParseArgs(const std::vector<std::string>& argv) {
  Args args;
  size_t i = 1;
  if (i < argv.size() && argv[i] == "check") {
    args.command = Command::kCheck;
    ++i;
  }
  for (; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    auto value = [&](const std::string& flag) -> Result<std::string> {
      if (i + 1 >= argv.size()) return Error(flag + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      args.command = Command::kHelp;
    } else if (a == "-V" || a == "--version") {
      args.command = Command::kVersion;
    } else if (a == "-c" || a == "--config") {
      auto v = value(a);
      if (!v.ok()) return v.error();
      args.config = *v;
    } else if (a.starts_with("--config=")) {
      args.config = a.substr(9);
    } else if ((a == "-f" || a == "--foreground") && args.command == Command::kServe) {
      args.foreground = true;
    } else if ((a == "--log" || a.starts_with("--log=")) && args.command == Command::kServe) {
      std::string v;
      if (a == "--log") {
        auto r = value(a);
        if (!r.ok()) return r.error();
        v = *r;
      } else {
        v = a.substr(6);
      }
      if (v == "stderr") {
        args.log = base::LogSink::kStderr;
      } else if (v == "syslog") {
        args.log = base::LogSink::kSyslog;
      } else {
        return Error("--log takes stderr or syslog, not '" + v + "'");
      }
    } else {
      return Error("unknown argument '" + a + "'");
    }
  }
  if (args.config.empty()) return Error("-c needs a file name");
  if (args.command == Command::kServe && !args.foreground && args.log == base::LogSink::kStderr) {
    return Error("--log stderr needs -f: a detached daemon has no terminal to write to");
  }
  return args;
}

}  // namespace hinetd::cli
