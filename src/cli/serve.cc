// `hinetd [-f]`: load, validate and compile everything first (exit 78 on a
// bad file, before anything binds), then bind and serve.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "base/log.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "config/config.h"
#include "spawn/plan.h"
#include "spawn/spawner.h"
#include "supervisor/monitor.h"
#include "supervisor/systemd.h"

namespace hinetd::cli {

namespace {

// Descriptors 0-2 must be open, or an accepted socket could land on one of
// them and be mistaken for stdio in the child.
void EnsureStdio() {
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      int null = open("/dev/null", O_RDWR);
      if (null >= 0 && null != fd) {
        dup2(null, fd);
        close(null);
      }
    }
  }
}

// hinetd holds a socket per listener, a pipe per child with stderr = "log",
// and one per spawn in flight: raise the soft limit to the hard one. Children
// get their own (default 1024) limit back in their plan.
void RaiseFdLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// Detaches from the terminal. The parent stays until the daemon reports
// that it is serving, or why not: the first byte on the pipe is the exit
// code, the rest an error message the parent prints (the daemon's stderr is
// /dev/null by then). Returns -1 in the daemon, or the exit code the parent
// should return.
int Daemonize(int& ready_fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    fprintf(stderr, "hinetd: cannot detach: pipe2: %s\n", strerror(errno));
    return kExitSystem;
  }
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "hinetd: cannot detach: fork: %s\n", strerror(errno));
    return kExitSystem;
  }
  if (pid > 0) {
    close(p[1]);
    std::string report;
    char buf[4096];
    for (;;) {
      ssize_t n = read(p[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      report.append(buf, static_cast<size_t>(n));
    }
    close(p[0]);
    if (report.empty()) {
      fprintf(stderr, "hinetd: the daemon exited before it was ready\n");
      return kExitSystem;
    }
    if (report.size() > 1) fprintf(stderr, "hinetd: %s\n", report.c_str() + 1);
    return static_cast<unsigned char>(report[0]);
  }
  close(p[0]);
  setsid();
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
  if (chdir("/") != 0) {
    // Nothing useful to do: the daemon works with absolute paths.
  }
  ready_fd = p[1];
  return -1;
}

void Report(int ready_fd, int code, const std::string& message = "") {
  if (ready_fd < 0) return;
  std::string out(1, static_cast<char>(code));
  out += message;
  ssize_t ignored = write(ready_fd, out.data(), out.size());
  (void)ignored;
  close(ready_fd);
}

}  // namespace

int RunServe(const Args& args) {
  EnsureStdio();
  if (geteuid() != 0) {
    fprintf(stderr,
            "hinetd: must be started as root (it chroots and changes the uid of every child, "
            "then keeps only the capabilities it needs)\n");
    return kExitSystem;
  }
  // The config path is kept absolute: the daemon re-reads it on SIGHUP
  // after it has changed directory.
  std::string path = args.config;
  if (!path.empty() && path[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != nullptr) path = std::string(cwd) + "/" + path;
  }
  // What a service manager passed (systemd.h), taken first: the sockets
  // sit at descriptors 3.., and none of it may reach a child's environment.
  auto passed = supervisor::TakeListenFds();
  if (!passed.ok()) {
    fprintf(stderr, "hinetd: %s\n", passed.error().ToString().c_str());
    return kExitConfig;
  }
  auto notifier = supervisor::Notifier::FromEnvironment();
  if (!notifier.ok()) {
    fprintf(stderr, "hinetd: %s\n", notifier.error().ToString().c_str());
    return kExitSystem;
  }
  RaiseFdLimit();
  auto table = spawn::LoadTable(path);
  if (!table.ok()) {
    fprintf(stderr, "hinetd: %s\n", table.error().ToString().c_str());
    return kExitConfig;
  }
  std::vector<std::shared_ptr<supervisor::PassedSocket>> sockets;
  for (auto& p : *passed) {
    sockets.push_back(std::make_shared<supervisor::PassedSocket>(std::move(p)));
  }
  if (auto s = supervisor::CheckPassedSockets(*table->config, sockets, path); !s.ok()) {
    fprintf(stderr, "hinetd: %s\n", s.error().ToString().c_str());
    return kExitConfig;
  }

  int ready_fd = -1;
  if (!args.foreground) {
    int code = Daemonize(ready_fd);
    if (code >= 0) return code;
  }
  // In the foreground, the terminal hinetd was started from (if any) is
  // given up before anything is started, so that no child can reach it and
  // children need no session of their own (spawn/child.cc, step 2).
  // Started from a shell, signals from the keyboard still reach it (they go
  // to its process group, which it stays in); as the terminal's session
  // leader it loses them with the terminal (hinetd(8), step setpgid).
  spawn::DropControllingTerminal();
  base::LogSink sink =
      args.log.value_or(args.foreground ? base::LogSink::kStderr : base::LogSink::kSyslog);
  // syslog(3) stamps each message with localtime_r(), which reads the time
  // zone (/etc/localtime) on its first use only. Read it now, so that the
  // listener, forked later with a filter that allows no open(), inherits it.
  tzset();
  base::Logger log(sink);
  supervisor::Options options;
  options.config_path = path;
  options.passed_sockets = std::move(sockets);
  options.notifier = std::make_shared<supervisor::Notifier>(std::move(*notifier));
  supervisor::Monitor sup(log, options);
  auto started = sup.Start(std::move(table->config), std::move(table->plans));
  if (!started.ok()) {
    log.Error(base::LogLine("start-failed").Add("error", started.error().ToString()));
    if (args.foreground && sink != base::LogSink::kStderr) {
      fprintf(stderr, "hinetd: %s\n", started.error().ToString().c_str());
    }
    Report(ready_fd, kExitSystem, started.error().ToString());
    // systemd shows the reason with the failed unit.
    (void)options.notifier->Send("STATUS=failed to start: " + started.error().ToString());
    return kExitSystem;
  }
  Report(ready_fd, kExitOk);
  return sup.Run();
}

}  // namespace hinetd::cli
