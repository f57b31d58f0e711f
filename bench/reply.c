/* hinetd-bench-reply: the trivial service both benchmarked servers run.
 *
 * One write(2) and exit: the connection's cost is then almost entirely the
 * server's (accept, fork, exec, sandbox setup), which is what the benchmark
 * compares. Built static so it needs no libraries inside a chroot jail.
 *
 * It does not read stdin: if a client sends data, closing with unread bytes
 * makes the kernel answer with RST, so run the load client without --send.
 */
#include <unistd.h>

int main(void) {
  static const char kReply[] = "hello\n";
  return write(1, kReply, sizeof kReply - 1) == (ssize_t)(sizeof kReply - 1)
             ? 0
             : 1;
}
