// The relay of children's stderr into the log (supervisor/stderr_relay.h):
// whole lines only, the rest kept for the next read; a child's last words
// read and logged when it is gone; and past the rate, every line either
// logged or counted in a stderr-suppressed line.
#include "supervisor/stderr_relay.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

namespace hinetd::supervisor {
namespace {

// A Logger writing to a pipe, and what it wrote.
class Captured {
 public:
  Captured() {
    EXPECT_EQ(pipe2(p_, O_CLOEXEC | O_NONBLOCK), 0);
    log_ = std::make_unique<base::Logger>(base::LogSink::kStderr, p_[1]);
  }
  ~Captured() {
    close(p_[0]);
    close(p_[1]);
  }
  base::Logger& log() { return *log_; }
  // Every line written since the last call.
  std::vector<std::string> Lines() {
    char buf[65536];
    for (;;) {
      ssize_t n = read(p_[0], buf, sizeof buf);
      if (n <= 0) break;
      text_.append(buf, static_cast<size_t>(n));
    }
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t nl; (nl = text_.find('\n', start)) != std::string::npos; start = nl + 1) {
      out.push_back(text_.substr(start, nl - start));
    }
    text_.erase(0, start);
    return out;
  }

 private:
  int p_[2] = {-1, -1};
  std::unique_ptr<base::Logger> log_;
  std::string text_;
};

// A child of "echo" whose stderr is the read end of a pipe; the test
// writes at the other end.
struct PipedChild {
  PipedChild() {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    children[kPid].service = "echo";
    children[kPid].stderr_fd = p[0];
    write_end = p[1];
  }
  ~PipedChild() {
    if (write_end >= 0) close(write_end);
    if (child().stderr_fd >= 0) close(child().stderr_fd);
  }
  void Write(const std::string& text) {
    ASSERT_EQ(write(write_end, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  void CloseWriteEnd() {
    close(write_end);
    write_end = -1;
  }
  Child& child() { return children.at(kPid); }

  static constexpr pid_t kPid = 4242;
  Children children;
  int write_end = -1;
};

TEST(StderrRelayTest, WholeLinesGoToTheLogAndTheLastWordsAtTheEnd) {
  Captured out;
  StderrRelay relay(out.log());
  PipedChild p;
  relay.Add(PipedChild::kPid, p.child(), /*watched=*/false);
  p.Write("one\ntwo\npart");
  int fd = p.child().stderr_fd;
  relay.OnReadable(fd, p.children);
  EXPECT_EQ(out.Lines(), (std::vector<std::string>{"event=stderr service=echo pid=4242 line=one",
                                                   "event=stderr service=echo pid=4242 line=two"}));
  EXPECT_EQ(p.child().stderr_partial, "part");
  // A pipe that is not a child's: nothing happens.
  relay.OnReadable(p.write_end, p.children);
  EXPECT_TRUE(out.Lines().empty());
  // The child is gone: what is still in the pipe is read, the unended
  // line too, and the pipe is closed.
  p.Write("ial\nlast-words");
  p.CloseWriteEnd();
  relay.Close(PipedChild::kPid, p.child());
  EXPECT_EQ(out.Lines(),
            (std::vector<std::string>{"event=stderr service=echo pid=4242 line=partial",
                                      "event=stderr service=echo pid=4242 line=last-words"}));
  EXPECT_EQ(p.child().stderr_fd, -1);
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);
  // Closed once: a second Close does nothing.
  relay.Close(PipedChild::kPid, p.child());
  EXPECT_TRUE(out.Lines().empty());
}

TEST(StderrRelayTest, TheEndOfThePipeClosesIt) {
  Captured out;
  StderrRelay relay(out.log());
  PipedChild p;
  relay.Add(PipedChild::kPid, p.child(), /*watched=*/false);
  p.Write("bye");
  p.CloseWriteEnd();
  int fd = p.child().stderr_fd;
  relay.OnReadable(fd, p.children);  // the three bytes, no line yet
  EXPECT_TRUE(out.Lines().empty());
  relay.OnReadable(fd, p.children);  // the end
  EXPECT_EQ(out.Lines(), (std::vector<std::string>{"event=stderr service=echo pid=4242 line=bye"}));
  EXPECT_EQ(p.child().stderr_fd, -1);
}

// An epoll registration belongs to the open file: a child cloned while
// another's pipe is watched holds a copy of it until its execve, and a
// close alone would leave the pipe registered, its end reported by every
// epoll_wait (the monitor's busy loop under load). The relay unwatches a
// watched pipe before it closes it, and only a watched one.
TEST(StderrRelayTest, AWatchedPipeLeavesTheEpollSetThoughACopyOfItLivesOn) {
  Captured out;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  std::vector<int> unwatched;
  StderrRelay relay(out.log(), [&](int fd) {
    unwatched.push_back(fd);
    EXPECT_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr), 0) << "unwatched after its close";
  });
  PipedChild p;
  int fd = p.child().stderr_fd;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
  relay.Add(PipedChild::kPid, p.child(), /*watched=*/true);
  int copy = dup(fd);  // what a child in setup holds
  ASSERT_GE(copy, 0);
  p.CloseWriteEnd();
  relay.OnReadable(fd, p.children);  // the end: unwatched and closed
  EXPECT_EQ(p.child().stderr_fd, -1);
  EXPECT_EQ(unwatched, std::vector<int>{fd});
  epoll_event ready[4];
  EXPECT_EQ(epoll_wait(ep, ready, 4, 0), 0) << "the pipe's end is still reported";
  close(copy);

  // A child reaped before its pipe was watched: closed without a call.
  PipedChild q;
  relay.Add(PipedChild::kPid, q.child(), /*watched=*/false);
  q.CloseWriteEnd();
  relay.Close(PipedChild::kPid, q.child());
  EXPECT_EQ(q.child().stderr_fd, -1);
  EXPECT_EQ(unwatched.size(), 1u);

  // One unwatched at first and watched later (its delay over): unwatched
  // at its close like any watched one; Watch says yes once only.
  PipedChild r;
  int late = r.child().stderr_fd;
  EXPECT_FALSE(relay.Watch(late)) << "not a child's pipe here yet";
  relay.Add(PipedChild::kPid, r.child(), /*watched=*/false);
  EXPECT_TRUE(relay.Watch(late));
  EXPECT_FALSE(relay.Watch(late)) << "already watched";
  ev.data.fd = late;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, late, &ev), 0);
  relay.Close(PipedChild::kPid, r.child());
  EXPECT_EQ(unwatched, (std::vector<int>{fd, late}));
  close(ep);
}

TEST(StderrRelayTest, EveryLineIsLoggedOrCounted) {
  Captured out;
  StderrRelay relay(out.log());
  PipedChild p;
  relay.Add(PipedChild::kPid, p.child(), /*watched=*/false);
  const int written = 300;  // more than a child's burst (stderr_limit.h)
  std::string text;
  for (int i = 0; i < written; ++i) text += "l" + std::to_string(i) + "\n";
  p.Write(text);
  p.CloseWriteEnd();
  relay.Close(PipedChild::kPid, p.child());
  int logged = 0;
  int64_t counted = 0;
  for (const auto& line : out.Lines()) {
    if (line.rfind("event=stderr ", 0) == 0) {
      ++logged;
    } else {
      const std::string prefix = "event=stderr-suppressed service=echo pid=4242 lines=";
      ASSERT_EQ(line.rfind(prefix, 0), 0u) << line;
      counted += std::stoll(line.substr(prefix.size()));
    }
  }
  EXPECT_LT(logged, written);
  EXPECT_GT(counted, 0);
  EXPECT_EQ(logged + counted, written);
}

}  // namespace
}  // namespace hinetd::supervisor
