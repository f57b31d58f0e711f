#include "config/units.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "config/suggest.h"

namespace hinetd::config {
namespace {

TEST(ParseDuration, Units) {
  EXPECT_EQ(ParseDuration("500ms")->count(), 500);
  EXPECT_EQ(ParseDuration("30s")->count(), 30'000);
  EXPECT_EQ(ParseDuration("30")->count(), 30'000);  // bare = seconds
  EXPECT_EQ(ParseDuration("5m")->count(), 300'000);
  EXPECT_EQ(ParseDuration("2h")->count(), 7'200'000);
  EXPECT_EQ(ParseDuration("0s")->count(), 0);
}

TEST(ParseDuration, Errors) {
  EXPECT_EQ(ParseDuration("10d").error().message(),
            "'10d' has an unknown unit 'd' (expected a whole number with a unit: \"500ms\", "
            "\"30s\", \"5m\", \"2h\"; a bare number is seconds)");
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("s").ok());
  EXPECT_FALSE(ParseDuration("-5s").ok());
  EXPECT_FALSE(ParseDuration("1.5s").ok());
  EXPECT_EQ(ParseDuration("99999999999999999h").error().message(), "'99999999999999999h' is too long");
}

TEST(FormatDuration, ReadsBackExactly) {
  for (const char* text : {"500ms", "10s", "5m", "2h", "90s", "1500ms", "0s"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(text)), text);
  }
}

TEST(ParseSize, Units) {
  EXPECT_EQ(*ParseSize("1024"), 1024u);
  EXPECT_EQ(*ParseSize("64K"), 64u << 10);
  EXPECT_FALSE(ParseSize("64k").ok());  // one spelling: K, M, G
  EXPECT_EQ(*ParseSize("256M"), 256u << 20);
  EXPECT_EQ(*ParseSize("1G"), 1u << 30);
}

TEST(ParseSize, Errors) {
  EXPECT_FALSE(ParseSize("1T").ok());
  EXPECT_FALSE(ParseSize("M").ok());
  EXPECT_EQ(ParseSize("99999999999999999999G").error().message(),
            "'99999999999999999999G' is not a size (expected a whole number of bytes with an "
            "optional unit K, M or G: \"64K\", \"256M\", \"1G\")");
  EXPECT_EQ(ParseSize("17179869184G").error().message(), "'17179869184G' is too large");
}

TEST(ParseSignal, NamesWithAndWithoutPrefix) {
  EXPECT_EQ(*ParseSignal("TERM"), SIGTERM);
  EXPECT_EQ(*ParseSignal("SIGKILL"), SIGKILL);
  EXPECT_FALSE(ParseSignal("term").ok());
}

TEST(ClosestMatch, FindsTyposOnly) {
  std::vector<std::string> keys = {"listen", "exec", "internal", "max_instances"};
  EXPECT_EQ(ClosestMatch("listn", keys), "listen");
  EXPECT_EQ(ClosestMatch("exce", keys), "exec");
  EXPECT_EQ(ClosestMatch("max_instance", keys), "max_instances");
  EXPECT_EQ(ClosestMatch("completely-different", keys), "");
}

}  // namespace
}  // namespace hinetd::config
