#include "pathways/launch/hostlist.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"

namespace pw::launch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

absl::StatusOr<std::vector<std::string>> Expand(absl::string_view list, int64_t max = kMaxHostlistHosts) {
  return ExpandHostlist(list, "SLURM_JOB_NODELIST", max);
}

TEST(HostlistTest, PlainNamesAndSingleNumbers) {
  EXPECT_THAT(Expand("node1"), IsOkAndHolds(ElementsAre("node1")));
  EXPECT_THAT(Expand("a,b.example.org,c_1"), IsOkAndHolds(ElementsAre("a", "b.example.org", "c_1")));
  EXPECT_THAT(Expand("n[7]"), IsOkAndHolds(ElementsAre("n7")));
  EXPECT_THAT(Expand("127.0.0.[1-3]"), IsOkAndHolds(ElementsAre("127.0.0.1", "127.0.0.2", "127.0.0.3")));
}

TEST(HostlistTest, RangesKeepTheZeroPaddingOfTheirLowerBound) {
  EXPECT_THAT(Expand("node[01-04,07],gpu-a[1-2]"),
              IsOkAndHolds(ElementsAre("node01", "node02", "node03", "node04", "node07", "gpu-a1", "gpu-a2")));
  EXPECT_THAT(Expand("n[08-10]"), IsOkAndHolds(ElementsAre("n08", "n09", "n10")));
  EXPECT_THAT(Expand("n[9-11]"), IsOkAndHolds(ElementsAre("n9", "n10", "n11")));
  EXPECT_THAT(Expand("n[098-101]"), IsOkAndHolds(ElementsAre("n098", "n099", "n100", "n101")));
  EXPECT_THAT(Expand("n[0-1]"), IsOkAndHolds(ElementsAre("n0", "n1")));
}

TEST(HostlistTest, SeveralGroupsInOneNameMultiplyInOrder) {
  EXPECT_THAT(Expand("rack[1-2]-n[01-02]"),
              IsOkAndHolds(ElementsAre("rack1-n01", "rack1-n02", "rack2-n01", "rack2-n02")));
  EXPECT_THAT(Expand("[1-2]x"), IsOkAndHolds(ElementsAre("1x", "2x")));
}

TEST(HostlistTest, MalformedListsAreRejectedNamingTheVariable) {
  for (const char* bad : {"", ",", "a,,b", "a,", "n[1-2", "n1-2]", "n[[1-2]]", "n[]", "n[1,]",
                          "n[,1]", "n[3-1]", "n[a-b]", "n[1-]", "n[-1]", "n[1-2-3]", "n[+1]",
                          "n[ 1]", "node 1", "node\t1", "n\xff", "n[1]x]", "n[1:2]", "n[0x10]",
                          "n[1-0100]", "n[1234567890]"}) {
    EXPECT_THAT(Expand(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SLURM_JOB_NODELIST")))
        << "'" << bad << "'";
  }
  EXPECT_THAT(Expand("n[3-1]"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'3-1' runs backwards")));
  EXPECT_THAT(Expand("n[1-2"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'[' without ']'")));
  EXPECT_THAT(Expand("node 1"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not allowed")));
}

TEST(HostlistTest, SizesAreBounded) {
  EXPECT_THAT(Expand("n[1-100]", 100), IsOkAndHolds(SizeIs(100)));
  EXPECT_THAT(Expand("n[1-101]", 100), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  EXPECT_THAT(Expand("a[1-60],b[1-60]", 100), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  // A product of groups is checked before it is expanded.
  EXPECT_THAT(Expand("a[1-999999999]b[1-999999999]c[1-999999999]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  // Each group gets what the groups before it leave of the budget, so many groups that each fit
  // are refused before their product is built.
  std::string groups = "a";
  for (int i = 0; i < 2000; ++i) groups += "[1-60000]";
  EXPECT_THAT(Expand(groups), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  EXPECT_THAT(Expand("n[1-300][1-300]"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  EXPECT_THAT(Expand("n[1-2][1-3]"), IsOkAndHolds(SizeIs(6)));
  EXPECT_THAT(Expand("n[0-999999999]"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  EXPECT_THAT(Expand(std::string(254, 'a')), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer")));
  EXPECT_THAT(Expand(std::string(70000, 'a')), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bytes")));
  std::string many;
  for (int i = 0; i < 2000; ++i) many += "n[1-100],";
  many += "x";
  EXPECT_THAT(Expand(many, 1000), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
}

}  // namespace
}  // namespace pw::launch
