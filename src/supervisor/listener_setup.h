// What the monitor hands a new listener, as bytes: the listener is a program
// of its own (hinetd-listener), executed by the monitor's fork, so nothing
// of the monitor's memory reaches it but this. The monitor encodes the
// setup into a memfd; the listener decodes it before it drops a
// single privilege, and from then on has no other input from the monitor
// than the control channel.
//
// Only what the listener reads travels: of the table, each service's name,
// addresses, access list and limits, and the daemon's account and limits;
// the sockets by descriptor number; the services' state (counters, pauses,
// rate tokens) and their running children; the listener's filter as BPF.
// The monitor is the only writer and the listener trusts it (it is root and
// started it), but a truncated or foreign setup (a hinetd-listener of
// another build) is refused with an error that says which.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/types.h"
#include "sandbox/policy.h"
#include "supervisor/listener.h"

namespace hinetd::supervisor {

// The name of the listener's program, found next to hinetd or in its
// libexec directory (like hinetd-internal).
inline constexpr const char* kListenerProgram = "hinetd-listener";

// `setup` as bytes. The descriptors it names (sockets, channel, doorbell,
// log relay) travel by number: the caller keeps them open, without
// FD_CLOEXEC, across the execve.
[[nodiscard]] std::string EncodeListenerSetup(const ListenerSetup& setup);

// A decoded setup and what its pointers point into.
struct ListenerImage {
  std::unique_ptr<config::Config> config;  // only the fields the listener reads
  std::unique_ptr<sandbox::BpfProgram> filter;
  ListenerSetup setup;  // setup.config and setup.filter point into the two above
};

// The bytes EncodeListenerSetup wrote, back. An error names what was wrong
// (another build's format, a truncated setup, a value out of range).
[[nodiscard]] base::Result<ListenerImage> DecodeListenerSetup(std::string_view bytes);

}  // namespace hinetd::supervisor
