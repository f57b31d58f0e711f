// The system a fuzz target loads against: accounts derived from their names,
// every absolute path a valid chroot, program and directory, and the policy
// files of a directory (the shipped sandbox/ plus what the target adds) held
// in memory. No account database, file or directory of the machine is read
// per input, so a run is deterministic and fast.
#pragma once

#include <sys/stat.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/system_checks.h"

namespace hinetd::fuzz {

// Where the fake files live; nothing is ever created there.
inline constexpr const char* kFakeDir = "/hinetd-fuzz";
inline constexpr const char* kFakeSandboxDir = "/hinetd-fuzz/sandbox";

class FakeSystem : public config::SystemView {
 public:
  // Starts with the shipped policies (sandbox/*.toml of the source tree).
  FakeSystem();

  // Adds or replaces <kFakeSandboxDir>/<name>.toml.
  void SetPolicy(const std::string& name, std::string text);

  base::Result<config::Account> ResolveUser(const std::string& text) const override;
  base::Result<gid_t> ResolveGroup(const std::string& text, std::string& name) const override;
  base::Result<std::string> CheckChroot(const std::string& path) const override;
  base::Status CheckProgram(const std::string& root, const std::string& path,
                            const config::Identity& who) const override;
  base::Status CheckDirectory(const std::string& root, const std::string& path,
                              const config::Identity& who) const override;
  base::Result<std::string> ReadTrustedFile(const std::string& path) const override;
  int Stat(const std::string& path, struct stat& st) const override;
  std::optional<std::string> RealPath(const std::string& path) const override;
  std::vector<std::string> ListPolicies(const std::string& dir) const override;

 private:
  std::map<std::string, std::string> files_;  // full path -> content
};

}  // namespace hinetd::fuzz
