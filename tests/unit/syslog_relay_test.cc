#include "supervisor/syslog_relay.h"

#include <gtest/gtest.h>

namespace hinetd::supervisor {
namespace {

TEST(ParseSyslogMessage, WhatGlibcSends) {
  auto m = ParseSyslogMessage("<27>Dec  5 07:00:01 in.tftpd[4242]: cannot open /x\n");
  EXPECT_EQ(m.priority, 27);  // daemon.err
  EXPECT_EQ(SyslogFacilityName(m.priority), "daemon");
  EXPECT_EQ(SyslogSeverityName(m.priority), "err");
  EXPECT_EQ(m.tag, "in.tftpd");  // the text's pid is not kept
  EXPECT_EQ(m.text, "cannot open /x");
}

TEST(ParseSyslogMessage, PartsMayBeMissing) {
  auto no_time = ParseSyslogMessage("<134>git-daemon: hello");
  EXPECT_EQ(no_time.priority, 134);
  EXPECT_EQ(SyslogFacilityName(134), "local0");
  EXPECT_EQ(SyslogSeverityName(134), "info");
  EXPECT_EQ(no_time.tag, "git-daemon");
  EXPECT_EQ(no_time.text, "hello");
  auto bare = ParseSyslogMessage("just text: with a colon later on");
  EXPECT_EQ(bare.priority, -1);
  EXPECT_EQ(bare.tag, "");
  EXPECT_EQ(bare.text, "just text: with a colon later on");
  // A priority out of range, or not a number, is text.
  EXPECT_EQ(ParseSyslogMessage("<999>x").priority, -1);
  EXPECT_EQ(ParseSyslogMessage("<1a>x").text, "<1a>x");
  EXPECT_EQ(ParseSyslogMessage("").text, "");
  EXPECT_EQ(ParseSyslogMessage("<5>").text, "");
}

}  // namespace
}  // namespace hinetd::supervisor
