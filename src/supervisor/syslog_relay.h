// The per-service syslog relay (`syslog = true`). Programs written for
// inetd log through syslog(3) (git daemon --inetd, in.tftpd, in.fingerd),
// which sends datagrams to /dev/log; in a jail there is none, and they fail
// in silence. For each chroot with such a service the monitor binds a
// SOCK_DGRAM unix socket at CHROOT/dev/log (mode 0666, owned by root; at
// start and at each reload, a stale socket file replaced) and logs what
// arrives as hinetd's own lines:
//   event=syslog service=S pid=P facility=F severity=S tag=T msg="..."
// The pid is the sender's real one, from SCM_CREDENTIALS (SO_PASSCRED; the
// kernel fills it in, and a process without CAP_SYS_ADMIN cannot forge it),
// never the "[PID]" of the text; a sender that is not a process of a
// service using that socket (a child or a descendant of one, as the
// process events tell) is dropped and counted, as the socket file is also
// reachable from the host. Every message is hostile: at most kMaxMessage
// bytes are logged (the rest is cut, truncated=true), every value escaped
// like all of hinetd's log, kBurst per service and then kBurst per kPeriod;
// the others are counted and reported as event=syslog-suppressed (per
// service) and event=syslog-dropped (unknown senders), at most once per
// kReportInterval.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "config/types.h"
#include "supervisor/limits.h"

namespace hinetd::supervisor {

// An RFC 3164 message as syslog(3) writes it: "<PRI>Mmm dd hh:mm:ss
// TAG[PID]: MSG". Anything missing is empty (priority -1); what does not
// parse is all message.
struct SyslogMessage {
  int priority = -1;  // facility * 8 + severity
  std::string_view tag;
  std::string_view text;
};
[[nodiscard]] SyslogMessage ParseSyslogMessage(std::string_view datagram);
// "daemon", "local0"...; "err", "warning"...; the number where unnamed.
[[nodiscard]] std::string SyslogFacilityName(int priority);
[[nodiscard]] std::string SyslogSeverityName(int priority);

class SyslogRelay {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxMessage = 1024;
  static constexpr uint32_t kBurst = 100;
  static constexpr std::chrono::seconds kPeriod{10};
  static constexpr std::chrono::seconds kReportInterval{5};

  explicit SyslogRelay(base::Logger& log) : log_(log) {}

  // Makes the sockets those of `config`: binds the new chroots' (a stale
  // socket file there is replaced; anything else is an error), keeps those
  // still used, closes and unlinks the others. `watch`/`unwatch` add a new
  // descriptor to the event loop and take an old one out. On an error
  // nothing changes.
  [[nodiscard]] base::Status Sync(const config::Config& config,
                                  const std::function<void(int)>& watch,
                                  const std::function<void(int)>& unwatch);
  // Closes and unlinks every socket (at stop).
  void Close(const std::function<void(int)>& unwatch);

  // The service of a sender's pid, if it is a process of one.
  using Sender = std::function<std::optional<std::string>(pid_t)>;
  // Reads up to `max` messages from the socket `fd` and logs them.
  void Read(int fd, int max, const Sender& sender, Clock::time_point now);
  // One message as received (public for tests).
  void Take(size_t socket, std::string_view datagram, bool truncated, pid_t pid,
            const Sender& sender, Clock::time_point now);

  // Logs the counts not reported yet, once kReportInterval has passed.
  void ReportDrops(Clock::time_point now);
  [[nodiscard]] Clock::time_point next_report() const;
  [[nodiscard]] bool owns(int fd) const;

  // Tests: a socket for `services` on `fd` (already bound).
  void AddForTest(base::UniqueFd fd, std::vector<std::string> services);

 private:
  struct Socket {
    std::string path;  // CHROOT/dev/log
    base::UniqueFd fd;
    std::vector<std::string> services;
  };
  struct PerService {
    RateLimiter rate;
    uint64_t suppressed = 0;
    Clock::time_point last_report{};
  };
  PerService& For(const std::string& service, Clock::time_point now);

  base::Logger& log_;
  std::vector<Socket> sockets_;
  std::map<std::string, PerService> services_;
  uint64_t unknown_senders_ = 0;
  Clock::time_point unknown_reported_{};
  Clock::time_point next_report_ = Clock::time_point::max();
};

}  // namespace hinetd::supervisor
