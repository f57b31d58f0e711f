#include "jail/builder.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <map>

#include "base/sha256.h"
#include "base/unique_fd.h"
#include "config/system_checks.h"

namespace hinetd::jail {

namespace {

using base::ErrnoError;
using base::Error;
using base::Result;
using base::Status;
using config::JailEntry;
using config::JailEntryKind;
using config::JailPlan;

constexpr int kMaxRemoveDepth = 128;

bool IsHex(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// A tree hinetd built: "SERVICE-<16 hex digits>", or one of its leftovers
// (".SERVICE-<hex>.tmp", "SERVICE-<hex>.stale-N").
bool IsOurs(const std::string& name) {
  std::string n = name;
  if (!n.empty() && n[0] == '.' && n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) {
    n = n.substr(1, n.size() - 5);
  } else if (size_t stale = n.find(".stale-"); stale != std::string::npos) {
    n = n.substr(0, stale);
  }
  size_t dash = n.rfind('-');
  return dash != std::string::npos && dash > 0 && n.size() - dash - 1 == 16 &&
         IsHex(n.substr(dash + 1));
}

// Removes a tree without following a symlink. Directories a service owned
// (its writable ones, mode 0700) are taken back first: the monitor has
// CAP_CHOWN, not CAP_DAC_OVERRIDE.
bool RemoveTree(int parent, const std::string& name, int depth) {
  struct stat st {};
  if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT;
  if (!S_ISDIR(st.st_mode)) return unlinkat(parent, name.c_str(), 0) == 0;
  if (depth > kMaxRemoveDepth) return false;
  if (st.st_uid != 0 || (st.st_mode & 0700) != 0700) {
    if (fchownat(parent, name.c_str(), 0, 0, AT_SYMLINK_NOFOLLOW) != 0) return false;
    if (fchmodat(parent, name.c_str(), 0700, 0) != 0) return false;
  }
  int fd = openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return false;
  }
  std::vector<std::string> names;
  while (dirent* de = readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  bool ok = true;
  for (const auto& n : names) ok = RemoveTree(dirfd(d), n, depth + 1) && ok;
  closedir(d);
  return ok && unlinkat(parent, name.c_str(), AT_REMOVEDIR) == 0;
}

bool RemovePath(const std::string& path) {
  size_t slash = path.rfind('/');
  base::UniqueFd dir(open(slash == 0 ? "/" : path.substr(0, slash).c_str(),
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return dir && RemoveTree(dir.get(), path.substr(slash + 1), 0);
}

// mkdir -p for the jail directory itself (root's, 0755).
Status EnsureDir(const std::string& dir) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    std::string part = dir.substr(0, slash);
    if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoError("creating " + part + " (for [daemon] jail_dir)", errno);
    }
    if (slash == std::string::npos) break;
  }
  auto checked = config::CheckChroot(dir);
  if (!checked.ok()) return checked.error().Wrap("[daemon] jail_dir " + dir);
  return Status();
}

// Copies `from` to a new file `to`, hashing what it copies: a file that
// changed since the plan read it is an error, not a silent difference.
Status CopyFile(const JailEntry& e, const std::string& to) {
  base::UniqueFd in(open(e.source.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!in) return ErrnoError("reading " + e.source, errno);
  base::UniqueFd out(open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return ErrnoError("creating " + to, errno);
  base::Sha256 h;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("reading " + e.source, errno);
    if (n == 0) break;
    h.Update(buf, static_cast<size_t>(n));
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out.get(), buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoError("writing " + to, errno);
      done += w;
    }
  }
  if (h.HexDigest() != e.digest) {
    return Error(e.source + " changed since the table was loaded; reload again");
  }
  if (fchmod(out.get(), e.mode) != 0) return ErrnoError("chmod " + to, errno);
  return Status();
}

Status WriteText(const JailEntry& e, const std::string& to) {
  base::UniqueFd out(open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return ErrnoError("creating " + to, errno);
  if (write(out.get(), e.text.data(), e.text.size()) != static_cast<ssize_t>(e.text.size())) {
    return ErrnoError("writing " + to, errno);
  }
  if (fchmod(out.get(), e.mode) != 0) return ErrnoError("chmod " + to, errno);
  return Status();
}

Status Make(const JailEntry& e, const std::string& tmp, const std::string& service) {
  std::string p = e.path == "/" ? tmp : tmp + e.path;
  switch (e.kind) {
    case JailEntryKind::kDir:
      if (e.path != "/" && mkdir(p.c_str(), 0700) != 0) return ErrnoError("mkdir " + p, errno);
      // The mode first: once the service's, only CAP_FOWNER could change it.
      if (e.path != "/" && chmod(p.c_str(), e.mode) != 0) return ErrnoError("chmod " + p, errno);
      if (e.writable && chown(p.c_str(), e.uid, e.gid) != 0) {
        return ErrnoError("chown " + p + " to the service's user (writable; needs CAP_CHOWN)",
                          errno);
      }
      return Status();
    case JailEntryKind::kFile:
      return CopyFile(e, p);
    case JailEntryKind::kText:
      return WriteText(e, p);
    case JailEntryKind::kSymlink:
      if (symlink(e.source.c_str(), p.c_str()) != 0) return ErrnoError("symlink " + p, errno);
      return Status();
    case JailEntryKind::kDevice:
      if (mknod(p.c_str(), S_IFCHR | 0600, makedev(e.major, e.minor)) != 0) {
        int err = errno;
        return ErrnoError("mknod " + p + (err == EPERM ? " (needs CAP_MKNOD: in a container "
                                                         "without it, set devices = [] for "
                                                         "service \"" + service + "\")"
                                                       : ""),
                          err);
      }
      if (chmod(p.c_str(), e.mode) != 0) return ErrnoError("chmod " + p, errno);
      return Status();
  }
  return Status();
}

std::string Check(const JailEntry& e, const std::string& root, bool content) {
  std::string p = e.path == "/" ? root : root + e.path;
  struct stat st {};
  if (lstat(p.c_str(), &st) != 0) return e.path + ": " + strerror(errno);
  bool kind = false;
  switch (e.kind) {
    case JailEntryKind::kDir: kind = S_ISDIR(st.st_mode); break;
    case JailEntryKind::kFile:
    case JailEntryKind::kText: kind = S_ISREG(st.st_mode); break;
    case JailEntryKind::kSymlink: kind = S_ISLNK(st.st_mode); break;
    case JailEntryKind::kDevice:
      kind = S_ISCHR(st.st_mode) && st.st_rdev == makedev(e.major, e.minor);
      break;
  }
  if (!kind) return e.path + ": not what the plan says it is";
  if (st.st_uid != e.uid || st.st_gid != e.gid) return e.path + ": owner differs";
  // A writable directory is the service's: its mode is its business.
  if (e.kind != JailEntryKind::kSymlink && !e.writable && (st.st_mode & 07777) != e.mode) {
    return e.path + ": mode differs";
  }
  if ((e.kind == JailEntryKind::kFile || e.kind == JailEntryKind::kText) &&
      static_cast<uint64_t>(st.st_size) != e.size) {
    return e.path + ": size differs";
  }
  if (content && e.kind == JailEntryKind::kFile) {
    base::UniqueFd fd(open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return e.path + ": " + strerror(errno);
    base::Sha256 h;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      h.Update(buf, static_cast<size_t>(n));
    }
    if (h.HexDigest() != e.digest) return e.path + ": content differs";
  }
  if (e.kind == JailEntryKind::kSymlink) {
    char target[4096];
    ssize_t len = readlink(p.c_str(), target, sizeof target - 1);
    if (len < 0 || std::string(target, static_cast<size_t>(len)) != e.source) {
      return e.path + ": link target differs";
    }
  }
  return "";
}

}  // namespace

std::string VerifyJail(const JailPlan& plan) {
  std::map<std::string, const JailEntry*> by_path;
  for (const auto& e : plan.entries) by_path[e.path] = &e;
  for (const auto& e : plan.entries) {
    if (std::string why = Check(e, plan.root, true); !why.empty()) return why;
    if (e.kind != JailEntryKind::kDir || e.writable) continue;
    std::string p = e.path == "/" ? plan.root : plan.root + e.path;
    DIR* d = opendir(p.c_str());
    if (d == nullptr) return e.path + ": " + strerror(errno);
    std::string extra;
    while (dirent* de = readdir(d)) {
      std::string n = de->d_name;
      if (n == "." || n == "..") continue;
      std::string child = (e.path == "/" ? "" : e.path) + "/" + n;
      // The syslog relay's socket (syslog = true) is hinetd's own too.
      if (by_path.count(child) == 0 && child != "/dev/log") extra = child;
    }
    closedir(d);
    if (!extra.empty()) return extra + ": not in the plan";
  }
  return "";
}

Result<BuildReport> BuildJail(const JailPlan& plan) {
  auto start = std::chrono::steady_clock::now();
  BuildReport report;
  report.entries = plan.entries.size();
  report.bytes = plan.bytes;
  auto done = [&] {
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
  };
  if (auto s = EnsureDir(plan.jail_dir); !s.ok()) return s.error();
  struct stat st {};
  if (lstat(plan.root.c_str(), &st) == 0) {
    std::string why = S_ISDIR(st.st_mode) ? VerifyJail(plan) : "not a directory";
    if (why.empty()) return done();
    // Not what it should be (changed behind hinetd's back): moved aside, not
    // removed, since a child may still run in it; removed once unused.
    std::string aside = plan.root + ".stale-" + std::to_string(getpid()) + "-" +
                        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    if (rename(plan.root.c_str(), aside.c_str()) != 0) {
      return ErrnoError("moving aside " + plan.root + " (" + why + ")", errno);
    }
  }
  std::string base = plan.root.substr(plan.root.rfind('/') + 1);
  std::string tmp = plan.jail_dir + "/." + base + ".tmp";
  if (!RemovePath(tmp)) return ErrnoError("removing the leftover " + tmp, errno);
  if (mkdir(tmp.c_str(), 0700) != 0) return ErrnoError("mkdir " + tmp, errno);
  auto fail = [&](const Error& e) -> Result<BuildReport> {
    RemovePath(tmp);
    return Error("building the jail of service \"" + plan.service + "\": " + e.message());
  };
  bool devices = false;
  for (const auto& e : plan.entries) devices = devices || e.kind == JailEntryKind::kDevice;
  struct statvfs vfs {};
  if (devices && statvfs(tmp.c_str(), &vfs) == 0 && (vfs.f_flag & ST_NODEV) != 0) {
    return fail(Error(plan.jail_dir + " is on a file system mounted nodev: its device nodes "
                      "would not open; set [daemon] jail_dir to a directory on another file "
                      "system, or devices = [] in the jail"));
  }
  for (const auto& e : plan.entries) {
    if (auto s = Make(e, tmp, plan.service); !s.ok()) return fail(s.error());
  }
  if (chmod(tmp.c_str(), 0755) != 0) return fail(ErrnoError("chmod " + tmp, errno));
  if (rename(tmp.c_str(), plan.root.c_str()) != 0) {
    return fail(ErrnoError("rename " + tmp + " to " + plan.root, errno));
  }
  report.built = true;
  return done();
}

std::vector<std::string> RemoveStaleJails(const std::string& jail_dir,
                                          const std::set<std::string>& keep) {
  std::vector<std::string> removed;
  DIR* d = opendir(jail_dir.c_str());
  if (d == nullptr) return removed;
  std::vector<std::string> names;
  while (dirent* de = readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != ".." && IsOurs(n)) names.push_back(n);
  }
  closedir(d);
  for (const auto& n : names) {
    std::string path = jail_dir + "/" + n;
    struct stat st {};
    if (keep.count(path) != 0 || lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (RemovePath(path)) removed.push_back(path);
  }
  return removed;
}

}  // namespace hinetd::jail
