#include "net/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <deque>
#include <string>

#include "base/errno_name.h"
#include "base/fs.h"

namespace hinetd::net {

using base::Error;
using base::ErrnoError;
using base::Result;
using base::Status;
using base::UniqueFd;

namespace {

std::string Octal(mode_t mode) {
  char buf[16];
  snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// The parent of a canonical absolute path ("/a/b" -> "/a", "/a" -> "/").
std::string Parent(const std::string& dir) {
  auto slash = dir.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// The components of a path, in order ("/a//b/" -> a, b).
std::deque<std::string> Components(const std::string& path) {
  std::deque<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t slash = path.find('/', i);
    if (slash == std::string::npos) slash = path.size();
    if (slash > i) out.push_back(path.substr(i, slash - i));
    i = slash + 1;
  }
  return out;
}

// One directory the path to `socket_path` goes through (`last`: the one
// that holds the socket file). Root's, and writable by root alone, like
// every directory of a chroot path (and OpenSSH's ChrootDirectory): anyone
// else who could write one could rename the socket file, or a directory
// further on, and put a symlink in its place. No exception for a sticky
// directory (/tmp): there others can still create the names hinetd is
// about to use.
Status CheckDirectory(const std::string& dir, const struct stat& st, bool last,
                      const std::string& socket_path) {
  if (st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return Status();
  std::string which = last ? "the socket's directory " + dir
                           : "the directory " + dir + " on the path to " + socket_path;
  std::string what = st.st_uid != 0 ? "is owned by another user" : "is writable by other users";
  std::string fix = st.st_uid == 0 && (st.st_mode & S_ISVTX) != 0
                        ? "choose a directory that root owns and only root can write, such as "
                          "/run or a directory of its own in /run"
                        : "make it owned by root and writable by root only (chown root " + dir +
                              "; chmod go-w " + dir + "), or choose a directory that is, such "
                              "as /run";
  return Error(which + " (owner uid " + std::to_string(st.st_uid) + ", mode " +
               Octal(st.st_mode) + ") " + what +
               ", who could swap the socket file for a symlink before hinetd sets its owner and "
               "mode; " + fix);
}

// Resolves the directory of `socket_path` as the kernel would (symlinks
// included) and checks every directory it looks a name up in, and the one
// it ends in: a symlink lives in a directory checked before it, so only root
// can change where it leads.
Status CheckSocketDirectory(const std::string& socket_path) {
  std::deque<std::string> todo = Components(base::DirName(socket_path));
  std::string cur = "/";
  struct stat st {};
  if (lstat("/", &st) != 0) return ErrnoError("lstat /", errno);
  if (auto s = CheckDirectory("/", st, todo.empty(), socket_path); !s.ok()) return s;
  int links = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    if (name == ".") continue;
    if (name == "..") {
      cur = Parent(cur);  // checked on the way in
      continue;
    }
    std::string next = Join(cur, name);
    if (lstat(next.c_str(), &st) != 0) return ErrnoError(next, errno);
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) return ErrnoError(base::DirName(socket_path), ELOOP);
      std::string target(PATH_MAX, '\0');
      ssize_t n = readlink(next.c_str(), target.data(), target.size());
      if (n < 0) return ErrnoError("readlink " + next, errno);
      target.resize(static_cast<size_t>(n));
      std::deque<std::string> parts = Components(target);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      if (!target.empty() && target[0] == '/') cur = "/";
      continue;
    }
    if (!S_ISDIR(st.st_mode)) return Error(next + " is not a directory");
    if (auto s = CheckDirectory(next, st, todo.empty(), socket_path); !s.ok()) return s;
    cur = next;
  }
  return Status();
}

// Whether anyone listens on the socket file at `ep`, asked with a
// non-blocking connect: a blocking one waits for good on a socket whose
// backlog is full. Only ECONNREFUSED says nobody listens (a socket file left
// by a process that died): then, or if the file is gone, the status is ok.
// A connection, or EAGAIN (a full backlog), means a listener; any other
// error (EACCES: another user's socket, to a monitor without
// CAP_DAC_OVERRIDE) cannot tell, and hinetd never removes what may be live.
Status CheckStale(const Endpoint& ep) {
  std::string path = ep.UnixPath();
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) return ErrnoError("socket to probe " + path, errno);
  int err = ::connect(probe.get(), ep.sa(), ep.len) == 0 ? 0 : errno;
  if (err == ECONNREFUSED || err == ENOENT) return Status();
  if (err == 0 || err == EAGAIN || err == EINPROGRESS) {
    return Error(path + " is in use: another process listens on it (hinetd replaces only a "
                        "socket file nobody listens on)");
  }
  return Error(path + " is in use, as far as hinetd can tell: connecting to it failed with " +
               base::ErrnoName(err) + " (" + strerror(err) +
               "), not ECONNREFUSED, so hinetd leaves it alone; remove it if nobody listens on "
               "it");
}

Status PrepareUnixPath(const Endpoint& ep) {
  std::string path = ep.UnixPath();
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status();
    return ErrnoError(path, errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Error(path + " exists and is not a socket; hinetd never removes it (move it, or "
                        "choose another path)");
  }
  if (auto s = CheckStale(ep); !s.ok()) return s;
  // A socket file nobody listens on: left by a process that died. Replace it.
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("removing the stale socket " + path, errno);
  }
  return Status();
}

// Binds `fd` to the unix: path of `ep`, and gives the file `file`'s owner
// and mode without ever following the path after bind() created the file.
//
// Why not bind in a private directory and rename() the file into place: a
// socket keeps the name it was bound to (getsockname, the peer's
// getpeername, ss -x), and that name would be the temporary one. Instead:
// the directory is root's and writable by root alone (checked here, again,
// as at load), so nobody else can replace the file; and the steps after
// bind() act on the file through an O_PATH|O_NOFOLLOW descriptor that is
// checked to be the socket just created, never on the path: a symlink put
// in its place (by root) is refused, never followed.
Status BindUnix(int fd, const Endpoint& ep, const UnixSocketFile& file, const std::string& where) {
  std::string path = ep.UnixPath();
  if (auto s = CheckSocketDirectory(path); !s.ok()) return s;
  if (auto s = PrepareUnixPath(ep); !s.ok()) return s;
  // bind() creates the file with the mode 0777 & ~umask, and the group
  // fsgid (CAP_SETGID is kept): the configured group and mode, at once, with
  // no chmod. If the owner is to change, until it does the owner's
  // permissions apply to root only, and the group's and others' are capped
  // to the owner's: nobody may briefly do more than configured. The umask is
  // the process's: unix sockets are bound on the monitor's one thread (even
  // when a large table's IP sockets are bound on several, bind_table.h); the
  // fsgid is the calling thread's.
  mode_t first = file.mode & 0777;
  if (file.uid != geteuid()) {
    mode_t owner = (first >> 6) & 7;
    first &= 0700 | (owner << 3) | owner;
  }
  mode_t old_umask = umask(~first & 0777);
  int old_fsgid = setfsgid(file.gid);
  int rc = ::bind(fd, ep.sa(), ep.len);
  int err = errno;
  setfsgid(static_cast<gid_t>(old_fsgid));
  umask(old_umask);
  if (rc != 0) return ErrnoError("bind " + where, err);

  UniqueFd node(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!node) return ErrnoError("opening " + path + " after bind", errno);
  struct stat st {};
  if (fstat(node.get(), &st) != 0) return ErrnoError("fstat " + path, errno);
  if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 07777 & ~first) != 0) {
    // Not the file bind() made: leave it alone, whatever it is.
    return Error(path + " was replaced right after hinetd created it (it is now owned by uid " +
                 std::to_string(st.st_uid) + ", mode " + Octal(st.st_mode) +
                 (S_ISSOCK(st.st_mode) ? "" : ", and not a socket") +
                 "); hinetd left it as it is");
  }
  auto fail = [&](const base::Error& e) {
    // Leave nothing behind, but only the file made here.
    struct stat now {};
    if (lstat(path.c_str(), &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev) {
      unlink(path.c_str());
    }
    return e;
  };
  if ((st.st_uid != file.uid || st.st_gid != file.gid) &&
      fchownat(node.get(), "", file.uid, file.gid, AT_EMPTY_PATH) != 0) {
    int e = errno;
    base::Error error = ErrnoError("chown " + path, e);
    if (e == EPERM) {
      error = base::Error(error.message() +
                          "; a socket_user other than root is set when the socket is created "
                          "at start, while hinetd still holds CAP_CHOWN: restart hinetd to "
                          "create this socket");
    }
    return fail(error);
  }
  if ((st.st_mode & 07777) != file.mode) {
    // The capped mode above, or a default ACL of the directory that took
    // away more: set the configured one on the descriptor's file. fchmod()
    // refuses an O_PATH descriptor; its /proc link names this very file.
    std::string self = "/proc/self/fd/" + std::to_string(node.get());
    if (chmod(self.c_str(), file.mode) != 0) {
      return fail(ErrnoError("chmod " + path + " (through " + self + ")", errno));
    }
  }
  return Status();
}

}  // namespace

Status CheckUnixSocketPath(const std::string& path) {
  std::string dir = base::DirName(path);
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error("the directory " + dir + " does not exist");
  }
  if (auto s = CheckSocketDirectory(path); !s.ok()) return s;
  if (lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
    return Error(path + " exists and is not a socket; hinetd never removes it (move it, or "
                        "choose another path)");
  }
  return Status();
}

Result<UniqueFd> BindListener(const Endpoint& ep, Transport transport, int backlog,
                              const UnixSocketFile& file, uid_t udp_owner) {
  int type = transport == Transport::kUdp ? SOCK_DGRAM : SOCK_STREAM;
  // A socket's owner for SO_REUSEPORT is the file system uid at socket().
  bool own = transport == Transport::kUdp && udp_owner != static_cast<uid_t>(-1);
  int old_fsuid = own ? setfsuid(udp_owner) : -1;
  UniqueFd fd(::socket(ep.family(), type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  int socket_errno = errno;
  if (own) setfsuid(static_cast<uid_t>(old_fsuid));
  errno = socket_errno;
  std::string where = std::string(ProtocolName(ep, transport)) + " " + ToString(ep);
  if (!fd) return ErrnoError("socket for " + where, errno);
  int one = 1;
  if (ep.IsUnix()) {
    if (auto s = BindUnix(fd.get(), ep, file, where); !s.ok()) return s.error();
  } else if (transport == Transport::kUdp) {
    // SO_REUSEPORT, not SO_REUSEADDR: a udp nowait handover binds a second
    // socket on the address, and SO_REUSEPORT allows that only to sockets of
    // the same uid (with SO_REUSEADDR any local user could bind a port above
    // 1023 and receive the service's datagrams). A connected socket is not
    // part of the port's load-balancing group; it keeps its own peer.
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      return ErrnoError("SO_REUSEPORT on " + where, errno);
    }
    if (ep.family() == AF_INET6 &&
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
      return ErrnoError("IPV6_V6ONLY on " + where, errno);
    }
    if (ep.IsWildcard()) {
      int rc = ep.family() == AF_INET
                   ? ::setsockopt(fd.get(), IPPROTO_IP, IP_PKTINFO, &one, sizeof one)
                   : ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
      if (rc != 0) return ErrnoError("IP_PKTINFO on " + where, errno);
    }
    if (::bind(fd.get(), ep.sa(), ep.len) != 0) return ErrnoError("bind " + where, errno);
  } else {
    // TCP: restart without waiting for TIME_WAIT. (SO_REUSEADDR never lets a
    // second socket listen on the same address.)
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
      return ErrnoError("SO_REUSEADDR on " + where, errno);
    }
    if (ep.family() == AF_INET6 &&
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
      return ErrnoError("IPV6_V6ONLY on " + where, errno);
    }
    if (::bind(fd.get(), ep.sa(), ep.len) != 0) return ErrnoError("bind " + where, errno);
  }
  if (type == SOCK_STREAM && ::listen(fd.get(), backlog) != 0) {
    return ErrnoError("listen " + where, errno);
  }
  return fd;
}

}  // namespace hinetd::net
