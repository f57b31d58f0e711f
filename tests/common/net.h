// Loopback clients for end-to-end tests. Every call has a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hinetd::testing {

using std::chrono::milliseconds;

// A TCP port that was free on `ip` a moment ago (bound to port 0, closed).
uint16_t FreeTcpPort(const std::string& ip = "127.0.0.1");

// Connected blocking socket, or -1. `ip` may be IPv4 or IPv6 (no brackets).
int ConnectTcp(const std::string& ip, uint16_t port, milliseconds timeout = milliseconds(5000));
// Optionally binds the client to `source_ip` first.
int ConnectTcpFrom(const std::string& source_ip, const std::string& ip, uint16_t port,
                   milliseconds timeout = milliseconds(5000));

bool WriteAll(int fd, const std::string& data);
// Reads until EOF, `max` bytes, or the deadline.
std::string ReadAll(int fd, milliseconds timeout = milliseconds(5000), size_t max = 1 << 20);
// Reads until `max` bytes have come, EOF, or the deadline.
std::string ReadN(int fd, size_t max, milliseconds timeout = milliseconds(5000));

// Connect, send `request` (then shut down writing if `half_close`), read to
// EOF. Returns the response, or "<connect failed>".
std::string Exchange(const std::string& ip, uint16_t port, const std::string& request,
                     bool half_close = true, milliseconds timeout = milliseconds(5000));

// True if `ip` can be bound here (IPv6 may be disabled on a host).
bool HaveLoopback(const std::string& ip);

}  // namespace hinetd::testing
