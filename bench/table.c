// hinetd-bench-table: how long hinetd takes to serve a table, at start and
// at each reload, timed from outside (bench/table.sh runs it).
//
//   hinetd-bench-table RELOADS LOG -- HINETD ARGS...
//
// Starts HINETD ARGS (in the foreground: -f) with its stderr on a pipe,
// copies every line of it to LOG, and prints
//   start MS       from the fork to the first event=listener-ready line
//   reload MS      from a SIGHUP to the next event=listener-ready line
// once, then RELOADS times (each SIGHUP 200 ms after the last ready line),
// then TERMs it and waits for it. Exit status 1 with a message if a line
// does not come within 10 s, or a reload fails.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int g_fd = -1;
static FILE* g_log = NULL;
static char g_buf[1 << 16];
static size_t g_len = 0;

// Reads until a line starting with `want` (1), one with `bad` (-1), EOF or
// the deadline (0); the lines before it are consumed.
static int WaitFor(const char* want, const char* bad, double deadline) {
  for (;;) {
    char* nl;
    while ((nl = memchr(g_buf, '\n', g_len)) != NULL) {
      size_t n = (size_t)(nl - g_buf) + 1;
      fwrite(g_buf, 1, n, g_log);
      int found = strncmp(g_buf, want, strlen(want)) == 0 ? 1
                  : (bad != NULL && strncmp(g_buf, bad, strlen(bad)) == 0) ? -1
                                                                              : 0;
      memmove(g_buf, g_buf + n, g_len - n);
      g_len -= n;
      if (found != 0) return found;
    }
    double left = deadline - Now();
    if (left <= 0) return 0;
    struct pollfd p = {g_fd, POLLIN, 0};
    int ready = poll(&p, 1, (int)left + 1);
    if (ready < 0 && errno != EINTR) return 0;
    if (ready <= 0) continue;  // the deadline, looked at above
    if (g_len == sizeof g_buf) g_len = 0;  // a line that long: dropped
    ssize_t r = read(g_fd, g_buf + g_len, sizeof g_buf - g_len);
    if (r == 0) return 0;
    if (r > 0) g_len += (size_t)r;
  }
}

int main(int argc, char** argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    fprintf(stderr, "usage: %s RELOADS LOG -- HINETD ARGS...\n", argv[0]);
    return 2;
  }
  int reloads = atoi(argv[1]);
  g_log = fopen(argv[2], "w");
  if (g_log == NULL) {
    perror(argv[2]);
    return 2;
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    perror("pipe2");
    return 2;
  }
  double t0 = Now();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 2);
    execv(argv[4], argv + 4);
    perror(argv[4]);
    _exit(127);
  }
  close(pipefd[1]);
  g_fd = pipefd[0];
  int status = 0;
  if (WaitFor("event=listener-ready", NULL, Now() + 10000) != 1) {
    fprintf(stderr, "no event=listener-ready: hinetd exited, or 10 s passed (see %s)\n",
            argv[2]);
    status = 1;
  } else {
    printf("start %.2f\n", Now() - t0);
  }
  for (int i = 0; i < reloads && status == 0; ++i) {
    // Quiet first: the listener's start, and the last reload's, are over.
    WaitFor("\x01", NULL, Now() + 200);
    double t = Now();
    kill(pid, SIGHUP);
    int r = WaitFor("event=listener-ready", "event=reload-failed", Now() + 10000);
    if (r != 1) {
      fprintf(stderr, "reload %d: %s (see %s)\n", i + 1,
              r < 0 ? "event=reload-failed" : "no event=listener-ready (exited, or 10 s passed)",
              argv[2]);
      status = 1;
      break;
    }
    printf("reload %.2f\n", Now() - t);
  }
  fflush(stdout);
  kill(pid, SIGTERM);
  WaitFor("\x01", NULL, Now() + 5000);  // the rest of its log, until it closes
  int ws = 0;
  waitpid(pid, &ws, 0);
  fclose(g_log);
  return status;
}
