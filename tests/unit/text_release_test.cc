#include "base/text_release.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace hinetd::base {
namespace {

// Pages of this program's read-only data, read and written through
// volatile pointers only: every read is a load from the page, never a
// constant the compiler folded. The first fills a 64 KiB window of its
// own (a fault on a neighbouring page maps the pages around it that are in
// the page cache: the kernel's fault-around, 64 KiB by default), and gets
// a mapping of its own below.
[[gnu::used]] alignas(65536) const char kUntouched[65536] = {'f', 'i', 'l', 'e'};
[[gnu::used]] alignas(4096) const char kWrittenTo[4096] = {'f', 'i', 'l', 'e'};

char Load(const char* p) { return *static_cast<const volatile char*>(p); }

uintptr_t PageOf(const void* p) {
  return reinterpret_cast<uintptr_t>(p) & ~static_cast<uintptr_t>(getpagesize() - 1);
}

// The page's word in /proc/self/pagemap, or nothing where it cannot be read.
std::optional<uint64_t> PagemapWord(uintptr_t page) {
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  uint64_t word = 0;
  ssize_t n = pread(fd, &word, sizeof word, static_cast<off_t>(page / getpagesize() * sizeof word));
  close(fd);
  if (n != sizeof word) return std::nullopt;
  return word;
}

bool Present(uint64_t word) { return (word & (uint64_t{1} << 63)) != 0; }

// The permissions of the mapping that holds `page` ("r--p"), from /proc/self/maps.
std::string PermissionsOf(uintptr_t page) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long lo = 0, hi = 0;
    char perms[5] = {};
    if (sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, perms) == 3 && page >= lo && page < hi) {
      return perms;
    }
  }
  return "";
}

TEST(ReleaseLoadedText, DropsTheResidentPagesOfReadOnlySegmentsAndTheProgramRunsOn) {
  uintptr_t page = PageOf(kUntouched);
  ASSERT_EQ(PermissionsOf(page), "r--p") << "the test's page is not in a read-only segment";
  // A mapping of its own (advice splits the program's): a kernel that maps
  // a whole large folio of the page cache on a fault (a freshly linked
  // binary is written in large folios) would otherwise bring the page back
  // on the next read of any data near it. A fault never maps past its
  // mapping.
  ASSERT_EQ(madvise(const_cast<char*>(kUntouched), sizeof kUntouched, MADV_RANDOM), 0)
      << strerror(errno);
  ASSERT_EQ(Load(&kUntouched[0]), 'f');  // present now
  auto before = PagemapWord(page);
  if (!before) GTEST_SKIP() << "/proc/self/pagemap cannot be read here (no /proc?)";
  ASSERT_TRUE(Present(*before));

  TextRelease done = ReleaseLoadedText();
  EXPECT_GT(done.pages, 0u);
  EXPECT_GT(done.calls, 0);
  auto after = PagemapWord(page);
  ASSERT_TRUE(after);
  EXPECT_FALSE(Present(*after)) << "the read-only page is still mapped";
  // Read again from the file: the same bytes, and this code runs on.
  EXPECT_EQ(Load(&kUntouched[0]), 'f');
  EXPECT_EQ(Load(&kUntouched[3]), 'e');
}

TEST(ReleaseLoadedText, KeepsAPageOfCodeOrDataTheProcessWroteInto) {
  // What a debugger's breakpoint, a uprobe or a text relocation does: the
  // private mapping gets an anonymous copy of the page. Dropping it would
  // put the file's bytes back.
  uintptr_t page = PageOf(kWrittenTo);
  ASSERT_EQ(PermissionsOf(page), "r--p") << "the test's page is not in a read-only segment";
  void* p = reinterpret_cast<void*>(page);
  ASSERT_EQ(mprotect(p, getpagesize(), PROT_READ | PROT_WRITE), 0) << strerror(errno);
  *const_cast<volatile char*>(&kWrittenTo[0]) = 'w';
  ASSERT_EQ(mprotect(p, getpagesize(), PROT_READ), 0) << strerror(errno);
  if (!PagemapWord(page)) GTEST_SKIP() << "/proc/self/pagemap cannot be read here (no /proc?)";

  ReleaseLoadedText();
  auto after = PagemapWord(page);
  ASSERT_TRUE(after);
  EXPECT_TRUE(Present(*after)) << "the written page was dropped";
  EXPECT_EQ(Load(&kWrittenTo[0]), 'w') << "the process's own write was lost";
}

}  // namespace
}  // namespace hinetd::base
