// Loopback clients for end-to-end tests. Every call has a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
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

// A listening TCP socket on ip:port, bound without SO_REUSEADDR or
// SO_REUSEPORT, so that no other socket can bind the port while it is held;
// or -1.
int ListenTcp(const std::string& ip, uint16_t port);

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

// A UDP free port (bound to port 0, closed).
uint16_t FreeUdpPort(const std::string& ip = "127.0.0.1");

// UDP client socket bound to ip:port (port 0 = any), or -1.
int UdpSocket(const std::string& ip = "127.0.0.1", uint16_t port = 0);
// Local port of a bound socket.
uint16_t LocalPort(int fd);
bool SendTo(int fd, const std::string& ip, uint16_t port, const std::string& data);
// One datagram, or nullopt at the deadline. `from_port` gets its source port.
std::optional<std::string> RecvDatagram(int fd, milliseconds timeout,
                                        uint16_t* from_port = nullptr);

// Connected UNIX stream socket, or -1.
int ConnectUnix(const std::string& path);

}  // namespace hinetd::testing
