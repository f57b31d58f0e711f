// Loop and reflection rules for datagram services: which sources a UDP
// service of hinetd never answers. One pure decision, used by the listener
// on every datagram that would start a child (the first one of a udp wait
// child, each new peer's of a udp nowait service), and by the monitor to
// check a udp request again on its own.
#pragma once

#include <bitset>
#include <cstdint>

#include "config/types.h"
#include "net/address.h"

namespace hinetd::supervisor {

// A set of port numbers (8 KiB; a lookup is one bit test).
using PortSet = std::bitset<65536>;

// Every port this hinetd serves: each listen address of the table, tcp and
// udp, IPv4 and IPv6 (unix: addresses have none).
[[nodiscard]] PortSet ServedPorts(const config::Config& config);

// The ports of the classic small services that answer any datagram: echo 7,
// discard 9, daytime 13, chargen 19, time 37, on whatever host they run.
[[nodiscard]] bool SmallServicePort(uint16_t port);

// True if a datagram from `peer` must not start a child (and is dropped):
// its source is unspecified, broadcast or multicast (BadSource), its port is
// 0, one this hinetd serves (`served`: a service answering another, in an
// endless loop, once one datagram is spoofed) or one of the classic small
// services (the same loop with another host's echo or chargen); and for an
// internal service (`internal`), any privileged port (< 1024), as OpenBSD's
// inetd refuses for its built-in UDP services: no client sends from one,
// every server that answers anything does.
[[nodiscard]] bool ReflectionRisk(const net::Endpoint& peer, const PortSet& served, bool internal);

}  // namespace hinetd::supervisor
