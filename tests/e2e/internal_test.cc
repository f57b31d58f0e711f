// The five internal services over TCP, byte for byte, through the real daemon.
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>

#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

class InternalTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (auto* p : {&echo_, &discard_, &chargen_, &daytime_, &time_}) *p = FreeTcpPort();
    std::string v6 = HaveLoopback("::1") ? ", \"[::1]:" + std::to_string(echo_) + "\"" : "";
    auto l = [](uint16_t port) { return "\"127.0.0.1:" + std::to_string(port) + "\""; };
    std::string cfg = InternalService("echo", "echo", l(echo_) + v6) +
                      InternalService("discard", "discard", l(discard_)) +
                      InternalService("chargen", "chargen", l(chargen_)) +
                      InternalService("daytime", "daytime", l(daytime_)) +
                      InternalService("time", "time", l(time_));
    ASSERT_TRUE(daemon_.StartAndWait(WriteConfig(cfg))) << daemon_.LogText();
  }
  uint16_t echo_ = 0, discard_ = 0, chargen_ = 0, daytime_ = 0, time_ = 0;
};

TEST_F(InternalTest, EchoReturnsEveryByte) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<char>(i * 7 + i / 256));
  std::string got = Exchange("127.0.0.1", echo_, data);
  // Not EXPECT_EQ: on a mismatch it would print 100 KB of binary.
  EXPECT_EQ(got.size(), data.size()) << got.substr(0, 64);
  EXPECT_TRUE(got == data) << "the echoed bytes differ";
  auto end = daemon_.WaitForLine({"event=end", "service=echo", "status=exit:0"}, milliseconds(5000));
  EXPECT_TRUE(end.has_value()) << daemon_.LogText();
}

TEST_F(InternalTest, EchoOverIpv6) {
  if (!HaveLoopback("::1")) GTEST_SKIP() << "IPv6 loopback is not available on this host";
  EXPECT_EQ(Exchange("::1", echo_, "over v6\n"), "over v6\n");
  EXPECT_TRUE(daemon_.WaitForLine({"event=accept", "service=echo", "peer=[::1]:"},
                                  milliseconds(5000)));
}

TEST_F(InternalTest, DiscardAnswersNothing) {
  EXPECT_EQ(Exchange("127.0.0.1", discard_, std::string(50000, 'x')), "");
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=discard", "status=exit:0"},
                                  milliseconds(5000)));
}

TEST_F(InternalTest, ChargenIsTheRfc864Pattern) {
  int fd = ConnectTcp("127.0.0.1", chargen_);
  ASSERT_GE(fd, 0);
  std::string got = ReadN(fd, 74 * 200, milliseconds(5000));
  close(fd);
  ASSERT_EQ(got.size(), 74u * 200);
  for (size_t line = 0; line < 200; ++line) {
    std::string want;
    for (size_t i = 0; i < 72; ++i) want.push_back(static_cast<char>(' ' + (line + i) % 95));
    want += "\r\n";
    ASSERT_EQ(got.substr(line * 74, 74), want) << "line " << line;
  }
  // The client went away: chargen ends normally, not by SIGPIPE.
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=chargen", "status=exit:0"},
                                  milliseconds(5000)))
      << daemon_.LogText();
}

TEST_F(InternalTest, DaytimeIsCtimeFormatInUtc) {
  time_t before = RealtimeSeconds();
  std::string got = Exchange("127.0.0.1", daytime_, "");
  time_t after = RealtimeSeconds();
  ASSERT_EQ(got.size(), 26u) << got;
  EXPECT_EQ(got.substr(24), "\r\n");
  EXPECT_TRUE(IsDaytimeBetween(got, before, after)) << got;
}

TEST_F(InternalTest, TimeIsSecondsSince1900BigEndian) {
  time_t before = RealtimeSeconds();
  std::string got = Exchange("127.0.0.1", time_, "");
  time_t after = RealtimeSeconds();
  ASSERT_EQ(got.size(), 4u);
  uint32_t be;
  memcpy(&be, got.data(), 4);
  uint32_t secs = ntohl(be);
  uint32_t lo = static_cast<uint32_t>(before + 2208988800LL);
  uint32_t hi = static_cast<uint32_t>(after + 2208988800LL);
  EXPECT_GE(secs, lo);
  EXPECT_LE(secs, hi);
}

TEST_F(InternalTest, ChildrenAreSandboxedNotTheDaemon) {
  // A long-running chargen child: look at it from outside while it runs.
  int fd = ConnectTcp("127.0.0.1", chargen_);
  ASSERT_GE(fd, 0);
  auto line = daemon_.WaitForLine({"event=accept", "service=chargen"}, milliseconds(5000));
  ASSERT_TRUE(line.has_value());
  std::string pid = LogField(*line, "pid");
  ASSERT_FALSE(pid.empty());
  ASSERT_NE(pid, std::to_string(daemon_.pid()));
  std::string status;
  {
    CommandResult r = RunCommand({"/bin/cat", "/proc/" + pid + "/status"}, milliseconds(5000));
    status = r.out;
  }
  // Its program is position independent: not at the fixed address a static
  // non-PIE program is linked for (0x400000 on x86_64), but where the
  // kernel put it for this child.
  std::string maps;
  {
    CommandResult r = RunCommand({"/bin/cat", "/proc/" + pid + "/maps"}, milliseconds(5000));
    maps = r.out;
  }
  size_t helper = maps.find("/hinetd-internal");
  ASSERT_NE(helper, std::string::npos) << maps;
  std::string first = maps.substr(maps.rfind('\n', helper) + 1);
  EXPECT_NE(std::stoull(first.substr(0, first.find('-')), nullptr, 16), 0x400000u) << maps;
  // While the connection is open: closing it ends the child.
  char root[256] = {};
  ssize_t n = readlink(("/proc/" + pid + "/root").c_str(), root, sizeof root - 1);
  close(fd);
  // The internal services' own account, not nobody (which exec services use).
  const passwd* internal = getpwnam("hinetd-internal");
  ASSERT_NE(internal, nullptr);
  std::string uid = std::to_string(internal->pw_uid);
  EXPECT_NE(status.find("Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n"),
            std::string::npos)
      << status;
  // Every set empty: the monitor's inheritable set (the listener's start,
  // privsep_test) is cleared in every child.
  for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_NE(status.find(std::string(set) + ":\t0000000000000000"), std::string::npos)
        << set << "\n" << status;
  }
  EXPECT_NE(status.find("NoNewPrivs:\t1"), std::string::npos);
  EXPECT_NE(status.find("Seccomp:\t2"), std::string::npos);
  ASSERT_GT(n, 0);
  EXPECT_STREQ(root, "/var/lib/hinetd/empty");
}

}  // namespace
}  // namespace hinetd::testing

namespace hinetd::testing {
namespace {

// hinetd finds hinetd-internal next to itself through /proc/self/exe. That
// link is gone where /proc is not this pid namespace's: a bare chroot, or a
// /proc that a process in a new pid namespace mounted over the shared one
// (after that namespace ends, /proc/self is ENOENT for everyone, which is
// how a whole run once lost its internal services at once). Runs
// `hinetd check` in a mount namespace of its own with exactly that /proc,
// started by `how`: "relative" (./hinetd from its directory: AT_EXECFN
// still finds it) or "fd" (execveat of a descriptor: AT_EXECFN is
// /dev/fd/N, which needs /proc too, so the error must say why).
CommandResult CheckWithoutProcSelf(const std::string& config, const std::string& how) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    if (unshare(CLONE_NEWNS | CLONE_NEWPID) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      dprintf(2, "skip: no mount and pid namespace: %s\n", strerror(errno));
      _exit(125);
    }
    // Pid 1 of the new namespace mounts its /proc over ours and ends.
    pid_t init = fork();
    if (init == 0) _exit(mount("proc", "/proc", "proc", 0, nullptr) == 0 ? 0 : 1);
    int st = 0;
    if (waitpid(init, &st, 0) != init || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      dprintf(2, "skip: cannot mount a proc of another pid namespace\n");
      _exit(125);
    }
    char probe[64];
    if (readlink("/proc/self/exe", probe, sizeof probe) >= 0) {
      dprintf(2, "skip: /proc/self/exe still readable\n");
      _exit(125);
    }
    std::string bin = BinDir() + "/hinetd";
    const char* argv[] = {"hinetd", "check", "-c", config.c_str(), nullptr};
    if (how == "relative") {
      if (chdir(BinDir().c_str()) != 0) _exit(126);
      execv("./hinetd", const_cast<char**>(argv));
    } else {
      int fd = open(bin.c_str(), O_RDONLY);  // not CLOEXEC: execveat needs it open
      syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
    }
    _exit(127);
  }
  close(out[1]);
  CommandResult r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    r.out.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class SelfPathTest : public E2eTest {};

TEST_F(SelfPathTest, FindsItsHelperWhenProcSelfIsAnotherNamespaces) {
  if (kSanitizerBuild) {
    GTEST_SKIP() << "the sanitizer runtime reads /proc/self/maps before main: it cannot start "
                    "with another namespace's /proc mounted over it (the normal build runs this)";
  }
  std::string config = WriteConfig(InternalService("echo", "echo", "\"127.0.0.1:7\""));
  CommandResult r = CheckWithoutProcSelf(config, "relative");
  if (r.exit_code == 125) GTEST_SKIP() << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("runs      internal echo (" + BinDir() + "/hinetd-internal"),
            std::string::npos)
      << r.out;

  // Started through a descriptor, nothing names its directory: the error
  // says what was tried and why not next to the program. (Unless an
  // installed copy answers from the compiled-in directory.)
  r = CheckWithoutProcSelf(config, "fd");
  if (r.out.find("runs      internal echo (") != std::string::npos) {
    GTEST_SKIP() << "an installed hinetd-internal answered: " << r.out;
  }
  EXPECT_EQ(r.exit_code, 78) << r.out;
  EXPECT_NE(r.out.find("internal services need the helper hinetd-internal; not found (tried "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("not next to this program, whose path is unknown: readlink "
                       "/proc/self/exe: ENOENT (is /proc mounted?); realpath of the started "
                       "path '/dev/fd/"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace hinetd::testing
