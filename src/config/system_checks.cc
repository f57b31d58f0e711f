#include "config/system_checks.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "base/errno_name.h"
#include "base/unique_fd.h"
#include "config/types.h"

namespace hinetd::config {

using base::ErrnoError;
using base::Error;
using base::Result;
using base::Status;
using base::UniqueFd;

namespace {

bool ParseId(const std::string& text, unsigned& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size() && out != static_cast<unsigned>(-1);
}

std::string Errno(int err) { return std::string(strerror(err)) + " (" + base::ErrnoName(err) + ")"; }

// Opens `path` as the child would see it after chroot(root): symlinks and
// ".." cannot leave root (openat2 RESOLVE_IN_ROOT, Linux 5.6).
int OpenInRoot(const std::string& root, const std::string& path, int flags) {
  UniqueFd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return -1;
  open_how how{};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel = path;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  if (rel.empty()) rel = ".";
  long fd = syscall(SYS_openat2, dir.get(), rel.c_str(), &how, sizeof how);
  if (fd < 0 && errno == ENOSYS) {
    // Older kernel: resolve from outside; absolute symlinks may mislead.
    fd = open((root == "/" ? path : root + path).c_str(), flags | O_CLOEXEC);
  }
  return static_cast<int>(fd);
}

bool MayAccess(const struct stat& st, const Identity& who, mode_t user_bit, mode_t group_bit,
               mode_t other_bit) {
  if (st.st_uid == who.uid) return (st.st_mode & user_bit) != 0;
  bool in_group = st.st_gid == who.gid ||
                  std::find(who.groups.begin(), who.groups.end(), st.st_gid) != who.groups.end();
  if (in_group) return (st.st_mode & group_bit) != 0;
  return (st.st_mode & other_bit) != 0;
}

std::string Shown(const std::string& root, const std::string& path) {
  return root == "/" ? path : path + " (inside the chroot " + root + ")";
}

// Every directory from root down to path's parent must be searchable.
Status CheckSearchable(const std::string& root, const std::string& path, const Identity& who) {
  std::string prefix = "/";
  size_t pos = 1;
  for (;;) {
    UniqueFd d(OpenInRoot(root, prefix, O_PATH | O_DIRECTORY));
    struct stat st {};
    if (!d || fstat(d.get(), &st) != 0) {
      return Error("directory " + Shown(root, prefix) + ": " + Errno(errno));
    }
    if (!MayAccess(st, who, S_IXUSR, S_IXGRP, S_IXOTH)) {
      char mode[8];
      snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      return Error("directory " + Shown(root, prefix) + " is not searchable by uid " +
                   std::to_string(who.uid) + " (mode " + mode + ")");
    }
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) return Status();
    prefix = path.substr(0, slash);
    pos = slash + 1;
  }
}

// The interpreter a program needs (ELF PT_INTERP, or the #! line), if any.
Result<std::string> Interpreter(int fd) {
  unsigned char head[256];
  ssize_t n = pread(fd, head, sizeof head, 0);
  if (n < 0) return base::ErrnoError("read", errno);
  if (n >= 2 && head[0] == '#' && head[1] == '!') {
    std::string line(reinterpret_cast<char*>(head) + 2, static_cast<size_t>(n) - 2);
    line = line.substr(0, line.find('\n'));
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) return std::string();
    line = line.substr(b);
    return line.substr(0, line.find_first_of(" \t"));
  }
  if (n < static_cast<ssize_t>(sizeof(Elf64_Ehdr)) || memcmp(head, ELFMAG, SELFMAG) != 0 ||
      head[EI_CLASS] != ELFCLASS64) {
    return std::string();  // not a 64-bit ELF: let execve decide
  }
  Elf64_Ehdr eh;
  memcpy(&eh, head, sizeof eh);
  for (unsigned i = 0; i < eh.e_phnum && i < 256; ++i) {
    Elf64_Phdr ph;
    if (pread(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * eh.e_phentsize)) !=
        static_cast<ssize_t>(sizeof ph)) {
      break;
    }
    if (ph.p_type != PT_INTERP || ph.p_filesz == 0 || ph.p_filesz > 4096) continue;
    std::string interp(ph.p_filesz, '\0');
    if (pread(fd, interp.data(), ph.p_filesz, static_cast<off_t>(ph.p_offset)) !=
        static_cast<ssize_t>(ph.p_filesz)) {
      break;
    }
    interp.resize(strnlen(interp.c_str(), interp.size()));
    return interp;
  }
  return std::string();
}

// Who may own a file hinetd trusts: root; and, for `hinetd check` run by
// an unprivileged user on files of their own, that user (they can change
// those files anyway, and such a run starts nothing).
bool TrustedOwner(uid_t owner) { return owner == 0 || (geteuid() != 0 && owner == geteuid()); }

std::string OwnerText(uid_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) {
    return std::string(pw.pw_name) + " (uid " + std::to_string(uid) + ")";
  }
  return "uid " + std::to_string(uid);
}

// The error for `st` if it fails StrictModes, else an empty string. `what`
// says what it is ("" for the file itself, "the directory /x above it is "),
// `fix` the path the fix applies to.
std::string Untrusted(const struct stat& st, const std::string& what, const std::string& fix) {
  if (TrustedOwner(st.st_uid) && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return "";
  char mode[8];
  snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
  std::string owners = geteuid() == 0 ? "root"
                                      : "root (or by uid " + std::to_string(geteuid()) +
                                            ", who runs this unprivileged check)";
  return what + "owned by " + OwnerText(st.st_uid) + ", mode " + mode +
         "; hinetd loads a configuration or policy only if it and every directory above it "
         "are owned by " + owners + " and not group- or world-writable, since what it says "
         "runs as root (chown root:root " + fix + "; chmod go-w " + fix + ")";
}

}  // namespace

Result<std::string> ReadTrustedFile(const std::string& path) {
  base::SourceLoc loc{path, 0, 0};
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return base::ErrnoError("cannot open " + path, errno);
  std::string canonical(real);
  free(real);
  // Walk down from "/" by descriptor, each component opened relative to the
  // directory already checked and never through a symlink: what is read is
  // what was checked, with no window to swap a component in between. A
  // symlink given as `path` was resolved above; its target is what counts.
  UniqueFd dir(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct stat st {};
  if (!dir || fstat(dir.get(), &st) != 0) return base::ErrnoError("cannot open /", errno);
  std::string shown = canonical == path ? path : path + " (" + canonical + ")";
  // A path reached through a symlink (or a relative one) names what was
  // really checked.
  std::string above = canonical == path ? " above it is " : " above " + canonical + " is ";
  if (auto bad = Untrusted(st, "the directory /" + above, "/"); !bad.empty()) {
    return Error(loc, bad);
  }
  size_t pos = 1;
  for (;;) {
    size_t slash = canonical.find('/', pos);
    std::string name = canonical.substr(pos, slash == std::string::npos ? slash : slash - pos);
    std::string prefix = canonical.substr(0, slash);
    bool last = slash == std::string::npos;
    int flags = last ? O_RDONLY | O_NONBLOCK | O_NOCTTY : O_PATH | O_DIRECTORY;
    UniqueFd next(openat(dir.get(), name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
    if (!next || fstat(next.get(), &st) != 0) {
      return base::ErrnoError("cannot open " + shown + " (at " + prefix + ")", errno);
    }
    if (last) {
      if (!S_ISREG(st.st_mode)) return Error(loc, "not a regular file");
      struct stat link {};
      bool is_link = lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode);
      std::string what = is_link ? "a link to " + canonical + ", which is " : "";
      if (auto bad = Untrusted(st, what, canonical); !bad.empty()) return Error(loc, bad);
      dir = std::move(next);
      break;
    }
    if (auto bad = Untrusted(st, "the directory " + prefix + above, prefix);
        !bad.empty()) {
      return Error(loc, bad);
    }
    dir = std::move(next);
    pos = slash + 1;
  }
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = read(dir.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError("cannot read " + path, errno);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > (16u << 20)) return Error(path + ": file is larger than 16 MiB");
  }
  return data;
}

Result<Account> ResolveUser(const std::string& text) {
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  unsigned id = 0;
  if (ParseId(text, id)) {
    Account a;
    a.uid = id;
    a.name = text;
    if (getpwuid_r(id, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) {
      a.primary_gid = pw.pw_gid;
      a.has_entry = true;
      a.login = pw.pw_name;
    }
    return a;
  }
  int rc = getpwnam_r(text.c_str(), &pw, buf, sizeof buf, &found);
  if (rc != 0) return Error("cannot look up user '" + text + "': " + Errno(rc));
  if (found == nullptr) {
    return Error("no user '" + text + "' on this system (check /etc/passwd, or give a uid)");
  }
  Account a;
  a.uid = pw.pw_uid;
  a.primary_gid = pw.pw_gid;
  a.name = pw.pw_name;
  a.has_entry = true;
  a.login = pw.pw_name;
  a.gecos = pw.pw_gecos != nullptr ? pw.pw_gecos : "";
  a.home = pw.pw_dir != nullptr ? pw.pw_dir : "";
  a.shell = pw.pw_shell != nullptr ? pw.pw_shell : "";
  return a;
}

Result<bool> InGroup(const std::string& name, gid_t primary, gid_t gid) {
  std::vector<gid_t> groups(64);
  // getgrouplist says how many it needs when the buffer is short; a second
  // try covers a list that grew in between.
  for (int attempt = 0; attempt < 3; ++attempt) {
    int n = static_cast<int>(groups.size());
    if (getgrouplist(name.c_str(), primary, groups.data(), &n) >= 0) {
      groups.resize(static_cast<size_t>(n));
      return std::find(groups.begin(), groups.end(), gid) != groups.end();
    }
    if (n <= static_cast<int>(groups.size()) || n > 65536) break;
    groups.resize(static_cast<size_t>(n));
  }
  return Error("cannot list the groups of '" + name + "' (getgrouplist failed)");
}

Result<gid_t> ResolveGroup(const std::string& text, std::string& name) {
  group gr{};
  group* found = nullptr;
  char buf[8192];
  unsigned id = 0;
  if (ParseId(text, id)) {
    name = (getgrgid_r(id, &gr, buf, sizeof buf, &found) == 0 && found) ? gr.gr_name : text;
    return static_cast<gid_t>(id);
  }
  int rc = getgrnam_r(text.c_str(), &gr, buf, sizeof buf, &found);
  if (rc != 0) return Error("cannot look up group '" + text + "': " + Errno(rc));
  if (found == nullptr) {
    return Error("no group '" + text + "' on this system (check /etc/group, or give a gid)");
  }
  name = gr.gr_name;
  return gr.gr_gid;
}

Result<std::string> CheckChroot(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return Error("'" + path + "' is not an absolute path");
  }
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return Error("'" + path + "': " + Errno(errno));
  std::string canonical(real);
  free(real);
  // Check "/", then every prefix down to the jail itself.
  std::string prefix = "/";
  size_t pos = 1;
  for (;;) {
    struct stat st {};
    if (stat(prefix.c_str(), &st) != 0) return Error("'" + prefix + "': " + Errno(errno));
    if (!S_ISDIR(st.st_mode)) return Error("'" + prefix + "' is not a directory");
    if (st.st_uid != 0) {
      return Error("'" + prefix + "' is owned by uid " + std::to_string(st.st_uid) +
                   "; every directory of a chroot path must be owned by root (chown root " +
                   prefix + ")");
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      char mode[8];
      snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      return Error("'" + prefix + "' is group- or world-writable (mode " + mode +
                   "); every directory of a chroot path must not be (chmod go-w " + prefix +
                   ")");
    }
    if (prefix == canonical) break;
    size_t slash = canonical.find('/', pos);
    prefix = slash == std::string::npos ? canonical : canonical.substr(0, slash);
    pos = slash == std::string::npos ? canonical.size() : slash + 1;
  }
  return canonical;
}

Status EnsureEmptyChroot() {
  std::string dir = kEmptyChroot;
  std::string parent = dir.substr(0, dir.rfind('/'));
  if (mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("creating " + parent + " (the listener's empty root)", errno);
  }
  if (mkdir(dir.c_str(), 0555) != 0 && errno != EEXIST) {
    return ErrnoError("creating " + dir + " (the listener's empty root)", errno);
  }
  auto checked = CheckChroot(dir);
  if (!checked.ok()) return checked.error().Wrap("the listener's empty root");
  return Status();
}

Status CheckProgram(const std::string& root, const std::string& path, const Identity& who) {
  UniqueFd fd(OpenInRoot(root, path, O_RDONLY));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return Error(Shown(root, path) + " does not exist");
    return Error(Shown(root, path) + ": " + Errno(err));
  }
  // hinetd opened it as root; the child opens it as the service's user.
  if (auto s = CheckSearchable(root, path, who); !s.ok()) return s;
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Error(Shown(root, path) + ": " + Errno(errno));
  if (!S_ISREG(st.st_mode)) return Error(Shown(root, path) + " is not a regular file");
  if (!MayAccess(st, who, S_IXUSR, S_IXGRP, S_IXOTH)) {
    return Error(Shown(root, path) + " is not executable by uid " + std::to_string(who.uid));
  }
  auto interp = Interpreter(fd.get());
  if (!interp.ok()) return Error(Shown(root, path) + ": " + interp.error().message());
  if (!interp->empty()) {
    UniqueFd ifd(OpenInRoot(root, *interp, O_RDONLY));
    if (!ifd) {
      return Error(Shown(root, path) + " needs the interpreter " + *interp +
                   ", which is missing" +
                   (root == "/" ? std::string() : " inside the chroot (copy it and the "
                                                  "libraries the program needs into " +
                                                      root + ")"));
    }
  }
  return Status();
}

Status CheckDirectory(const std::string& root, const std::string& path, const Identity& who) {
  UniqueFd fd(OpenInRoot(root, path, O_PATH | O_DIRECTORY));
  if (!fd) return Error(Shown(root, path) + ": " + Errno(errno));
  return CheckSearchable(root, path + "/", who);
}

Result<Account> SystemView::ResolveUser(const std::string& text) const {
  return config::ResolveUser(text);
}

Result<gid_t> SystemView::ResolveGroup(const std::string& text, std::string& name) const {
  return config::ResolveGroup(text, name);
}

Result<std::string> SystemView::CheckChroot(const std::string& path) const {
  return config::CheckChroot(path);
}

Status SystemView::CheckProgram(const std::string& root, const std::string& path,
                                const Identity& who) const {
  return config::CheckProgram(root, path, who);
}

Status SystemView::CheckDirectory(const std::string& root, const std::string& path,
                                  const Identity& who) const {
  return config::CheckDirectory(root, path, who);
}

Result<std::string> SystemView::ReadTrustedFile(const std::string& path) const {
  return config::ReadTrustedFile(path);
}

int SystemView::Stat(const std::string& path, struct stat& st) const {
  return stat(path.c_str(), &st) == 0 ? 0 : errno;
}

std::optional<std::string> SystemView::RealPath(const std::string& path) const {
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return std::nullopt;
  std::string out = real;
  free(real);
  return out;
}

std::vector<std::string> SystemView::ListPolicies(const std::string& dir) const {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string f = e->d_name;
    if (f.size() > 5 && f.ends_with(".toml")) names.push_back(f.substr(0, f.size() - 5));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

const SystemView& RealSystem() {
  static const SystemView real;
  return real;
}

}  // namespace hinetd::config
