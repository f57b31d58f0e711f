// The host's event sources (supervisor/host_watch.h): one-shot watches that
// stay quiet for a period while the host keeps producing, on one clock.
#include "supervisor/host_watch.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace hinetd::supervisor {
namespace {

using Found = HostWatch::Found;
using std::chrono::milliseconds;

constexpr milliseconds kPeriod{250};

// Records the re-arms (the monitor's epoll_ctl) and plays each source's
// queue for the reads at a period's end.
struct Fake {
  std::vector<int> armed;
  std::map<int, Found> queued;  // what a read of each fd finds
  std::vector<int> read;
  HostWatch::ArmFn Arm() {
    return [this](int fd, uint64_t tag) {
      EXPECT_EQ(tag, static_cast<uint64_t>(fd) + 1000) << "the tag it was added with";
      armed.push_back(fd);
    };
  }
  HostWatch::ReadFn Read() {
    return [this](int fd) {
      read.push_back(fd);
      return queued.count(fd) != 0 ? queued[fd] : Found::kNothing;
    };
  }
};

// `fd` woke the loop and its read found `found`.
void Wake(HostWatch& w, Fake& f, int fd, Found found, HostWatch::Clock::time_point now) {
  w.Fired(fd, now);
  w.Settle(fd, found, f.Arm());
}

HostWatch ThreeSources() {
  HostWatch w;
  for (int fd : {3, 4, 5}) w.Add(fd, static_cast<uint64_t>(fd) + 1000, kPeriod);
  return w;
}

TEST(HostWatchTest, TheHostsBusinessQuietsASourceUntilThePeriodsEnd) {
  HostWatch w = ThreeSources();
  Fake f;
  auto now = HostWatch::Clock::now();
  EXPECT_EQ(w.due(), HostWatch::Clock::time_point::max()) << "idle: no timer at all";
  Wake(w, f, 3, Found::kHost, now);
  EXPECT_FALSE(w.armed(3));
  EXPECT_TRUE(w.armed(4));
  EXPECT_TRUE(f.armed.empty()) << "not watched again before the period's end";
  EXPECT_EQ(w.due(), now + kPeriod);
  // A second source fires later in the same period: the same clock.
  w.Fired(4, now + milliseconds(100));
  w.Settle(4, Found::kHost, f.Arm());
  EXPECT_EQ(w.due(), now + kPeriod) << "one period end for every quiet source";
  // Both are read at that one end.
  Fake g;
  g.queued[3] = Found::kHost;
  g.queued[4] = Found::kHost;
  w.EndPeriods(now + kPeriod, g.Read(), g.Arm());
  EXPECT_EQ(g.read, (std::vector<int>{3, 4}));
  EXPECT_EQ(w.due(), now + 2 * kPeriod);
}

TEST(HostWatchTest, SourcesOfDifferentPeriodsKeepTheirOwnEnds) {
  HostWatch w;
  w.Add(3, 1003, kPeriod);
  w.Add(4, 1004, milliseconds(3600 * 1000));
  Fake f;
  auto now = HostWatch::Clock::now();
  Wake(w, f, 4, Found::kHost, now);
  Wake(w, f, 3, Found::kHost, now);
  EXPECT_EQ(w.due(), now + kPeriod);
  f.queued[3] = Found::kNothing;
  w.EndPeriods(now + kPeriod, f.Read(), f.Arm());
  EXPECT_EQ(f.read, (std::vector<int>{3})) << "the hour-long one is not due";
  EXPECT_TRUE(w.armed(3));
  EXPECT_FALSE(w.armed(4));
  EXPECT_EQ(w.due(), now + milliseconds(3600 * 1000));
}

TEST(HostWatchTest, AtThePeriodsEndABusySourceStaysQuietAndAnIdleOneIsWatchedAgain) {
  HostWatch w = ThreeSources();
  Fake f;
  auto now = HostWatch::Clock::now();
  Wake(w, f, 3, Found::kHost, now);
  Wake(w, f, 4, Found::kHost, now);
  f.queued[3] = Found::kHost;     // the host still forks
  f.queued[4] = Found::kNothing;  // its log went quiet
  auto end = now + kPeriod;
  w.EndPeriods(end, f.Read(), f.Arm());
  EXPECT_EQ(f.read, (std::vector<int>{3, 4})) << "only the quiet sources are read";
  EXPECT_EQ(f.armed, (std::vector<int>{4}));
  EXPECT_FALSE(w.armed(3));
  EXPECT_TRUE(w.armed(4));
  EXPECT_EQ(w.due(), end + kPeriod) << "read again one period later";
  // The host stops: the next end watches it again, and no timer is left.
  f.queued[3] = Found::kNothing;
  f.read.clear();
  w.EndPeriods(end + kPeriod, f.Read(), f.Arm());
  EXPECT_EQ(f.read, (std::vector<int>{3}));
  EXPECT_TRUE(w.armed(3));
  EXPECT_EQ(w.due(), HostWatch::Clock::time_point::max());
}

TEST(HostWatchTest, AnEventOfHinetdsOrASpuriousWakeupKeepsTheSourceWatched) {
  HostWatch w = ThreeSources();
  Fake f;
  auto now = HostWatch::Clock::now();
  Wake(w, f, 5, Found::kOurs, now);  // a kill record of one of its processes
  EXPECT_TRUE(w.armed(5));
  EXPECT_EQ(f.armed, (std::vector<int>{5}));
  EXPECT_EQ(w.due(), HostWatch::Clock::time_point::max()) << "no period for nothing quiet";
  Wake(w, f, 5, Found::kNothing, now);
  EXPECT_TRUE(w.armed(5));
  EXPECT_EQ(w.due(), HostWatch::Clock::time_point::max());
}

TEST(HostWatchTest, ASourceNeededAsItComesIsWatchedAgainBeforeThePeriodsEnd) {
  HostWatch w = ThreeSources();
  Fake f;
  auto now = HostWatch::Clock::now();
  Wake(w, f, 3, Found::kHost, now);
  Wake(w, f, 4, Found::kHost, now);
  w.Arm(4, f.Arm());  // a killed child's end line waits for its record
  EXPECT_TRUE(w.armed(4));
  EXPECT_EQ(w.due(), now + kPeriod) << "3 is still quiet";
  w.Arm(4, f.Arm());
  EXPECT_EQ(f.armed, (std::vector<int>{4})) << "an armed source is not armed twice";
  w.Arm(3, f.Arm());
  EXPECT_EQ(w.due(), HostWatch::Clock::time_point::max()) << "nothing quiet, no timer";
}

TEST(HostWatchTest, ASourceWhoseReadFailedIsReadAtThePeriodsEnd) {
  HostWatch w = ThreeSources();
  Fake f;
  auto now = HostWatch::Clock::now();
  w.Fired(3, now);  // and the read ran out of memory: no Settle
  EXPECT_EQ(w.due(), now + kPeriod);
  w.EndPeriods(now + kPeriod, f.Read(), f.Arm());
  EXPECT_EQ(f.read, (std::vector<int>{3}));
  EXPECT_TRUE(w.armed(3));
}

TEST(HostWatchTest, AnUnknownDescriptorIsIgnored) {
  HostWatch w = ThreeSources();
  Fake f;
  w.Fired(9, HostWatch::Clock::now());
  w.Settle(9, Found::kHost, f.Arm());
  w.Arm(9, f.Arm());
  EXPECT_FALSE(w.has(9));
  EXPECT_TRUE(f.armed.empty());
  EXPECT_EQ(w.due(), HostWatch::Clock::time_point::max());
}

}  // namespace
}  // namespace hinetd::supervisor
