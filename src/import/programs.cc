// What `hinetd import` knows about the programs inetd runs, and the sandbox
// it gives each: a jail hinetd builds (the program, the helpers it runs,
// the files and directories its arguments and its own config name), a
// shipped policy that fits it, the syslog relay for a program that logs
// through syslog(3), and drops_privileges for one that changes its own
// identity. Everything it cannot know (which accounts finger may show,
// whether a tree is too large to copy) is a review comment; anything the
// service would need that this host lacks turns it off, with the reason,
// so that what is written always loads.
#include <algorithm>
#include <cctype>
#include <sstream>

#include "import/model.h"

namespace hinetd::importer {
namespace {

std::string Basename(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A program's command line split into options (with their values) and
// operands, as getopt would: `with_value` lists the options that take one
// ("-u", "--user"); "--user=x" and "-ux" carry theirs inline.
struct CommandLine {
  std::vector<std::pair<std::string, std::string>> options;  // name, value ("" if none)
  std::vector<std::string> operands;

  [[nodiscard]] const std::string *Value(std::initializer_list<const char *> names) const {
    const std::string *found = nullptr;
    for (const auto &[name, value] : options) {
      for (const char *n : names) {
        if (name == n) found = &value;  // the last one wins, as with getopt
      }
    }
    return found;
  }
  [[nodiscard]] bool Has(std::initializer_list<const char *> names) const {
    return Value(names) != nullptr;
  }
};

CommandLine Split(const std::vector<std::string> &args, size_t from,
                  const std::vector<std::string> &with_value) {
  CommandLine c;
  auto takes = [&](const std::string &name) {
    return std::find(with_value.begin(), with_value.end(), name) != with_value.end();
  };
  for (size_t i = from; i < args.size(); ++i) {
    const std::string &a = args[i];
    if (a == "--") {
      c.operands.insert(c.operands.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (a.starts_with("--")) {
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        c.options.emplace_back(a.substr(0, eq), a.substr(eq + 1));
      } else if (takes(a) && i + 1 < args.size()) {
        c.options.emplace_back(a, args[++i]);
      } else {
        c.options.emplace_back(a, "");
      }
    } else if (a.size() > 1 && a[0] == '-') {
      // Clustered short options: -vs, -u nobody, -unobody.
      for (size_t j = 1; j < a.size(); ++j) {
        std::string name = std::string("-") + a[j];
        if (takes(name)) {
          if (j + 1 < a.size()) {
            c.options.emplace_back(name, a.substr(j + 1));
          } else if (i + 1 < args.size()) {
            c.options.emplace_back(name, args[++i]);
          } else {
            c.options.emplace_back(name, "");
          }
          break;
        }
        c.options.emplace_back(name, "");
      }
    } else {
      c.operands.push_back(a);
    }
  }
  return c;
}

// The jail's content, and what turns the service off when the host lacks it.
class Fitter {
 public:
  Fitter(Service &s, const SystemLookup &sys) : s_(s), sys_(sys) { s_.jail.emplace(); }

  void Program(const std::string &path, const std::string &why) {
    if (!sys_.IsProgram(path)) {
      s_.off.push_back("the program " + path + " (" + why +
                       ") is not on this host: install it, then run hinetd import again");
      return;
    }
    auto &p = s_.jail->programs;
    if (std::find(p.begin(), p.end(), path) == p.end()) p.push_back(path);
  }
  // A file or directory of the host, copied at the same path.
  void File(const std::string &path, const std::string &what) {
    if (path.empty() || path[0] != '/') {
      s_.review.push_back(what + " '" + path +
                          "' is a relative path: hinetd cannot copy it into the jail; write "
                          "an absolute one");
      return;
    }
    std::string p = Normal(path);
    if (!sys_.Exists(p)) {
      s_.off.push_back(what + " " + p +
                       " is not on this host: create it, then run hinetd import again");
      return;
    }
    for (const auto &[from, to] : s_.jail->files) {
      // Already there, or inside a tree that is.
      if (p == from || p.starts_with(from + "/")) return;
    }
    s_.jail->files.emplace_back(p, p);
  }
  void Syslog() {
    if (!s_.exec.empty() && sys_.ImportsSyslog(s_.exec[0])) s_.syslog = true;
  }

 private:
  // "/a//b/./c/" -> "/a/b/c" (rsync's "/./" chroot divider included).
  static std::string Normal(const std::string &path) {
    std::string out;
    std::istringstream parts(path);
    std::string part;
    while (std::getline(parts, part, '/')) {
      if (part.empty() || part == ".") continue;
      out += "/" + part;
    }
    return out.empty() ? "/" : out;
  }

  Service &s_;
  const SystemLookup &sys_;
};

const char *const kJailNote =
    "the jail is a copy, made when hinetd loads or reloads: after changing what it copies, "
    "reload (SIGHUP); hinetd check lists what went in";

// in.fingerd (bsd-finger) runs finger(1) (or -p PROGRAM) on the request.
void FitFingerd(Service &s, const SystemLookup &sys) {
  Fitter f(s, sys);
  CommandLine c = Split(s.exec, 1, {"-p", "-t", "-L"});
  const std::string *finger = c.Value({"-p", "-L"});
  f.Program(finger != nullptr ? *finger : "/usr/bin/finger", "the finger program in.fingerd runs");
  f.Syslog();
  s.sandbox = "fingerd";
  s.review.push_back(
      "sandbox \"fingerd\" (default, and syslog), in a jail with in.fingerd and the finger "
      "program it runs: finger shows only the accounts of the jail's /etc/passwd (root and "
      "this service's own): list those it may show in the jail's users (e.g. users = "
      "[\"alice\"]), and their ~/.plan and ~/.project in its files; with no utmp in the "
      "jail, nobody shows as logged in; " + std::string(kJailNote));
}

// in.tftpd (tftpd-hpa) changes its own identity for each request.
void FitTftpd(Service &s, const SystemLookup &sys) {
  Fitter f(s, sys);
  CommandLine c =
      Split(s.exec, 1,
            {"-a", "--address", "-u", "--user", "-U", "--umask", "-t", "--timeout", "-T",
             "--retransmit", "-m", "--mapfile", "-B", "--blocksize", "-r", "--refuse", "-R",
             "--port-range", "-P", "--pidfile"});
  f.Syslog();
  s.syslog = true;  // it always opens syslog
  s.sandbox = "tftpd";
  s.drops_privileges = true;
  if (const std::string *user = c.Value({"-u", "--user"})) {
    if (*user == "root" || *user == "0") {
      s.off.push_back("in.tftpd's --user is root, which hinetd never runs a service as: give "
                      "it an account of its own");
    } else {
      s.user = *user;
      // Not the account Translate named for a root entry: tftpd's own.
      std::erase_if(s.review, [](const std::string &r) { return r.starts_with("ran as root;"); });
      s.review.push_back("runs as '" + *user + "', the account in.tftpd's --user names (its "
                         "user namespace maps only that account)");
    }
  } else {
    s.exec.insert(s.exec.begin() + 1, {"--user", s.user});
    s.review.push_back("--user " + s.user + " added: in.tftpd drops to nobody by default, and "
                       "its user namespace maps only this service's account");
  }
  if (const std::string *map = c.Value({"-m", "--mapfile"})) f.File(*map, "the remap file");
  if (c.Has({"-c", "--create"})) {
    s.review.push_back("uploads (-c) need a directory the service may write: the jail's copy "
                       "is read-only for it; keep tftp read-only, or give it a writable "
                       "directory (jail's writable) and serve that");
  }
  if (c.operands.empty()) {
    s.review.push_back("no directory: in.tftpd serves / of its jail; give the directory to "
                       "serve (with --secure it chroots into it)");
  }
  for (const std::string &dir : c.operands) f.File(dir, "the directory in.tftpd serves");
  s.review.push_back(
      "sandbox \"tftpd\" (default, identity, syslog, and the UDP socket of each transfer), "
      "drops_privileges = true: its per-request child calls initgroups, chroot and setreuid "
      "itself, which it may only as this service's own account, inside a mount namespace "
      "whose root is the jail (README \"Programs that drop privileges\"); " +
      std::string(kJailNote));
}

// rsyncd.conf(5): "key = value" lines, [module] headers; keys are
// case-insensitive and their spaces do not count.
std::vector<std::pair<std::string, std::string>> RsyncdParams(const std::string &text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#' || line[start] == ';' ||
        line[start] == '[') {
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key;
    for (char ch : line.substr(start, eq - start)) {
      if (ch != ' ' && ch != '\t' && ch != '_') {
        key += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
    }
    std::string value = line.substr(eq + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r") + 1);
    out.emplace_back(key, value);
  }
  return out;
}

bool Truthy(const std::string &v) {
  std::string l;
  for (char ch : v) l += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return l == "yes" || l == "true" || l == "1";
}

void FitRsync(Service &s, const SystemLookup &sys) {
  Fitter f(s, sys);
  CommandLine c = Split(s.exec, 1, {"--config", "--port", "--address", "--sockopts", "--log-file",
                                    "--log-file-format", "--bwlimit", "-M", "--dparam"});
  f.Syslog();
  s.sandbox = "rsyncd";
  const std::string *given = c.Value({"--config"});
  std::string conf = given != nullptr ? *given : "/etc/rsyncd.conf";
  auto text = sys.ReadFile(conf);
  if (!text.ok()) {
    s.off.push_back("rsync --daemon reads " + conf + ", which cannot be read on this host (" +
                    text.error().message() + "): write it, then run hinetd import again");
    return;
  }
  f.File(conf, "rsync's config");
  for (const auto &[key, value] : RsyncdParams(*text)) {
    if (key == "path") {
      f.File(value, "the module path");
    } else if (key == "secretsfile" || key == "motdfile" || key == "includefrom" ||
               key == "excludefrom" || key == "filterfrom") {
      f.File(value, "the file of rsyncd.conf's " + key);
    } else if (key == "usechroot" && Truthy(value)) {
      s.review.push_back("rsyncd.conf says use chroot = " + value +
                         ": rsync then refuses to serve when chroot fails, and its policy "
                         "makes chroot fail (EPERM); set it to no or remove it (the jail is "
                         "its chroot)");
    } else if (key == "logfile") {
      s.review.push_back("rsyncd.conf names a log file (" + value +
                         "), which the read-only jail cannot hold: remove it, and rsync logs "
                         "through syslog to hinetd's log");
    } else if (key == "readonly" && !Truthy(value)) {
      s.review.push_back("a module is writable (read only = " + value +
                         "): the jail's copy is read-only for the service; uploads fail");
    } else if (key == "uid" || key == "gid") {
      s.review.push_back("rsyncd.conf's " + key + " applies only to an rsync started as root; "
                         "it runs as the service's account");
    }
  }
  s.review.push_back("sandbox \"rsyncd\" (default, syslog; its own chroot attempt fails "
                     "cleanly), in a jail with rsync, " + conf + " and the modules' paths; " +
                     std::string(kJailNote) + " (a large module makes every load slow)");
}

// git daemon --inetd (or git-daemon): serves the repositories it is given.
void FitGitDaemon(Service &s, const SystemLookup &sys, size_t first_arg) {
  Fitter f(s, sys);
  CommandLine c = Split(s.exec, first_arg, {});
  f.Program("/usr/lib/git-core/git", "git upload-pack, which git daemon runs");
  f.Program("/usr/lib/git-core/git-daemon", "the daemon the git command runs");
  f.Syslog();
  s.syslog = true;  // --inetd implies --syslog
  s.sandbox = "git-daemon";
  const std::string *base = c.Value({"--base-path"});
  if (!c.operands.empty()) {
    for (const std::string &dir : c.operands) f.File(dir, "the repository directory");
  } else if (base != nullptr) {
    f.File(*base, "the base path");
  } else {
    s.review.push_back("no --base-path and no directory: git daemon serves any path it is "
                       "asked for; name the repositories in the jail's files");
  }
  if (c.Has({"--interpolated-path", "--user-path"})) {
    s.review.push_back("--interpolated-path and --user-path name paths the jail does not hold "
                       "unless its files list them");
  }
  // The copy is root's; git refuses a repository another user owns unless
  // a protected configuration trusts it (environment config counts).
  s.env.emplace_back("GIT_CONFIG_COUNT", "1");
  s.env.emplace_back("GIT_CONFIG_KEY_0", "safe.directory");
  s.env.emplace_back("GIT_CONFIG_VALUE_0", "*");
  s.review.push_back(
      "sandbox \"git-daemon\" (default and syslog), in a jail with git, the helpers it runs "
      "and the repositories; the jail's copy of them is root's, which git refuses to serve "
      "to another user unless trusted: env sets safe.directory = * (the jail holds nothing "
      "else to trust)" +
      std::string(c.Has({"--export-all"}) ? ""
                                          : "; without --export-all only repositories with a "
                                            "git-daemon-export-ok file are served") +
      "; " + kJailNote);
}

// busybox httpd -i: one request per connection, files under -h DIR.
void FitBusyboxHttpd(Service &s, const SystemLookup &sys) {
  Fitter f(s, sys);
  CommandLine c = Split(s.exec, 2, {"-p", "-u", "-r", "-h", "-c", "-m", "-e", "-d"});
  f.Syslog();
  s.sandbox = "busybox-httpd";
  if (const std::string *home = c.Value({"-h"})) {
    f.File(*home, "the directory busybox httpd serves (-h)");
  } else {
    s.review.push_back("no -h DIR: busybox httpd serves its working directory, the jail's "
                       "root; give -h DIR");
  }
  const std::string *conf = c.Value({"-c"});
  if (conf != nullptr) {
    f.File(*conf, "busybox httpd's config (-c)");
  } else if (sys.Exists("/etc/httpd.conf")) {
    f.File("/etc/httpd.conf", "busybox httpd's config");
  }
  s.review.push_back("sandbox \"busybox-httpd\" (default, syslog, and busybox's set-id drop, "
                     "which changes nothing without privileges), in a jail with busybox and "
                     "what it serves; CGI programs need their interpreters in the jail's "
                     "programs; " + std::string(kJailNote));
}

// Programs hinetd knows to leave without a jail (they need the host's
// terminals, or root), with the reason.
struct Unjailed {
  const char *names[4];
  const char *why;
  bool needs_root;
};

constexpr Unjailed kUnjailed[] = {
    {{"in.talkd", "in.ntalkd", "talkd", nullptr},
     "talkd writes to users' terminals and sends a datagram back to the caller's talk program "
     "from a socket of its own, which the default policy refuses (socket): learn a policy "
     "(hinetd learn NAME) and review it; it needs the real /dev and utmp file",
     false},
    {{"telnetd", "in.telnetd", nullptr, nullptr},
     "telnetd runs login(1), which switches to the user who logs in and so needs root: under "
     "hinetd, as an unprivileged account, nobody can log in; keep telnet off (ssh replaces it)",
     true},
    {{"in.rlogind", "in.rshd", "in.rexecd", "rlogind"},
     "the r-services switch to the user who logs in and need root and a privileged source "
     "port: they cannot work as an unprivileged account; keep them off (ssh replaces them)",
     true},
    {{"in.ftpd", "ftpd", "proftpd", "vsftpd"},
     "an FTP server switches to the user who logs in (root) and opens data connections "
     "(socket), neither of which hinetd allows by default: run it standalone, or learn a "
     "policy",
     true},
};

const Unjailed *FindUnjailed(const std::string &program) {
  std::string base = Basename(program);
  for (const Unjailed &u : kUnjailed) {
    for (const char *n : u.names) {
      if (n != nullptr && base == n) return &u;
    }
  }
  return nullptr;
}

}  // namespace

std::string NeedsRoot(const std::string &program) {
  const Unjailed *u = FindUnjailed(program);
  return u != nullptr && u->needs_root ? u->why : "";
}

void FitSandbox(Service &s, const SystemLookup &sys) {
  if (s.exec.empty()) return;
  const std::string &program = s.exec[0];
  std::string base = Basename(program);
  if (const Unjailed *u = FindUnjailed(program)) {
    s.sandbox = "default";
    s.review.push_back("sandbox \"default\", no chroot: " + std::string(u->why));
    return;
  }
  if (base == "in.fingerd" || base == "fingerd") return FitFingerd(s, sys);
  if (base == "in.tftpd" || base == "tftpd") return FitTftpd(s, sys);
  if (base == "rsync" && std::find(s.exec.begin(), s.exec.end(), "--daemon") != s.exec.end()) {
    return FitRsync(s, sys);
  }
  if (base == "git" && s.exec.size() > 1 && s.exec[1] == "daemon") return FitGitDaemon(s, sys, 2);
  if (base == "git-daemon") return FitGitDaemon(s, sys, 1);
  if (base == "busybox" && s.exec.size() > 1 && s.exec[1] == "httpd") {
    return FitBusyboxHttpd(s, sys);
  }
  // Anything else: a jail with the program alone (a script brings its
  // interpreter), under `default`, or `stdio` for cat.
  Fitter f(s, sys);
  s.sandbox = base == "cat" ? "stdio" : "default";
  std::string what =
      base == "cat" ? "sandbox \"stdio\" (it reads stdin and writes stdout)"
                    : "sandbox \"default\" (a general service: files, pipes, child processes, "
                      "no new sockets): nothing is known about " + base +
                          "; watch its first runs and learn a tighter policy (hinetd learn " +
                          s.name + ")";
  s.review.push_back(what + ", in a jail with " + base +
                     " alone (its libraries, a script's interpreter, /dev/null, zero and "
                     "urandom): add the programs it runs to the jail's programs and the files "
                     "it reads to its files; " + kJailNote);
  if (sys.ImportsSyslog(program)) {
    s.review.push_back("it calls syslog(3), which the jail has no /dev/log for: to see what it "
                       "logs in hinetd's log, set syslog = true and give it a policy file with "
                       "include = [\"" + s.sandbox + "\", \"syslog\"]");
  }
}

}  // namespace hinetd::importer
