#include "config/elf_imports.h"

#include <elf.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

#include "base/unique_fd.h"

namespace hinetd::config {

namespace {

constexpr size_t kMaxFile = 256u << 20;  // larger files are not looked at

bool IsSyslogEntry(std::string_view name) {
  return name == "openlog" || name == "syslog" || name == "vsyslog" ||
         name == "__syslog_chk" || name == "__vsyslog_chk";
}

// What only a program that changes its own identity calls: a set*id call
// alone is no sign (dash and bash import setuid/setresuid to drop the
// privileges of a set-user-ID start, which they never have here, and
// setuid(getuid()) needs no capability).
bool IsIdentityEntry(std::string_view name) {
  return name == "setgroups" || name == "initgroups" || name == "chroot";
}

// Reads the dynamic symbol table of a mapped ELF64 file of this machine's
// byte order; every offset is checked against the file's size.
// The first undefined symbol `match` accepts, or "".
template <typename Match>
std::string ScanDynsym(const unsigned char* data, size_t size, Match match) {
  if (size < sizeof(Elf64_Ehdr) || memcmp(data, ELFMAG, SELFMAG) != 0 ||
      data[EI_CLASS] != ELFCLASS64) {
    return "";
  }
  Elf64_Ehdr eh;
  memcpy(&eh, data, sizeof eh);
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff == 0 || eh.e_shoff > size ||
      eh.e_shnum > (size - eh.e_shoff) / sizeof(Elf64_Shdr)) {
    return "";
  }
  auto section = [&](size_t i) {
    Elf64_Shdr sh;
    memcpy(&sh, data + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof sh);
    return sh;
  };
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sym = section(i);
    if (sym.sh_type != SHT_DYNSYM || sym.sh_link >= eh.e_shnum ||
        sym.sh_entsize != sizeof(Elf64_Sym) || sym.sh_offset > size ||
        sym.sh_size > size - sym.sh_offset) {
      continue;
    }
    Elf64_Shdr str = section(sym.sh_link);
    if (str.sh_offset > size || str.sh_size > size - str.sh_offset) continue;
    const char* strings = reinterpret_cast<const char*>(data + str.sh_offset);
    for (size_t off = 0; off + sizeof(Elf64_Sym) <= sym.sh_size; off += sizeof(Elf64_Sym)) {
      Elf64_Sym s;
      memcpy(&s, data + sym.sh_offset + off, sizeof s);
      if (s.st_shndx != SHN_UNDEF || s.st_name >= str.sh_size) continue;
      size_t max = str.sh_size - s.st_name;
      std::string_view name(strings + s.st_name, strnlen(strings + s.st_name, max));
      if (match(name)) return std::string(name);
    }
  }
  return "";
}

template <typename Match>
std::string FirstImport(const std::string& root, const std::string& program, Match match) {
  base::UniqueFd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return "";
  std::string inner = program;
  while (!inner.empty() && inner[0] == '/') inner.erase(0, 1);
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  base::UniqueFd fd(
      static_cast<int>(syscall(SYS_openat2, dir.get(), inner.c_str(), &how, sizeof how)));
  if (!fd) return "";
  struct stat st {};
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
      static_cast<uint64_t>(st.st_size) > kMaxFile) {
    return "";
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (map == MAP_FAILED) return "";
  std::string found = ScanDynsym(static_cast<const unsigned char*>(map), size, match);
  munmap(map, size);
  return found;
}

}  // namespace

bool ImportsSyslog(const std::string& root, const std::string& program) {
  return !FirstImport(root, program, IsSyslogEntry).empty();
}

std::string ImportsIdentityChange(const std::string& root, const std::string& program) {
  return FirstImport(root, program, IsIdentityEntry);
}

}  // namespace hinetd::config
