#pragma once

#include <cstddef>

namespace hinetd::base {

// What ReleaseLoadedText did: pages of code given back, and system calls.
struct TextRelease {
  size_t pages = 0;  // present file pages unmapped (this process's resident set)
  int calls = 0;     // madvise calls
};

// Unmaps this process's resident pages of code and read-only data (every
// segment that is not writable, of the program and of each shared library
// loaded: code, constants, symbol and relocation tables), so that what it
// ran once -- the configuration loader, the policy compiler, the start --
// stops counting in its resident set. The pages stay in the page cache (shared,
// reclaimable); whatever runs next faults its own pages back (minor faults).
// Only pages that are the file's own are dropped: a page the process wrote
// into (a text relocation, a debugger's breakpoint, a uprobe) is kept, as
// /proc/self/pagemap tells. Where pagemap cannot be read, nothing is done.
TextRelease ReleaseLoadedText();

}  // namespace hinetd::base
