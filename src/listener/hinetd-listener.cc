// hinetd-listener: the listener (supervisor/listener.h) as a program. hinetd's
// monitor forks and executes it with one argument, the descriptor of a memfd
// that holds its setup (supervisor/listener_setup.h); every descriptor the
// setup names is open. It reads the setup, and then does what the forked
// listener did: drops to [daemon] user in an empty root with
// CAP_NET_BIND_SERVICE alone, installs its filter, and serves. Not a
// program to run by hand.
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "base/log.h"
#include "supervisor/listener_setup.h"

namespace {

using hinetd::base::LogLine;

// The listener's exit status for a setup it cannot use (as for any other
// failure before it serves: the monitor logs it and restarts it).
constexpr int kSetupFailed = 71;
// A setup larger than this is not one hinetd wrote (a table of a thousand
// services is about 200 kB).
constexpr off_t kMaxSetup = off_t{256} << 20;

// The setup's bytes from descriptor `fd`, which is closed.
bool ReadSetup(int fd, std::string& out, std::string& error) {
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = "descriptor " + std::to_string(fd) + " is no setup file";
    return false;
  }
  if (st.st_size > kMaxSetup) {
    error = "a setup of " + std::to_string(st.st_size) + " bytes";
    return false;
  }
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? std::string("reading the setup: ") + strerror(errno) : "the setup is short";
      return false;
    }
    got += static_cast<size_t>(n);
  }
  close(fd);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int fd = -1;
  if (argc == 2) {
    std::string_view arg(argv[1]);
    auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), fd);
    if (ec != std::errc() || end != arg.data() + arg.size() || fd < 3) fd = -1;
  }
  if (fd < 0) {
    fprintf(stderr,
            "hinetd-listener: hinetd starts this program with its setup; it is not run by hand "
            "(see hinetd(8))\n");
    return 64;
  }
  // Its lines go to stderr (the monitor's) until the setup names a relay.
  hinetd::base::Logger log;
  std::string bytes;
  std::string error;
  if (!ReadSetup(fd, bytes, error)) {
    log.Error(LogLine("listener-failed").Add("error", error));
    _exit(kSetupFailed);
  }
  auto image = hinetd::supervisor::DecodeListenerSetup(bytes);
  if (!image.ok()) {
    log.Error(LogLine("listener-failed").Add("error", image.error().message()));
    _exit(kSetupFailed);
  }
  bytes = std::string();
  // image's config and filter stay alive: RunListener never returns.
  hinetd::supervisor::RunListener(std::move(image->setup), log);
}
