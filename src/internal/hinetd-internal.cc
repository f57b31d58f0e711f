// hinetd-internal: the five classic inetd internal services (echo, discard,
// chargen, daytime, time) as one tiny static program.
//
// hinetd execs it by file descriptor inside an EMPTY chroot, as an
// unprivileged uid, under a tight seccomp policy. Hence the rules here:
//  - no file is ever opened: no ctime/localtime/strftime/gmtime (glibc's
//    tz code opens /etc/localtime even for gmtime_r), no locale, no stdio;
//  - no exceptions, no iostreams, no heap of our own, so the syscalls are
//    few and fixed. glibc's static startup makes execve(at), brk,
//    arch_prctl, set_tid_address, set_robust_list, rseq, prlimit64,
//    readlink ("/proc/self/exe", ENOENT in the chroot is fine), getrandom
//    and mprotect; this file adds getsockopt, getpeername, recvfrom, sendto, poll,
//    getrandom, write (fd 2, errors only) and exit_group. clock_gettime
//    normally goes through the vDSO, but the vDSO falls back to the real
//    syscall on some clock sources, so a policy should allow it too;
//  - writes use MSG_NOSIGNAL, so a vanished peer ends the program with
//    status 0 rather than a SIGPIPE death.
//
// Usage: hinetd-internal SERVICE, with the socket on fd 0 (read) and fd 1
// (write). Stream sockets (TCP, UNIX) get one session; datagram sockets
// (UDP, connected or the unconnected listening socket) are served until no
// datagram has arrived for kIdleMs.
//
// Exit status: 0 on a normal end (including a peer that reset or went
// away), 64 (EX_USAGE) on bad arguments or when fd 0 is not a usable
// socket, 74 (EX_IOERR) on any other I/O failure (with a line on fd 2).

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 64;    // EX_USAGE from sysexits.h.
constexpr int kExitIoError = 74;  // EX_IOERR from sysexits.h.

constexpr int kIn = 0;
constexpr int kOut = 1;
constexpr int kErr = 2;

// RFC 862-868 UDP servers have no end of session; stop once idle.
constexpr int kIdleMs = 2000;

// Big enough for any UDP datagram, so echo never truncates.
constexpr size_t kBufferBytes = 65536;

// RFC 864 pattern: 72 characters of the 95 printable ASCII characters
// (0x20..0x7E) per line, each line starting one character further on.
constexpr int kFirstPrintable = 0x20;
constexpr int kPrintableCount = 95;
constexpr size_t kLineChars = 72;
constexpr size_t kLineBytes = kLineChars + 2;  // Plus "\r\n".
// After 95 lines the pattern repeats, so one cycle is all we ever need.
constexpr size_t kCycleBytes = kPrintableCount * kLineBytes;
// RFC 864: a UDP reply holds a random number of characters, 0 to 512.
constexpr uint32_t kMaxChargenDatagram = 512;

// RFC 868 counts seconds from 1900-01-01 00:00 UTC, not 1970.
constexpr uint64_t kSeconds1900To1970 = 2208988800u;

enum class Service { kEcho, kDiscard, kChargen, kDaytime, kTime };

// Static storage keeps the stack small and avoids malloc (and its brk/mmap).
char g_buffer[kBufferBytes];
char g_cycle[kCycleBytes];

// Writes "hinetd-internal: WHAT[: DETAIL]\n" to fd 2 in one write, so
// concurrent children never interleave their lines.
void Complain(const char* what, const char* detail = nullptr) {
  char line[256];
  size_t len = 0;
  auto append = [&](const char* s) {
    while (*s != '\0' && len < sizeof(line) - 1) line[len++] = *s++;
  };
  append("hinetd-internal: ");
  append(what);
  if (detail != nullptr) {
    append(": ");
    append(detail);
  }
  line[len++] = '\n';
  // Nothing sensible is left to do if even fd 2 fails.
  ssize_t ignored = write(kErr, line, len);
  (void)ignored;
}

// strerrorname_np is a plain table lookup; strerror would pull in gettext.
const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "unknown errno";
}

// Errors that only say the peer is gone: for these services that is just
// the end of the conversation, not a failure.
bool IsPeerGone(int err) {
  switch (err) {
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
    case ECONNABORTED:
    case ECONNREFUSED:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:
      return true;
    default:
      return false;
  }
}

// Turns the errno of a failed socket call into the exit status.
int EndOnError(const char* call) {
  if (IsPeerGone(errno)) return kExitOk;
  Complain(call, ErrnoName(errno));
  return kExitIoError;
}

// Blocks until fd is ready. Only reached when the socket is non-blocking:
// O_NONBLOCK lives in the open file description, which others may share
// (in "wait" mode it is the daemon's listening socket), so we must not
// clear it.
bool WaitFor(int fd, short events) {
  pollfd pfd = {fd, events, 0};
  for (;;) {
    if (poll(&pfd, 1, -1) >= 0) return true;
    if (errno != EINTR) return false;
  }
}

// One recv that hides EINTR and non-blocking sockets. Returns the byte
// count, 0 at end of stream, or -1 with errno set.
ssize_t ReceiveSome(int fd, void* buf, size_t len) {
  for (;;) {
    ssize_t n = recv(fd, buf, len, 0);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    if (!WaitFor(fd, POLLIN)) return -1;
  }
}

// One send that hides EINTR and non-blocking sockets. Returns the byte
// count or -1 with errno set.
ssize_t SendSome(int fd, const void* buf, size_t len) {
  for (;;) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    if (!WaitFor(fd, POLLOUT)) return -1;
  }
}

// Sends all of buf. Returns false with errno set on failure.
bool SendAll(int fd, const char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = SendSome(fd, buf, len);
    if (n < 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Fills g_cycle with the 95 distinct chargen lines; line i starts with
// printable character i.
void BuildChargenCycle() {
  char* p = g_cycle;
  for (int line = 0; line < kPrintableCount; ++line) {
    for (size_t col = 0; col < kLineChars; ++col) {
      *p++ = static_cast<char>(
          kFirstPrintable + (line + static_cast<int>(col)) % kPrintableCount);
    }
    *p++ = '\r';
    *p++ = '\n';
  }
}

// Seconds since 1970 from the real-time clock. clock_gettime is answered
// by the vDSO, usually without a syscall.
int64_t UnixNow() {
  timespec ts = {0, 0};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec);
}

// Floor division, so times before 1970 still map to the right day.
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

struct CivilDate {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
};

// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
// civil_from_days). Done by hand because gmtime_r would load time zone
// files that do not exist in the empty chroot.
CivilDate DateFromDays(int64_t days) {
  const int64_t z = days + 719468;  // Days since 0000-03-01.
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;  // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;  // March-based month, [0, 11]
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

// Appends the decimal digits of value (which may be negative).
size_t AppendDecimal(char* out, int64_t value) {
  char digits[24];
  size_t n = 0;
  uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value)
                                 : static_cast<uint64_t>(value);
  do {
    digits[n++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  size_t len = 0;
  if (value < 0) out[len++] = '-';
  while (n > 0) out[len++] = digits[--n];
  return len;
}

// Appends value (0..99) as exactly two digits.
size_t AppendTwoDigits(char* out, int value) {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
  return 2;
}

// Writes the RFC 867 line for `now`, formatted exactly like ctime(3) in UTC
// ("%.3s %.3s%3d %.2d:%.2d:%.2d %d") followed by CRLF, for example
// "Sun Nov  2 03:16:00 2026\r\n". out must hold 48 bytes; returns length.
size_t FormatDaytime(int64_t now, char* out) {
  static const char kWeekdays[] = "SunMonTueWedThuFriSat";
  static const char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const int64_t days = FloorDiv(now, 86400);
  const int seconds_of_day = static_cast<int>(FloorMod(now, 86400));
  // 1970-01-01 was a Thursday (weekday 4, counting from Sunday).
  const int weekday = static_cast<int>(FloorMod(days + 4, 7));
  const CivilDate date = DateFromDays(days);

  size_t len = 0;
  memcpy(out + len, kWeekdays + 3 * weekday, 3);
  len += 3;
  out[len++] = ' ';
  memcpy(out + len, kMonths + 3 * (date.month - 1), 3);
  len += 3;
  out[len++] = ' ';  // "%3d" of the day: a space, then two places...
  out[len++] = date.day < 10 ? ' ' : static_cast<char>('0' + date.day / 10);
  out[len++] = static_cast<char>('0' + date.day % 10);  // ...space-padded.
  out[len++] = ' ';
  len += AppendTwoDigits(out + len, seconds_of_day / 3600);
  out[len++] = ':';
  len += AppendTwoDigits(out + len, seconds_of_day / 60 % 60);
  out[len++] = ':';
  len += AppendTwoDigits(out + len, seconds_of_day % 60);
  out[len++] = ' ';
  len += AppendDecimal(out + len, date.year);
  out[len++] = '\r';
  out[len++] = '\n';
  return len;
}

// Writes the RFC 868 reply: seconds since 1900 as 32 bits, big-endian,
// wrapping modulo 2^32 (as the protocol does in 2036). Returns 4.
size_t FormatTime(int64_t now, char* out) {
  const uint32_t t =
      static_cast<uint32_t>(static_cast<uint64_t>(now) + kSeconds1900To1970);
  out[0] = static_cast<char>(t >> 24);
  out[1] = static_cast<char>(t >> 16);
  out[2] = static_cast<char>(t >> 8);
  out[3] = static_cast<char>(t);
  return 4;
}

// Length of one chargen datagram: uniformly random in [0, 512].
size_t RandomChargenLength() {
  uint32_t r = 0;
  ssize_t n;
  do {
    n = getrandom(&r, sizeof(r), 0);
  } while (n < 0 && errno == EINTR);
  // If a policy ever denies getrandom, send one whole line, as BSD does.
  if (n != static_cast<ssize_t>(sizeof(r))) return kLineBytes;
  return r % (kMaxChargenDatagram + 1);
}

// --- Stream services: one conversation on fds 0/1 ---

int StreamEcho() {
  for (;;) {
    ssize_t n = ReceiveSome(kIn, g_buffer, sizeof(g_buffer));
    if (n == 0) return kExitOk;
    if (n < 0) return EndOnError("recv");
    if (!SendAll(kOut, g_buffer, static_cast<size_t>(n))) {
      return EndOnError("send");
    }
  }
}

int StreamDiscard() {
  for (;;) {
    ssize_t n = ReceiveSome(kIn, g_buffer, sizeof(g_buffer));
    if (n == 0) return kExitOk;
    if (n < 0) return EndOnError("recv");
  }
}

// Sends the pattern until the peer goes away (send then fails with EPIPE
// or ECONNRESET). Input is never read, as in BSD inetd: it is discarded
// by the kernel when the socket closes.
int StreamChargen() {
  BuildChargenCycle();
  size_t offset = 0;
  for (;;) {
    ssize_t n = SendSome(kOut, g_cycle + offset, kCycleBytes - offset);
    if (n < 0) return EndOnError("send");
    offset = (offset + static_cast<size_t>(n)) % kCycleBytes;
  }
}

// Sends one reply and ends; exit closes the socket.
int StreamReplyOnce(const char* reply, size_t len) {
  if (!SendAll(kOut, reply, len)) return EndOnError("send");
  return kExitOk;
}

int ServeStream(Service service) {
  char reply[48];
  switch (service) {
    case Service::kEcho:
      return StreamEcho();
    case Service::kDiscard:
      return StreamDiscard();
    case Service::kChargen:
      return StreamChargen();
    case Service::kDaytime:
      return StreamReplyOnce(reply, FormatDaytime(UnixNow(), reply));
    case Service::kTime:
      return StreamReplyOnce(reply, FormatTime(UnixNow(), reply));
  }
  return kExitUsage;
}

// --- Datagram services ---

// Replies to one datagram of `len` bytes in g_buffer that came from `from`.
// The reply leaves through fd 0, the socket the datagram arrived on, so
// its source address is the one the client sent to. A failed reply is
// logged but does not end the server: UDP delivery is best effort.
void ReplyDatagram(Service service, size_t len, const sockaddr* from,
                   socklen_t from_len) {
  char line[48];
  const char* reply = nullptr;
  size_t reply_len = 0;
  switch (service) {
    case Service::kEcho:
      reply = g_buffer;
      reply_len = len;
      break;
    case Service::kDiscard:
      return;
    case Service::kChargen:
      reply = g_cycle;
      reply_len = RandomChargenLength();
      break;
    case Service::kDaytime:
      reply = line;
      reply_len = FormatDaytime(UnixNow(), line);
      break;
    case Service::kTime:
      reply = line;
      reply_len = FormatTime(UnixNow(), line);
      break;
  }
  // An unnamed AF_UNIX sender has no address; a connected socket still
  // knows where to send.
  if (from_len == 0) from = nullptr;
  ssize_t n;
  do {
    n = sendto(kIn, reply, reply_len, MSG_NOSIGNAL | MSG_DONTWAIT, from,
               from_len);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && !IsPeerGone(errno) && errno != EAGAIN && errno != EWOULDBLOCK &&
      errno != ENOBUFS) {
    Complain("sendto", ErrnoName(errno));
  }
}

// True if two IP socket addresses name the same address and port.
bool SameEndpoint(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port &&
           memcmp(&x.sin6_addr, &y.sin6_addr, sizeof(x.sin6_addr)) == 0;
  }
  return false;
}

// Serves datagrams until none arrives for kIdleMs. Works for a socket
// connected to one peer ("nowait") and for the shared listening socket
// ("wait"): recvfrom names the source either way. On a connected socket
// only the peer is answered: datagrams of other peers that were already
// queued when hinetd handed the socket over were never checked against the
// reflection rules (source port 0, the small services' ports, broadcast).
// At the first of them this child ends, leaving it queued: hinetd checks
// it, and hands the socket on to that peer's own child (README, UDP).
int ServeDatagrams(Service service) {
  if (service == Service::kChargen) BuildChargenCycle();
  sockaddr_storage peer;
  socklen_t peer_len = sizeof(peer);
  bool connected =
      getpeername(kIn, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0 &&
      (peer.ss_family == AF_INET || peer.ss_family == AF_INET6);
  for (;;) {
    pollfd pfd = {kIn, POLLIN, 0};
    int ready = poll(&pfd, 1, kIdleMs);
    if (ready == 0) return kExitOk;
    if (ready < 0) {
      if (errno == EINTR) continue;
      return EndOnError("poll");
    }
    sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    if (connected) {
      // Peeked, no byte read: the source of the datagram at the head.
      char none;
      if (recvfrom(kIn, &none, 0, MSG_PEEK | MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from),
                   &from_len) >= 0 &&
          !SameEndpoint(from, peer)) {
        return kExitOk;
      }
      from_len = sizeof(from);
    }
    // MSG_DONTWAIT: never block past the idle timeout, whatever the
    // socket's own O_NONBLOCK flag says.
    ssize_t n = recvfrom(kIn, g_buffer, sizeof(g_buffer), MSG_DONTWAIT,
                         reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      // EAGAIN: spurious wake-up. ECONNREFUSED & co: an ICMP error queued
      // on a connected socket by an earlier reply; it is consumed now.
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ||
          IsPeerGone(errno)) {
        continue;
      }
      return EndOnError("recvfrom");
    }
    if (connected && !SameEndpoint(from, peer)) continue;
    ReplyDatagram(service, static_cast<size_t>(n),
                  reinterpret_cast<const sockaddr*>(&from), from_len);
  }
}

// --- Startup ---

bool ParseService(const char* name, Service* service) {
  static const struct {
    const char* name;
    Service service;
  } kServices[] = {
      {"echo", Service::kEcho},       {"discard", Service::kDiscard},
      {"chargen", Service::kChargen}, {"daytime", Service::kDaytime},
      {"time", Service::kTime},
  };
  for (const auto& entry : kServices) {
    if (strcmp(name, entry.name) == 0) {
      *service = entry.service;
      return true;
    }
  }
  return false;
}

// The socket type of fd 0, or -1 with errno set if it is not a socket.
int SocketType(int fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return -1;
  return type;
}

}  // namespace

int main(int argc, char** argv) {
  Service service = Service::kEcho;
  if (argc != 2 || !ParseService(argv[1], &service)) {
    Complain("usage: hinetd-internal echo|discard|chargen|daytime|time");
    return kExitUsage;
  }
  switch (SocketType(kIn)) {
    case SOCK_STREAM:
      return ServeStream(service);
    case SOCK_DGRAM:
      return ServeDatagrams(service);
    case -1:
      Complain("fd 0 is not a socket", ErrnoName(errno));
      return kExitUsage;
    default:
      Complain("fd 0 is neither a stream nor a datagram socket");
      return kExitUsage;
  }
}
