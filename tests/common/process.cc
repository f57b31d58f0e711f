#include "common/process.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/test_env.h"

namespace hinetd::testing {

using Clock = std::chrono::steady_clock;

namespace {

// The child gets `pass_fds` as descriptors 3, 4, ... (at most kMaxPassFds).
constexpr size_t kMaxPassFds = 32;
pid_t SpawnWithPipes(const std::vector<std::string>& argv, int* out_fd, int* err_fd,
                     const std::vector<std::string>& extra_env = {},
                     const std::vector<int>& pass_fds = {}) {
  if (pass_fds.size() > kMaxPassFds) return -1;
  // The environment, built before fork: the child of a threaded process may
  // only make async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    bool replaced = false;
    for (const auto& x : extra_env) {
      if (entry.compare(0, x.find('=') + 1, x, 0, x.find('=') + 1) == 0) replaced = true;
    }
    if (!replaced) env_strings.push_back(std::move(entry));
  }
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int out[2] = {-1, -1};
  int err[2];
  if (out_fd != nullptr && pipe2(out, O_CLOEXEC) != 0) return -1;
  if (pipe2(err, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(out_fd != nullptr ? out[1] : null, 1);
    dup2(err[1], 2);
    // A clean signal state, as from a shell.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Out of the way first (a source may sit at a target number), then in
    // place; dup2 leaves the copies without close-on-exec.
    int high[kMaxPassFds];
    for (size_t i = 0; i < pass_fds.size(); ++i) {
      high[i] = fcntl(pass_fds[i], F_DUPFD_CLOEXEC, 256);
      if (high[i] < 0) _exit(127);
    }
    for (size_t i = 0; i < pass_fds.size(); ++i) {
      if (dup2(high[i], 3 + static_cast<int>(i)) < 0) _exit(127);
    }
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  if (out_fd != nullptr) {
    close(out[1]);
    *out_fd = out[0];
  }
  close(err[1]);
  *err_fd = err[0];
  return pid;
}

// Reads fd until EOF or the deadline.
void Drain(int fd, std::string& into, Clock::time_point deadline) {
  char buf[4096];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int ms = static_cast<int>(
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count());
    if (poll(&p, 1, ms < 0 ? 0 : ms) <= 0) return;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return;
    into.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, milliseconds timeout) {
  CommandResult r;
  int out = -1;
  int err = -1;
  pid_t pid = SpawnWithPipes(argv, &out, &err);
  if (pid < 0) return r;
  auto deadline = Clock::now() + timeout;
  // Both pipes are small outputs; read them in turn until EOF.
  Drain(out, r.out, deadline);
  Drain(err, r.err, deadline);
  close(out);
  close(err);
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return r;
    }
    usleep(2000);  // polling a child's exit; bounded by the deadline
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

DaemonProcess::~DaemonProcess() {
  Stop(milliseconds(5000));
  if (reader_.joinable()) reader_.join();
  // In the sanitizer build (HINETD_SANITIZE) a finding in the monitor or the
  // listener is a report on their stderr, which is this log: whatever the
  // test itself checked, such a line fails it.
  for (const std::string& line : lines_) {
    if (line.find("ERROR: AddressSanitizer") != std::string::npos ||
        line.find("ERROR: LeakSanitizer") != std::string::npos ||
        line.find("runtime error:") != std::string::npos) {
      ADD_FAILURE() << "hinetd's log has a sanitizer report: " << line;
    }
  }
}

bool DaemonProcess::Start(const std::string& config_path, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = wrapper_;
  for (const std::string& a : {BinDir() + "/hinetd", std::string("-f"), std::string("-c"),
                               config_path}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  int err = -1;
  pid_ = SpawnWithPipes(argv, nullptr, &err, env_, pass_fds_);
  if (pid_ < 0) return false;
  reader_ = std::thread([this, err] { ReadLoop(err); });
  return true;
}

bool DaemonProcess::StartAndWait(const std::string& config_path, milliseconds timeout) {
  return Start(config_path) && WaitForLine({"event=start"}, timeout).has_value();
}

void DaemonProcess::ReadLoop(int fd) {
  std::string partial;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buf, static_cast<size_t>(n));
    size_t nl;
    std::lock_guard<std::mutex> lock(mu_);
    while ((nl = partial.find('\n')) != std::string::npos) {
      lines_.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
    }
    cv_.notify_all();
  }
  close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  if (!partial.empty()) lines_.push_back(partial);
  eof_ = true;
  cv_.notify_all();
}

namespace {
bool Matches(const std::string& line, const std::vector<std::string>& needles) {
  for (const auto& n : needles) {
    if (line.find(n) == std::string::npos) return false;
  }
  return true;
}
}  // namespace

std::optional<std::string> DaemonProcess::WaitForLine(const std::vector<std::string>& needles,
                                                      milliseconds timeout, size_t from) {
  std::unique_lock<std::mutex> lock(mu_);
  auto deadline = Clock::now() + timeout;
  size_t next = from;
  for (;;) {
    for (; next < lines_.size(); ++next) {
      if (Matches(lines_[next], needles)) return lines_[next];
    }
    if (eof_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; next < lines_.size(); ++next) {
        if (Matches(lines_[next], needles)) return lines_[next];
      }
      return std::nullopt;
    }
  }
}

bool DaemonProcess::WaitForCount(const std::vector<std::string>& needles, size_t count,
                                 milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto deadline = Clock::now() + timeout;
  for (;;) {
    size_t n = 0;
    for (const auto& l : lines_) n += Matches(l, needles) ? 1 : 0;
    if (n >= count) return true;
    if (eof_ || cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      n = 0;
      for (const auto& l : lines_) n += Matches(l, needles) ? 1 : 0;
      return n >= count;
    }
  }
}

size_t DaemonProcess::CountLines(const std::vector<std::string>& needles) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& l : lines_) n += Matches(l, needles) ? 1 : 0;
  return n;
}

std::vector<std::string> DaemonProcess::Lines() {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

std::string DaemonProcess::LogText() {
  std::string all;
  for (const auto& l : Lines()) all += l + "\n";
  return all;
}

void DaemonProcess::Signal(int sig) {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

std::string DaemonProcess::DumpStatus(const std::string& service, milliseconds timeout) {
  size_t from = Lines().size();
  Signal(SIGUSR1);
  auto line = WaitForLine({"event=status", "service=" + service + " "}, timeout, from);
  return line.value_or("");
}

bool DaemonProcess::WaitForStatus(const std::string& service, const std::string& key,
                                  const std::string& value, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  // Paced: a dump takes well under a millisecond, and a count that is about
  // to change (an end report on its way to the listener) must get the time
  // to, or the bound on tries ends the wait long before the deadline.
  for (int i = 0; i < 1000 && Clock::now() < deadline; ++i) {
    if (i > 0) std::this_thread::sleep_for(milliseconds(10));  // bounded by the deadline
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    std::string line = DumpStatus(service, std::min(left, milliseconds(2000)));
    if (!line.empty() && LogField(line, key) == value) return true;
  }
  return false;
}

std::optional<int> DaemonProcess::WaitExit(milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  if (reaped_) return status_;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t w = waitpid(pid_, &status, WNOHANG);
    if (w == pid_) {
      reaped_ = true;
      status_ = status;
      // What it wrote before it exited may still be in the pipe: the log is
      // whole once the reader reaches its end (every writer gone), waited
      // for at most 5 s more (a process it left behind may hold the pipe).
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_until(lock, std::max(deadline, Clock::now() + milliseconds(5000)),
                     [&] { return eof_; });
      return status;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    usleep(2000);  // polling a child's exit; bounded by the deadline
  }
}

std::optional<int> DaemonProcess::Stop(milliseconds grace) {
  if (pid_ <= 0) return std::nullopt;
  if (!reaped_) {
    kill(pid_, SIGTERM);
    if (!WaitExit(grace)) {
      kill(pid_, SIGKILL);
      WaitExit(milliseconds(5000));
    }
  }
  if (reader_.joinable()) reader_.join();
  return reaped_ ? std::optional<int>(status_) : std::nullopt;
}

std::string LogField(const std::string& line, const std::string& key) {
  std::string needle = " " + key + "=";
  size_t pos = line.find(needle);
  if (pos == std::string::npos) {
    if (line.rfind(key + "=", 0) != 0) return "";
    pos = 0;
  } else {
    pos += 1;
  }
  pos += key.size() + 1;
  size_t end = line.find(' ', pos);
  return line.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

}  // namespace hinetd::testing
