// hinetd-loadclient: a closed-loop TCP connection-rate benchmark.
//
// C worker threads each run connect / optional send / read-to-EOF / close in
// a loop, so exactly C connections are in flight at any time. That is the
// workload of an inetd-style server: every connection costs a fork+exec, so
// the interesting numbers are connections per second and per-connection
// latency, not bytes per second.
//
// Every socket is non-blocking and every wait goes through poll() against a
// per-connection deadline, so no loop can hang: a stuck server shows up as
// "timeout" errors, never as a stuck benchmark.
//
// The soak benchmark (bench/soak.sh) also uses it for clients that misbehave
// or talk another way: --unix PATH (a stream socket file), --udp (one
// datagram out, one back), --garbage N (N random bytes instead of a
// request), --reset (close with RST mid-request), --pair (two connections
// from one fresh source address, the second of which a per_source = 1
// service refuses), and --interval MS to bound the load.
//
// The UDP benchmark (bench/udp.sh) uses --udp with --udp-tries and
// --udp-wait: each request is a fresh socket (so a new source port, a new
// peer for the server), sends its datagram again when no answer came
// within the wait, and after the last try counts as lost ("timeout"); the
// report adds the datagrams sent and the requests answered only after a
// retry.

#include <arpa/inet.h>
#include <sys/un.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr int kExitOk = 0;
constexpr int kExitNothingSucceeded = 1;
constexpr int kExitUsage = 2;

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  int concurrency = 1;
  double duration_s = 5;
  long long count = 0;  // > 0 selects "count" mode instead of "duration".
  std::optional<std::string> send;
  std::optional<std::string> expect;
  double warmup_s = 1;
  double timeout_s = 5;
  bool json = false;
  std::string label;
  std::string unix_path;  // Non-empty: connect to this socket file instead.
  bool udp = false;
  int udp_tries = 1;    // --udp: datagrams sent per request at most.
  int udp_wait_ms = 0;  // --udp: wait per try; 0: the whole --timeout.
  int garbage = 0;  // > 0: send this many random bytes instead of --send.
  bool reset = false;
  bool close_reset = false;  // --close-reset
  bool pair = false;
  unsigned pair_first = 0;  // --pair: the first source is 127.1.0.1 + this.
  int interval_ms = 0;
};

// How one connection ended. kOk must stay first; the rest are error kinds,
// reported by name so that e.g. ephemeral port exhaustion (addr_not_avail)
// is not confused with a server that refuses or resets connections.
enum class Outcome {
  kOk,
  kConnectRefused,  // ECONNREFUSED: nothing listening / backlog overflow.
  kAddrNotAvail,    // EADDRNOTAVAIL: out of local ephemeral ports.
  kConnectTimeout,  // No SYN-ACK within the per-connection timeout.
  kConnectOther,    // Any other socket()/connect() failure.
  kReset,           // ECONNRESET / EPIPE after the connection was up.
  kTimeout,         // Connected, but no EOF within the timeout.
  kWrongResponse,   // Clean EOF, but the bytes differ from --expect.
  kIoOther,         // Any other send/recv failure.
  kRefused,         // --pair: the second connection closed before a byte.
  kNumOutcomes,
};

constexpr std::array<const char*, static_cast<size_t>(Outcome::kNumOutcomes)>
    kOutcomeNames = {"ok",
                     "connect_refused",
                     "addr_not_avail",
                     "connect_timeout",
                     "connect_other",
                     "reset",
                     "timeout",
                     "wrong_response",
                     "io_other",
                     "refused"};

constexpr size_t Index(Outcome o) { return static_cast<size_t>(o); }

bool IsConnectFailure(Outcome o) {
  return o == Outcome::kConnectRefused || o == Outcome::kAddrNotAvail ||
         o == Outcome::kConnectOther;
}

// ---------------------------------------------------------------------------
// Command line.

void PrintUsage(FILE* out) {
  std::fputs(
      "usage: hinetd-loadclient --port N [options]\n"
      "  --host ADDR         server address (default 127.0.0.1)\n"
      "  --port N            server port (required)\n"
      "  --concurrency C     connections in flight (default 1)\n"
      "  --duration SECONDS  measured run time (default 5)\n"
      "  --count N           measure exactly N connections instead\n"
      "  --send STRING       write STRING after connect, then shut down "
      "writing\n"
      "  --expect STRING     response must equal STRING, else an error\n"
      "  --warmup SECONDS    unmeasured run time first (default 1)\n"
      "  --timeout SECONDS   per-connection timeout (default 5)\n"
      "  --json              machine-readable output\n"
      "  --label NAME        name printed with the results\n"
      "  --unix PATH         connect to a unix stream socket (no --port)\n"
      "  --udp               one datagram (--send) out, one (--expect) back\n"
      "  --udp-tries N       --udp: send it at most N times (default 1)\n"
      "  --udp-wait MS       --udp: wait MS for an answer before sending "
      "again (default: the whole --timeout)\n"
      "  --garbage N         send N random bytes (no newline), then shut "
      "down writing\n"
      "  --reset             after the reply's first line, send part of a "
      "request and close with RST (every other connection: right after "
      "connect)\n"
      "  --close-reset       once the reply ended (EOF), close with RST: "
      "no TIME_WAIT on either side, whose expiry would land, a minute "
      "later, on whatever runs then\n"
      "  --pair              two connections from a fresh 127.1.x.y: the "
      "first holds its child, the second is refused (outcome \"refused\") or "
      "served\n"
      "  --pair-first N      --pair's first source is address N+1 of "
      "127.1.0.0/16 (default 0), so that runs in a row use other ones\n"
      "  --interval MS       pause between a worker's connections\n"
      "STRINGs understand \\n \\r \\t \\\\ \\0 and \\xHH escapes.\n",
      out);
}

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "hinetd-loadclient: %s\n", message.c_str());
  PrintUsage(stderr);
  std::exit(kExitUsage);
}

template <typename T>
T ParseNumber(std::string_view flag, std::string_view text, T min) {
  T value{};
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min) {
    UsageError("bad value for " + std::string(flag) + ": '" +
               std::string(text) + "'");
  }
  return value;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Shell quoting makes newlines awkward to pass, and most line protocols end
// in one, so --send/--expect accept the usual C escapes.
std::string Unescape(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\' || i + 1 == in.size()) {
      out += in[i];
      continue;
    }
    char c = in[++i];
    switch (c) {
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case '0':
        out += '\0';
        break;
      case 'x':
        if (i + 2 < in.size() && HexDigit(in[i + 1]) >= 0 &&
            HexDigit(in[i + 2]) >= 0) {
          out +=
              static_cast<char>(HexDigit(in[i + 1]) * 16 + HexDigit(in[i + 2]));
          i += 2;
          break;
        }
        [[fallthrough]];
      default:
        out += '\\';
        out += c;
        break;
    }
  }
  return out;
}

// Accepts both "--flag value" and "--flag=value".
Options ParseArgs(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view flag = arg;
    std::optional<std::string_view> inline_value;
    if (size_t eq = arg.find('='); arg.starts_with("--") && eq != arg.npos) {
      flag = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    auto value = [&]() -> std::string_view {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) UsageError("missing value for " + std::string(flag));
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      PrintUsage(stdout);
      std::exit(kExitOk);
    } else if (flag == "--json") {
      opt.json = true;
    } else if (flag == "--host") {
      opt.host = value();
    } else if (flag == "--port") {
      int port = ParseNumber<int>(flag, value(), 1);
      if (port > 65535) UsageError("--port out of range");
      opt.port = std::to_string(port);
    } else if (flag == "--concurrency") {
      opt.concurrency = ParseNumber<int>(flag, value(), 1);
    } else if (flag == "--duration") {
      opt.duration_s = ParseNumber<double>(flag, value(), 0.001);
    } else if (flag == "--count") {
      opt.count = ParseNumber<long long>(flag, value(), 1);
    } else if (flag == "--send") {
      opt.send = Unescape(value());
    } else if (flag == "--expect") {
      opt.expect = Unescape(value());
    } else if (flag == "--warmup") {
      opt.warmup_s = ParseNumber<double>(flag, value(), 0);
    } else if (flag == "--timeout") {
      opt.timeout_s = ParseNumber<double>(flag, value(), 0.001);
    } else if (flag == "--label") {
      opt.label = value();
    } else if (flag == "--unix") {
      opt.unix_path = value();
    } else if (flag == "--udp") {
      opt.udp = true;
    } else if (flag == "--udp-tries") {
      opt.udp_tries = ParseNumber<int>(flag, value(), 1);
    } else if (flag == "--udp-wait") {
      opt.udp_wait_ms = ParseNumber<int>(flag, value(), 1);
    } else if (flag == "--garbage") {
      opt.garbage = ParseNumber<int>(flag, value(), 1);
      if (opt.garbage > 1024) UsageError("--garbage at most 1024");
    } else if (flag == "--reset") {
      opt.reset = true;
    } else if (flag == "--close-reset") {
      opt.close_reset = true;
    } else if (flag == "--pair") {
      opt.pair = true;
    } else if (flag == "--pair-first") {
      opt.pair_first = ParseNumber<unsigned>(flag, value(), 0);
    } else if (flag == "--interval") {
      opt.interval_ms = ParseNumber<int>(flag, value(), 0);
    } else {
      UsageError("unknown option '" + std::string(arg) + "'");
    }
  }
  if (opt.port.empty() && opt.unix_path.empty()) {
    UsageError("--port or --unix is required");
  }
  if (opt.unix_path.size() >= sizeof(sockaddr_un::sun_path)) {
    UsageError("--unix path too long");
  }
  return opt;
}

// ---------------------------------------------------------------------------
// One connection.

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
};

// Resolved once, up front, so name lookups never land inside the timed loop.
Target Resolve(const Options& opt) {
  if (!opt.unix_path.empty()) {
    Target t;
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, opt.unix_path.data(), opt.unix_path.size());
    std::memcpy(&t.addr, &un, sizeof un);
    t.len = sizeof un;
    t.family = AF_UNIX;
    return t;
  }
  addrinfo hints{};
  hints.ai_socktype = opt.udp ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(opt.host.c_str(), opt.port.c_str(), &hints, &res);
  if (rc != 0) {
    UsageError("cannot resolve '" + opt.host + "': " + gai_strerror(rc));
  }
  Target t;
  std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
  t.len = res->ai_addrlen;
  t.family = res->ai_family;
  freeaddrinfo(res);
  return t;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits until `fd` reports one of `events` or `deadline` passes. Returns
// false on timeout. Errors and hangups count as "ready": the following
// syscall reports them with a proper errno.
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // Let the syscall report it.
  }
}

struct Result {
  Outcome outcome = Outcome::kOk;
  int err = 0;   // errno behind an "other" outcome, for diagnostics.
  int sent = 0;  // --udp: datagrams sent (tries).
};

Result ConnectError(int err) {
  switch (err) {
    case ECONNREFUSED:
      return {Outcome::kConnectRefused, err};
    case EADDRNOTAVAIL:
      return {Outcome::kAddrNotAvail, err};
    case ETIMEDOUT:
      return {Outcome::kConnectTimeout, err};
    default:
      return {Outcome::kConnectOther, err};
  }
}

Result IoError(int err) {
  // ENOTCONN: shutdown() on a connection the peer has already reset.
  if (err == ECONNRESET || err == EPIPE || err == ENOTCONN) {
    return {Outcome::kReset, err};
  }
  if (err == ETIMEDOUT) return {Outcome::kTimeout, err};
  return {Outcome::kIoOther, err};
}

Result Connect(int fd, const Target& target, Clock::time_point deadline) {
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target.addr),
              target.len) == 0) {
    return {};
  }
  if (errno != EINPROGRESS) return ConnectError(errno);
  if (!WaitFor(fd, POLLOUT, deadline)) return {Outcome::kConnectTimeout, 0};
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  return err == 0 ? Result{} : ConnectError(err);
}

Result SendAll(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!WaitFor(fd, POLLOUT, deadline)) return {Outcome::kTimeout, 0};
    } else {
      return IoError(errno);
    }
  }
  // Tell the service the request is complete, as `tcpclient`-style clients
  // do; services that read to EOF would otherwise wait for the timeout.
  if (shutdown(fd, SHUT_WR) != 0) return IoError(errno);
  return {};
}

// Reads until EOF. Keeps at most `keep` bytes in `response`: enough to tell
// a match from a mismatch without buffering an arbitrarily large reply.
Result ReadToEof(int fd, size_t keep, std::string& response,
                 Clock::time_point deadline) {
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) return {};
    if (n > 0) {
      size_t room = keep - std::min(keep, response.size());
      response.append(buf, std::min(room, static_cast<size_t>(n)));
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!WaitFor(fd, POLLIN, deadline)) return {Outcome::kTimeout, 0};
    } else {
      return IoError(errno);
    }
  }
}

// Reads until `response` holds `want` bytes or EOF, never more than that,
// so the rest stays queued for the next read.
Result ReadUntil(int fd, size_t want, std::string& response,
                 Clock::time_point deadline) {
  char buf[256];
  while (response.size() < want) {
    size_t room = std::min(sizeof buf, want - response.size());
    ssize_t n = recv(fd, buf, room, 0);
    if (n == 0) return {};
    if (n > 0) {
      response.append(buf, static_cast<size_t>(n));
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!WaitFor(fd, POLLIN, deadline)) return {Outcome::kTimeout, 0};
    } else {
      return IoError(errno);
    }
  }
  return {};
}

// N random bytes that are no request: no newline, and not starting with the
// 'r' of "req ".
std::string Garbage(int n) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::string out;
  std::uniform_int_distribution<int> byte(0, 255);
  while (static_cast<int>(out.size()) < n) {
    int c = byte(rng);
    if (c == '\n' || (out.empty() && c == 'r')) continue;
    out += static_cast<char>(c);
  }
  return out;
}

Fd StreamSocket(const Target& target) {
  return Fd(socket(target.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   0));
}

// Closes with RST: SO_LINGER {1, 0} drops what is unsent.
void CloseWithReset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

// --reset: every other connection is reset right after connect (before its
// child can start), the others after the first line of the reply (while the
// child reads its request). Either is "ok" once the reset is sent.
Result RunReset(const Target& target, Clock::time_point deadline,
                std::string& response) {
  thread_local unsigned long long n = 0;
  Fd fd = StreamSocket(target);
  if (fd.get() < 0) return {Outcome::kConnectOther, errno};
  if (Result r = Connect(fd.get(), target, deadline); r.outcome != Outcome::kOk)
    return r;
  if (n++ % 2 == 0) {
    CloseWithReset(fd.get());
    return {};
  }
  response.clear();
  if (Result r = ReadUntil(fd.get(), 6, response, deadline);
      r.outcome != Outcome::kOk)
    return r;
  if (response != "ready\n") return {Outcome::kWrongResponse};
  static constexpr std::string_view kPart = "req never fin";
  if (send(fd.get(), kPart.data(), kPart.size(), MSG_NOSIGNAL) < 0) {
    return IoError(errno);
  }
  CloseWithReset(fd.get());
  return {};
}

// --udp: one datagram out, one back, from a fresh socket (a new source
// port: a new peer). Without an answer within --udp-wait the same datagram
// goes out again from the same socket, at most --udp-tries times in all;
// then the request is lost ("timeout"). The latency runs from the first
// send to the answer.
Result RunUdp(const Target& target, const Options& opt,
              Clock::time_point deadline, std::string& response) {
  Fd fd(socket(target.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return {Outcome::kConnectOther, errno};
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&target.addr),
              target.len) != 0) {
    return ConnectError(errno);
  }
  std::string payload = opt.send.value_or("");
  auto per_try = std::chrono::milliseconds(opt.udp_wait_ms);
  int sent = 0;
  char buf[4096];
  while (sent < opt.udp_tries) {
    if (send(fd.get(), payload.data(), payload.size(), 0) < 0) {
      Result r = IoError(errno);
      r.sent = sent;
      return r;
    }
    ++sent;
    Clock::time_point try_deadline =
        opt.udp_wait_ms > 0 ? std::min(deadline, Clock::now() + per_try)
                            : deadline;
    for (;;) {
      ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
      if (n >= 0) {
        response.assign(buf, static_cast<size_t>(n));
        if (opt.expect && response != *opt.expect) {
          return {Outcome::kWrongResponse, 0, sent};
        }
        return {Outcome::kOk, 0, sent};
      }
      if (errno == EAGAIN || errno == EINTR) {
        if (WaitFor(fd.get(), POLLIN, try_deadline)) continue;
        break;  // no answer in time: send again, if tries are left
      }
      // ECONNREFUSED: an ICMP port unreachable, nothing bound.
      Result r = errno == ECONNREFUSED ? Result{Outcome::kConnectRefused, errno}
                                       : IoError(errno);
      r.sent = sent;
      return r;
    }
    if (Clock::now() >= deadline) break;
  }
  return {Outcome::kTimeout, 0, sent};
}

// A stream connection from `source` (127.1.x.y, port chosen by the kernel).
Result ConnectFrom(Fd& fd, const Target& target, const sockaddr_in& source,
                   Clock::time_point deadline) {
  if (fd.get() < 0) return {Outcome::kConnectOther, errno};
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&source),
           sizeof source) != 0) {
    return ConnectError(errno);
  }
  return Connect(fd.get(), target, deadline);
}

// Sends the request, shuts down writing, reads to EOF (the caller compares:
// the reply's first line was read before).
Result Finish(int fd, const Options& opt, std::string& response,
              Clock::time_point deadline) {
  if (Result r = SendAll(fd, opt.send.value_or(""), deadline);
      r.outcome != Outcome::kOk)
    return r;
  size_t keep = opt.expect ? opt.expect->size() + 1 : 0;
  return ReadToEof(fd, keep, response, deadline);
}

// --pair: connection A from a fresh source address until its child said
// "ready"; then B from the same address, which a per_source = 1 service
// refuses (closed before a byte: kRefused) or, if it was admitted, serves;
// then A finishes. Returns A's result and stores B's in `second`. Each
// address is used once every 65023 pairs, so the listener's "once per
// source a minute" rejection line is logged for every refusal.
Result RunPair(const Target& target, const Options& opt,
               Clock::time_point deadline, std::string& response,
               Result& second) {
  static std::atomic<unsigned> next{0};
  unsigned n = (opt.pair_first + next.fetch_add(1)) % 65023 + 1;  // 127.1.0.1 ..
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | n);
  second = {Outcome::kNumOutcomes, 0};  // Not tried (yet).
  Fd a = StreamSocket(target);
  if (Result r = ConnectFrom(a, target, source, deadline);
      r.outcome != Outcome::kOk)
    return r;
  response.clear();
  if (Result r = ReadUntil(a.get(), 6, response, deadline);
      r.outcome != Outcome::kOk)
    return r;
  if (response != "ready\n") return {Outcome::kWrongResponse};
  {
    Fd b = StreamSocket(target);
    second = ConnectFrom(b, target, source, deadline);
    std::string first;
    if (second.outcome == Outcome::kOk) {
      second = ReadUntil(b.get(), 6, first, deadline);
    }
    if (first.empty() && (second.outcome == Outcome::kOk ||
                          second.outcome == Outcome::kReset)) {
      second = {Outcome::kRefused};
    } else if (second.outcome == Outcome::kOk) {
      if (first != "ready\n") {
        second = {Outcome::kWrongResponse};
      } else {
        std::string rest;
        second = Finish(b.get(), opt, rest, deadline);
        if (second.outcome == Outcome::kOk && opt.expect &&
            "ready\n" + rest != *opt.expect) {
          second = {Outcome::kWrongResponse};
        }
      }
    }
  }
  std::string rest;
  Result r = Finish(a.get(), opt, rest, deadline);
  response += rest;
  if (r.outcome == Outcome::kOk && opt.expect && response != *opt.expect) {
    return {Outcome::kWrongResponse};
  }
  return r;
}

Result RunConnection(const Target& target, const Options& opt,
                     Clock::time_point deadline, std::string& response) {
  if (opt.udp) return RunUdp(target, opt, deadline, response);
  if (opt.reset) return RunReset(target, deadline, response);
  Fd fd = StreamSocket(target);
  if (fd.get() < 0) return {Outcome::kConnectOther, errno};
  if (Result r = Connect(fd.get(), target, deadline); r.outcome != Outcome::kOk)
    return r;
  if (opt.garbage > 0) {
    if (Result r = SendAll(fd.get(), Garbage(opt.garbage), deadline);
        r.outcome != Outcome::kOk)
      return r;
  } else if (opt.send) {
    if (Result r = SendAll(fd.get(), *opt.send, deadline);
        r.outcome != Outcome::kOk)
      return r;
  }
  response.clear();
  size_t keep = opt.expect ? opt.expect->size() + 1 : 0;
  if (Result r = ReadToEof(fd.get(), keep, response, deadline);
      r.outcome != Outcome::kOk)
    return r;
  // The server closed first (its TIME_WAIT would be the server's): an RST
  // in answer to its FIN ends both sides at once.
  if (opt.close_reset) CloseWithReset(fd.get());
  if (opt.expect && response != *opt.expect) return {Outcome::kWrongResponse};
  return {};
}

// ---------------------------------------------------------------------------
// Workers.

struct Schedule {
  Clock::time_point measure_start;  // Connections started earlier: warmup.
  Clock::time_point measure_end;    // Duration mode: start no more after.
  bool count_mode = false;
  std::atomic<long long> remaining{0};  // Count mode: connections left.
};

struct Stats {
  std::vector<int64_t> latencies_us;  // Successful connections only.
  std::array<long long, Index(Outcome::kNumOutcomes)> outcomes{};
  int last_errno = 0;  // Most recent errno behind an error, if any.
  long long datagrams_sent = 0;  // --udp: every try.
  long long retried_ok = 0;      // --udp: answered, but not at the first try.

  void Merge(const Stats& other) {
    latencies_us.insert(latencies_us.end(), other.latencies_us.begin(),
                        other.latencies_us.end());
    for (size_t i = 0; i < outcomes.size(); ++i) {
      outcomes[i] += other.outcomes[i];
    }
    if (other.last_errno != 0) last_errno = other.last_errno;
    datagrams_sent += other.datagrams_sent;
    retried_ok += other.retried_ok;
  }
};

// Decides whether a connection starting at `now` runs, and whether it is
// measured. Returns false when this worker is done.
bool NextConnection(Schedule& schedule, Clock::time_point now, bool& measured) {
  measured = now >= schedule.measure_start;
  if (!measured) return true;
  if (schedule.count_mode) return schedule.remaining.fetch_sub(1) > 0;
  return now < schedule.measure_end;
}

void Record(const Result& r, Clock::time_point start, Stats& stats) {
  stats.outcomes[Index(r.outcome)]++;
  stats.datagrams_sent += r.sent;
  if (r.outcome == Outcome::kOk && r.sent > 1) stats.retried_ok++;
  if (r.outcome == Outcome::kOk) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
        Clock::now() - start);
    stats.latencies_us.push_back(us.count());
  } else if (r.err != 0) {
    stats.last_errno = r.err;
  }
}

void Worker(const Target& target, const Options& opt, Schedule& schedule,
            Stats& stats) {
  auto timeout =
      std::chrono::duration_cast<Clock::duration>(Seconds(opt.timeout_s));
  std::string response;
  bool measured = false;
  for (;;) {
    Clock::time_point start = Clock::now();
    if (!NextConnection(schedule, start, measured)) return;
    Result r;
    if (opt.pair) {
      Result second;
      r = RunPair(target, opt, start + timeout, response, second);
      if (measured && second.outcome != Outcome::kNumOutcomes) {
        Record(second, start, stats);
      }
    } else {
      r = RunConnection(target, opt, start + timeout, response);
    }
    if (measured) Record(r, start, stats);
    if (opt.interval_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(opt.interval_ms));
    }
    // A refused or port-starved connect fails in microseconds; retrying at
    // once would spin the CPU the server needs and flood the error counts.
    if (IsConnectFailure(r.outcome)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

// ---------------------------------------------------------------------------
// Report.

struct Report {
  Stats stats;
  double elapsed_s = 0;
  long long ok = 0;
  long long errors = 0;
  double conn_per_s = 0;
  int64_t p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// Nearest-rank percentile of a sorted vector.
int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

Report Summarize(Stats stats, double elapsed_s) {
  Report r;
  std::sort(stats.latencies_us.begin(), stats.latencies_us.end());
  r.elapsed_s = elapsed_s;
  r.ok = stats.outcomes[Index(Outcome::kOk)];
  for (size_t i = 1; i < stats.outcomes.size(); ++i) {
    if (i != Index(Outcome::kRefused)) r.errors += stats.outcomes[i];
  }
  r.conn_per_s = elapsed_s > 0 ? r.ok / elapsed_s : 0;
  r.p50 = Percentile(stats.latencies_us, 50);
  r.p90 = Percentile(stats.latencies_us, 90);
  r.p99 = Percentile(stats.latencies_us, 99);
  r.max = stats.latencies_us.empty() ? 0 : stats.latencies_us.back();
  r.stats = std::move(stats);
  return r;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// One key per line, so shell scripts can pick fields without a JSON parser.
void PrintJson(const Options& opt, const Report& r) {
  std::printf("{\n");
  std::printf("  \"label\": %s,\n", JsonString(opt.label).c_str());
  std::printf("  \"host\": %s,\n", JsonString(opt.host).c_str());
  std::printf("  \"port\": %s,\n",
              opt.port.empty() ? "null" : opt.port.c_str());
  std::printf("  \"concurrency\": %d,\n", opt.concurrency);
  std::printf("  \"elapsed_s\": %.3f,\n", r.elapsed_s);
  std::printf("  \"connections_ok\": %lld,\n", r.ok);
  std::printf("  \"errors_total\": %lld,\n", r.errors);
  std::printf("  \"conn_per_s\": %.1f,\n", r.conn_per_s);
  std::printf("  \"latency_p50_us\": %lld,\n", static_cast<long long>(r.p50));
  std::printf("  \"latency_p90_us\": %lld,\n", static_cast<long long>(r.p90));
  std::printf("  \"latency_p99_us\": %lld,\n", static_cast<long long>(r.p99));
  std::printf("  \"latency_max_us\": %lld,\n", static_cast<long long>(r.max));
  if (opt.udp) {
    // Datagrams that got no answer: every try but the answered ones.
    std::printf("  \"datagrams_sent\": %lld,\n", r.stats.datagrams_sent);
    std::printf("  \"datagrams_unanswered\": %lld,\n",
                r.stats.datagrams_sent - r.ok);
    std::printf("  \"retried_ok\": %lld,\n", r.stats.retried_ok);
  }
  std::printf(
      "  \"last_error\": %s,\n",
      JsonString(r.stats.last_errno ? std::strerror(r.stats.last_errno) : "")
          .c_str());
  std::printf("  \"errors\": {\n");
  for (size_t i = 1; i < r.stats.outcomes.size(); ++i) {
    std::printf("    \"%s\": %lld%s\n", kOutcomeNames[i], r.stats.outcomes[i],
                i + 1 < r.stats.outcomes.size() ? "," : "");
  }
  std::printf("  }\n}\n");
}

void PrintText(const Options& opt, const Report& r) {
  if (!opt.label.empty()) std::printf("%s\n", opt.label.c_str());
  std::printf("  target      %s:%s, concurrency %d, measured %.2f s\n",
              opt.host.c_str(), opt.port.c_str(), opt.concurrency, r.elapsed_s);
  std::printf("  conn/s      %.1f (%lld ok, %lld errors)\n", r.conn_per_s, r.ok,
              r.errors);
  std::printf("  latency us  p50 %lld  p90 %lld  p99 %lld  max %lld\n",
              static_cast<long long>(r.p50), static_cast<long long>(r.p90),
              static_cast<long long>(r.p99), static_cast<long long>(r.max));
  if (opt.udp) {
    std::printf(
        "  datagrams   %lld sent, %lld unanswered; %lld requests answered "
        "only after a retry\n",
        r.stats.datagrams_sent, r.stats.datagrams_sent - r.ok,
        r.stats.retried_ok);
  }
  for (size_t i = 1; i < r.stats.outcomes.size(); ++i) {
    if (r.stats.outcomes[i] == 0) continue;
    std::printf("  error       %s: %lld\n", kOutcomeNames[i],
                r.stats.outcomes[i]);
  }
  if (r.stats.last_errno != 0) {
    std::printf("  last error  %s\n", std::strerror(r.stats.last_errno));
  }
  if (r.stats.outcomes[Index(Outcome::kAddrNotAvail)] > 0) {
    std::printf(
        "  hint        addr_not_avail means local ports ran out: widen "
        "net.ipv4.ip_local_port_range or set net.ipv4.tcp_tw_reuse=1\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = ParseArgs(argc, argv);
  Target target = Resolve(opt);

  Schedule schedule;
  Clock::time_point t0 = Clock::now();
  schedule.measure_start =
      t0 + std::chrono::duration_cast<Clock::duration>(Seconds(opt.warmup_s));
  schedule.measure_end =
      schedule.measure_start +
      std::chrono::duration_cast<Clock::duration>(Seconds(opt.duration_s));
  schedule.count_mode = opt.count > 0;
  schedule.remaining = opt.count;

  std::vector<Stats> per_worker(opt.concurrency);
  std::vector<std::thread> workers;
  for (Stats& stats : per_worker) {
    workers.emplace_back(Worker, std::cref(target), std::cref(opt),
                         std::ref(schedule), std::ref(stats));
  }
  for (std::thread& w : workers) w.join();
  // Includes the tail of connections still in flight at measure_end, so a
  // server that stalls them is charged for it.
  double elapsed = Seconds(Clock::now() - schedule.measure_start).count();

  Stats total;
  for (const Stats& stats : per_worker) total.Merge(stats);
  Report report = Summarize(std::move(total), std::max(elapsed, 0.0));
  if (opt.json) {
    PrintJson(opt, report);
  } else {
    PrintText(opt, report);
  }
  return report.ok > 0 ? kExitOk : kExitNothingSucceeded;
}
