// Spawn plans: everything a child needs, computed once at config load and
// immutable afterwards. The per-connection path only reads them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "config/types.h"
#include "sandbox/policy.h"
#include "spawn/child.h"

namespace hinetd::spawn {

struct SpawnPlan {
  size_t index = 0;
  std::string service;
  config::Internal internal = config::Internal::kNone;

  // execve target: `path` inside the jail, or `exec_fd` (internal services).
  std::string path;
  int exec_fd = -1;  // owned by the PlanSet
  std::vector<std::string> argv_storage;
  std::vector<char*> argv;  // null-terminated, points into argv_storage
  // "NAME=value" for the service's own env; the spawner appends the
  // per-connection UCSPI variables.
  std::vector<std::string> env_storage;

  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string chroot;  // empty = none
  std::string workdir = "/";
  std::vector<ChildRlimit> rlimits;
  mode_t umask = 022;
  int pdeathsig = 0;
  config::StderrMode stderr_mode = config::StderrMode::kNull;
  // CLONE_NEW* flags for clone(): the child's own namespaces.
  int clone_flags = 0;
  // drops_privileges: the child joins these (owned by the PlanSet, made by
  // PrepareIdentityNamespaces; -1 until then, and for every other service)
  // and keeps CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT there.
  bool drops_privileges = false;
  int user_ns_fd = -1;
  int mnt_ns_fd = -1;  // with a chroot only: it replaces the chroot step
  std::shared_ptr<const sandbox::BpfProgram> filter;  // null = unconfined
  std::string policy;                                 // name, or "none"
  // `filter` is a recording or trial program (sandbox/recording.h): the
  // child installs it with a listener and sends that to the monitor. Set
  // by the monitor's recorder, never by BuildPlans.
  bool notify = false;
  // `filter` merged with the layer every child gets (sandbox/merge.h),
  // installed in one seccomp(2) call instead of the two; used only while
  // `filter` is still `merged_from` and the spawner's layer `merged_layer`
  // (MergeChildrenLayer). Null when they could not be merged.
  std::shared_ptr<const sandbox::BpfProgram> merged_filter;
  const sandbox::BpfProgram* merged_from = nullptr;
  const sandbox::BpfProgram* merged_layer = nullptr;
};

// All plans of one configuration generation, and what they share.
struct PlanSet {
  std::vector<SpawnPlan> plans;  // same order as config.services
  std::map<std::string, std::shared_ptr<const sandbox::BpfProgram>> programs;
  base::UniqueFd internal_helper;  // hinetd-internal, opened once
  std::vector<base::UniqueFd> namespaces;  // the plans' user_ns_fd and mnt_ns_fd
  std::string internal_helper_path;
};

struct PlanOptions {
  // Where to look for hinetd-internal; empty = next to this executable,
  // then the compiled-in libexec directory.
  std::string internal_helper;
};

// Compiles every policy once and resolves everything else the children need.
[[nodiscard]] base::Result<std::unique_ptr<PlanSet>> BuildPlans(const config::Config& config,
                                                                const PlanOptions& options = {});

// Everything of `plan` that reaches a child (program, arguments,
// environment, ids, jail, limits, namespaces, the filter's instructions),
// as one string: two plans whose identities are equal start the same
// child. A reload compares them to tell which running udp wait children
// are stale (supervisor/wait_idle.h).
[[nodiscard]] std::string PlanIdentity(const SpawnPlan& plan);

// The namespaces of every plan with drops_privileges (spawn/identity_ns.h),
// made now: what the root monitor does at start and on every reload, after
// BuildPlans (`check` and `audit` do not). A failure names the service.
// `maker` null: made by this process itself.
class NamespaceMaker;
[[nodiscard]] base::Status PrepareIdentityNamespaces(PlanSet& set, NamespaceMaker* maker);

// Each policy program of `set` merged with `layer`, the filter every child
// installs first (sandbox::ChildrenFilter), once per program: what the
// monitor does at start and on every reload, beside the namespaces. A
// program that does not merge (sandbox/merge.h says which shapes) is
// installed after the layer as before.
void MergeChildrenLayer(PlanSet& set, const sandbox::BpfProgram& layer);

// A services table ready to serve: loaded and validated, the listener's
// account resolved, every plan built. What start, `check` and a reload do
// with a file before anything is bound.
struct LoadedTable {
  std::unique_ptr<config::Config> config;
  std::unique_ptr<PlanSet> plans;
};
[[nodiscard]] base::Result<LoadedTable> LoadTable(const std::string& path,
                                                  const PlanOptions& options = {});

// Where hinetd-internal was looked for, in order.
[[nodiscard]] std::vector<std::string> InternalHelperCandidates();
// Where hinetd looks for its helper program `name`: next to this
// executable, then in the compiled-in libexec directory.
[[nodiscard]] std::vector<std::string> HelperCandidates(const std::string& name);
// The first of `candidates` that is a regular file, opened: a program
// hinetd executes as root or in every child of a service, so it must be
// owned by root, not group- or world-writable, executable, and not on a
// noexec file system (an error says which is not so). Its path goes to
// `found`. An empty descriptor: none of them is there.
[[nodiscard]] base::Result<base::UniqueFd> OpenRootProgram(
    const std::vector<std::string>& candidates, std::string& found);

}  // namespace hinetd::spawn
