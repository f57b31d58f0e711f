// Running the real hinetd binary in tests: start it in the foreground with
// its log captured, wait for log lines with a deadline, stop it by pid.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hinetd::testing {

using std::chrono::milliseconds;

struct CommandResult {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) to completion with a deadline; kills it if late.
CommandResult RunCommand(const std::vector<std::string>& argv, milliseconds timeout);

class DaemonProcess {
 public:
  DaemonProcess() = default;
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Starts `hinetd -f -c config_path` plus `extra` arguments.
  bool Start(const std::string& config_path, const std::vector<std::string>& extra = {});
  // Makes Start run hinetd through `wrapper` (argv, e.g. unshare ...), which
  // gets hinetd's own argv appended; pid() and the signals are then the
  // wrapper's.
  void WrapIn(std::vector<std::string> wrapper) { wrapper_ = std::move(wrapper); }
  // Makes Start add these "NAME=value" entries to hinetd's environment.
  void SetEnv(std::vector<std::string> env) { env_ = std::move(env); }
  // Makes Start pass these descriptors as 3, 4, ... (as systemd passes
  // listening sockets); the caller keeps its own copies.
  void PassFds(std::vector<int> fds) { pass_fds_ = std::move(fds); }
  // Start, then wait for the `event=start` line (false if it never comes).
  bool StartAndWait(const std::string& config_path, milliseconds timeout = milliseconds(10000));

  [[nodiscard]] pid_t pid() const { return pid_; }

  // The first line at index >= from that contains every needle.
  std::optional<std::string> WaitForLine(const std::vector<std::string>& needles,
                                         milliseconds timeout, size_t from = 0);
  // Waits until at least `count` lines contain every needle.
  bool WaitForCount(const std::vector<std::string>& needles, size_t count, milliseconds timeout);
  // Number of lines that contain every needle, right now.
  size_t CountLines(const std::vector<std::string>& needles);
  std::vector<std::string> Lines();
  std::string LogText();

  void Signal(int sig);
  // Asks for a status dump (SIGUSR1) and returns the service's line from it,
  // or "" if none came in time.
  std::string DumpStatus(const std::string& service, milliseconds timeout = milliseconds(2000));
  // Dumps the status until the service's `key` reads `value` (the listener
  // learns of a child's end after the monitor logs it); false at the deadline.
  bool WaitForStatus(const std::string& service, const std::string& key, const std::string& value,
                     milliseconds timeout);
  // Waits for the daemon to exit, and for the log it wrote to be read (the
  // end of its output, or at most 5 s more); its wait status, or nullopt on
  // timeout.
  std::optional<int> WaitExit(milliseconds timeout);
  // SIGTERM, then SIGKILL if it has not exited after `grace`. Returns the
  // wait status.
  std::optional<int> Stop(milliseconds grace = milliseconds(10000));

 private:
  void ReadLoop(int fd);

  pid_t pid_ = -1;
  bool reaped_ = false;
  std::vector<std::string> wrapper_;
  std::vector<std::string> env_;
  std::vector<int> pass_fds_;
  int status_ = 0;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

// Value of `key=` in a logfmt line (unquoted values only), or "".
std::string LogField(const std::string& line, const std::string& key);

}  // namespace hinetd::testing
