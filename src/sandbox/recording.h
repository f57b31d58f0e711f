// The programs of a recording child (`hinetd learn`) and of a policy in
// trial mode (default_action = "log"). Both hand the system calls they do
// not allow to hinetd's monitor through a seccomp user-notification
// listener (SECCOMP_RET_USER_NOTIF), which answers each with
// SECCOMP_USER_NOTIF_FLAG_CONTINUE: the call runs as if unfiltered, and the
// monitor has seen its number and its six arguments. The child creates the
// listener as it installs the program (SECCOMP_FILTER_FLAG_NEW_LISTENER)
// and sends it to the monitor with one sendmsg(2), which the program itself
// must let through: see HandoffPrefix.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "base/result.h"
#include "sandbox/policy.h"

namespace hinetd::sandbox {

// Where the child's one handoff call comes from: sendmsg(socket, ...) from
// the instruction at `return_address` (the address right after the system
// call instruction, as the kernel reports it in seccomp_data).
struct Handoff {
  int socket = -1;
  uint64_t return_address = 0;
};

// The instructions that ALLOW exactly the handoff call (native
// architecture, sendmsg, arg0 == socket, instruction_pointer ==
// return_address) and fall through to the next instruction for any other.
// Without them the handoff would itself be notified, to a monitor that does
// not have the listener yet: the child would wait forever. A service cannot
// meet all three by accident: after execve its code is its own, not at
// hinetd's address; and if it did (a service that is hinetd itself), the
// worst is one sendmsg that is neither recorded nor logged.
[[nodiscard]] std::vector<sock_filter> HandoffPrefix(const Handoff& handoff);

// Learning: the prefix, then USER_NOTIF for every native system call; other
// architectures are killed, as in every policy.
[[nodiscard]] base::Result<std::unique_ptr<BpfProgram>> RecordingProgram(const Handoff& handoff);

// Trial mode: the prefix, then `policy` (compiled from a policy whose
// default action is "log") with that default replaced by USER_NOTIF: what
// the policy allows runs without a round trip, only what it does not is
// notified.
[[nodiscard]] base::Result<std::unique_ptr<BpfProgram>> TrialProgram(const BpfProgram& policy,
                                                                    const Handoff& handoff);

// Learning: whether runtime's program (which every learned policy
// includes) allows `call` with its arguments; a call it does not goes into
// the learned policy even where runtime allows the syscall for others.
[[nodiscard]] bool RuntimeAllows(const BpfProgram& runtime, const seccomp_data& call);

}  // namespace hinetd::sandbox
