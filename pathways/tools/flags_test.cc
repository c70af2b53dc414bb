// Tests for the tools' flag parser and byte sizes.
#include "pathways/tools/flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

TEST(ParseByteSizeTest, UnitsAndErrors) {
  EXPECT_EQ(*ParseByteSize("4096", "x"), 4096);
  EXPECT_EQ(*ParseByteSize("64K", "x"), 64 << 10);
  EXPECT_EQ(*ParseByteSize("512M", "x"), int64_t{512} << 20);
  EXPECT_EQ(*ParseByteSize("2G", "x"), int64_t{2} << 30);
  EXPECT_EQ(*ParseByteSize("1.5g", "x"), int64_t{3} << 29);
  EXPECT_EQ(*ParseByteSize("1GiB", "x"), int64_t{1} << 30);
  for (const char* bad : {"", "G", "abc", "-1G", "0", "1X", "nanM"}) {
    absl::StatusOr<int64_t> r = ParseByteSize(bad, "--memory-per-device");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("--memory-per-device")) << bad;
  }
}

TEST(FlagParserTest, ParsesEveryKindAndKeepsPositionals) {
  FlagParser p("pw up");
  int64_t hosts = 2, mem = 0;
  bool no_trace = false;
  std::string addr;
  p.Int("--hosts", &hosts);
  p.ByteSize("--memory", &mem);
  p.Bool("--no-trace", &no_trace);
  p.String("--address", &addr);
  ASSERT_TRUE(p.Parse({"--hosts", "4", "--memory=1G", "extra", "--no-trace", "--address", "a:1"}).ok());
  EXPECT_EQ(hosts, 4);
  EXPECT_EQ(mem, int64_t{1} << 30);
  EXPECT_TRUE(no_trace);
  EXPECT_EQ(addr, "a:1");
  EXPECT_THAT(p.positional(), ::testing::ElementsAre("extra"));
}

TEST(FlagParserTest, ErrorsNameTheFlag) {
  FlagParser p("pw up");
  int64_t hosts = 0;
  bool b = false;
  p.Int("--hosts", &hosts);
  p.Bool("--no-trace", &b);
  EXPECT_THAT(p.Parse({"--hosts", "x"}).message(), HasSubstr("pw up: --hosts: expected an integer, got 'x'"));
  EXPECT_THAT(p.Parse({"--hosts"}).message(), HasSubstr("--hosts needs a value"));
  EXPECT_THAT(p.Parse({"--bogus"}).message(), HasSubstr("unknown flag '--bogus'"));
  EXPECT_THAT(p.Parse({"--no-trace=maybe"}).message(), HasSubstr("expected true or false"));
}

TEST(FlagParserTest, StopAtPositionalLeavesTheProgramsFlagsAlone) {
  FlagParser p("pw run");
  std::string addr;
  p.String("--address", &addr);
  p.StopAtPositional();
  ASSERT_TRUE(p.Parse({"--address", "h:1", "prog.py", "--address", "x", "--other"}).ok());
  EXPECT_EQ(addr, "h:1");
  EXPECT_THAT(p.positional(), ::testing::ElementsAre("prog.py", "--address", "x", "--other"));
}

}  // namespace
}  // namespace pw
