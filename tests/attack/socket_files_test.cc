// Attacks on the socket files of unix: addresses (issue 10, item 1), by a
// second local user against the real daemon, and by a racing process
// against the bind sequence itself (net::BindListener):
// - a socket directory another user can write is refused (start, check,
//   reload), and nothing is bound;
// - a user swapping the socket for a symlink to a root-only file never gets
//   that file's owner or mode changed;
// - a live socket with a full backlog, or of another user, is "in use":
//   start and reload fail at once and leave it alone;
// - a stale socket is still replaced.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/e2e.h"
#include "net/address.h"
#include "net/socket.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uid_t kAttacker = 64011;  // the hostile local user
constexpr uid_t kOwner = 64012;     // socket_user of the attacked service
constexpr gid_t kGroup = 64013;     // its socket_group

// A process of its own running `body` (system calls only: the test process
// has threads, so the child must not allocate), as uid and gid `id` with no
// supplementary groups unless `id` is 0. Killed and reaped by its pid when
// the object goes.
class Forked {
 public:
  Forked(uid_t id, const std::function<int()>& body) {
    pid_ = fork();
    if (pid_ == 0) {
      if (id != 0 && (setgroups(0, nullptr) != 0 || setresgid(id, id, id) != 0 ||
                      setresuid(id, id, id) != 0)) {
        _exit(100);
      }
      _exit(body());
    }
  }
  ~Forked() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Forked(const Forked&) = delete;
  Forked& operator=(const Forked&) = delete;

  [[nodiscard]] bool ok() const { return pid_ > 0; }
  [[nodiscard]] pid_t pid() const { return pid_; }

  // Its exit code, or -1 if it did not exit normally before the deadline.
  int Wait(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    int status = 0;
    while (!reaped_ && Clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      usleep(5000);  // polls the condition above; bounded by the deadline
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// True once `fd` has a byte to read (or EOF) within `timeout`.
bool Readable(int fd, milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

// Reads a whole small file; "" if it cannot.
std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

sockaddr_un UnixAddr(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path.c_str(), std::min(path.size() + 1, sizeof sun.sun_path));
  return sun;
}

// A socket bound to `path` (by the caller's uid, with its umask), or -1.
int BoundUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun = UnixAddr(path);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

// The socket directories live in a Jail: root's and writable by root only,
// on a path that is all so (not under /tmp). A root-only file next to them
// is what an attacker would like hinetd to hand over.
class SocketFilesAttack : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(sockets_.ok()) << sockets_.error();
    target_ = sockets_.path() + "/secret";
    ASSERT_TRUE(sockets_.Write("/secret", "root only\n", 0600));
    // Other users may reach the files, as an attacker with a shell could.
    ASSERT_EQ(chmod(sockets_.path().c_str(), 0755), 0);
  }

  // The root-only file is as it was: owner, group, mode and content.
  void ExpectTargetUntouched() {
    struct stat st {};
    ASSERT_EQ(lstat(target_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_gid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(Slurp(target_), "root only\n");
  }

  std::string UnixService(const std::string& name, const std::string& path,
                          const std::string& extra = "") {
    return "[[service]]\nname = \"" + name + "\"\nlisten = \"unix:" + path +
           "\"\ninternal = \"echo\"\n" + extra + "\n";
  }

  std::string TcpEcho(uint16_t port) {
    return InternalService("tcp-echo", "echo", "\"127.0.0.1:" + std::to_string(port) + "\"");
  }

  // An echo through the unix: socket at `path`.
  static std::string EchoUnix(const std::string& path, const std::string& text) {
    int fd = ConnectUnix(path);
    if (fd < 0) return "<connect failed>";
    WriteAll(fd, text);
    shutdown(fd, SHUT_WR);
    std::string out = ReadAll(fd);
    close(fd);
    return out;
  }

  Jail sockets_;
  std::string target_;
};

// A directory owned by another user, one writable by a group that is not
// root's, and a sticky world-writable one (as /tmp): a socket there is
// refused when the file is loaded, with the directory, its owner, mode and
// the fix, at start (exit 78, nothing bound), by check, and on a reload
// (the old table keeps serving).
TEST_F(SocketFilesAttack, DirectoryAnotherUserCanWriteIsRefusedAtStartCheckAndReload) {
  const std::string base = sockets_.path();
  ASSERT_TRUE(sockets_.MakeDir("/owned"));
  ASSERT_EQ(chown((base + "/owned").c_str(), kAttacker, kAttacker), 0);
  ASSERT_TRUE(sockets_.MakeDir("/shared", 0775));
  ASSERT_EQ(chown((base + "/shared").c_str(), 0, kAttacker), 0);
  ASSERT_TRUE(sockets_.MakeDir("/public", 01777));
  struct Case {
    std::string dir;
    std::string said;
  };
  const Case cases[] = {
      {base + "/owned", "(owner uid 64011, mode 0755) is owned by another user, who could swap "
                        "the socket file for a symlink before hinetd sets its owner and mode; "
                        "make it owned by root and writable by root only (chown root " +
                            base + "/owned; chmod go-w " + base + "/owned)"},
      {base + "/shared", "(owner uid 0, mode 0775) is writable by other users, who could swap "
                         "the socket file for a symlink before hinetd sets its owner and mode; "
                         "make it owned by root and writable by root only (chown root " +
                             base + "/shared; chmod go-w " + base + "/shared)"},
      {base + "/public", "(owner uid 0, mode 1777) is writable by other users, who could swap "
                         "the socket file for a symlink before hinetd sets its owner and mode; "
                         "choose a directory that root owns and only root can write"},
  };
  uint16_t port = FreeTcpPort();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dir);
    std::string sock = c.dir + "/s.sock";
    std::string cfg = WriteConfig(TcpEcho(port) + UnixService("local", sock));
    std::string want = "hinetd.toml:11:10: service \"local\": listen: the socket's directory " +
                       c.dir + " " + c.said;
    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{BinDir() + "/hinetd", "-f", "-c", cfg},
          std::vector<std::string>{BinDir() + "/hinetd", "check", "-c", cfg}}) {
      CommandResult r = RunCommand(argv, milliseconds(10000));
      EXPECT_EQ(r.exit_code, 78) << argv[1] << ": " << r.err;
      EXPECT_NE(r.err.find(want), std::string::npos) << argv[1] << ": " << r.err;
    }
    // Nothing was bound: no socket file, and the TCP port is free.
    EXPECT_NE(access(sock.c_str(), F_OK), 0);
    int tcp = ConnectTcp("127.0.0.1", port, milliseconds(500));
    EXPECT_LT(tcp, 0);
    if (tcp >= 0) close(tcp);
  }

  // A running daemon with a socket in a good directory; each reload to a
  // table that adds one of the bad directories fails and changes nothing.
  std::string good = base + "/good.sock";
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(TcpEcho(port) + UnixService("good", good))))
      << daemon_.LogText();
  size_t failures = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dir);
    WriteConfig(TcpEcho(port) + UnixService("good", good) +
                UnixService("local", c.dir + "/s.sock"));
    daemon_.Signal(SIGHUP);
    ASSERT_TRUE(daemon_.WaitForCount({"event=reload-failed", "kept=\"generation 1\""}, ++failures,
                                     milliseconds(5000)))
        << daemon_.LogText();
    EXPECT_EQ(daemon_.CountLines({"event=reload-failed", "the socket's directory " + c.dir + " ("}),
              1u)
        << daemon_.LogText();
    EXPECT_NE(access((c.dir + "/s.sock").c_str(), F_OK), 0);
  }
  EXPECT_EQ(daemon_.CountLines({"event=reload "}), 0u) << daemon_.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", port, "still generation 1\n"), "still generation 1\n");
  EXPECT_EQ(EchoUnix(good, "good socket\n"), "good socket\n");
}

// The attack of the issue: a second user loops putting a symlink to a
// root-only file where the socket goes, hoping hinetd gives the file the
// socket's owner and mode. In a directory of that user the table is
// refused; in a root-only directory every attempt fails, and the socket gets
// exactly its configured owner, group and mode.
TEST_F(SocketFilesAttack, SecondUserSwappingTheSocketForASymlinkChangesNoOtherFile) {
  const std::string base = sockets_.path();
  ASSERT_TRUE(sockets_.MakeDir("/attacker"));
  ASSERT_EQ(chown((base + "/attacker").c_str(), kAttacker, kAttacker), 0);
  const std::string file_keys = "socket_user = \"" + std::to_string(kOwner) +
                                "\"\nsocket_group = \"" + std::to_string(kGroup) +
                                "\"\nsocket_mode = \"0640\"\n";
  // The attacker's loop, for `sock`: replace whatever is there by a symlink
  // (made in its own directory, renamed over), remove it, make one in place.
  // Until the parent closes `stop` (or 20 s); then it reports its attempts
  // and successes on `report`. (`sock` and `link` outlive the fork.)
  const std::string link = base + "/attacker/link";
  auto attack = [&](const std::string& sock, int ready, int stop, int stop_w, int report) {
    const char* sock_c = sock.c_str();
    const char* link_c = link.c_str();
    const char* target_c = target_.c_str();
    return [=]() {
      close(stop_w);  // so that the parent's close is seen
      unsigned long counts[2] = {0, 0};  // attempts, successes
      auto deadline = Clock::now() + std::chrono::seconds(20);
      bool told = false;
      while (Clock::now() < deadline) {
        pollfd p{stop, POLLIN, 0};
        if (poll(&p, 1, 0) == 1) break;
        unlink(link_c);
        if (symlink(target_c, link_c) != 0) return 3;
        counts[0] += 3;
        counts[1] += rename(link_c, sock_c) == 0;
        counts[1] += unlink(sock_c) == 0;
        counts[1] += symlink(target_c, sock_c) == 0;
        if (!told) {
          told = write(ready, "r", 1) == 1;
        }
      }
      return write(report, counts, sizeof counts) == sizeof counts ? 0 : 4;
    };
  };

  {
    // (a) The socket in the attacker's directory: refused before anything
    // is created, while the attacker swaps away.
    std::string sock = base + "/attacker/s.sock";
    int ready[2], stop[2], report[2];
    ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(stop, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(report, O_CLOEXEC), 0);
    Forked attacker(kAttacker, attack(sock, ready[1], stop[0], stop[1], report[1]));
    ASSERT_TRUE(attacker.ok());
    close(ready[1]);
    close(report[1]);
    ASSERT_TRUE(Readable(ready[0], milliseconds(5000))) << "the attacker never started";
    std::string cfg = WriteConfig(UnixService("local", sock, file_keys));
    CommandResult r = RunCommand({BinDir() + "/hinetd", "-f", "-c", cfg}, milliseconds(10000));
    EXPECT_EQ(r.exit_code, 78) << r.err;
    EXPECT_NE(r.err.find("the socket's directory " + base + "/attacker (owner uid 64011"),
              std::string::npos)
        << r.err;
    close(stop[1]);
    unsigned long counts[2] = {0, 0};
    ASSERT_TRUE(Readable(report[0], milliseconds(5000)));
    EXPECT_EQ(read(report[0], counts, sizeof counts), static_cast<ssize_t>(sizeof counts));
    EXPECT_EQ(attacker.Wait(milliseconds(5000)), 0);
    EXPECT_GT(counts[1], 0u) << "in its own directory the attacker can swap";
    for (int fd : {ready[0], stop[0], report[0]}) close(fd);
    ExpectTargetUntouched();
  }
  {
    // (b) The socket in a root-only directory, with the attacker at it
    // from before the daemon starts until after it serves.
    std::string sock = base + "/s.sock";
    int ready[2], stop[2], report[2];
    ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(stop, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(report, O_CLOEXEC), 0);
    Forked attacker(kAttacker, attack(sock, ready[1], stop[0], stop[1], report[1]));
    ASSERT_TRUE(attacker.ok());
    close(ready[1]);
    close(report[1]);
    ASSERT_TRUE(Readable(ready[0], milliseconds(5000))) << "the attacker never started";
    ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(UnixService("local", sock, file_keys))))
        << daemon_.LogText();
    EXPECT_EQ(EchoUnix(sock, "through the socket\n"), "through the socket\n");
    close(stop[1]);
    unsigned long counts[2] = {0, 0};
    ASSERT_TRUE(Readable(report[0], milliseconds(5000)));
    EXPECT_EQ(read(report[0], counts, sizeof counts), static_cast<ssize_t>(sizeof counts));
    EXPECT_EQ(attacker.Wait(milliseconds(5000)), 0);
    for (int fd : {ready[0], stop[0], report[0]}) close(fd);
    EXPECT_GT(counts[0], 0u);
    EXPECT_EQ(counts[1], 0u) << "the attacker changed the socket's directory";
    struct stat st {};
    ASSERT_EQ(lstat(sock.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_uid, kOwner);
    EXPECT_EQ(st.st_gid, kGroup);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    ExpectTargetUntouched();
  }
}

// The bind sequence itself, against a process that may write the directory
// (only root can, once the directory check holds: this is the defence
// behind it): it waits for the socket file to appear and at once renames a
// symlink to the root-only file over it, for a bounded number of rounds.
// Whatever it wins, hinetd never gives the target the socket's owner or
// mode: after bind() it acts on an O_PATH|O_NOFOLLOW descriptor checked to
// be the socket it made, never on the path.
TEST_F(SocketFilesAttack, BindSequenceNeverFollowsASymlinkRacedInPlaceOfTheSocket) {
  std::string sock = sockets_.path() + "/raced.sock";
  std::string link = sockets_.path() + "/raced.link";
  auto eps = net::ParseListen("unix:" + sock, net::Transport::kTcp);
  ASSERT_TRUE(eps.ok()) << eps.error().message();
  // An owner, group and mode the target must never get.
  net::UnixSocketFile file;
  file.uid = kOwner;
  file.gid = kGroup;
  file.mode = 0666;
  int stop[2], report[2];
  ASSERT_EQ(pipe2(stop, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(report, O_CLOEXEC), 0);
  const char* sock_c = sock.c_str();
  const char* link_c = link.c_str();
  const char* target_c = target_.c_str();
  int stop_r = stop[0];
  int stop_w = stop[1];
  int report_w = report[1];
  Forked racer(0, [=]() {
    close(stop_w);  // so that the parent's close is seen
    unsigned long swaps = 0;
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      pollfd p{stop_r, POLLIN, 0};
      if (poll(&p, 1, 0) == 1) break;
      struct stat st {};
      if (lstat(sock_c, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
      unlink(link_c);
      if (symlink(target_c, link_c) == 0 && rename(link_c, sock_c) == 0) ++swaps;
    }
    return write(report_w, &swaps, sizeof swaps) == sizeof swaps ? 0 : 4;
  });
  ASSERT_TRUE(racer.ok());
  close(report[1]);
  int bound = 0;
  int refused = 0;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  for (int round = 0; round < 2000 && Clock::now() < deadline; ++round) {
    unlink(sock.c_str());
    auto fd = net::BindListener((*eps)[0], net::Transport::kTcp, 4, file);
    if (fd.ok()) {
      ++bound;
    } else {
      ++refused;
      // Only the race may make it fail: a symlink found in place of the
      // socket after bind(), or before it (swapped in after this loop's
      // unlink, over the previous round's socket).
      const std::string& m = fd.error().message();
      EXPECT_TRUE(m.find("was replaced right after hinetd created it") != std::string::npos ||
                  m.find("exists and is not a socket") != std::string::npos ||
                  m.find("EADDRINUSE") != std::string::npos)
          << m;
    }
  }
  close(stop[1]);
  unsigned long swaps = 0;
  ASSERT_TRUE(Readable(report[0], milliseconds(5000)));
  EXPECT_EQ(read(report[0], &swaps, sizeof swaps), static_cast<ssize_t>(sizeof swaps));
  EXPECT_EQ(racer.Wait(milliseconds(5000)), 0);
  close(stop[0]);
  close(report[0]);
  unlink(sock.c_str());
  unlink(link.c_str());
  RecordProperty("bound", bound);
  RecordProperty("refused", refused);
  RecordProperty("swaps", static_cast<int>(swaps));
  EXPECT_GT(swaps, 0u) << "the racer never swapped: the test proved nothing";
  ExpectTargetUntouched();
}

// The file bind() creates is never more open than configured, not even to
// socket_user before it becomes the owner: with a group and others that may
// do more than the owner (0466), the file starts capped to the owner's
// permissions (0444) and gets the configured mode through its descriptor
// once the owner is set. The result is exact.
TEST_F(SocketFilesAttack, ModeIsExactWhenGroupAndOthersMayDoMoreThanTheOwner) {
  std::string sock = sockets_.path() + "/odd.sock";
  auto eps = net::ParseListen("unix:" + sock, net::Transport::kTcp);
  ASSERT_TRUE(eps.ok()) << eps.error().message();
  net::UnixSocketFile file;
  file.uid = kOwner;
  file.gid = kGroup;
  file.mode = 0466;
  auto fd = net::BindListener((*eps)[0], net::Transport::kTcp, 4, file);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  struct stat st {};
  ASSERT_EQ(lstat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_uid, kOwner);
  EXPECT_EQ(st.st_gid, kGroup);
  EXPECT_EQ(st.st_mode & 07777, 0466u);
  unlink(sock.c_str());
}

// A live socket whose backlog is full: a blocking connect would wait for
// good. Start fails at once with "in use"; so does a reload that adds it,
// and the daemon still stops on TERM within a bound. The socket stays.
TEST_F(SocketFilesAttack, FullBacklogSocketIsInUseAndStallsNeitherStartNorReload) {
  std::string busy = sockets_.path() + "/busy.sock";
  int listener = BoundUnix(busy);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(listen(listener, 0), 0);
  // Fill the backlog: connect without blocking until the kernel says full.
  sockaddr_un sun = UnixAddr(busy);
  std::vector<int> held;
  bool full = false;
  for (int i = 0; i < 64 && !full; ++i) {
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ASSERT_GE(c, 0);
    if (connect(c, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0) {
      held.push_back(c);
    } else {
      full = errno == EAGAIN;
      close(c);
    }
  }
  ASSERT_TRUE(full) << "the backlog never filled";

  uint16_t port = FreeTcpPort();
  std::string cfg = WriteConfig(TcpEcho(port) + UnixService("busy", busy));
  auto t0 = Clock::now();
  CommandResult r = RunCommand({BinDir() + "/hinetd", "-f", "-c", cfg}, milliseconds(5000));
  auto took = Clock::now() - t0;
  EXPECT_EQ(r.exit_code, 71) << r.err;
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_NE(r.err.find(busy + " is in use: another process listens on it (hinetd replaces only a "
                       "socket file nobody listens on)"),
            std::string::npos)
      << r.err;

  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(TcpEcho(port)))) << daemon_.LogText();
  WriteConfig(TcpEcho(port) + UnixService("busy", busy));
  t0 = Clock::now();
  daemon_.Signal(SIGHUP);
  EXPECT_TRUE(daemon_.WaitForLine({"event=reload-failed", busy + " is in use"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(Exchange("127.0.0.1", port, "not stalled\n"), "not stalled\n");
  t0 = Clock::now();
  auto status = daemon_.Stop(milliseconds(5000));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));

  struct stat st {};
  EXPECT_EQ(lstat(busy.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  for (int c : held) close(c);
  close(listener);
}

// A live socket of another user (its file 0600, its process running as
// that user). At start hinetd is fully root and connects: in use. At reload
// the monitor has no CAP_DAC_OVERRIDE and gets EACCES, which cannot tell:
// in use too, never taken for stale. The file stays, and still answers.
TEST_F(SocketFilesAttack, LiveSocketOfAnotherUserIsNeverTakenForStale) {
  std::string theirs = sockets_.path() + "/theirs.sock";
  // Made by root in the root-only directory, as an administrator would for
  // that user, then listened on by a process of the user.
  int fd = BoundUnix(theirs);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(chown(theirs.c_str(), kAttacker, kAttacker), 0);
  ASSERT_EQ(chmod(theirs.c_str(), 0600), 0);
  int ready[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  int ready_w = ready[1];
  Forked owner(kAttacker, [=]() {
    if (listen(fd, 16) != 0) return 3;
    if (write(ready_w, "r", 1) != 1) return 4;
    // Never accepts; killed by the test.
    for (int i = 0; i < 600; ++i) pause();
    return 0;
  });
  ASSERT_TRUE(owner.ok());
  close(ready[1]);
  close(fd);
  ASSERT_TRUE(Readable(ready[0], milliseconds(5000))) << "the other user's server never listened";
  close(ready[0]);

  uint16_t port = FreeTcpPort();
  std::string cfg = WriteConfig(TcpEcho(port) + UnixService("theirs", theirs));
  CommandResult r = RunCommand({BinDir() + "/hinetd", "-f", "-c", cfg}, milliseconds(5000));
  EXPECT_EQ(r.exit_code, 71) << r.err;
  EXPECT_NE(r.err.find(theirs + " is in use: another process listens on it"), std::string::npos)
      << r.err;

  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(TcpEcho(port)))) << daemon_.LogText();
  WriteConfig(TcpEcho(port) + UnixService("theirs", theirs));
  daemon_.Signal(SIGHUP);
  EXPECT_TRUE(daemon_.WaitForLine({"event=reload-failed", theirs +
                                                              " is in use, as far as hinetd can "
                                                              "tell: connecting to it failed "
                                                              "with EACCES"},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(Exchange("127.0.0.1", port, "kept\n"), "kept\n");
  daemon_.Stop();

  struct stat st {};
  ASSERT_EQ(lstat(theirs.c_str(), &st), 0) << "the other user's socket was removed";
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_uid, kAttacker);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  int c = ConnectUnix(theirs);
  EXPECT_GE(c, 0) << "the other user's server no longer listens there";
  if (c >= 0) close(c);
}

// No regression: a socket file nobody listens on (bound, then its process
// exited) is replaced, at start and on a reload, and the new one has the
// default owner, group and mode (root, root, 0660).
TEST_F(SocketFilesAttack, StaleSocketIsStillReplacedAtStartAndReload) {
  std::string first = sockets_.path() + "/first.sock";
  std::string second = sockets_.path() + "/second.sock";
  for (const auto& path : {first, second}) {
    int fd = BoundUnix(path);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(UnixService("first", first))))
      << daemon_.LogText();
  EXPECT_EQ(EchoUnix(first, "replaced at start\n"), "replaced at start\n");
  WriteConfig(UnixService("first", first) + UnixService("second", second));
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=2"}, milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(EchoUnix(second, "replaced at reload\n"), "replaced at reload\n");
  for (const auto& path : {first, second}) {
    struct stat st {};
    ASSERT_EQ(lstat(path.c_str(), &st), 0) << path;
    EXPECT_TRUE(S_ISSOCK(st.st_mode)) << path;
    EXPECT_EQ(st.st_uid, 0u) << path;
    EXPECT_EQ(st.st_gid, 0u) << path;
    EXPECT_EQ(st.st_mode & 07777, 0660u) << path;
  }
}

}  // namespace
}  // namespace hinetd::testing
