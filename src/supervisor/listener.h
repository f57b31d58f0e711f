// The listener: the one process that faces the network. It runs as
// [daemon] user with CapPrm = CapEff = {CAP_NET_BIND_SERVICE}, CapBnd empty,
// no_new_privs, not dumpable, chrooted into an empty directory, under its
// own seccomp filter. It accepts
// connections and peeks at datagrams, applies every admission limit, and
// hands each admitted connection to the monitor, which alone can start a
// child. It holds no power to change a uid, chroot, or gain a capability.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "base/log.h"
#include "config/types.h"
#include "sandbox/policy.h"
#include "supervisor/service_state.h"
#include "supervisor/sockets.h"

namespace hinetd::supervisor {

// What a listener starts with: prepared by the monitor, handed to
// hinetd-listener as bytes (listener_setup.h), decoded there.
struct ListenerSetup {
  const config::Config* config = nullptr;
  uint64_t generation = 0;
  SocketList sockets;      // busy marks set for wait sockets a child holds
  ServiceStates services;  // counters, pauses; active and per_source rebuilt
  int children = 0;        // the monitor's children, of every service, even removed ones
  int control_fd = -1;     // the listener's end of the control channel
  // The monitor's doorbell (an eventfd): rung when the channel carries
  // something the listener must read at once. Clean ends of children are
  // not: the listener reads them before it next admits a client, or as
  // they come while a client waits for room (see Listener::Run). -1: none,
  // the channel is read as it comes.
  int doorbell_fd = -1;
  // The sending end of the log relay (log_relay.h), when the monitor's log
  // is one the chrooted listener cannot reach; -1: it writes to stderr.
  int log_fd = -1;
  const sandbox::BpfProgram* filter = nullptr;
  pid_t monitor_pid = 0;
};

// Drops privileges, installs the filter and serves until the monitor goes
// away, asks for a handover, or TERM/INT arrives. Runs in hinetd-listener
// (src/listener), executed by the monitor's fork; never returns.
[[noreturn]] void RunListener(ListenerSetup setup, base::Logger& log);

// The capabilities the listener keeps (when it keeps any).
[[nodiscard]] std::vector<int> ListenerCapabilities();
// What hinetd-listener starts with, to drop privileges: its root, its ids,
// and the one it keeps. The monitor holds them in its inheritable set,
// which is all that root's execve gives when the bounding set is empty.
[[nodiscard]] std::vector<int> ListenerStartCapabilities();
// Whether a listener serving `sockets` keeps CAP_NET_BIND_SERVICE: unless
// every one of them came from systemd, when it keeps no capability at all.
[[nodiscard]] bool NeedsBindCapability(const SocketList& sockets);

}  // namespace hinetd::supervisor
