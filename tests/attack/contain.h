// Shared by the containment and isolation attacks: a real daemon (E2eTest)
// whose probe services run as numeric uids of their own (no passwd entry),
// so that every process of such a uid is one the service started; and the
// means to find those processes and to read a probe's lines.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "e2e/e2e.h"

namespace hinetd::testing {

// Every process (zombies too) whose real uid is `uid`, from /proc.
inline std::vector<pid_t> ProcessesOf(uid_t uid) {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("Uid:", 0) == 0) {
        if (std::stoul(line.substr(4)) == uid) found.push_back(static_cast<pid_t>(pid));
        break;
      }
    }
  }
  closedir(proc);
  return found;
}

// Waits until no process of `uid` is left; false at the deadline.
inline bool NoProcessLeft(uid_t uid, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ProcessesOf(uid).empty()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));  // polling /proc; bounded
  }
  return true;
}

// Reads `fd` until `needle` has come `count` times, EOF, or the deadline;
// returns everything read.
inline std::string ReadUntil(int fd, const std::string& needle, size_t count = 1,
                             milliseconds timeout = milliseconds(10000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string text;
  auto seen = [&] {
    size_t n = 0;
    for (size_t pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + 1)) {
      ++n;
    }
    return n >= count;
  };
  while (!seen()) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) != 1) break;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

// The value of the `nth` line "key=VALUE" in a probe's output, or "<missing>".
inline std::string ProbeField(const std::string& text, const std::string& key, size_t nth = 1) {
  std::string hay = "\n" + text;
  std::string start = "\n" + key + "=";
  size_t pos = std::string::npos;
  for (size_t from = 0, n = 0; n < nth; ++n, from = pos + 1) {
    pos = hay.find(start, from);
    if (pos == std::string::npos) return "<missing>";
  }
  pos += start.size();
  return hay.substr(pos, hay.find('\n', pos) - pos);
}

// Claims `uid` for this process against every other test process on the
// host, as the ports are (net.cc): a lock file held until this process
// exits, waited for up to `wait`. True at once if this process has it.
inline bool ClaimUid(uid_t uid, milliseconds wait) {
  static std::set<uid_t> claimed;
  if (claimed.count(uid) != 0) return true;
  std::string dir = "/tmp/hinetd-test-uids." + std::to_string(getuid());
  mkdir(dir.c_str(), 0700);  // EEXIST: another test made it
  int fd = open((dir + "/" + std::to_string(uid)).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return true;  // no lock to take: as before, the process check alone
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      close(fd);
      return false;
    }
    std::this_thread::sleep_for(milliseconds(20));  // the other test's end; bounded
  }
  claimed.insert(uid);  // fd stays open: the lock goes with this process
  return true;
}

class AttackTest : public E2eTest {
 protected:
  // Whatever a failed test left running under one of its uids is killed,
  // pid by pid (the daemon has stopped by then: E2eTest's members go after
  // this).
  void TearDown() override {
    daemon_.Stop();
    for (uid_t uid : uids_) {
      for (pid_t pid : ProcessesOf(uid)) kill(pid, SIGKILL);
      // Gone before the next test may take the uid (an orphan is reaped by
      // whoever adopted it).
      EXPECT_TRUE(NoProcessLeft(uid, milliseconds(5000))) << "uid " << uid;
    }
  }

  // Declares `uid` the test's (cleaned up as above); false if another test
  // process on this host holds it past a minute (a second suite run next
  // to this one: its test of the same uid is waited for, and its processes
  // are never killed by this one), or a process of it exists already.
  bool UseUid(uid_t uid) {
    if (!ClaimUid(uid, milliseconds(60000))) return false;
    uids_.push_back(uid);
    return ProcessesOf(uid).empty();
  }

  // A [[service]] running the probe with `args` (", \"mode\", ...") as the
  // numeric `uid` (group the same number), under `policy`, in the jail
  // unless `jailed` is false (then the probe runs from the build tree).
  std::string Service(const std::string& name, uint16_t port, uid_t uid, const std::string& args,
                      const std::string& policy, const std::string& extra = "",
                      bool jailed = true) {
    std::string id = std::to_string(uid);
    std::string exec = jailed ? "/probe" : BinDir() + "/hinetd-probe";
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
           "\"\nexec = [\"" + exec + "\"" + args + "]\nuser = \"" + id + "\"\ngroup = \"" + id +
           "\"\n" + (jailed ? "chroot = \"" + jail_.path() + "\"\n" : "") + "sandbox = \"" +
           policy + "\"\n" + extra + "\n";
  }

  // The pid (as hinetd sees it) of the service's child from its nth accept line.
  pid_t AcceptedPid(const std::string& service, size_t nth = 1) {
    if (!daemon_.WaitForCount({"event=accept", "service=" + service + " "}, nth,
                              milliseconds(10000))) {
      return -1;
    }
    size_t seen = 0;
    for (const auto& l : daemon_.Lines()) {
      if (l.rfind("event=accept", 0) == 0 &&
          l.find("service=" + service + " ") != std::string::npos && ++seen == nth) {
        return static_cast<pid_t>(std::stol(LogField(l, "pid")));
      }
    }
    return -1;
  }

 private:
  std::vector<uid_t> uids_;
};

// Runs `fn` in a child process with the uid and gid `id` (no groups), and
// returns its exit status (fn's return value), or -1.
inline int RunAs(uid_t id, const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    gid_t none[1] = {};
    if (setgroups(0, none) != 0 || setresgid(id, id, id) != 0 || setresuid(id, id, id) != 0) {
      _exit(120);
    }
    _exit(fn());
  }
  auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0 || std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return -1;
    }
    std::this_thread::sleep_for(milliseconds(5));  // polling a child's exit; bounded
  }
}

}  // namespace hinetd::testing
