/* hinetd-soak-service: the program every service of bench/soak.sh runs.
 *
 * Static, so that it needs nothing in its chroot jail but itself, and it
 * makes only calls the shipped "stdio" policy allows.
 *
 * Stream socket (TCP or unix:): write "ready\n" at once (so a client knows
 * its child runs), read one request line (up to '\n' or EOF), then answer
 * "ans REST" for a line "req REST", or "bad\n" for anything else, which it
 * also reports on stderr (one line, so the log shows what a client caused).
 * A client that sends nothing is ended by the service's timeout.
 *
 * Connected datagram socket (udp, wait = false): answer the one datagram
 * that started it, the same way, and exit.
 *
 * Unconnected datagram socket (udp, wait = true): answer every datagram
 * with sendto its sender, and exit after 2 s without one.
 *
 * Exit status: 0 when it answered, 1 when the connection failed under it
 * (a client's reset), 2 for a socket it does not know.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kMax = 4096 };

static int WriteAll(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(1, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Builds the answer to `req` (len bytes) into `out`; returns its length. */
static size_t Answer(const char* req, size_t len, char* out, int* bad) {
  if (len >= 4 && memcmp(req, "req ", 4) == 0) {
    memcpy(out, "ans ", 4);
    memcpy(out + 4, req + 4, len - 4);
    *bad = 0;
    return len;
  }
  memcpy(out, "bad\n", 4);
  *bad = 1;
  return 4;
}

static void ReportBad(size_t len) {
  char line[64] = "soak-service: garbage request of ";
  size_t n = strlen(line);
  char digits[24];
  size_t d = 0;
  do {
    digits[d++] = (char)('0' + len % 10);
    len /= 10;
  } while (len > 0);
  while (d > 0) line[n++] = digits[--d];
  memcpy(line + n, " bytes\n", 7);
  n += 7;
  (void)!write(2, line, n);
}

static int Stream(void) {
  static char req[kMax + 1];
  static char out[kMax + 8];
  if (WriteAll("ready\n", 6) != 0) return 1;
  size_t len = 0;
  while (len < kMax) {
    ssize_t r = read(0, req + len, kMax - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return 1;
    if (r == 0) break;
    len += (size_t)r;
    if (memchr(req, '\n', len) != NULL) break;
  }
  char* nl = memchr(req, '\n', len);
  if (nl != NULL) len = (size_t)(nl - req) + 1;
  int bad = 0;
  size_t n = Answer(req, len, out, &bad);
  if (bad) ReportBad(len);
  return WriteAll(out, n) == 0 ? 0 : 1;
}

static int ConnectedDatagram(void) {
  static char req[kMax];
  static char out[kMax + 8];
  ssize_t r = read(0, req, sizeof req);
  if (r < 0) return 1;
  int bad = 0;
  size_t n = Answer(req, (size_t)r, out, &bad);
  if (bad) ReportBad((size_t)r);
  return write(1, out, n) == (ssize_t)n ? 0 : 1;
}

static int WaitDatagram(void) {
  static char req[kMax];
  static char out[kMax + 8];
  for (;;) {
    struct pollfd p = {0, POLLIN, 0};
    int rc = poll(&p, 1, 2000);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return rc == 0 ? 0 : 1;
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof from;
    ssize_t r = recvfrom(0, req, sizeof req, MSG_DONTWAIT, (struct sockaddr*)&from, &fromlen);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (r < 0) return 1;
    int bad = 0;
    size_t n = Answer(req, (size_t)r, out, &bad);
    if (bad) ReportBad((size_t)r);
    (void)sendto(0, out, n, 0, (struct sockaddr*)&from, fromlen);
  }
}

int main(void) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return 2;
  if (type == SOCK_STREAM) return Stream();
  if (type != SOCK_DGRAM) return 2;
  struct sockaddr_storage peer;
  socklen_t plen = sizeof peer;
  if (getpeername(0, (struct sockaddr*)&peer, &plen) == 0) return ConnectedDatagram();
  return WaitDatagram();
}
