#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "base/errno_name.h"
#include "base/unique_fd.h"

namespace hinetd::base {

namespace {

Result<std::string> FindSelfExecutable() {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    std::string path(self);
    // The file was replaced or removed while running (a rebuild): the
    // directory is still the one it was started from.
    if (path.ends_with(" (deleted)")) path.resize(path.size() - 10);
    return path;
  }
  std::string why = "readlink /proc/self/exe: " + ErrnoName(errno) +
                    (errno == ENOENT ? " (is /proc mounted?)" : "");
  const char* execfn = reinterpret_cast<const char*>(getauxval(AT_EXECFN));
  if (execfn == nullptr || *execfn == '\0') return Error(why + "; and no AT_EXECFN");
  char real[PATH_MAX];
  if (realpath(execfn, real) == nullptr) {
    return Error(why + "; realpath of the started path '" + execfn + "': " + ErrnoName(errno));
  }
  return std::string(real);
}

}  // namespace

const Result<std::string>& SelfExecutable() {
  static const Result<std::string> self = FindSelfExecutable();
  return self;
}

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError("cannot open " + path, errno);
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read " + path, errno);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > (16u << 20)) return Error(path + ": file is larger than 16 MiB");
  }
  return data;
}

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string JoinPath(const std::string& base_dir, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  if (base_dir.empty() || base_dir == ".") return path;
  return base_dir + "/" + path;
}

}  // namespace hinetd::base
