#include "net/socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/fs.h"

namespace hinetd::net {

using base::Error;
using base::ErrnoError;
using base::Result;
using base::Status;
using base::UniqueFd;

namespace {

// True if someone accepts connections on the UNIX socket at `ep` now.
bool UnixSocketInUse(const Endpoint& ep) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return false;
  return ::connect(probe.get(), ep.sa(), ep.len) == 0 || errno == EAGAIN;
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
  if (UnixSocketInUse(ep)) return Error(path + " is in use: another process listens on it");
  // A socket file nobody listens on: left by a process that died. Replace it.
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("removing the stale socket " + path, errno);
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
    if (auto s = PrepareUnixPath(ep); !s.ok()) return s.error();
    // The file appears with mode 0600 and the configured group (fsgid at
    // bind time; CAP_SETGID is kept), and only then gets its owner and
    // mode: never briefly more open than configured. hinetd is single-
    // threaded, so the process-wide umask and fsgid are ours for one call.
    mode_t old_umask = umask(0177);
    int old_fsgid = setfsgid(file.gid);
    int rc = ::bind(fd.get(), ep.sa(), ep.len);
    int err = errno;
    setfsgid(static_cast<gid_t>(old_fsgid));
    umask(old_umask);
    if (rc != 0) return ErrnoError("bind " + where, err);
    std::string path = ep.UnixPath();
    auto fail = [&](const base::Error& e) {
      unlink(path.c_str());  // leave nothing behind
      return e;
    };
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return fail(ErrnoError("stat " + path, errno));
    if ((st.st_uid != file.uid || st.st_gid != file.gid) &&
        chown(path.c_str(), file.uid, file.gid) != 0) {
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
    if (chmod(path.c_str(), file.mode) != 0) return fail(ErrnoError("chmod " + path, errno));
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
