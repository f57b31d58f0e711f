/* hinetd-bench-udp-floor: the least a UDP superserver can do, as a floor
 * for bench/udp.sh to measure hinetd and udpsvd against.
 *
 * nowait (default): one child per datagram's peer, the way hinetd's
 * `wait = false` does it and nothing more. When the socket is readable:
 * peek at the first datagram's sender, bind a fresh socket on the same
 * address (SO_REUSEPORT), connect the old one to the sender, vfork(2) and
 * execve(2) the program with the old socket on 0 and 1, close it here, and
 * go on with the fresh one. Datagrams of other peers already queued on the
 * old socket go to that child too (the design's limit, hinetd's as well).
 *
 * -w (wait): the listening socket itself on 0 and 1, one child at a time:
 * vfork and execve the program, wait for it, then wait for the next
 * datagram (what udpsvd and hinetd's `wait = true` do).
 *
 * No sandbox, no limits, no log, no second process: whatever a real server
 * spends beyond this is its own cost. Children of nowait are reaped by the
 * kernel (SIGCHLD ignored).
 *
 * usage: hinetd-bench-udp-floor [-w] PORT PROGRAM [ARG...]
 *        (binds 127.0.0.1:PORT)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in g_addr;

static int Bound(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  int one = 1;
  if (setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      bind(s, (struct sockaddr*)&g_addr, sizeof g_addr) != 0) {
    close(s);
    return -1;
  }
  return s;
}

/* Blocks until `s` is readable. */
static int WaitReadable(int s) {
  for (;;) {
    struct pollfd p = {s, POLLIN, 0};
    int rc = poll(&p, 1, -1);
    if (rc > 0) return 0;
    if (rc < 0 && errno != EINTR) return -1;
  }
}

static pid_t Start(int s, char** argv) {
  static char* env[] = {NULL};
  pid_t pid = vfork();
  if (pid == 0) {
    /* dup2 clears close-on-exec on 0 and 1. */
    if (dup2(s, 0) < 0 || dup2(s, 1) < 0) _exit(127);
    execve(argv[0], argv, env);
    _exit(127);
  }
  return pid;
}

static int Nowait(int s, char** argv) {
  signal(SIGCHLD, SIG_IGN);
  for (;;) {
    if (WaitReadable(s) != 0) return 1;
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    char byte;
    if (recvfrom(s, &byte, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr*)&peer,
                 &plen) < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      perror("hinetd-bench-udp-floor: recvfrom");
      return 1;
    }
    int fresh = Bound();
    if (fresh < 0) {
      perror("hinetd-bench-udp-floor: bind");
      return 1;
    }
    if (connect(s, (struct sockaddr*)&peer, plen) != 0) {
      (void)recv(s, &byte, 1, MSG_DONTWAIT);  // drop it, keep the old socket
      close(fresh);
      continue;
    }
    if (Start(s, argv) < 0) perror("hinetd-bench-udp-floor: vfork");
    close(s);
    s = fresh;
  }
}

static int Wait(int s, char** argv) {
  for (;;) {
    if (WaitReadable(s) != 0) return 1;
    pid_t pid = Start(s, argv);
    if (pid < 0) {
      perror("hinetd-bench-udp-floor: vfork");
      return 1;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
}

int main(int argc, char** argv) {
  int wait = argc > 1 && strcmp(argv[1], "-w") == 0;
  if (argc < 3 + wait) {
    fprintf(stderr, "usage: hinetd-bench-udp-floor [-w] PORT PROGRAM [ARG...]\n");
    return 2;
  }
  g_addr.sin_family = AF_INET;
  g_addr.sin_port = htons((uint16_t)atoi(argv[1 + wait]));
  g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int s = Bound();
  if (s < 0) {
    perror("hinetd-bench-udp-floor: bind");
    return 1;
  }
  char** prog = argv + 2 + wait;
  return wait ? Wait(s, prog) : Nowait(s, prog);
}
