// `hinetd [-f]`: load, validate and compile everything first (exit 78 on a
// bad file, before anything binds), then bind and serve.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "config/config.h"
#include "spawn/plan.h"
#include "supervisor/supervisor.h"

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
// that it is serving (or why not), so its exit code means something.
// Returns -1 in the daemon, or the exit code the parent should return.
int Daemonize(int& ready_fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return kExitSystem;
  pid_t pid = fork();
  if (pid < 0) return kExitSystem;
  if (pid > 0) {
    close(p[1]);
    unsigned char code = kExitSystem;
    ssize_t n;
    do {
      n = read(p[0], &code, 1);
    } while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n != 1) {
      int status = 0;
      waitpid(pid, &status, WNOHANG);
      return kExitSystem;
    }
    return code;
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

void Report(int ready_fd, int code) {
  if (ready_fd < 0) return;
  unsigned char c = static_cast<unsigned char>(code);
  ssize_t ignored = write(ready_fd, &c, 1);
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
  RaiseFdLimit();
  auto config = config::LoadConfig(path);
  if (!config.ok()) {
    fprintf(stderr, "hinetd: %s\n", config.error().ToString().c_str());
    return kExitConfig;
  }
  auto plans = spawn::BuildPlans(*config);
  if (!plans.ok()) {
    fprintf(stderr, "hinetd: %s\n", plans.error().ToString().c_str());
    return kExitConfig;
  }

  int ready_fd = -1;
  if (!args.foreground) {
    int code = Daemonize(ready_fd);
    if (code >= 0) return code;
  }
  base::LogSink sink =
      args.log.value_or(args.foreground ? base::LogSink::kStderr : base::LogSink::kSyslog);
  base::Logger log(sink);
  supervisor::Options options;
  options.config_path = path;
  supervisor::Supervisor sup(log, options);
  auto started = sup.Start(std::make_unique<config::Config>(std::move(*config)),
                           std::move(*plans));
  if (!started.ok()) {
    log.Error(base::LogLine("start-failed").Add("error", started.error().ToString()));
    if (sink != base::LogSink::kStderr || !args.foreground) {
      fprintf(stderr, "hinetd: %s\n", started.error().ToString().c_str());
    }
    Report(ready_fd, kExitSystem);
    return kExitSystem;
  }
  Report(ready_fd, kExitOk);
  return sup.Run();
}

}  // namespace hinetd::cli
