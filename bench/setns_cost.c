/* What the two setns of a drops_privileges child cost (README, Performance).
 * Each of N forked children times setns(CLONE_NEWUSER) and then
 * setns(CLONE_NEWNS) with clock_gettime around each, into the namespaces of
 * a holder made like hinetd's (user namespace mapping one uid, mount
 * namespace owned by it); prints the median and 90th percentile.
 *
 *   cc -O2 -o /tmp/setns_cost bench/setns_cost.c
 *   unshare --user --mount --propagation private sleep 600 &
 *   echo "65534 65534 1" > /proc/$!/uid_map; echo "65534 65534 1" > /proc/$!/gid_map
 *   sudo /tmp/setns_cost /proc/$!/ns/user /proc/$!/ns/mnt 300; kill $!
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int Cmp(const void* a, const void* b) {
  long x = *(const long*)a, y = *(const long*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s USER_NS MNT_NS N\n", argv[0]);
    return 2;
  }
  int user = open(argv[1], O_RDONLY | O_CLOEXEC);
  int mnt = open(argv[2], O_RDONLY | O_CLOEXEC);
  int n = atoi(argv[3]);
  int p[2];
  if (user < 0 || mnt < 0 || n <= 0 || n > 100000 || pipe(p) != 0) return 1;
  long* u = calloc((size_t)n, sizeof(long));
  long* m = calloc((size_t)n, sizeof(long));
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      long a = Now();
      if (setns(user, CLONE_NEWUSER) != 0) _exit(1);
      long b = Now();
      if (setns(mnt, CLONE_NEWNS) != 0) _exit(2);
      long c = Now();
      long r[2] = {b - a, c - b};
      _exit(write(p[1], r, sizeof r) == sizeof r ? 0 : 3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    long r[2];
    if (status != 0 || read(p[0], r, sizeof r) != sizeof r) {
      fprintf(stderr, "child %d failed (status %d)\n", i, status);
      return 1;
    }
    u[i] = r[0];
    m[i] = r[1];
  }
  qsort(u, (size_t)n, sizeof(long), Cmp);
  qsort(m, (size_t)n, sizeof(long), Cmp);
  printf("setns(user): median %.1f us, p90 %.1f us; setns(mnt): median %.1f us, p90 %.1f us "
         "(n=%d)\n",
         u[n / 2] / 1e3, u[n * 9 / 10] / 1e3, m[n / 2] / 1e3, m[n * 9 / 10] / 1e3, n);
  return 0;
}
