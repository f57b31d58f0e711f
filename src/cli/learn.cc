// `hinetd learn`: the daemon, for real, with one service whose children
// record every syscall (supervisor/recorder.h) instead of enforcing their
// policy; then the policy that allows what they did (sandbox/learned.h),
// and how it differs from the service's current one. It never enables the
// policy: the file goes to OUT, not to the sandbox directory.
// `hinetd learn --from-log`: the same writer, fed with the service's
// current policy and its trial-mode log lines.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "base/errno_name.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "config/config.h"
#include "config/policy_file.h"
#include "config/units.h"
#include "sandbox/arg_rules.h"
#include "sandbox/learned.h"
#include "sandbox/policy.h"
#include "spawn/plan.h"
#include "supervisor/monitor.h"

namespace hinetd::cli {

namespace {

// The path made absolute against the working directory, without the "./"
// the default output name starts with.
std::string Absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == nullptr) return path;
  std::string rel = path;
  while (rel.rfind("./", 0) == 0) rel.erase(0, 2);
  return std::string(cwd) + "/" + rel;
}

// What a policy allows of each syscall it allows some calls of: every
// call (whole), or the alternatives of its allow rules, each as
// sandbox::ToString writes it (so that two policies compare by what their
// rules say, not how they are spelled).
struct Allowance {
  bool whole = false;
  std::set<std::string> when;
};
using Allowances = std::map<std::string, Allowance>;

Allowances AllowancesOf(const sandbox::ExpandedPolicy& rules) {
  Allowances out;
  for (const auto& [name, r] : rules) {
    if (!r.AllowsSome()) continue;
    Allowance& a = out[name];
    for (const auto& one : r.rules) {
      bool allow = one.action.kind == sandbox::ActionKind::kAllow ||
                   one.action.kind == sandbox::ActionKind::kLog;
      if (!allow) continue;
      if (one.when.empty()) {
        a.whole = true;
        continue;
      }
      for (const auto& alt : one.when) a.when.insert(sandbox::ToString(name, alt));
    }
    if (a.whole) a.when.clear();
  }
  return out;
}

std::string Join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string JoinWhen(const std::set<std::string>& when) {
  std::string out;
  for (const auto& w : when) out += (out.empty() ? "" : " || ") + w;
  return out;
}

// What the learned policy allows against the current one, on stdout.
void PrintDiff(const std::map<std::string, sandbox::PolicySpec>& policies,
               const config::Service& svc, const sandbox::ExpandedPolicy& runtime,
               const sandbox::Observations& obs, const sandbox::WriterInput& in) {
  auto learned_rules = sandbox::LearnedRules(obs, in);
  // The learned policy: runtime, with the syscalls it lists itself instead.
  Allowances learned = AllowancesOf(runtime);
  size_t narrowed = 0;
  for (const auto& [name, when] : learned_rules) {
    Allowance a;
    a.whole = when.empty();
    for (const auto& w : when) {
      auto alts = sandbox::ParseCondition(name, w);
      if (!alts.ok()) continue;
      for (const auto& alt : *alts) a.when.insert(sandbox::ToString(name, alt));
    }
    if (!a.whole) ++narrowed;
    learned[name] = std::move(a);
  }
  size_t from_runtime = 0;
  for (const auto& n : in.runtime) from_runtime += learned_rules.count(n) == 0 ? 1 : 0;
  printf("allows: %zu syscalls (%zu from runtime, %zu more), %zu of them with argument "
         "rules\n",
         learned.size(), from_runtime, learned_rules.size(), narrowed);
  if (svc.sandbox == "none") {
    printf("the service has no policy now (sandbox = \"none\")\n");
    return;
  }
  auto spec = policies.find(svc.sandbox);
  if (spec == policies.end()) return;
  auto current_rules = sandbox::ExpandRules(spec->second);
  if (!current_rules.ok()) return;
  Allowances current = AllowancesOf(*current_rules);
  std::set<std::string> only_learned;
  std::set<std::string> only_current;
  std::set<std::string> narrowed_by_learned;  // current whole, learned with rules
  std::set<std::string> narrowed_by_current;  // learned whole, current with rules
  std::vector<std::string> different;         // both with rules, not the same ones
  for (const auto& [n, a] : learned) {
    auto c = current.find(n);
    if (c == current.end()) {
      only_learned.insert(n);
    } else if (c->second.whole && !a.whole) {
      narrowed_by_learned.insert(n);
    } else if (!c->second.whole && a.whole) {
      narrowed_by_current.insert(n);
    } else if (!a.whole && a.when != c->second.when) {
      different.push_back(n + " (learned: " + JoinWhen(a.when) + "; current: " +
                          JoinWhen(c->second.when) + ")");
    }
  }
  for (const auto& [n, a] : current) {
    if (learned.count(n) == 0) only_current.insert(n);
  }
  std::string name = "\"" + svc.sandbox + "\"";
  printf("against the current policy %s (%zu syscalls):\n", name.c_str(), current.size());
  printf("  learned allows, %s does not (%zu): %s\n", name.c_str(), only_learned.size(),
         only_learned.empty() ? "-" : Join(only_learned).c_str());
  printf("  %s allows, learned does not (%zu): %s\n", name.c_str(), only_current.size(),
         only_current.empty() ? "-" : Join(only_current).c_str());
  if (!narrowed_by_learned.empty()) {
    printf("  %s allows whole, learned only with argument rules (%zu): %s\n", name.c_str(),
           narrowed_by_learned.size(), Join(narrowed_by_learned).c_str());
  }
  if (!narrowed_by_current.empty()) {
    printf("  learned allows whole, %s only with argument rules (%zu): %s\n", name.c_str(),
           narrowed_by_current.size(), Join(narrowed_by_current).c_str());
  }
  if (!different.empty()) {
    printf("  both with argument rules, not the same (%zu):\n", different.size());
    for (const auto& d : different) printf("    %s\n", d.c_str());
  }
}

std::string Now() {
  char buf[64];
  time_t t = time(nullptr);
  tm local{};
  localtime_r(&t, &local);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &local);
  return buf;
}

// Folds the service's trial lines from `log` into `obs`.
int ReadTrialLog(const std::string& log, const std::string& service,
                 sandbox::Observations& obs, size_t& lines) {
  std::ifstream in(log);
  if (!in) {
    fprintf(stderr, "hinetd: cannot read %s: %s\n", log.c_str(), strerror(errno));
    return kExitUsage;
  }
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string error;
    auto rec = sandbox::ParseTrialLine(line, &error);
    if (!rec) {
      if (!error.empty()) {
        fprintf(stderr, "hinetd: %s:%zu: %s (lines are the daemon's own, as logged)\n",
                log.c_str(), number, error.c_str());
        return kExitConfig;
      }
      continue;
    }
    if (rec->service != service) continue;
    // A call the current policy did not allow: if it is a syscall of
    // runtime's, the line has not the arguments runtime's rules read
    // (mmap's flags, prlimit64's pid), so it counts as beyond them.
    sandbox::Observe(obs, rec->syscall, rec->values, 1, /*beyond_runtime=*/true);
    ++lines;
  }
  return kExitOk;
}

}  // namespace

int RunLearn(const Args& args) {
  std::string path = Absolute(args.config);
  auto loaded = config::LoadConfig(path);
  if (!loaded.ok()) {
    fprintf(stderr, "hinetd: %s\n", loaded.error().ToString().c_str());
    return kExitConfig;
  }
  config::Config& config = *loaded;
  auto svc_it = std::find_if(config.services.begin(), config.services.end(),
                             [&](const config::Service& s) { return s.name == args.service; });
  if (svc_it == config.services.end()) {
    std::string have;
    for (const auto& s : config.services) have += (have.empty() ? "" : ", ") + s.name;
    fprintf(stderr, "hinetd: learn: no service \"%s\" in %s (services: %s)\n",
            args.service.c_str(), path.c_str(), have.empty() ? "none" : have.c_str());
    return kExitUsage;
  }
  config::Service svc = *svc_it;

  // What runtime allows: the learned policy includes it.
  config::PolicyLoader loader(config.daemon.sandbox_dir);
  base::SourceLoc where;
  where.file = path;
  auto runtime = loader.Load("runtime", where);
  if (!runtime.ok()) {
    fprintf(stderr, "hinetd: learn: the learned policy includes \"runtime\": %s\n",
            runtime.error().ToString().c_str());
    return kExitConfig;
  }
  auto runtime_rules = sandbox::ExpandRules(*runtime);
  if (!runtime_rules.ok()) {
    fprintf(stderr, "hinetd: %s\n", runtime_rules.error().ToString().c_str());
    return kExitConfig;
  }
  sandbox::WriterInput in;
  in.service = svc.name;
  sandbox::SetRuntime(in, *runtime_rules);

  // Never a policy file a service runs with now (its own, another's, or
  // one they include; runtime, which the learned policy includes): learning
  // must not enable anything.
  std::string out = Absolute(args.output);
  if (char a[PATH_MAX]; realpath(out.c_str(), a) != nullptr) {
    auto same = [&a](const std::string& file) {
      char b[PATH_MAX];
      return realpath(file.c_str(), b) != nullptr && strcmp(a, b) == 0;
    };
    for (const auto& file : runtime->files) {
      if (same(file)) {
        fprintf(stderr,
                "hinetd: learn: %s is the policy \"runtime\", which the learned policy "
                "includes; write elsewhere (-o)\n",
                out.c_str());
        return kExitUsage;
      }
    }
    for (const auto& s : config.services) {
      auto p = config.policies.find(s.sandbox);
      if (s.sandbox == "none" || p == config.policies.end()) continue;
      for (const auto& file : p->second.files) {
        if (!same(file)) continue;
        std::string how = s.name == svc.name ? "the service's current policy"
                                             : "a policy service \"" + s.name + "\" uses";
        if (file != p->second.files.front()) {
          how += " (its policy \"" + s.sandbox + "\" includes it)";
        }
        fprintf(stderr,
                "hinetd: learn: %s is %s; write elsewhere (-o) and review it before you use "
                "it\n",
                out.c_str(), how.c_str());
        return kExitUsage;
      }
    }
  }

  sandbox::Observations obs;
  if (!args.from_log.empty()) {
    if (svc.sandbox != "none") {
      // The current policy as it is: what it allows (whole, or with its
      // argument rules), and its errno table.
      auto rules = sandbox::ExpandRules(config.policies.at(svc.sandbox));
      if (!rules.ok()) {
        fprintf(stderr, "hinetd: %s\n", rules.error().ToString().c_str());
        return kExitConfig;
      }
      for (const auto& [name, r] : *rules) {
        if (in.runtime.count(name) != 0) continue;
        const sandbox::Action* whole = r.whole_action();
        if (whole != nullptr && whole->kind == sandbox::ActionKind::kErrno) {
          in.errno_table[name] = base::ErrnoName(whole->err);
          continue;
        }
        if (!r.AllowsSome()) continue;
        sandbox::Observed& o = obs[name];
        o.from_policy = true;
        if (whole != nullptr) continue;
        for (const auto& one : r.rules) {
          if (one.action.kind == sandbox::ActionKind::kErrno) {
            std::string when;
            for (const auto& w : one.when_text) when += (when.empty() ? "" : " or ") + w;
            in.header.push_back("Not kept: the errno rule for " + name + " when " + when +
                                " (add it by hand).");
            continue;
          }
          if (one.action.kind != sandbox::ActionKind::kAllow) continue;
          // One alternative each, as written.
          for (const auto& w : one.when_text) o.policy_when.push_back(w);
        }
      }
    }
    size_t lines = 0;
    if (int rc = ReadTrialLog(args.from_log, svc.name, obs, lines); rc != kExitOk) return rc;
    in.header.push_back("From policy \"" + svc.sandbox + "\" and " + std::to_string(lines) +
                        " event=policy-trial lines of " + args.from_log + ", " + Now() + ".");
    std::string text = sandbox::WriteLearnedPolicy(obs, in);
    FILE* f = fopen(out.c_str(), "w");
    if (f == nullptr || fputs(text.c_str(), f) < 0 || fclose(f) != 0) {
      fprintf(stderr, "hinetd: learn: cannot write %s: %s\n", out.c_str(), strerror(errno));
      return kExitSystem;
    }
    printf("policy written to %s (%zu policy-trial lines of service \"%s\" folded in)\n",
           out.c_str(), lines, svc.name.c_str());
    PrintDiff(config.policies, svc, *runtime_rules, obs, in);
    return kExitOk;
  }

  if (geteuid() != 0) {
    fprintf(stderr, "hinetd: learn runs the daemon for real: it must be started as root\n");
    return kExitSystem;
  }
  // Only that service is started.
  std::erase_if(config.services, [&](const config::Service& s) { return s.name != svc.name; });
  if (auto s = config::ResolveDaemonUser(config); !s.ok()) {
    fprintf(stderr, "hinetd: %s\n", s.error().ToString().c_str());
    return kExitConfig;
  }
  auto plans = spawn::BuildPlans(config);
  if (!plans.ok()) {
    fprintf(stderr, "hinetd: %s\n", plans.error().ToString().c_str());
    return kExitConfig;
  }
  auto runtime_program = sandbox::Compile(*runtime);
  if (!runtime_program.ok()) {
    fprintf(stderr, "hinetd: learn: policy \"runtime\": %s\n",
            runtime_program.error().ToString().c_str());
    return kExitConfig;
  }
  // Opened now: the monitor gives up the capability to write into
  // directories it does not own.
  int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    fprintf(stderr, "hinetd: learn: cannot write %s: %s\n", out.c_str(), strerror(errno));
    return kExitSystem;
  }

  tzset();
  base::Logger log(base::LogSink::kStderr);
  supervisor::Options options;
  options.config_path = path;
  options.learn_service = svc.name;
  options.learn_connections = args.connections;
  if (args.duration_ms > 0) {
    options.stop_at = supervisor::Clock::now() + std::chrono::milliseconds(args.duration_ms);
  }
  std::string started_at = Now();
  auto policies = config.policies;
  auto owned = std::make_unique<config::Config>(std::move(config));
  supervisor::Monitor monitor(log, options);
  if (auto s = monitor.Start(std::move(owned), std::move(*plans)); !s.ok()) {
    log.Error(base::LogLine("start-failed").Add("error", s.error().ToString()));
    close(fd);
    return kExitSystem;
  }
  // Before Run spawns anything: which calls runtime's rules allow with
  // their arguments.
  monitor.recorder()->set_runtime(std::move(*runtime_program));
  log.Info(base::LogLine("learn")
               .Add("service", svc.name)
               .Add("connections", args.connections)
               .Add("duration", args.duration_ms > 0
                                    ? config::FormatDuration(config::Millis(args.duration_ms))
                                    : std::string("unlimited")));
  int rc = monitor.Run();
  supervisor::Recorder& rec = *monitor.recorder();
  rec.CloseAll();
  obs = rec.observations();
  in.header.push_back("Run from " + started_at + " to " + Now() + ": " +
                      std::to_string(rec.ended()) + " connections, the last " +
                      std::to_string(rec.quiet_tail()) + " added nothing new.");
  std::string text = sandbox::WriteLearnedPolicy(obs, in);
  bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  written = close(fd) == 0 && written;
  if (!written) {
    fprintf(stderr, "hinetd: learn: cannot write %s: %s\n", out.c_str(), strerror(errno));
    return kExitSystem;
  }
  printf("policy written to %s\n", out.c_str());
  printf("coverage: %llu connections, the last %llu added nothing new\n",
         static_cast<unsigned long long>(rec.ended()),
         static_cast<unsigned long long>(rec.quiet_tail()));
  if (rec.ended() == 0) {
    printf("no connection was seen: the policy allows only what runtime does\n");
  }
  PrintDiff(policies, svc, *runtime_rules, obs, in);
  return rc == 0 ? kExitOk : kExitSystem;
}

}  // namespace hinetd::cli
