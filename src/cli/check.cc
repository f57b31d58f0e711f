// `hinetd check`: everything the daemon would refuse, it refuses here too
// (the same loader and plan builder), without binding or starting anything.
#include <stdio.h>
#include <algorithm>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>


#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "config/config.h"
#include "config/system_checks.h"
#include "config/units.h"
#include "jail/builder.h"
#include "spawn/plan.h"
#include "supervisor/monitor.h"

namespace hinetd::cli {

namespace {

// Dangerous syscalls that every program needs (hinetd installs the filter
// before its execve of the service; the loader maps libraries executable;
// glibc reads its limits with prlimit64). `check` lists them but does not
// warn about them.
bool NeededToStart(const std::string& name) {
  return name == "execve" || name == "execveat" || name == "mmap" || name == "mmap2" ||
         name == "mprotect" || name == "prlimit64";
}

// Dangerous syscalls whose reach the service's own setup contains: new
// processes stay under its uid's nproc limit and inside its namespaces;
// signals, inside a pid namespace, reach only its own processes. `check`
// lists them but does not warn (a warning on every service that uses
// `default` was noise).
bool Contained(const std::string& name, const config::Service& s) {
  if (name == "fork" || name == "vfork" || name == "clone") return true;
  bool signal = name == "kill" || name == "tgkill" || name == "tkill";
  return signal && (s.namespaces & config::kNsPid) != 0;
}

// A limit as the configuration would write it: sizes in K/M/G when exact.
std::string LimitText(const config::Rlimit& r, rlim_t v) {
  if (v == RLIM_INFINITY) return "unlimited";
  bool size = r.key == "as" || r.key == "data" || r.key == "stack" || r.key == "fsize" ||
              r.key == "core" || r.key == "memlock";
  if (size && v != 0) {
    for (auto [unit, shift] : {std::pair{"G", 30}, {"M", 20}, {"K", 10}}) {
      if (v % (rlim_t{1} << shift) == 0) return std::to_string(v >> shift) + unit;
    }
  }
  if (r.key == "cpu") return std::to_string(v) + "s";
  return std::to_string(v);
}

// An argument as a shell would need it, so that the printed argv is exact.
std::string Quoted(const std::string& arg) {
  if (!arg.empty() && arg.find_first_of(" \t\n'\"\\$`") == std::string::npos) return arg;
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

const char* Plural(size_t n, const char* one, const char* many) { return n == 1 ? one : many; }

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out.empty() ? "none" : out;
}

// A jail hinetd builds: its plan, the state of its tree, its problems.
void PrintJail(const config::JailPlan& plan) {
  printf("  chroot    %s (a jail hinetd builds; content hash %s)\n", plan.root.c_str(),
         plan.hash.substr(0, 16).c_str());
  std::vector<std::string> problems;
  struct stat st {};
  std::string state;
  if (lstat(plan.root.c_str(), &st) != 0) {
    state = "not built yet: the daemon builds it when it starts or reloads";
  } else if (std::string why = jail::VerifyJail(plan); !why.empty()) {
    state = "differs from the plan (" + why + "): the daemon builds it afresh";
  } else {
    state = "built, and matches the plan";
  }
  // The nearest directory that exists decides the file system the tree
  // lands on.
  std::string dir = plan.jail_dir;
  while (dir.size() > 1 && stat(dir.c_str(), &st) != 0) dir = dir.substr(0, dir.rfind('/'));
  if (dir.empty()) dir = "/";
  struct statvfs vfs {};
  if (!plan.devices.empty() && statvfs(dir.c_str(), &vfs) == 0 && (vfs.f_flag & ST_NODEV) != 0) {
    problems.push_back(dir + " is on a file system mounted nodev: device nodes there do not "
                       "open; set [daemon] jail_dir elsewhere or devices = []");
  }
  if (stat(plan.jail_dir.c_str(), &st) == 0) {
    if (auto c = config::CheckChroot(plan.jail_dir); !c.ok()) {
      problems.push_back("[daemon] jail_dir: " + c.error().message());
    }
  }
  printf("    tree      %s; %zu entries, %llu bytes copied\n", state.c_str(), plan.entries.size(),
         static_cast<unsigned long long>(plan.bytes));
  printf("    programs  %s\n", Joined(plan.programs).c_str());
  printf("    libraries %s\n", Joined(plan.libraries).c_str());
  printf("    files     %s\n", Joined(plan.files).c_str());
  printf("    devices   %s\n", Joined(plan.devices).c_str());
  printf("    users     %s (/etc/passwd)\n", Joined(plan.users).c_str());
  printf("    groups    %s (/etc/group)\n", Joined(plan.groups).c_str());
  printf("    writable  %s\n", Joined(plan.writable).c_str());
  for (const auto& p : problems) printf("    problem   %s\n", p.c_str());
}

void PrintService(const config::Config& config, const config::Service& s,
                  const spawn::PlanSet& plans, std::vector<std::string>& warnings) {
  printf("service \"%s\"\n", s.name.c_str());
  for (const auto& l : s.listen) {
    std::string eps;
    for (const auto& ep : l.endpoints) eps += (eps.empty() ? "" : ", ") + net::ToString(ep);
    std::string proto = net::ProtocolName(l.endpoints[0], s.transport);
    if (s.transport == net::Transport::kUdp) {
      proto += s.wait ? ", wait: one child holds the socket" : ", nowait: one child per peer";
    }
    if (l.endpoints[0].IsUnix()) {
      char mode[8];
      snprintf(mode, sizeof mode, "%04o", s.unix_file.mode);
      proto += std::string(", file ") + s.unix_user + ":" + s.unix_group + " " + mode;
    }
    printf("  listen    %s (%s) -> %s\n", l.text.c_str(), proto.c_str(), eps.c_str());
  }
  if (s.internal != config::Internal::kNone) {
    printf("  runs      internal %s (%s, executed by descriptor)\n",
           config::InternalName(s.internal), plans.internal_helper_path.c_str());
  } else {
    std::string argv;
    for (const auto& a : s.exec) argv += (argv.empty() ? "" : " ") + Quoted(a);
    printf("  runs      %s\n", argv.c_str());
  }
  std::string groups;
  for (gid_t g : s.groups) groups += (groups.empty() ? "" : ",") + std::to_string(g);
  printf("  user      %s (uid %u), group %s (gid %u), supplementary groups: %s\n",
         s.user.c_str(), s.uid, s.group.c_str(), s.gid, groups.empty() ? "none" : groups.c_str());
  if (s.jail) {
    PrintJail(*s.jail);
  } else if (s.chroot) {
    printf("  chroot    %s%s\n", s.chroot->c_str(),
           s.implicit_chroot ? " (empty; created at start)" : "");
  } else {
    printf("  chroot    none: the child sees the whole file system\n");
  }
  printf("  workdir   %s\n", s.workdir.c_str());
  if (s.drops_privileges) {
    std::string ids = "uid " + std::to_string(s.uid) + ", gid " + std::to_string(s.gid);
    if (!groups.empty()) ids += ", groups " + groups;
    printf("  identity  drops privileges itself: keeps CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT in "
           "a user namespace that maps only %s (it cannot become anyone else)%s\n",
           ids.c_str(),
           s.chroot ? "; a mount namespace whose root is the chroot replaces chroot(2)" : "");
  }
  if (s.sandbox == "none") {
    // Children still inherit the monitor's filter (src/sandbox/daemon_filters.cc).
    printf("  sandbox   none: no policy of its own (only the monitor's deny list: mount, "
           "ptrace, bpf, ... fail with EPERM)\n");
  } else {
    const auto& spec = config.policies.at(s.sandbox);
    auto rules = sandbox::ExpandRules(spec);
    size_t allowed = 0;
    size_t errnos = 0;
    std::string notable;
    std::string beyond_start;
    std::vector<std::string> conditional;
    size_t with_rules = 0;
    if (rules.ok()) {
      for (const auto& [name, entry] : *rules) {
        if (const sandbox::Action* action = entry.whole_action()) {
          if (action->kind == sandbox::ActionKind::kErrno) ++errnos;
          if (action->kind != sandbox::ActionKind::kAllow) continue;
          ++allowed;
          if (!sandbox::IsDangerous(name)) continue;
          notable += (notable.empty() ? "" : ", ") + name;
          if (!NeededToStart(name) && !Contained(name, s)) {
            beyond_start += (beyond_start.empty() ? "" : ", ") + name;
          }
          continue;
        }
        // Argument rules: what each allows (or fails), the rest gets the default.
        if (entry.AllowsSome()) {
          ++allowed;
          ++with_rules;
        }
        bool first = true;
        for (const auto& r : entry.rules) {
          for (const auto& text : r.when_text) {
            char head[80];
            snprintf(head, sizeof head, "%-10s %s when ", first ? name.c_str() : "",
                     r.action.ToString().c_str());
            conditional.push_back(head + text);
            first = false;
          }
        }
      }
    }
    const auto& program = plans.programs.at(s.sandbox);
    printf("  sandbox   %s: %zu %s allowed (%zu of them only with argument rules), %zu %s with "
           "an errno, anything else: %s\n",
           s.sandbox.c_str(), allowed, Plural(allowed, "syscall", "syscalls"), with_rules, errnos,
           Plural(errnos, "fails", "fail"), spec.default_action.ToString().c_str());
    if (!spec.description.empty()) printf("            \"%s\"\n", spec.description.c_str());
    printf("            %zu BPF instructions, native architecture only\n",
           program->insns().size());
    std::string files;
    for (const auto& f : spec.files) files += (files.empty() ? "" : ", ") + f;
    printf("            from %s\n", files.c_str());
    if (!notable.empty()) printf("            allows, of note: %s\n", notable.c_str());
    if (!conditional.empty()) {
      printf("            argument rules (a call that matches none: %s):\n",
             spec.default_action.ToString().c_str());
      for (const auto& line : conditional) printf("              %s\n", line.c_str());
      if (rules.ok() && rules->count("clone3") != 0 && rules->count("clone") != 0 &&
          !rules->at("clone").whole()) {
        printf("              clone3     errno:ENOSYS (its flags cannot be checked; the C library "
               "falls back to clone)\n");
      }
    }
    if (!beyond_start.empty()) {
      warnings.push_back("service \"" + s.name + "\": policy \"" + s.sandbox + "\" allows " +
                         beyond_start);
    }
    if (spec.default_action.kind == sandbox::ActionKind::kLog) {
      warnings.push_back("service \"" + s.name + "\": policy \"" + s.sandbox +
                         "\" is in trial mode: it allows and logs what it does not allow "
                         "(default_action = \"log\")");
    }
  }
  std::string limits;
  for (const auto& r : s.rlimits) {
    limits += (limits.empty() ? "" : " ") + r.key + "=" + LimitText(r, r.soft);
    if (r.hard != r.soft) limits += ":" + LimitText(r, r.hard);
  }
  printf("  limits    %s; umask %04o\n", limits.c_str(), s.umask);
  std::string ns;
  for (const auto& [name, flag] : config::kNamespaceNames) {
    if (s.namespaces & flag) ns += (ns.empty() ? "" : ", ") + std::string(name);
  }
  printf("  namespaces %s\n",
         ns.empty() ? "none: what a child starts can outlive it"
         : (s.namespaces & config::kNsPid) != 0
             ? (ns + " (everything a child starts ends with it)").c_str()
             : (ns + " (no pid: what a child starts can outlive it)").c_str());
  std::string admit;
  auto add = [&](const std::string& part) { admit += (admit.empty() ? "" : "; ") + part; };
  auto cidrs = [](const std::vector<net::Cidr>& list) {
    std::string out;
    for (const auto& c : list) out += (out.empty() ? "" : ", ") + c.ToString();
    return out.empty() ? std::string("nobody") : out;
  };
  if (s.acl.allow()) add("allow " + cidrs(*s.acl.allow()));
  if (!s.acl.deny().empty()) add("deny " + cidrs(s.acl.deny()));
  if (s.max_instances > 0) add("max_instances " + std::to_string(s.max_instances));
  if (s.per_source > 0) add("per_source " + std::to_string(s.per_source));
  if (s.rate) {
    add("rate " + std::to_string(s.rate->count) + (s.rate->period.count() == 1000 ? "/s" : "/m"));
  }
  if (s.timeout) add("timeout " + config::FormatDuration(*s.timeout));
  add("backoff " + config::FormatDuration(s.backoff));
  printf("  admit     %s\n", admit.c_str());
  printf("  stderr    %s\n", config::StderrModeName(s.stderr_mode));
  if (s.syslog) printf("  syslog    relay at %s/dev/log (event=syslog)\n", s.chroot->c_str());
  bool unix_only = std::all_of(s.listen.begin(), s.listen.end(),
                               [](const auto& l) { return l.endpoints[0].IsUnix(); });
  std::string env = unix_only ? "PROTO UNIXREMOTEUID UNIXREMOTEGID UNIXREMOTEPID"
                              : "PROTO TCPREMOTEIP TCPREMOTEPORT TCPLOCALIP TCPLOCALPORT";
  if (!unix_only && std::any_of(s.listen.begin(), s.listen.end(),
                                [](const auto& l) { return l.endpoints[0].IsUnix(); })) {
    env += " (unix: UNIXREMOTEUID UNIXREMOTEGID UNIXREMOTEPID)";
  }
  for (const auto& [k, v] : s.env) env += " " + k + "=" + v;
  printf("  env       %s\n", env.c_str());
}

}  // namespace

int RunCheck(const Args& args) {
  auto table = spawn::LoadTable(args.config);
  if (!table.ok()) {
    fprintf(stderr, "hinetd: %s\n", table.error().ToString().c_str());
    return kExitConfig;
  }
  // What start needs besides the table: the listener's program.
  std::string listener_program;
  auto program = supervisor::OpenListenerProgram(listener_program);
  if (!program.ok()) {
    fprintf(stderr, "hinetd: %s\n", program.error().ToString().c_str());
    return kExitSystem;
  }
  const auto& config = table->config;
  const auto& plans = table->plans;
  std::vector<std::string> warnings = config->warnings;
  printf("%s: %zu service%s, max_children %d, policies from %s\n", args.config.c_str(),
         config->services.size(), config->services.size() == 1 ? "" : "s",
         config->daemon.max_children, config->daemon.sandbox_dir.c_str());
  printf("listener  runs %s as %s (uid %u, gid %u) with CAP_NET_BIND_SERVICE only\n",
         listener_program.c_str(), config->daemon.user.c_str(), config->daemon.uid,
         config->daemon.gid);
  for (const auto& s : config->services) PrintService(*config, s, *plans, warnings);
  for (const auto& w : warnings) printf("warning: %s\n", w.c_str());
  printf("ok\n");
  return kExitOk;
}

}  // namespace hinetd::cli
