#include "supervisor/bind_table.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/socket.h"

namespace hinetd::supervisor {

namespace {

// A transport and an endpoint as bytes, equal for two endpoints that are
// equal (net::Endpoint::operator==): the family, the port and address of an
// IP endpoint (and an IPv6 scope), a unix endpoint's path.
std::string AddressKey(net::Transport transport, const net::Endpoint& ep) {
  std::string key(1, static_cast<char>(transport));
  int family = ep.family();
  key.append(reinterpret_cast<const char*>(&family), sizeof family);
  if (family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ep.addr);
    key.append(reinterpret_cast<const char*>(&a->sin_port), sizeof a->sin_port);
    key.append(reinterpret_cast<const char*>(&a->sin_addr), sizeof a->sin_addr);
  } else if (family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ep.addr);
    key.append(reinterpret_cast<const char*>(&a->sin6_port), sizeof a->sin6_port);
    key.append(reinterpret_cast<const char*>(&a->sin6_addr), sizeof a->sin6_addr);
    key.append(reinterpret_cast<const char*>(&a->sin6_scope_id), sizeof a->sin6_scope_id);
  } else if (family == AF_UNIX) {
    key += ep.UnixPath();
  } else {
    key.append(reinterpret_cast<const char*>(&ep.addr), ep.len);
  }
  return key;
}

}  // namespace

using base::ErrnoError;
using base::Error;
using base::LogLine;
using base::Result;
using base::UniqueFd;

namespace {

// A socket the table needs and no kept or passed one gives: bound in
// BindFresh, possibly on another thread.
struct FreshSocket {
  size_t slot = 0;  // its place in BindTable's list
  const config::Service* service = nullptr;
  const config::ListenAddr* address = nullptr;
  const net::Endpoint* ep = nullptr;
  uint16_t port = 0;  // IP endpoints: what groups them onto one thread
  Result<UniqueFd> fd = UniqueFd();
};

// Makes the descriptor table big enough for `more` descriptors beyond the
// lowest free one, while this process has a single thread: growing a table
// that threads share waits for an RCU grace period (milliseconds), once per
// doubling. Only a hint: a failure (a limit) leaves the growth to bind time.
void ReserveDescriptors(size_t more) {
  int low = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
  if (low < 0) return;
  close(low);
  int high = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, low + static_cast<int>(more));
  if (high >= 0) close(high);
}

// Binds every IP socket of `fresh` (the unix ones stay for the caller:
// their bind sets the process-wide umask). With `threads` > 1 and enough
// of them, the work is split by port, so that sockets that could conflict
// with each other (one port, one transport) are bound on one thread in the
// table's order, as without threads: the same one fails, with the same error.
void BindFresh(std::vector<FreshSocket>& fresh, const config::Config& config, int backlog,
               int threads) {
  // UDP sockets belong to the listener's account, so that it may bind the
  // fresh socket of a udp nowait handover next to them (SO_REUSEPORT is
  // shared by one uid only). setfsuid, which that takes, is per thread.
  auto bind_one = [&](FreshSocket& f) {
    f.fd = net::BindListener(*f.ep, f.service->transport, backlog, f.service->unix_file,
                             config.daemon.uid);
  };
  auto worker = [&](int index, int count) {
    for (auto& f : fresh) {
      if (!f.ep->IsUnix() && f.port % count == static_cast<unsigned>(index)) bind_one(f);
    }
  };
  size_t ip = std::count_if(fresh.begin(), fresh.end(),
                            [](const FreshSocket& f) { return !f.ep->IsUnix(); });
  if (threads > 1 && ip >= kParallelBindMinimum) {
    ReserveDescriptors(ip);
    std::vector<std::thread> helpers;
    try {
      for (int t = 1; t < threads; ++t) helpers.emplace_back(worker, t, threads);
    } catch (const std::system_error&) {
      // No thread to be had: the ones started take their share, this one the rest.
      int started = static_cast<int>(helpers.size()) + 1;
      for (int t = started; t < threads; ++t) worker(t, threads);
    }
    worker(0, threads);
    for (auto& h : helpers) h.join();
    return;
  }
  worker(0, 1);
}

}  // namespace

Result<SocketList> BindTable(const config::Config& config, const SocketList& keep,
                             const std::vector<std::shared_ptr<PassedSocket>>& passed, int backlog,
                             base::Logger& log, int threads) {
  // Every socket of the new table: the one already bound to the address (a
  // reload keeps it, and its backlog), or a fresh one. On error nothing of
  // the running table has changed; the fresh ones close with the list.
  SocketList out;
  std::vector<FreshSocket> fresh;
  std::vector<bool> taken(keep.size(), false);
  // The running table's sockets by address (in their order): a reload of N
  // services looks each address up once instead of comparing it with all N.
  std::unordered_map<std::string, std::vector<size_t>> kept_at;
  kept_at.reserve(keep.size());
  for (size_t k = 0; k < keep.size(); ++k) {
    kept_at[AddressKey(keep[k]->transport, keep[k]->ep)].push_back(k);
  }
  for (size_t i = 0; i < config.services.size(); ++i) {
    const config::Service& svc = config.services[i];
    for (const auto& addr : svc.listen) {
      for (const auto& ep : addr.endpoints) {
        std::shared_ptr<ListenSocket> s;
        if (auto at = kept_at.find(AddressKey(svc.transport, ep)); at != kept_at.end()) {
          for (size_t k : at->second) {
            if (!taken[k] && keep[k]->transport == svc.transport && keep[k]->ep == ep) {
              taken[k] = true;
              s = keep[k];
              break;
            }
          }
        }
        if (!s) {
          // A socket systemd passed for this address (used only once: no
          // two services can share one address).
          for (const auto& p : passed) {
            if (p->transport != svc.transport || !(p->ep == ep)) continue;
            ino_t ino = SocketInode(p->fd.get());
            bool used = std::any_of(out.begin(), out.end(), [&](const auto& o) {
              return o->inode() == ino;
            });
            if (used) continue;
            int copy = fcntl(p->fd.get(), F_DUPFD_CLOEXEC, 3);
            if (copy < 0) {
              return Error(addr.loc, "service \"" + svc.name + "\": " +
                                         ErrnoError("dup of the socket systemd passed, " +
                                                        p->Describe(),
                                                    errno)
                                             .message());
            }
            s = std::make_shared<ListenSocket>();
            s->ep = ep;
            s->transport = svc.transport;
            s->fd.reset(copy);
            s->systemd_fd = p->number;
            break;
          }
        }
        if (s && s->systemd_fd >= 0 && svc.transport == net::Transport::kUdp && !svc.wait) {
          return Error(addr.loc,
                       "service \"" + svc.name + "\": udp nowait cannot serve " +
                           net::ToString(ep) + " on the socket systemd passed (fd " +
                           std::to_string(s->systemd_fd) +
                           "): each peer's datagrams go to a fresh socket hinetd binds to the "
                           "same address, which a socket systemd created does not let it do; "
                           "set wait = true, or remove the address from the .socket unit so "
                           "that hinetd binds it itself");
        }
        if (s && s->systemd_fd < 0 && ep.IsUnix()) {
          // A kept socket keeps its file as it is: its owner and mode are set
          // when it is created (a new owner needs CAP_CHOWN, which hinetd no
          // longer holds), and a reload must not half-apply. lstat: the
          // file at the path itself, never what a symlink points to.
          struct stat st {};
          std::string path = ep.UnixPath();
          if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
              (st.st_uid != svc.unix_file.uid || st.st_gid != svc.unix_file.gid ||
               (st.st_mode & 07777) != svc.unix_file.mode)) {
            log.Warning(LogLine("warning")
                             .Add("service", svc.name)
                             .Add("message", "socket_user, socket_group and socket_mode of " +
                                                 path +
                                                 " apply when the socket is created; the file "
                                                 "keeps its owner and mode until hinetd "
                                                 "restarts"));
          }
        }
        if (!s) {
          // Bound below, all at once (and maybe on several threads).
          FreshSocket f;
          f.slot = out.size();
          f.service = &svc;
          f.address = &addr;
          f.ep = &ep;
          if (!ep.IsUnix()) f.port = ep.port();
          fresh.push_back(std::move(f));
        }
        out.push_back(std::move(s));
      }
    }
  }
  BindFresh(fresh, config, backlog, threads);
  // In the table's order, as one by one: the first failure is the error,
  // and the unix sockets are bound here, on this thread.
  for (auto& f : fresh) {
    const config::Service& svc = *f.service;
    if (f.ep->IsUnix()) {
      f.fd = net::BindListener(*f.ep, svc.transport, backlog, svc.unix_file, config.daemon.uid);
    }
    if (!f.fd.ok()) {
      return Error(f.address->loc, "service \"" + svc.name + "\": " + f.fd.error().message());
    }
    auto s = std::make_shared<ListenSocket>();
    s->ep = *f.ep;
    s->transport = svc.transport;
    s->fd = std::move(*f.fd);
    if (f.ep->IsUnix()) {
      // The inode of the file BindListener made, which the stop
      // removes if it is still there: lstat, as a symlink in its
      // place must not stand for the file it points to.
      struct stat st {};
      if (lstat(f.ep->UnixPath().c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        s->unix_ino = st.st_ino;
      }
    }
    out[f.slot] = std::move(s);
  }
  return out;
}

std::vector<const PassedSocket*> UnusedPassed(
    const std::vector<std::shared_ptr<PassedSocket>>& passed, const SocketList& sockets) {
  std::vector<const PassedSocket*> unused;
  for (const auto& p : passed) {
    ino_t ino = SocketInode(p->fd.get());
    bool used = std::any_of(sockets.begin(), sockets.end(),
                            [&](const auto& s) { return s->inode() == ino; });
    if (!used) unused.push_back(p.get());
  }
  return unused;
}

}  // namespace hinetd::supervisor
