// What a program needs to start in a jail: its ELF interpreter (PT_INTERP),
// the shared libraries it and they name (DT_NEEDED), found as the dynamic
// loader inside a jail finds them: DT_RPATH (when there is no DT_RUNPATH),
// DT_RUNPATH ($ORIGIN expanded), then the loader's default directories
// (Debian's multiarch ones first). No ld.so.cache: there is none in a jail,
// so a library only the host's cache knows (/usr/local/lib, say) is an
// error, not a silent gap. A script ("#!") needs its interpreter.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace hinetd::config {

struct ElfClosure {
  // Host paths, each where the loader would find it (not symlink-resolved:
  // the jail holds the file under that name).
  std::string interpreter;              // empty: static, or a script's own
  std::vector<std::string> libraries;   // sorted, unique
  std::vector<std::string> interpreters_of_scripts;  // "#!" programs, in order
};

// The closure of the program at `path` (absolute, on the host). An error
// names the library that was not found and where it was looked for.
[[nodiscard]] base::Result<ElfClosure> ResolveElfClosure(const std::string& path);

// The directories the dynamic loader searches after RPATH/RUNPATH, when it
// has no ld.so.cache (inside a jail), in order.
[[nodiscard]] std::vector<std::string> LoaderDefaultDirs();

}  // namespace hinetd::config
