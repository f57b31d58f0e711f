// Policy files: <sandbox_dir>/<name>.toml -> sandbox::PolicySpec, includes
// flattened, cycles and unknown keys rejected with positions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/system_checks.h"
#include "sandbox/policy.h"

namespace hinetd::config {

// True for names a policy (and a service) may have: [A-Za-z0-9_-]+.
[[nodiscard]] bool IsValidName(const std::string& name);

class PolicyLoader {
 public:
  // Files are read through `system` (the running system's unless a fuzzer
  // gives its own), which must outlive the loader.
  explicit PolicyLoader(std::string dir, const SystemView& system = RealSystem())
      : dir_(std::move(dir)), system_(&system) {}

  // Loads `name` (and what it includes). `where` is the place that named it,
  // for a "no such policy" error.
  [[nodiscard]] base::Result<sandbox::PolicySpec> Load(const std::string& name,
                                                       const base::SourceLoc& where);

  [[nodiscard]] const std::string& dir() const { return dir_; }

 private:
  [[nodiscard]] base::Result<sandbox::PolicySpec> LoadFile(const std::string& name);

  std::string dir_;
  const SystemView* system_;
  std::map<std::string, sandbox::PolicySpec> done_;
  std::vector<std::string> stack_;  // names being loaded, for cycle detection
};

// Parses the default_action syntax: "kill", "log", "errno:EPERM".
[[nodiscard]] base::Result<sandbox::Action> ParseAction(const std::string& text);

}  // namespace hinetd::config
