#include "supervisor/kmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <charconv>

namespace hinetd::supervisor {

namespace {

constexpr size_t kMaxRecords = 256;

// The value after " key=" up to the next space.
std::optional<std::string_view> Field(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while ((pos = text.find(key, pos)) != std::string_view::npos) {
    if (pos > 0 && text[pos - 1] == ' ' && pos + key.size() < text.size() &&
        text[pos + key.size()] == '=') {
      size_t start = pos + key.size() + 1;
      size_t end = text.find(' ', start);
      return text.substr(start, end == std::string_view::npos ? text.size() - start : end - start);
    }
    pos += key.size();
  }
  return std::nullopt;
}

template <typename T>
bool ToNumber(std::string_view s, T& out, int base = 10) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::optional<SeccompRecord> ParseSeccompRecord(std::string_view record) {
  // The message follows the first ';' of a /dev/kmsg record.
  size_t semi = record.find(';');
  std::string_view msg = semi == std::string_view::npos ? record : record.substr(semi + 1);
  if (auto nl = msg.find('\n'); nl != std::string_view::npos) msg = msg.substr(0, nl);
  if (msg.find("type=1326") == std::string_view::npos) return std::nullopt;
  return ParseSeccompAudit(msg);
}

std::optional<SeccompRecord> ParseSeccompAudit(std::string_view msg) {
  if (auto nl = msg.find('\n'); nl != std::string_view::npos) msg = msg.substr(0, nl);
  if (auto nul = msg.find('\0'); nul != std::string_view::npos) msg = msg.substr(0, nul);
  uint64_t serial = 0;
  if (size_t a = msg.find("audit("); a != std::string_view::npos) {
    size_t colon = msg.find(':', a);
    size_t close = msg.find(')', a);
    if (colon != std::string_view::npos && close != std::string_view::npos && colon < close &&
        !ToNumber(msg.substr(colon + 1, close - colon - 1), serial)) {
      serial = 0;
    }
  }
  auto pid = Field(msg, "pid");
  auto arch = Field(msg, "arch");
  auto nr = Field(msg, "syscall");
  if (!pid || !arch || !nr) return std::nullopt;
  SeccompRecord r;
  // A record names a process and a syscall: "pid=0" or "syscall=-1" is not
  // one (found by fuzz/fuzz_kmsg.cc).
  if (!ToNumber(*pid, r.pid) || !ToNumber(*arch, r.arch, 16) || !ToNumber(*nr, r.syscall) ||
      r.pid <= 0 || r.syscall < 0) {
    return std::nullopt;
  }
  r.serial = serial;
  if (auto uid = Field(msg, "uid"); uid && !ToNumber(*uid, r.uid)) r.uid = -1;
  if (auto code = Field(msg, "code")) {
    std::string_view c = *code;
    if (c.starts_with("0x")) c.remove_prefix(2);
    uint32_t v = 0;
    if (ToNumber(c, v, 16)) r.code = v;
  }
  if (auto comm = Field(msg, "comm")) {
    std::string_view c = *comm;
    if (c.size() >= 2 && c.front() == '"' && c.back() == '"') c = c.substr(1, c.size() - 2);
    r.comm = std::string(c.substr(0, 64));
  }
  return r;
}

void SeccompLog::Open() {
  fd_.reset(open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd_) lseek(fd_.get(), 0, SEEK_END);
  audit_.reset(socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_AUDIT));
  if (audit_) {
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = 1U << (AUDIT_NLGRP_READLOG - 1);
    if (bind(audit_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) audit_.reset();
  }
}

void SeccompLog::Add(const SeccompRecord& r, Drained& drained) {
  if (r.killed()) drained.killed.push_back(r.pid);
  if (r.serial != 0) {
    if (std::find(serials_.begin(), serials_.end(), r.serial) != serials_.end()) return;
    serials_.push_back(r.serial);
    if (serials_.size() > 2 * kMaxRecords) serials_.pop_front();
  }
  recent_.push_back(r);
  if (recent_.size() > kMaxRecords) recent_.pop_front();
}

SeccompLog::Drained SeccompLog::DrainAudit() {
  Drained drained;
  if (!audit_) return drained;
  alignas(nlmsghdr) char buf[16384];
  for (int i = 0; i < 1024; ++i) {
    ssize_t n = recv(audit_.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR || errno == ENOBUFS) continue;  // ENOBUFS: some were lost
      return drained;                                    // EAGAIN: nothing more
    }
    if (n == 0) return drained;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      ++drained.messages;
      ++audit_read_;
      if (h->nlmsg_type != AUDIT_SECCOMP) continue;
      std::string_view body(static_cast<const char*>(NLMSG_DATA(h)),
                            h->nlmsg_len - NLMSG_HDRLEN);
      if (auto r = ParseSeccompAudit(body)) Add(*r, drained);
    }
  }
  return drained;
}

SeccompLog::Drained SeccompLog::DrainKmsg() {
  Drained drained;
  if (!fd_) return drained;
  char buf[8192];
  for (int i = 0; i < 1024; ++i) {
    ssize_t n = read(fd_.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EPIPE) continue;  // EPIPE: records overwritten
      return drained;                                  // EAGAIN: nothing more
    }
    if (n == 0) return drained;
    ++drained.messages;
    ++kmsg_read_;
    if (auto r = ParseSeccompRecord(std::string_view(buf, static_cast<size_t>(n)))) {
      Add(*r, drained);
    }
  }
  return drained;
}

void SeccompLog::Drain() {
  DrainAudit();
  DrainKmsg();
}

std::optional<SeccompRecord> SeccompLog::Take(pid_t pid) {
  for (auto it = recent_.begin(); it != recent_.end(); ++it) {
    if (it->pid == pid) {
      SeccompRecord r = *it;
      recent_.erase(it);
      return r;
    }
  }
  return std::nullopt;
}

}  // namespace hinetd::supervisor

namespace hinetd::supervisor {

bool SeccompRecord::killed() const {
  if (!code) return true;
  uint32_t action = *code & SECCOMP_RET_ACTION_FULL;
  return action == SECCOMP_RET_KILL_PROCESS || action == SECCOMP_RET_KILL_THREAD;
}

std::vector<SeccompRecord> SeccompLog::TakeUnclaimed(const std::function<bool(pid_t)>& claimed) {
  std::vector<SeccompRecord> out;
  for (auto it = recent_.begin(); it != recent_.end();) {
    if (claimed(it->pid)) {
      ++it;
    } else {
      out.push_back(std::move(*it));
      it = recent_.erase(it);
    }
  }
  return out;
}

}  // namespace hinetd::supervisor
