// Builds the tree a JailPlan lists (config/jail.h), in the root monitor, at
// start and at reload, never per connection. The tree is built in a fresh
// temporary directory beside its final name and renamed into place only
// when complete: a child already chrooted keeps the tree it had, and a
// failed build leaves every existing tree as it was. The final name holds
// the plan's content hash, so the same inputs find the tree already there
// (checked, and kept) and changed inputs give a new one.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/jail.h"

namespace hinetd::jail {

struct BuildReport {
  bool built = false;  // false: an identical tree was there already
  size_t entries = 0;
  uint64_t bytes = 0;
  double seconds = 0;
};

// Makes plan.root hold exactly the plan (see above). Needs uid 0 with
// CAP_MKNOD (device nodes) and CAP_CHOWN (writable directories).
[[nodiscard]] base::Result<BuildReport> BuildJail(const config::JailPlan& plan);

// Checks an existing tree against its plan: every entry there, of its kind,
// owner and mode (files: size too), nothing else in a directory that is not
// `writable`. "" if it matches, else the first difference.
[[nodiscard]] std::string VerifyJail(const config::JailPlan& plan);

// Removes the trees under `jail_dir` that hinetd built (NAME-HASH and
// leftover temporaries) and that are not in `keep` (roots still used: the
// running table's, and those of children still running). Returns what it
// removed.
std::vector<std::string> RemoveStaleJails(const std::string& jail_dir,
                                          const std::set<std::string>& keep);

}  // namespace hinetd::jail
