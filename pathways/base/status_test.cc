// Tests for the Status helpers.
#include "pathways/base/status.h"

#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"

namespace pw {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  PW_ASSIGN_OR_RETURN(int h, Half(x));
  PW_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "odd");
}

TEST(StatusTest, AnnotateKeepsCode) {
  absl::Status s = Annotate(absl::NotFoundError("no such array"), "fetch array:7");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(s.message(), "fetch array:7: no such array");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

}  // namespace
}  // namespace pw
