// The monitor's children bookkeeping (supervisor/child_table.h): counts
// per service, status pipe owners, and what is due when, with every entry
// of a child gone with it.
#include "supervisor/child_table.h"

#include <gtest/gtest.h>

namespace hinetd::supervisor {
namespace {

using Due = ChildTable::Due;
using std::chrono::seconds;

Child Named(const std::string& service) {
  Child c;
  c.service = service;
  c.exec_slot = 0;
  return c;
}

TEST(ChildTableTest, AChildCountsAsRunningFromAddUntilRemoved) {
  ChildTable t;
  auto now = Clock::now();
  t.Add(t.Reserve("echo", false), 100, Named("echo"), 7, now + seconds(1), now + seconds(2),
        std::nullopt);
  t.Add(t.Reserve("echo", false), 101, Named("echo"), 8, now + seconds(1), now + seconds(2),
        std::nullopt);
  EXPECT_EQ(t.running("echo"), 2);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.StatusOwner(7), std::optional<pid_t>(100));
  EXPECT_EQ(t.StatusOwner(8), std::optional<pid_t>(101));
  t.SetupOver(*t.Find(100));
  EXPECT_EQ(t.StatusOwner(7), std::nullopt);
  EXPECT_EQ(t.Find(100)->exec_fd, -1);
  EXPECT_EQ(t.running("echo"), 2) << "executed: still running";
  t.Remove(100);
  EXPECT_EQ(t.running("echo"), 1);
  EXPECT_EQ(t.Find(100), nullptr);
  t.Remove(101);
  EXPECT_EQ(t.running("echo"), 0);
  EXPECT_TRUE(t.running().empty()) << "no entry left for a service with none";
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.NextDue(), Clock::time_point::max());
}

TEST(ChildTableTest, AFailedSetupStopsCountingOnceAndItsRemovalDoesNotAgain) {
  ChildTable t;
  auto now = Clock::now();
  t.Add(t.Reserve("s", false), 1, Named("s"), 3, now, now, std::nullopt);
  t.Add(t.Reserve("s", false), 2, Named("s"), 4, now, now, std::nullopt);
  Child& c = *t.Find(1);
  t.SetupOver(c);
  t.SetupFailed(c);
  t.SetupFailed(c);
  EXPECT_TRUE(c.setup_failed);
  EXPECT_EQ(t.running("s"), 1);
  t.Remove(1);
  EXPECT_EQ(t.running("s"), 1) << "the other one";
}

TEST(ChildTableTest, ACancelledReservationLeavesNothing) {
  ChildTable t;
  t.Cancel(t.Reserve("s", true));
  EXPECT_TRUE(t.running().empty());
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.NextDue(), Clock::time_point::max());
  // With another child of the service running, its count stays.
  auto now = Clock::now();
  t.Add(t.Reserve("s", false), 9, Named("s"), 3, now, now, std::nullopt);
  t.Cancel(t.Reserve("s", false));
  EXPECT_EQ(t.running("s"), 1);
}

TEST(ChildTableTest, DueEntriesComeEarliestFirstEachKindApart) {
  ChildTable t;
  auto now = Clock::now();
  t.Add(t.Reserve("a", true), 10, Named("a"), 3, now + seconds(5), now + seconds(2),
        now + seconds(30));
  t.Add(t.Reserve("a", true), 11, Named("a"), 4, now + seconds(1), now + seconds(3),
        now + seconds(20));
  EXPECT_EQ(t.NextDue(), now + seconds(1));
  EXPECT_EQ(t.TakeDue(Due::kLook, now), std::nullopt) << "nothing due yet";
  EXPECT_EQ(t.TakeDue(Due::kLook, now + seconds(6)), std::optional<pid_t>(11));
  EXPECT_FALSE(t.Find(11)->unwatched.has_value());
  EXPECT_EQ(t.TakeDue(Due::kLook, now + seconds(6)), std::optional<pid_t>(10));
  EXPECT_EQ(t.TakeDue(Due::kLook, now + seconds(6)), std::nullopt);
  EXPECT_FALSE(t.AnyUnwatched());
  EXPECT_EQ(t.TakeDue(Due::kSetup, now + seconds(2)), std::optional<pid_t>(10));
  EXPECT_EQ(t.TakeDue(Due::kSetup, now + seconds(2)), std::nullopt);
  EXPECT_EQ(t.NextDue(), now + seconds(3));
  EXPECT_EQ(t.TakeDue(Due::kTimeout, now + seconds(25)), std::optional<pid_t>(11));
  // The kill grace: due again, later.
  t.Rearm(11, *t.Find(11), now + seconds(40));
  EXPECT_EQ(t.TakeDue(Due::kTimeout, now + seconds(35)), std::optional<pid_t>(10));
  EXPECT_EQ(t.TakeDue(Due::kTimeout, now + seconds(35)), std::nullopt);
  EXPECT_EQ(t.TakeDue(Due::kTimeout, now + seconds(40)), std::optional<pid_t>(11));
}

TEST(ChildTableTest, ARemovedChildTakesEveryEntryWithIt) {
  // A pid the kernel reuses must never meet the deadline of the child that
  // had it before.
  ChildTable t;
  auto now = Clock::now();
  t.Add(t.Reserve("a", true), 42, Named("a"), 5, now + seconds(1), now + seconds(2),
        now + seconds(3));
  t.Remove(42);
  EXPECT_EQ(t.StatusOwner(5), std::nullopt);
  EXPECT_EQ(t.NextDue(), Clock::time_point::max());
  for (Due kind : {Due::kLook, Due::kStderr, Due::kSetup, Due::kTimeout}) {
    EXPECT_EQ(t.TakeDue(kind, now + seconds(60)), std::nullopt);
  }
  // The same pid again: only its own entries.
  t.Add(t.Reserve("b", false), 42, Named("b"), 6, now + seconds(10), now + seconds(20),
        std::nullopt);
  EXPECT_EQ(t.TakeDue(Due::kLook, now + seconds(5)), std::nullopt);
  EXPECT_EQ(t.TakeDue(Due::kTimeout, now + seconds(60)), std::nullopt);
  EXPECT_EQ(t.Find(42)->service, "b");
}

TEST(ChildTableTest, AStderrPipeIsDueAtTheLookAndStaysDueAfterTheSetup) {
  ChildTable t;
  auto now = Clock::now();
  Child piped = Named("a");
  piped.stderr_fd = 20;
  t.Add(t.Reserve("a", false, /*stderr_pipe=*/true), 1, std::move(piped), 3, now + seconds(1),
        now + seconds(9), std::nullopt);
  // Reserved without a pipe: no entry, whatever its record says.
  Child unreserved = Named("a");
  unreserved.stderr_fd = 21;
  t.Add(t.Reserve("a", false), 2, std::move(unreserved), 4, now + seconds(1), now + seconds(9),
        std::nullopt);
  // Reserved with one, but the spawn made none (stderr_fd -1): none either.
  t.Add(t.Reserve("a", false, /*stderr_pipe=*/true), 3, Named("a"), 5, now + seconds(1),
        now + seconds(9), std::nullopt);
  EXPECT_TRUE(t.Find(1)->stderr_look.has_value());
  EXPECT_FALSE(t.Find(2)->stderr_look.has_value());
  EXPECT_FALSE(t.Find(3)->stderr_look.has_value());
  // Executed before its look: the setup's entries go, the pipe's stays.
  for (pid_t pid : {1, 2, 3}) t.SetupOver(*t.Find(pid));
  EXPECT_FALSE(t.AnyUnwatched());
  EXPECT_EQ(t.NextDue(), now + seconds(1));
  EXPECT_EQ(t.TakeDue(Due::kStderr, now), std::nullopt) << "not due yet";
  EXPECT_EQ(t.TakeDue(Due::kLook, now + seconds(2)), std::nullopt);
  EXPECT_EQ(t.TakeDue(Due::kStderr, now + seconds(2)), std::optional<pid_t>(1));
  EXPECT_FALSE(t.Find(1)->stderr_look.has_value());
  EXPECT_EQ(t.TakeDue(Due::kStderr, now + seconds(2)), std::nullopt);
  EXPECT_EQ(t.NextDue(), Clock::time_point::max());
  // Removed before its look: its entry goes with it.
  Child again = Named("a");
  again.stderr_fd = 22;
  t.Add(t.Reserve("a", false, /*stderr_pipe=*/true), 4, std::move(again), 6, now + seconds(1),
        now + seconds(9), std::nullopt);
  t.Remove(4);
  EXPECT_EQ(t.TakeDue(Due::kStderr, now + seconds(60)), std::nullopt);
}

TEST(ChildTableTest, LookingAtUnwatchedSetupsMayTakeEachOnesEntries) {
  ChildTable t;
  auto now = Clock::now();
  for (pid_t pid = 1; pid <= 3; ++pid) {
    t.Add(t.Reserve("a", false), pid, Named("a"), pid + 10, now + seconds(pid), now + seconds(9),
          std::nullopt);
  }
  std::vector<pid_t> seen;
  t.ForEachUnwatched([&](pid_t pid) {
    seen.push_back(pid);
    if (pid != 2) t.SetupOver(*t.Find(pid));  // executed; 2 still setting up
  });
  EXPECT_EQ(seen, (std::vector<pid_t>{1, 2, 3}));
  EXPECT_TRUE(t.AnyUnwatched());
  t.Watched(*t.Find(2));
  EXPECT_FALSE(t.AnyUnwatched());
  EXPECT_EQ(t.StatusOwner(12), std::optional<pid_t>(2)) << "watched, still its pipe";
}

}  // namespace
}  // namespace hinetd::supervisor
