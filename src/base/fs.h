#pragma once

#include <string>

#include "base/result.h"

namespace hinetd::base {

// Reads a whole (small) file: configs, policies, /proc entries.
[[nodiscard]] Result<std::string> ReadFile(const std::string& path);

// Directory part of a path ("a/b/c.toml" -> "a/b", "c.toml" -> ".").
[[nodiscard]] std::string DirName(const std::string& path);

// `path` if absolute, else `base_dir/path`.
[[nodiscard]] std::string JoinPath(const std::string& base_dir, const std::string& path);

}  // namespace hinetd::base
