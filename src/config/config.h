// Loading the services table: TOML -> validated Config, or one error that
// names file:line:column, the key, and what would be valid.
#pragma once

#include <string>

#include "base/result.h"
#include "config/system_checks.h"
#include "config/types.h"

namespace hinetd::config {

// Reads and validates `path` and every policy its services use. Nothing is
// bound or started here; the result is complete or an error.
[[nodiscard]] base::Result<Config> LoadConfig(const std::string& path);

// Resolves [daemon] user, the listener's account: it must exist, must not be
// root, and no service may run as it (a service could signal its own uid).
// Separate from loading so that the loader needs no account of hinetd's.
[[nodiscard]] base::Status ResolveDaemonUser(Config& config);

// Same, from text; `path` is used for messages and to resolve sandbox_dir.
[[nodiscard]] base::Result<Config> LoadConfigText(std::string_view text, const std::string& path);
// Same, asking `system` about accounts, paths and policy files (a fuzzer's
// fake; the one above asks the running system).
[[nodiscard]] base::Result<Config> LoadConfigText(std::string_view text, const std::string& path,
                                                  const SystemView& system);

}  // namespace hinetd::config
