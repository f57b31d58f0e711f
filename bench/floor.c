/* hinetd-bench-floor: the least a superserver can do per connection, as a
 * floor for bench/run.sh to measure hinetd and tcpserver against.
 *
 * One process: accept(2) a connection, vfork(2), put the socket on 0 and 1
 * and execve(2) the service in the child, close the socket in the parent,
 * and accept the next one. No sandbox, no limits, no log, no second
 * process: whatever a real server spends beyond this is its own cost.
 * Children are reaped by the kernel (SIGCHLD ignored).
 *
 * usage: hinetd-bench-floor PORT PROGRAM   (listens on 127.0.0.1:PORT)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: hinetd-bench-floor PORT PROGRAM\n");
    return 2;
  }
  signal(SIGCHLD, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || bind(s, (struct sockaddr*)&a, sizeof a) != 0 || listen(s, 1024) != 0) {
    perror("hinetd-bench-floor: listen");
    return 1;
  }
  char* child_argv[] = {argv[2], NULL};
  char* child_env[] = {NULL};
  for (;;) {
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
      perror("hinetd-bench-floor: accept4");
      return 1;
    }
    pid_t pid = vfork();
    if (pid == 0) {
      /* dup2 clears close-on-exec on 0 and 1. */
      if (dup2(c, 0) < 0 || dup2(c, 1) < 0) _exit(127);
      execve(argv[2], child_argv, child_env);
      _exit(127);
    }
    close(c);
  }
}
