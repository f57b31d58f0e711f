#include "spawn/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/fs.h"
#include "config/config.h"
#include "sandbox/merge.h"
#include "spawn/identity_ns.h"

namespace hinetd::spawn {

static_assert(config::kNsPid == CLONE_NEWPID && config::kNsNet == CLONE_NEWNET &&
              config::kNsIpc == CLONE_NEWIPC && config::kNsUts == CLONE_NEWUTS);

using base::Error;
using base::Result;

std::vector<std::string> HelperCandidates(const std::string& name) {
  std::vector<std::string> out;
  if (const auto& self = base::SelfExecutable(); self.ok()) {
    out.push_back(base::DirName(*self) + "/" + name);
  }
  out.push_back(std::string(HINETD_LIBEXEC_DIR) + "/" + name);
  return out;
}

std::vector<std::string> InternalHelperCandidates() { return HelperCandidates("hinetd-internal"); }

Result<base::UniqueFd> OpenRootProgram(const std::vector<std::string>& candidates,
                                       std::string& found) {
  for (const auto& path : candidates) {
    base::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    struct stat st {};
    if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      return Error(path + " must be owned by root and not group- or world-writable");
    }
    if ((st.st_mode & S_IXUSR) == 0) return Error(path + " is not executable (chmod 0755)");
    // Said now rather than by every execve that would fail.
    struct statvfs fs {};
    if (fstatvfs(fd.get(), &fs) == 0 && (fs.f_flag & ST_NOEXEC) != 0) {
      return Error(path + " is on a file system mounted noexec; install it where programs run");
    }
    found = path;
    return fd;
  }
  return base::UniqueFd();
}

namespace {

Result<base::UniqueFd> OpenHelper(const PlanOptions& options, std::string& found) {
  std::vector<std::string> candidates;
  if (!options.internal_helper.empty()) {
    candidates.push_back(options.internal_helper);
  } else {
    candidates = InternalHelperCandidates();
  }
  // It runs in every internal child.
  auto fd = OpenRootProgram(candidates, found);
  if (!fd.ok()) return fd.error().Wrap("internal services");
  if (*fd) return fd;
  std::string tried;
  for (const auto& c : candidates) tried += " " + c;
  // Say why the directory of this program was not among them.
  std::string not_tried;
  if (const auto& self = base::SelfExecutable(); options.internal_helper.empty() && !self.ok()) {
    not_tried = "; not next to this program, whose path is unknown: " + self.error().message();
  }
  return Error("internal services need the helper hinetd-internal; not found (tried" + tried +
               not_tried + "); build or install it next to hinetd");
}

}  // namespace

Result<std::unique_ptr<PlanSet>> BuildPlans(const config::Config& config,
                                            const PlanOptions& options) {
  auto set = std::make_unique<PlanSet>();
  for (const auto& [name, spec] : config.policies) {
    auto program = sandbox::Compile(spec);
    if (!program.ok()) return program.error().Wrap("policy \"" + name + "\"");
    set->programs[name] = std::move(*program);
  }
  // Plans are built in place: argv holds pointers into argv_storage, which
  // a move could invalidate (short strings live inside std::string).
  set->plans.reserve(config.services.size());
  for (size_t i = 0; i < config.services.size(); ++i) {
    const config::Service& svc = config.services[i];
    SpawnPlan& p = set->plans.emplace_back();
    p.index = i;
    p.service = svc.name;
    p.internal = svc.internal;
    if (svc.internal != config::Internal::kNone) {
      if (!set->internal_helper) {
        auto fd = OpenHelper(options, set->internal_helper_path);
        if (!fd.ok()) return Error(svc.loc, "service \"" + svc.name + "\": " + fd.error().message());
        set->internal_helper = std::move(*fd);
      }
      p.exec_fd = set->internal_helper.get();
      p.argv_storage = {"hinetd-internal", config::InternalName(svc.internal)};
    } else {
      p.path = svc.exec[0];
      p.argv_storage = svc.exec;
    }
    for (auto& a : p.argv_storage) p.argv.push_back(a.data());
    p.argv.push_back(nullptr);
    for (const auto& [k, v] : svc.env) p.env_storage.push_back(k + "=" + v);
    p.uid = svc.uid;
    p.gid = svc.gid;
    p.groups = svc.groups;
    p.chroot = svc.chroot.value_or("");
    p.workdir = svc.workdir;
    for (const auto& r : svc.rlimits) p.rlimits.push_back({r.resource, r.soft, r.hard});
    p.umask = svc.umask;
    p.pdeathsig = svc.pdeathsig;
    p.stderr_mode = svc.stderr_mode;
    p.clone_flags = static_cast<int>(svc.namespaces);
    p.drops_privileges = svc.drops_privileges;
    p.policy = svc.sandbox;
    if (svc.sandbox != "none") p.filter = set->programs.at(svc.sandbox);
  }
  return set;
}

std::string PlanIdentity(const SpawnPlan& plan) {
  // Length-prefixed fields: no value can pass for a neighbour's.
  std::string out;
  auto add = [&out](std::string_view field) {
    out += std::to_string(field.size());
    out += ':';
    out += field;
  };
  auto num = [&add](long long v) { add(std::to_string(v)); };
  add(plan.service);
  num(static_cast<long long>(plan.internal));
  add(plan.path);
  num(static_cast<long long>(plan.argv_storage.size()));
  for (const auto& a : plan.argv_storage) add(a);
  num(static_cast<long long>(plan.env_storage.size()));
  for (const auto& e : plan.env_storage) add(e);
  num(plan.uid);
  num(plan.gid);
  num(static_cast<long long>(plan.groups.size()));
  for (gid_t g : plan.groups) num(g);
  add(plan.chroot);
  add(plan.workdir);
  num(static_cast<long long>(plan.rlimits.size()));
  for (const auto& r : plan.rlimits) {
    num(r.resource);
    num(static_cast<long long>(r.soft));
    num(static_cast<long long>(r.hard));
  }
  num(plan.umask);
  num(plan.pdeathsig);
  num(static_cast<long long>(plan.stderr_mode));
  num(plan.clone_flags);
  add(plan.policy);
  num(plan.drops_privileges ? 1 : 0);
  num(plan.notify ? 1 : 0);
  if (plan.filter) {
    const auto& insns = plan.filter->insns();
    add(std::string_view(reinterpret_cast<const char*>(insns.data()),
                         insns.size() * sizeof insns[0]));
  } else {
    add("unconfined");
  }
  return out;
}

void MergeChildrenLayer(PlanSet& set, const sandbox::BpfProgram& layer) {
  std::map<const sandbox::BpfProgram*, std::shared_ptr<const sandbox::BpfProgram>> merged;
  for (const auto& [name, program] : set.programs) {
    auto m = sandbox::MergeFilters(layer, *program);
    if (m.ok()) merged[program.get()] = std::move(*m);
  }
  for (SpawnPlan& plan : set.plans) {
    auto it = merged.find(plan.filter.get());
    if (plan.filter == nullptr || it == merged.end()) continue;
    plan.merged_filter = it->second;
    plan.merged_from = plan.filter.get();
    plan.merged_layer = &layer;
  }
}

base::Status PrepareIdentityNamespaces(PlanSet& set, NamespaceMaker* maker) {
  for (auto& p : set.plans) {
    if (!p.drops_privileges || p.user_ns_fd >= 0) continue;
    auto ns = maker != nullptr ? maker->Make(p.uid, p.gid, p.groups, p.chroot)
                               : MakeIdentityNamespaces(p.uid, p.gid, p.groups, p.chroot);
    if (!ns.ok()) {
      return Error("service \"" + p.service + "\": drops_privileges: cannot prepare its user " +
                   (p.chroot.empty() ? "namespace" : "and mount namespaces") + ": " +
                   ns.error().message());
    }
    p.user_ns_fd = ns->user.get();
    set.namespaces.push_back(std::move(ns->user));
    if (ns->mnt) {
      p.mnt_ns_fd = ns->mnt.get();
      set.namespaces.push_back(std::move(ns->mnt));
    }
  }
  return base::Status();
}

base::Result<LoadedTable> LoadTable(const std::string& path, const PlanOptions& options) {
  auto config = config::LoadConfig(path);
  if (!config.ok()) return config.error();
  if (auto s = config::ResolveDaemonUser(*config); !s.ok()) return s.error();
  auto plans = BuildPlans(*config, options);
  if (!plans.ok()) return plans.error();
  return LoadedTable{std::make_unique<config::Config>(std::move(*config)), std::move(*plans)};
}

}  // namespace hinetd::spawn
