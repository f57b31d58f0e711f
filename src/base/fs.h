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

// The absolute path of this program's executable: /proc/self/exe, or where
// that cannot be read (no /proc in a bare chroot or container, a /proc of
// another pid namespace mounted over it), the path it was executed by
// (AT_EXECFN) made absolute against the directory it started in. Computed
// once, at the first call: main() calls it before anything can chdir. The
// error says why neither worked.
[[nodiscard]] const Result<std::string>& SelfExecutable();

}  // namespace hinetd::base
