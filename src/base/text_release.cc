#include "base/text_release.h"

#include <fcntl.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "base/unique_fd.h"

namespace hinetd::base {

namespace {

// /proc/PID/pagemap: one 64-bit word per page (Documentation/admin-guide/mm/pagemap.rst).
constexpr uint64_t kPresent = uint64_t{1} << 63;
constexpr uint64_t kSwapped = uint64_t{1} << 62;
constexpr uint64_t kFileOrShared = uint64_t{1} << 61;

struct Walk {
  int pagemap;
  uintptr_t vdso;
  size_t page;
  TextRelease done;
};

// Drops the pages of [start, end) that are present and the file's own;
// keeps the others (anonymous copies), in runs of one madvise each.
void ReleaseRange(Walk& w, uintptr_t start, uintptr_t end) {
  constexpr size_t kBatch = 512;
  uint64_t words[kBatch];
  uintptr_t run = 0;  // start of the current run of droppable pages, 0: none
  size_t run_present = 0;
  auto flush = [&](uintptr_t at) {
    if (run != 0 && run_present > 0 &&
        madvise(reinterpret_cast<void*>(run), at - run, MADV_DONTNEED) == 0) {
      w.done.pages += run_present;
      ++w.done.calls;
    }
    run = 0;
    run_present = 0;
  };
  uintptr_t at = start;
  while (at < end) {
    size_t n = std::min(kBatch, (end - at) / w.page);
    off_t offset = static_cast<off_t>(at / w.page * sizeof(uint64_t));
    ssize_t got = pread(w.pagemap, words, n * sizeof(uint64_t), offset);
    if (got <= 0) break;  // not flushed past `at`: unread pages are not looked at
    n = static_cast<size_t>(got) / sizeof(uint64_t);
    for (size_t i = 0; i < n; ++i, at += w.page) {
      // Present and the file's, or not there at all (nothing to drop). A
      // page of anonymous memory, present or swapped out, is this
      // process's own writing: dropping it would lose it.
      bool present = (words[i] & kPresent) != 0;
      bool own = present ? (words[i] & kFileOrShared) != 0 : (words[i] & kSwapped) == 0;
      if (!own) {
        flush(at);
        continue;
      }
      if (run == 0) run = at;
      if (present) ++run_present;
    }
  }
  flush(at);
}

// Every segment of the object that is not writable: code, read-only data,
// the symbol and relocation tables. (The relocated data, RELRO, is in a
// writable segment, made read-only after: not looked at.) Not the vDSO,
// which the kernel maps, not a file.
int OnObject(dl_phdr_info* info, size_t, void* data) {
  Walk& w = *static_cast<Walk*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (w.vdso != 0 && w.vdso >= start && w.vdso < start + ph.p_memsz) return 0;
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) != 0) continue;
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    uintptr_t end = start + ph.p_memsz;
    start &= ~(w.page - 1);
    end = (end + w.page - 1) & ~(w.page - 1);
    ReleaseRange(w, start, end);
  }
  return 0;
}

}  // namespace

TextRelease ReleaseLoadedText() {
  UniqueFd pagemap(open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!pagemap) return {};
  Walk w{pagemap.get(), getauxval(AT_SYSINFO_EHDR), static_cast<size_t>(sysconf(_SC_PAGESIZE)), {}};
  dl_iterate_phdr(OnObject, &w);
  return w.done;
}

}  // namespace hinetd::base
