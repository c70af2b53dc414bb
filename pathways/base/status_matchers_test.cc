// Tests for the Status matchers: what they accept, and what a failure explains.
#include "pathways/base/status_matchers.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pw {
namespace {

using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Not;

template <typename M, typename T>
std::string Explain(const M& matcher, const T& value) {
  ::testing::StringMatchResultListener listener;
  ::testing::Matcher<const T&>(matcher).MatchAndExplain(value, &listener);
  return listener.str();
}

TEST(StatusMatchersTest, IsOkOnStatusAndStatusOr) {
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(absl::StatusOr<int>(3), IsOk());
  EXPECT_THAT(absl::NotFoundError("x"), Not(IsOk()));
  EXPECT_THAT(absl::StatusOr<int>(absl::InternalError("boom")), Not(IsOk()));
  EXPECT_THAT(Explain(IsOk(), absl::InternalError("boom")), HasSubstr("INTERNAL: boom"));
}

TEST(StatusMatchersTest, StatusIsChecksCodeAndMessage) {
  const absl::Status s = absl::InvalidArgumentError("bad field 'x'");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'x'")));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, "bad field 'x'"));
  EXPECT_THAT(s, Not(StatusIs(absl::StatusCode::kNotFound)));
  EXPECT_THAT(s, Not(StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'y'"))));
  EXPECT_THAT(absl::StatusOr<int>(s), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(absl::OkStatus(), StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(Explain(StatusIs(absl::StatusCode::kNotFound), s),
              HasSubstr("INVALID_ARGUMENT: bad field 'x'"));
}

TEST(StatusMatchersTest, IsOkAndHoldsMatchesTheValue) {
  EXPECT_THAT(absl::StatusOr<int>(4), IsOkAndHolds(4));
  EXPECT_THAT(absl::StatusOr<int>(4), IsOkAndHolds(Eq(4)));
  EXPECT_THAT(absl::StatusOr<std::string>("abc"), IsOkAndHolds(HasSubstr("b")));
  EXPECT_THAT(absl::StatusOr<int>(5), Not(IsOkAndHolds(4)));
  const absl::StatusOr<int> failed = absl::UnavailableError("gone");
  EXPECT_THAT(failed, Not(IsOkAndHolds(4)));
  EXPECT_THAT(Explain(IsOkAndHolds(4), failed), HasSubstr("UNAVAILABLE: gone"));
}

}  // namespace
}  // namespace pw
