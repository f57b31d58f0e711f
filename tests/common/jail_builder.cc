#include "common/jail_builder.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/process.h"

namespace hinetd::testing {

bool JailBuilder::Fail(const std::string& what) {
  error_ = what;
  return false;
}

// Copies a file's bytes with its permission bits. A symlink on the host is
// followed: the jail holds the file it names, under the link's path.
bool JailBuilder::CopyPreserving(const std::string& from, const std::string& inner) {
  if (copied_.count(inner) != 0) return true;
  struct stat st {};
  if (stat(from.c_str(), &st) != 0) return Fail("stat " + from + ": " + strerror(errno));
  if (!S_ISREG(st.st_mode)) return Fail(from + " is not a regular file");
  if (!jail_.Install(from, inner, st.st_mode & 07777)) {
    return Fail("cannot copy " + from + " to " + jail_.path() + inner);
  }
  copied_.insert(inner);
  return true;
}

bool JailBuilder::AddFile(const std::string& path) { return CopyPreserving(path, path); }

bool JailBuilder::AddProgram(const std::string& path) {
  if (!CopyPreserving(path, path)) return false;
  // ldd prints one line per library, "libc.so.6 => /lib/.../libc.so.6
  // (0x...)", and the interpreter as "/lib64/ld-linux-x86-64.so.2
  // (0x...)"; the vDSO has no path. A static program: exit 1, nothing to add.
  CommandResult r = RunCommand({"/usr/bin/ldd", path}, milliseconds(10000));
  if (r.exit_code != 0) {
    if (r.out.find("not a dynamic executable") != std::string::npos ||
        r.err.find("not a dynamic executable") != std::string::npos ||
        r.out.find("statically linked") != std::string::npos) {
      return true;
    }
    return Fail("ldd " + path + " failed: " + r.err);
  }
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("not found") != std::string::npos) {
      return Fail("ldd " + path + ": " + line);
    }
    std::string lib;
    auto arrow = line.find("=> ");
    if (arrow != std::string::npos) {
      lib = line.substr(arrow + 3);
    } else {
      auto start = line.find_first_not_of(" \t");
      if (start == std::string::npos) continue;
      lib = line.substr(start);
    }
    lib = lib.substr(0, lib.find(' '));
    if (lib.empty() || lib[0] != '/') continue;  // the vDSO
    if (!CopyPreserving(lib, lib)) return false;
  }
  return true;
}

bool JailBuilder::AddTree(const std::string& from, const std::string& inner, uid_t uid,
                          gid_t gid) {
  struct stat st {};
  if (lstat(from.c_str(), &st) != 0) return Fail("lstat " + from + ": " + strerror(errno));
  std::string full = jail_.path() + inner;
  if (S_ISDIR(st.st_mode)) {
    if (!jail_.MakeDir(inner, st.st_mode & 07777)) return Fail("mkdir " + full);
    DIR* d = opendir(from.c_str());
    if (d == nullptr) return Fail("opendir " + from + ": " + strerror(errno));
    bool ok = true;
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      if (!AddTree(from + "/" + name, inner + "/" + name, uid, gid)) {
        ok = false;
        break;
      }
    }
    closedir(d);
    if (!ok) return false;
  } else if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlink(from.c_str(), target, sizeof target - 1);
    if (n < 0) return Fail("readlink " + from + ": " + strerror(errno));
    target[n] = '\0';
    if (symlink(target, full.c_str()) != 0) return Fail("symlink " + full + ": " + strerror(errno));
    if (lchown(full.c_str(), uid, gid) != 0) return Fail("lchown " + full);
    return true;
  } else if (S_ISREG(st.st_mode)) {
    if (!jail_.Install(from, inner, st.st_mode & 07777)) return Fail("cannot copy " + from);
  } else {
    return true;  // sockets, fifos, devices: not part of served data
  }
  if (chown(full.c_str(), uid, gid) != 0) return Fail("chown " + full + ": " + strerror(errno));
  return true;
}

bool JailBuilder::AddDevices() {
  if (!jail_.MakeDir("/dev")) return Fail("mkdir /dev in the jail");
  struct Node {
    const char* name;
    unsigned minor;
  };
  for (Node n : {Node{"null", 3}, Node{"zero", 5}, Node{"urandom", 9}}) {
    std::string full = jail_.path() + "/dev/" + n.name;
    if (mknod(full.c_str(), S_IFCHR | 0666, makedev(1, n.minor)) != 0 && errno != EEXIST) {
      int err = errno;
      Fail("mknod " + full + ": " + strerror(err));
      errno = err;  // for the caller: EPERM without CAP_MKNOD
      return false;
    }
    chmod(full.c_str(), 0666);  // whatever the umask took away
  }
  return true;
}

bool JailBuilder::AddAccount(const std::string& user, uid_t uid, const std::string& group,
                             gid_t gid, const std::string& gecos, const std::string& home,
                             const std::string& shell) {
  std::string passwd = "root:x:0:0:root:/root:/bin/sh\n" + user + ":x:" + std::to_string(uid) +
                       ":" + std::to_string(gid) + ":" + gecos + ":" + home + ":" + shell + "\n";
  std::string groups = "root:x:0:\n" + group + ":x:" + std::to_string(gid) + ":\n";
  if (!jail_.Write("/etc/passwd", passwd) || !jail_.Write("/etc/group", groups)) {
    return Fail("cannot write /etc/passwd or /etc/group in the jail");
  }
  return true;
}

}  // namespace hinetd::testing
