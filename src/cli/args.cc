#include "cli/args.h"

#include <cstdlib>

#include "config/units.h"

namespace hinetd::cli {

using base::Error;
using base::Result;

const char* UsageText() {
  return "usage: hinetd [-c FILE] [-f] [--log stderr|syslog]   serve the services in FILE\n"
         "       hinetd check [-c FILE]                        validate FILE, show each plan\n"
         "       hinetd learn [-c FILE] SERVICE [-o OUT] [--connections N] [--duration DUR]\n"
         "                                                     run SERVICE alone, recording\n"
         "                                                     its syscalls; write a policy\n"
         "       hinetd learn --from-log LOG [-c FILE] SERVICE [-o OUT]\n"
         "                                                     add LOG's policy-trial lines\n"
         "                                                     to SERVICE's policy\n"
         "       hinetd audit [-c FILE] [--json] [--threshold X] [--against OLD] [--prove]\n"
         "                    [SERVICE...]                     score how exposed each service\n"
         "                                                     is; --prove tries escapes (root)\n"
         "       hinetd import [-o OUT] [--force] [--format inetd|xinetd]\n"
         "                     [--hosts-allow F] [--hosts-deny F] FILE\n"
         "                                                     convert an inetd.conf or\n"
         "                                                     xinetd.conf into a services table\n"
         "       hinetd --help | --version\n"
         "\n"
         "  -c, --config FILE   services table (default /etc/hinetd/hinetd.toml)\n"
         "  -f, --foreground    stay in the foreground; log to stderr\n"
         "      --log SINK      stderr or syslog (default: stderr with -f, else syslog)\n"
         "  -o, --output OUT    learn: the policy file to write (default ./SERVICE-learned.toml)\n"
         "      --connections N learn: stop after N connections have ended\n"
         "      --duration DUR  learn: stop after DUR (30s, 5m, 1h)\n"
         "      --from-log LOG  learn: fold LOG's event=policy-trial lines into the policy\n"
         "      --json          audit: the report as JSON (schema hinetd-audit/1)\n"
         "      --threshold X   audit: exit 1 if a service scores above X (0-10)\n"
         "      --against OLD   audit: what changed since the table OLD; exit 1 if worse\n"
         "      --prove         audit: start each service's child with an escape probe\n"
         "  -o, --output OUT    import: write OUT (default stdout); never over a file but\n"
         "                      with --force\n"
         "      --format F      import: FILE's syntax, inetd or xinetd (default: detected)\n"
         "      --hosts-allow F import: tcpd's allow rules, or none (default\n"
         "                      /etc/hosts.allow for /etc/inetd.conf or /etc/xinetd.conf)\n"
         "      --hosts-deny F  import: tcpd's deny rules, or none (default likewise)\n"
         "\n"
         "Signals: HUP reloads FILE, TERM/INT stop, USR1 logs a status line per service.\n"
         "Exit: 0 ok, 64 usage, 71 system error, 78 configuration error.\n"
         "audit also exits 1 on a finding (threshold, worse, contradicted), 77 for --prove\n"
         "not run as root.\n"
         "import: 65 FILE is invalid, 66 FILE cannot be read, 73 OUT exists or cannot be\n"
         "written.\n"
         "See hinetd(8), hinetd.toml(5), hinetd-sandbox(5).\n";
}

Result<Args> ParseArgs(const std::vector<std::string>& argv) {
  Args args;
  size_t i = 1;
  if (i < argv.size() && argv[i] == "check") {
    args.command = Command::kCheck;
    ++i;
  } else if (i < argv.size() && argv[i] == "learn") {
    args.command = Command::kLearn;
    ++i;
  } else if (i < argv.size() && argv[i] == "audit") {
    args.command = Command::kAudit;
    ++i;
  } else if (i < argv.size() && argv[i] == "import") {
    args.command = Command::kImport;
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
    } else if (args.command == Command::kImport && (a == "-o" || a == "--output")) {
      auto v = value(a);
      if (!v.ok()) return v.error();
      if (v->empty()) return Error(a + " needs a file name");
      args.output = *v;
    } else if (args.command == Command::kImport && a == "--force") {
      args.force = true;
    } else if (args.command == Command::kImport &&
               (a == "--format" || a.starts_with("--format="))) {
      std::string v;
      if (a == "--format") {
        auto r = value(a);
        if (!r.ok()) return r.error();
        v = *r;
      } else {
        v = a.substr(9);
      }
      if (v != "inetd" && v != "xinetd") {
        return Error("--format takes inetd or xinetd, not '" + v + "'");
      }
      args.import_format = v;
    } else if (args.command == Command::kImport && (a == "--hosts-allow" || a == "--hosts-deny")) {
      auto v = value(a);
      if (!v.ok()) return v.error();
      if (v->empty()) return Error(a + " needs a file name, or none");
      (a == "--hosts-allow" ? args.hosts_allow : args.hosts_deny) = *v == "none" ? "" : *v;
    } else if (args.command == Command::kImport && !a.empty() && (a[0] != '-' || a == "-") &&
               args.import_file.empty()) {
      args.import_file = a;
    } else if (args.command == Command::kLearn && (a == "-o" || a == "--output")) {
      auto v = value(a);
      if (!v.ok()) return v.error();
      if (v->empty()) return Error(a + " needs a file name");
      args.output = *v;
    } else if (args.command == Command::kLearn && a == "--connections") {
      auto v = value(a);
      if (!v.ok()) return v.error();
      char* end = nullptr;
      unsigned long long n = strtoull(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || n == 0 || (*v)[0] == '-') {
        return Error("--connections takes a positive number, not '" + *v + "'");
      }
      args.connections = n;
    } else if (args.command == Command::kLearn && a == "--duration") {
      auto v = value(a);
      if (!v.ok()) return v.error();
      auto d = config::ParseDuration(*v);
      if (!d.ok() || d->count() <= 0) {
        return Error("--duration takes a duration such as 30s, 5m or 1h, not '" + *v + "'");
      }
      args.duration_ms = d->count();
    } else if (args.command == Command::kLearn && a == "--from-log") {
      auto v = value(a);
      if (!v.ok()) return v.error();
      args.from_log = *v;
    } else if (args.command == Command::kAudit && a == "--json") {
      args.json = true;
    } else if (args.command == Command::kAudit && a == "--prove") {
      args.prove = true;
    } else if (args.command == Command::kAudit && a == "--against") {
      auto v = value(a);
      if (!v.ok()) return v.error();
      if (v->empty()) return Error("--against needs a file name");
      args.against = *v;
    } else if (args.command == Command::kAudit && a == "--threshold") {
      auto v = value(a);
      if (!v.ok()) return v.error();
      char* end = nullptr;
      double x = strtod(v->c_str(), &end);
      if (v->empty() || *end != '\0' || !(x >= 0.0 && x <= 10.0)) {
        return Error("--threshold takes a score from 0 to 10, such as 2.5, not '" + *v + "'");
      }
      args.threshold = x;
    } else if (args.command == Command::kAudit && !a.empty() && a[0] != '-') {
      args.services.push_back(a);
    } else if (args.command == Command::kLearn && !a.empty() && a[0] != '-' &&
               args.service.empty()) {
      args.service = a;
    } else {
      return Error("unknown argument '" + a + "'");
    }
  }
  if (args.command == Command::kLearn) {
    if (args.service.empty()) return Error("learn needs the name of a service");
    if (!args.from_log.empty() && (args.connections != 0 || args.duration_ms != 0)) {
      return Error("--from-log reads a log: --connections and --duration do not apply");
    }
    if (args.output.empty()) args.output = "./" + args.service + "-learned.toml";
  }
  if (args.command == Command::kImport) {
    if (args.import_file.empty()) {
      return Error("import needs the file to convert, e.g. hinetd import /etc/inetd.conf");
    }
    if (args.force && args.output.empty()) return Error("--force goes with -o OUT");
  }
  if (args.config.empty()) return Error("-c needs a file name");
  if (args.command == Command::kServe && !args.foreground && args.log == base::LogSink::kStderr) {
    return Error("--log stderr needs -f: a detached daemon has no terminal to write to");
  }
  return args;
}

}  // namespace hinetd::cli
