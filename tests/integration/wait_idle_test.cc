// LookIdle (supervisor/wait_idle.h) on real processes of another uid, as the
// monitor sees its udp wait children: blocked on the service socket in each
// kind of call it knows, or busy in every way a child can be.
#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "common/test_env.h"
#include "supervisor/wait_idle.h"

namespace hinetd::supervisor {
namespace {

using std::chrono::milliseconds;
constexpr uid_t kNobody = 65534;

int BoundUdp() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  return s;
}

ino_t InodeOf(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

class LookIdleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HINETD_REQUIRE_ROOT();
    sock_ = BoundUdp();
    ASSERT_GE(sock_, 0);
    other_ = BoundUdp();
    ASSERT_GE(other_, 0);
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);  // its group: what it started too
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (sock_ >= 0) close(sock_);
    if (other_ >= 0) close(other_);
  }

  // Starts a child that takes nobody's ids (dumpable again, as after the
  // execve of a service) with the socket on fd 0 and then runs `body`.
  void Start(const std::function<void()>& body) {
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      setpgid(0, 0);  // a group of its own, as a service child's session
      dup2(sock_, 0);
      if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
          setresuid(kNobody, kNobody, kNobody) != 0 || prctl(PR_SET_DUMPABLE, 1) != 0) {
        _exit(1);
      }
      body();
      _exit(0);
    }
  }

  // Looks until `want` (idle or not) is seen with the child asleep, for at
  // most 5 s; returns the last look.
  IdleLook LookUntil(bool want) {
    IdleLook look;
    auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ProcessState(pid_) == 'S') {
        look = LookIdle(pid_, kNobody, kNobody, InodeOf(sock_));
        if (look.idle == want) return look;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return look;
  }

  int sock_ = -1;
  int other_ = -1;
  pid_t pid_ = -1;
};

TEST_F(LookIdleTest, BlockedInRecvfromOnTheSocketIsIdle) {
  Start([] {
    char b[8];
    recvfrom(0, b, sizeof b, 0, nullptr, nullptr);
  });
  auto look = LookUntil(true);
  EXPECT_TRUE(look.idle) << look.what;
  EXPECT_EQ(look.what, "recvfrom");
}

TEST_F(LookIdleTest, BlockedInReadOnTheSocketIsIdle) {
  Start([] {
    char b[8];
    if (read(0, b, sizeof b) < 0) _exit(1);
  });
  auto look = LookUntil(true);
  EXPECT_TRUE(look.idle) << look.what;
  EXPECT_EQ(look.what, "read");
}

TEST_F(LookIdleTest, PollWithTheSocketAmongOthersIsIdle) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Start([p] {
    pollfd fds[2] = {{p[0], POLLIN, 0}, {0, POLLIN, 0}};
    poll(fds, 2, -1);
  });
  close(p[0]);
  auto look = LookUntil(true);
  close(p[1]);
  EXPECT_TRUE(look.idle) << look.what;
  EXPECT_TRUE(look.what == "poll" || look.what == "ppoll") << look.what;
}

TEST_F(LookIdleTest, SelectOnTheSocketIsIdle) {
  Start([] {
    fd_set r;
    FD_ZERO(&r);
    FD_SET(0, &r);
    select(1, &r, nullptr, nullptr, nullptr);
  });
  auto look = LookUntil(true);
  EXPECT_TRUE(look.idle) << look.what;
  EXPECT_TRUE(look.what == "select" || look.what == "pselect6") << look.what;
}

TEST_F(LookIdleTest, EpollWatchingTheSocketIsIdle) {
  Start([] {
    int ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
    epoll_wait(ep, &ev, 1, -1);
  });
  auto look = LookUntil(true);
  EXPECT_TRUE(look.idle) << look.what;
  EXPECT_TRUE(look.what == "epoll_wait" || look.what == "epoll_pwait") << look.what;
}

TEST_F(LookIdleTest, SleepingInARequestIsBusy) {
  Start([] {
    timespec t{30, 0};
    nanosleep(&t, nullptr);
  });
  auto look = LookUntil(false);
  EXPECT_FALSE(look.idle);
  EXPECT_NE(look.what.find("syscall"), std::string::npos) << look.what;
}

TEST_F(LookIdleTest, ReceivingOnAnotherSocketIsBusy) {
  int other = other_;
  Start([other] {
    char b[8];
    recvfrom(other, b, sizeof b, 0, nullptr, nullptr);
  });
  auto look = LookUntil(false);
  EXPECT_FALSE(look.idle);
  EXPECT_EQ(look.what, "recvfrom on another descriptor");
}

TEST_F(LookIdleTest, ALiveProcessItStartedMakesItBusy) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  Start([ready] {
    pid_t g = fork();
    if (g == 0) {
      timespec t{30, 0};
      nanosleep(&t, nullptr);
      _exit(0);
    }
    // In the child's process group: TearDown kills both.
    if (write(ready[1], "x", 1) != 1) _exit(1);
    char b[8];
    recvfrom(0, b, sizeof b, 0, nullptr, nullptr);
    kill(g, SIGKILL);
  });
  close(ready[1]);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  auto look = LookUntil(false);
  EXPECT_FALSE(look.idle);
  EXPECT_EQ(look.what.rfind("process ", 0), 0u) << look.what;
}

}  // namespace
}  // namespace hinetd::supervisor
