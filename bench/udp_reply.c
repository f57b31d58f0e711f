/* hinetd-bench-udp-reply: the trivial UDP service bench/udp.sh runs under
 * every server it measures.
 *
 * Its datagram socket is descriptor 0, however the server hands it over:
 * hinetd's `wait = false` gives a socket connected to the peer (holding the
 * datagram that started the child), its `wait = true` and udpsvd give the
 * unconnected listening socket itself (udpsvd also points stdout at
 * stderr, so the answer cannot go to descriptor 1). So it reads with
 * recvfrom(0) and answers with sendto(0) to the sender, which works on
 * both: a connected UDP socket accepts a sendto to its own peer.
 *
 * usage: hinetd-bench-udp-reply            answer one datagram (the same
 *                                          bytes back) and exit
 *        hinetd-bench-udp-reply IDLE_MS    answer every datagram; exit after
 *                                          IDLE_MS without one (wait mode)
 *
 * Every wait is a poll() with a limit (5 s for the first datagram), so it
 * never hangs on a datagram some other process read first. Static, so it
 * needs nothing in a chroot jail; it makes only calls the shipped "stdio"
 * policy allows. Exit status 0 when it answered, 1 otherwise.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

enum { kFirstWaitMs = 5000, kMax = 2048 };

/* Answers one datagram if one comes within `wait_ms`: 1 answered, 2 read
 * but the answer failed, 0 none came, -1 error. */
static int AnswerOne(int wait_ms) {
  static char buf[kMax];
  for (;;) {
    struct pollfd p = {0, POLLIN, 0};
    int rc = poll(&p, 1, wait_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return rc == 0 ? 0 : -1;
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(0, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr*)&from, &fromlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;  // another reader won
    if (n < 0) return -1;
    return sendto(0, buf, (size_t)n, 0, (struct sockaddr*)&from, fromlen) == n ? 1 : 2;
  }
}

int main(int argc, char** argv) {
  if (argc < 2) return AnswerOne(kFirstWaitMs) == 1 ? 0 : 1;
  int idle_ms = atoi(argv[1]);
  if (idle_ms <= 0) return 1;
  /* A failed answer (its client gone) is that client's loss, not a reason
   * to stop serving the others. */
  int rc = AnswerOne(kFirstWaitMs);
  while (rc >= 1) rc = AnswerOne(idle_ms);
  return rc == 0 ? 0 : 1;
}
