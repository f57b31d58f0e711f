#include "base/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "base/errno_name.h"
#include "supervisor/child_status.h"

namespace hinetd {
namespace {

TEST(LogLine, PlainAndQuotedValues) {
  base::LogLine line("accept");
  line.Add("service", "echo").Add("peer", "127.0.0.1:4000").Add("pid", 812).Add("active", 3);
  EXPECT_EQ(line.str(), "event=accept service=echo peer=127.0.0.1:4000 pid=812 active=3");
  base::LogLine q("stderr");
  q.Add("line", "a \"b\" c=d\\e\n\x01").Add("empty", "");
  EXPECT_EQ(q.str(), "event=stderr line=\"a \\\"b\\\" c=d\\\\e\\n\\x01\" empty=\"\"");
}

TEST(Logger, WritesOneLinePerEvent) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  {
    base::Logger log(base::LogSink::kStderr, p[1]);
    log.Info(base::LogLine("start").Add("services", 2));
    log.Error(base::LogLine("stop"));
  }
  close(p[1]);
  char buf[256] = {};
  ssize_t n = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  ASSERT_GT(n, 0);
  EXPECT_STREQ(buf, "event=start services=2\nevent=stop\n");
}

TEST(ErrnoName, BothWays) {
  EXPECT_EQ(base::ErrnoName(ENOENT), "ENOENT");
  EXPECT_EQ(base::ErrnoName(100000), "E100000");
  EXPECT_EQ(*base::ErrnoFromName("EACCES"), EACCES);
  EXPECT_FALSE(base::ErrnoFromName("ENOTHING").has_value());
}

TEST(ChildStatus, Descriptions) {
  EXPECT_EQ(supervisor::DescribeWaitStatus(0), "exit:0");
  EXPECT_EQ(supervisor::DescribeWaitStatus(125 << 8), "exit:125");
  EXPECT_EQ(supervisor::DescribeWaitStatus(SIGKILL), "signal:KILL");
  EXPECT_EQ(supervisor::DescribeWaitStatus(SIGSYS | 0x80), "seccomp");  // with core flag
  EXPECT_TRUE(supervisor::KilledBySeccomp(SIGSYS));
  EXPECT_FALSE(supervisor::KilledBySeccomp(SIGTERM));
  EXPECT_EQ(supervisor::FormatSeconds(0.0041), "0.004s");
  EXPECT_EQ(supervisor::FormatSeconds(12.5), "12.500s");
}

}  // namespace
}  // namespace hinetd
