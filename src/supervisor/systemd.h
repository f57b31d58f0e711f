// systemd's side of a service manager contract, written from its documented
// protocols (sd_notify(3), sd_listen_fds(3)) without libsystemd: readiness
// datagrams to $NOTIFY_SOCKET, and listening sockets passed as descriptors
// 3.. with $LISTEN_FDS, $LISTEN_PID and $LISTEN_FDNAMES.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "config/types.h"
#include "net/address.h"

namespace hinetd::supervisor {

// The notification socket. Empty (every Send a no-op) when hinetd was not
// started by a service manager that asked for notifications.
class Notifier {
 public:
  Notifier() = default;
  // Reads $NOTIFY_SOCKET (a path, or '@' for an abstract name), connects a
  // close-on-exec datagram socket to it now (while hinetd may still reach
  // the path), and removes the variable from the environment. An unusable
  // value is an error naming it.
  [[nodiscard]] static base::Result<Notifier> FromEnvironment();
  // Connects to `address` ("/path" or "@abstract").
  [[nodiscard]] static base::Result<Notifier> Connect(const std::string& address);

  [[nodiscard]] bool enabled() const { return fd_.get() >= 0; }
  // One datagram of newline-separated assignments ("READY=1\nSTATUS=...").
  // Never blocks; a failure is returned for the caller to log.
  [[nodiscard]] base::Status Send(std::string_view state) const;

 private:
  base::UniqueFd fd_;
};

// "RELOADING=1\nMONOTONIC_USEC=<now>", as systemd's Type=notify-reload
// expects it (and Type=notify accepts).
[[nodiscard]] std::string ReloadingState();

// A listening socket systemd passed.
struct PassedSocket {
  base::UniqueFd fd;
  int number = -1;           // the descriptor it was passed as (3, 4, ...)
  std::string name;          // its LISTEN_FDNAMES entry, "" if none
  net::Endpoint ep;          // getsockname
  net::Transport transport = net::Transport::kTcp;
  // "fd 3 (name \"web\", tcp 127.0.0.1:7)": how errors and logs name it.
  [[nodiscard]] std::string Describe() const;
};

// Takes the sockets of $LISTEN_FDS if $LISTEN_PID is this process (systemd
// sets it for the process it executes; a child that inherited the variables
// must not take descriptors meant for another), and removes LISTEN_PID,
// LISTEN_FDS and LISTEN_FDNAMES from the environment either way. Each
// descriptor becomes close-on-exec and non-blocking. An error names the
// descriptor and what is wrong with it: not a socket, a family or type
// hinetd does not serve (IPv4/IPv6 stream or datagram, unix stream), a
// stream socket that is not listening (Accept=yes passes connections).
[[nodiscard]] base::Result<std::vector<PassedSocket>> TakeListenFds();

// Inspects one descriptor as TakeListenFds does (for tests and for it).
[[nodiscard]] base::Result<PassedSocket> InspectPassedSocket(int fd, int number,
                                                             const std::string& name);

// Every passed socket must be one of the table's listen addresses, with the
// same transport: one that is not means the .socket unit and the table
// disagree; the error names the descriptor, its address and both fixes.
[[nodiscard]] base::Status CheckPassedSockets(
    const config::Config& config, const std::vector<std::shared_ptr<PassedSocket>>& passed,
    const std::string& config_path);

}  // namespace hinetd::supervisor
