#include "supervisor/proc_events.h"

#include <gtest/gtest.h>

namespace hinetd::supervisor {
namespace {

// Pid 10 is the monitor's child (service "svc"), 11 another's ("other"),
// both started long ago.
std::optional<ProcessTree::DirectChild> Direct(pid_t pid) {
  if (pid == 10) return ProcessTree::DirectChild{"svc", Clock::time_point{}};
  if (pid == 11) return ProcessTree::DirectChild{"other", Clock::time_point{}};
  return std::nullopt;
}

TEST(ProcessTree, DescendantsOfAChildAreItsService) {
  ProcessTree tree;
  auto now = Clock::now();
  tree.OnFork(10, 20, Direct, now);  // a child of the child
  tree.OnFork(20, 30, Direct, now);  // ... and its child
  tree.OnFork(20, 31, Direct, now);
  tree.OnExit(20, now);              // 30 and 31 outlive their parent (double fork)
  tree.OnFork(30, 40, Direct, now);
  tree.OnFork(1, 50, Direct, now);   // not hinetd's
  tree.OnFork(11, 60, Direct, now);
  for (pid_t pid : {20, 30, 31, 40}) {
    const auto* e = tree.Find(pid);
    ASSERT_NE(e, nullptr) << pid;
    EXPECT_EQ(e->service, "svc");
    EXPECT_EQ(e->child, 10);
  }
  EXPECT_EQ(tree.Find(50), nullptr);
  EXPECT_EQ(tree.Find(10), nullptr);  // the child itself is the monitor's to report
  ASSERT_NE(tree.Find(60), nullptr);
  EXPECT_EQ(tree.Find(60)->service, "other");
}

TEST(ProcessTree, AnExitedProcessIsKeptForItsLateRecordThenForgotten) {
  ProcessTree tree;
  auto now = Clock::now();
  tree.OnFork(10, 20, Direct, now);
  tree.OnExit(20, now);
  // The kill record trails the exit: still known.
  ASSERT_NE(tree.Find(20), nullptr);
  EXPECT_TRUE(tree.Find(20)->exited);
  // A dead process forks nothing: its pid's later children are not taken
  // for the service's.
  tree.OnFork(20, 21, Direct, now);
  EXPECT_EQ(tree.Find(21), nullptr);
  tree.OnExit(99, now + ProcessTree::kRetention);  // any event expires the old
  EXPECT_EQ(tree.Find(20), nullptr);
  EXPECT_EQ(tree.size(), 0u);
}

TEST(ProcessTree, AReusedPidIsNoLongerTheService) {
  ProcessTree tree;
  auto now = Clock::now();
  tree.OnFork(10, 20, Direct, now);
  tree.OnExit(20, now);
  // The kernel gives pid 20 to a process of someone else.
  tree.OnFork(1, 20, Direct, now);
  EXPECT_EQ(tree.Find(20), nullptr);
  // Its exit entry, when it expires, takes nothing new with it.
  tree.OnFork(11, 20, Direct, now + std::chrono::seconds(1));
  tree.OnExit(99, now + ProcessTree::kRetention);
  ASSERT_NE(tree.Find(20), nullptr);
  EXPECT_EQ(tree.Find(20)->service, "other");
}

// The events are read in batches, up to a period after they happened: a
// fork is judged as of its stamp, not as of the read.
TEST(ProcessTree, AForkFromBeforeAChildStartedIsNotItsThoughThePidIsReadLater) {
  ProcessTree tree;
  auto t = Clock::now();
  // Pid 12 was some other process's at t; it forked 40, exited, and the
  // monitor then started its child with pid 12 at t + 1 ms. The events are
  // read after that.
  auto now_child = [&](pid_t pid) -> std::optional<ProcessTree::DirectChild> {
    if (pid == 12) return ProcessTree::DirectChild{"svc", t + std::chrono::milliseconds(1)};
    return std::nullopt;
  };
  tree.OnFork(12, 40, now_child, t);
  tree.OnExit(12, t + std::chrono::microseconds(500));
  tree.OnFork(1, 12, now_child, t + std::chrono::milliseconds(1));  // the monitor's clone
  tree.OnFork(12, 41, now_child, t + std::chrono::milliseconds(2));  // the child's own fork
  EXPECT_EQ(tree.Find(40), nullptr) << "the earlier process's child taken for the service's";
  ASSERT_NE(tree.Find(41), nullptr);
  EXPECT_EQ(tree.Find(41)->service, "svc");
  EXPECT_EQ(tree.Find(41)->child, 12);
}

}  // namespace
}  // namespace hinetd::supervisor
