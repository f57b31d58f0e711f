#include "config/elf_closure.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <set>

#include "base/fs.h"
#include "base/unique_fd.h"

namespace hinetd::config {

namespace {

using base::Error;
using base::Result;

constexpr size_t kMaxFile = 512u << 20;  // larger files are refused
constexpr size_t kMaxLibraries = 1024;  // a closure larger than this is a loop or an attack
constexpr int kMaxScriptDepth = 4;      // "#!" chains

// What one ELF object says about loading it.
struct ElfObject {
  uint16_t machine = 0;
  unsigned char elf_class = 0;
  std::string interp;
  std::vector<std::string> needed;
  std::string rpath;
  std::string runpath;
};

// A read-only mapping of a whole file.
class Mapped {
 public:
  ~Mapped() {
    if (data_ != nullptr) munmap(data_, size_);
  }
  bool Open(const std::string& path, std::string& why) {
    base::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    struct stat st {};
    if (!fd || fstat(fd.get(), &st) != 0) {
      why = std::string(strerror(errno));
      return false;
    }
    if (!S_ISREG(st.st_mode)) {
      why = "not a regular file";
      return false;
    }
    if (st.st_size <= 0 || static_cast<uint64_t>(st.st_size) > kMaxFile) {
      why = st.st_size <= 0 ? "empty" : "larger than 512M";
      return false;
    }
    size_ = static_cast<size_t>(st.st_size);
    void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (m == MAP_FAILED) {
      why = std::string("mmap: ") + strerror(errno);
      return false;
    }
    data_ = static_cast<unsigned char*>(m);
    return true;
  }
  [[nodiscard]] const unsigned char* data() const { return data_; }
  [[nodiscard]] size_t size() const { return size_; }

 private:
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

bool InFile(uint64_t off, uint64_t len, size_t size) { return off <= size && len <= size - off; }

// Parses the ELF64 (native byte order) headers: program headers for
// PT_INTERP, the SHT_DYNAMIC section and its string table for the rest.
// Every offset is checked against the file's size. False: not ELF64.
bool ParseElf(const unsigned char* data, size_t size, ElfObject& out) {
  if (size < sizeof(Elf64_Ehdr) || memcmp(data, ELFMAG, SELFMAG) != 0 ||
      data[EI_CLASS] != ELFCLASS64) {
    return false;
  }
  Elf64_Ehdr eh;
  memcpy(&eh, data, sizeof eh);
  out.machine = eh.e_machine;
  out.elf_class = data[EI_CLASS];
  if (eh.e_phentsize == sizeof(Elf64_Phdr) &&
      InFile(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr), size)) {
    for (size_t i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr ph;
      memcpy(&ph, data + eh.e_phoff + i * sizeof ph, sizeof ph);
      if (ph.p_type == PT_INTERP && InFile(ph.p_offset, ph.p_filesz, size)) {
        const char* s = reinterpret_cast<const char*>(data + ph.p_offset);
        out.interp.assign(s, strnlen(s, ph.p_filesz));
      }
    }
  }
  if (eh.e_shentsize != sizeof(Elf64_Shdr) ||
      !InFile(eh.e_shoff, uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr), size)) {
    return true;  // no section headers: nothing more to learn
  }
  auto section = [&](size_t i) {
    Elf64_Shdr sh;
    memcpy(&sh, data + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof sh);
    return sh;
  };
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr dyn = section(i);
    if (dyn.sh_type != SHT_DYNAMIC || dyn.sh_link >= eh.e_shnum ||
        !InFile(dyn.sh_offset, dyn.sh_size, size)) {
      continue;
    }
    Elf64_Shdr str = section(dyn.sh_link);
    if (!InFile(str.sh_offset, str.sh_size, size)) continue;
    const char* strings = reinterpret_cast<const char*>(data + str.sh_offset);
    auto text = [&](uint64_t off) -> std::string {
      if (off >= str.sh_size) return "";
      return std::string(strings + off, strnlen(strings + off, str.sh_size - off));
    };
    for (uint64_t off = 0; off + sizeof(Elf64_Dyn) <= dyn.sh_size; off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      memcpy(&d, data + dyn.sh_offset + off, sizeof d);
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag == DT_NEEDED) out.needed.push_back(text(d.d_un.d_val));
      if (d.d_tag == DT_RPATH) out.rpath = text(d.d_un.d_val);
      if (d.d_tag == DT_RUNPATH) out.runpath = text(d.d_un.d_val);
    }
  }
  return true;
}

// "a:b:$ORIGIN/../lib" -> directories, $ORIGIN and ${ORIGIN} expanded.
std::vector<std::string> SplitPath(const std::string& list, const std::string& origin) {
  std::vector<std::string> dirs;
  size_t start = 0;
  while (start <= list.size()) {
    size_t colon = list.find(':', start);
    std::string dir = list.substr(start, colon == std::string::npos ? std::string::npos
                                                                    : colon - start);
    for (const char* token : {"${ORIGIN}", "$ORIGIN"}) {
      for (size_t at = dir.find(token); at != std::string::npos; at = dir.find(token)) {
        dir.replace(at, strlen(token), origin);
      }
    }
    if (!dir.empty() && dir[0] == '/') dirs.push_back(dir);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return dirs;
}

bool SameKind(const std::string& path, const ElfObject& want) {
  Mapped m;
  std::string why;
  ElfObject o;
  return m.Open(path, why) && ParseElf(m.data(), m.size(), o) && o.machine == want.machine &&
         o.elf_class == want.elf_class;
}

}  // namespace

std::vector<std::string> LoaderDefaultDirs() {
#if defined(__x86_64__)
  const std::string triple = "x86_64-linux-gnu";
#elif defined(__aarch64__)
  const std::string triple = "aarch64-linux-gnu";
#else
  const std::string triple;
#endif
  std::vector<std::string> dirs;
  if (!triple.empty()) {
    dirs.push_back("/lib/" + triple);
    dirs.push_back("/usr/lib/" + triple);
  }
  dirs.push_back("/lib");
  dirs.push_back("/usr/lib");
  return dirs;
}

Result<ElfClosure> ResolveElfClosure(const std::string& program) {
  ElfClosure out;
  std::string path = program;
  // A script runs its "#!" interpreter, which must be in the jail too.
  for (int depth = 0;; ++depth) {
    Mapped m;
    std::string why;
    if (!m.Open(path, why)) return Error(path + ": " + why);
    if (m.size() < 2 || m.data()[0] != '#' || m.data()[1] != '!') break;
    if (depth == kMaxScriptDepth) return Error(program + ": more than 4 nested \"#!\" lines");
    size_t end = std::min<size_t>(m.size(), 256);
    std::string line(reinterpret_cast<const char*>(m.data()) + 2, end - 2);
    line = line.substr(0, line.find('\n'));
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) return Error(path + ": an empty \"#!\" line");
    std::string interp = line.substr(b, line.find_first_of(" \t", b) - b);
    if (interp.empty() || interp[0] != '/') {
      return Error(path + ": its \"#!\" interpreter '" + interp + "' is not an absolute path");
    }
    out.interpreters_of_scripts.push_back(interp);
    path = interp;
  }

  std::set<std::string> libraries;
  std::set<std::string> seen_names;  // sonames already resolved (the loader loads each once)
  struct Pending {
    std::string path;
    std::string rpath;  // inherited DT_RPATH of the objects that led here
  };
  std::deque<Pending> queue{{path, ""}};
  ElfObject first;
  bool is_first = true;
  while (!queue.empty()) {
    Pending cur = std::move(queue.front());
    queue.pop_front();
    Mapped m;
    std::string why;
    if (!m.Open(cur.path, why)) return Error(cur.path + ": " + why);
    ElfObject o;
    if (!ParseElf(m.data(), m.size(), o)) {
      if (is_first) return out;  // not ELF64 (e.g. a 32-bit program): nothing to resolve
      return Error(cur.path + ": not an ELF64 object");
    }
    if (is_first) {
      first = o;
      out.interpreter = o.interp;
      if (!o.interp.empty()) {
        if (!SameKind(o.interp, o)) {
          return Error(program + ": its ELF interpreter " + o.interp +
                       " does not exist on this host or is not for its machine");
        }
      }
      is_first = false;
    }
    std::string origin = base::DirName(cur.path);
    std::string rpath = cur.rpath;
    // DT_RPATH applies (to this object and those it loads) only where the
    // object has no DT_RUNPATH; DT_RUNPATH applies to its own needs only.
    if (o.runpath.empty() && !o.rpath.empty()) {
      rpath += (rpath.empty() ? "" : ":") + o.rpath;
    }
    std::vector<std::string> dirs;
    if (o.runpath.empty()) dirs = SplitPath(rpath, origin);
    for (const auto& d : SplitPath(o.runpath, origin)) dirs.push_back(d);
    for (const auto& d : LoaderDefaultDirs()) dirs.push_back(d);
    for (const std::string& name : o.needed) {
      if (name.empty() || !seen_names.insert(name).second) continue;
      // libc names the loader by its soname: that is the interpreter,
      // already loaded (PT_INTERP), not a second copy.
      if (!out.interpreter.empty() &&
          name == out.interpreter.substr(out.interpreter.rfind('/') + 1)) {
        continue;
      }
      std::string found;
      if (name.find('/') != std::string::npos) {
        found = name;
      } else {
        for (const auto& d : dirs) {
          std::string candidate = d + "/" + name;
          if (SameKind(candidate, first)) {
            found = candidate;
            break;
          }
        }
      }
      if (found.empty()) {
        std::string where;
        for (const auto& d : dirs) where += (where.empty() ? "" : ", ") + d;
        return Error(cur.path + " needs " + name + ", which is in none of " + where +
                     " (where the loader looks inside a jail, without ld.so.cache)");
      }
      if (found == out.interpreter) continue;
      if (libraries.size() >= kMaxLibraries) {
        return Error(program + ": more than 1024 shared libraries");
      }
      if (libraries.insert(found).second) queue.push_back({found, rpath});
    }
  }
  out.libraries.assign(libraries.begin(), libraries.end());
  return out;
}

}  // namespace hinetd::config
