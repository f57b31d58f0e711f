// hinetd-udp-marker MARKER: a udp wait service for the reload tests. It
// answers each datagram on fd 0 with "MARKER PID PAYLOAD" and goes back to
// recvfrom(0), where it idles. Payloads that ask for work:
//   slow:MS   answer only after sleeping MS milliseconds (a slow request)
//   fork:MS   start a process that lives MS milliseconds (a transfer in
//             progress, as tftpd forks one), answer at once
// Static, like the probe: it runs in a jail holding nothing else.
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

void SleepMs(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 64;
  // Finished helpers are reaped by the kernel: none lingers as a zombie.
  signal(SIGCHLD, SIG_IGN);
  char buf[512];
  char reply[700];
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    ssize_t n = recvfrom(0, buf, sizeof buf - 1, 0, reinterpret_cast<sockaddr*>(&peer), &len);
    if (n < 0) return 1;
    buf[n] = '\0';
    if (std::strncmp(buf, "slow:", 5) == 0) SleepMs(std::strtol(buf + 5, nullptr, 10));
    if (std::strncmp(buf, "fork:", 5) == 0) {
      long ms = std::strtol(buf + 5, nullptr, 10);
      pid_t pid = fork();
      if (pid == 0) {
        SleepMs(ms);
        _exit(0);
      }
      if (pid < 0) return 1;
    }
    int m = std::snprintf(reply, sizeof reply, "%s %d %s", argv[1], static_cast<int>(getpid()),
                          buf);
    if (m < 0) return 1;
    sendto(0, reply, static_cast<size_t>(m), 0, reinterpret_cast<sockaddr*>(&peer), len);
  }
}
