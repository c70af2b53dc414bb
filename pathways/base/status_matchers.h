// GoogleMock matchers for absl::Status and absl::StatusOr<T>, for tests:
//   EXPECT_THAT(DoIt(), IsOk());
//   EXPECT_THAT(Parse("x"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'x'")));
//   EXPECT_THAT(Compute(2), IsOkAndHolds(4));
// A failure prints the status (code and message), not just "false".
#ifndef PATHWAYS_BASE_STATUS_MATCHERS_H_
#define PATHWAYS_BASE_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace pw {
namespace status_matchers_internal {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// StatusIs(code, message_matcher) over Status or StatusOr<T>.
template <typename MessageMatcher>
class StatusIsMatcher {
 public:
  StatusIsMatcher(absl::StatusCode code, MessageMatcher message)
      : code_(code), message_(std::move(message)) {}

  template <typename StatusType>
  operator ::testing::Matcher<StatusType>() const {  // NOLINT: implicit by design
    return ::testing::Matcher<StatusType>(new Impl<StatusType>(code_, message_));
  }

 private:
  template <typename StatusType>
  class Impl final : public ::testing::MatcherInterface<StatusType> {
   public:
    Impl(absl::StatusCode code, const MessageMatcher& message)
        : code_(code), message_(::testing::SafeMatcherCast<const std::string&>(message)) {}
    bool MatchAndExplain(StatusType actual,
                         ::testing::MatchResultListener* listener) const override {
      const absl::Status& status = GetStatus(actual);
      *listener << "whose status is " << status;
      if (status.code() != code_) return false;
      return message_.MatchAndExplain(std::string(status.message()), listener);
    }
    void DescribeTo(std::ostream* os) const override {
      *os << "has status code " << absl::StatusCodeToString(code_) << " and a message that ";
      message_.DescribeTo(os);
    }
    void DescribeNegationTo(std::ostream* os) const override {
      *os << "does not have status code " << absl::StatusCodeToString(code_)
          << " or has a message that ";
      message_.DescribeNegationTo(os);
    }

   private:
    const absl::StatusCode code_;
    const ::testing::Matcher<const std::string&> message_;
  };

  absl::StatusCode code_;
  MessageMatcher message_;
};

// IsOkAndHolds(value_matcher) over StatusOr<T>.
template <typename ValueMatcher>
class IsOkAndHoldsMatcher {
 public:
  explicit IsOkAndHoldsMatcher(ValueMatcher value) : value_(std::move(value)) {}

  template <typename StatusOrType>
  operator ::testing::Matcher<StatusOrType>() const {  // NOLINT: implicit by design
    using Value = typename std::remove_cv_t<std::remove_reference_t<StatusOrType>>::value_type;
    return ::testing::Matcher<StatusOrType>(new Impl<StatusOrType, Value>(value_));
  }

 private:
  template <typename StatusOrType, typename Value>
  class Impl final : public ::testing::MatcherInterface<StatusOrType> {
   public:
    explicit Impl(const ValueMatcher& value)
        : value_(::testing::SafeMatcherCast<const Value&>(value)) {}
    bool MatchAndExplain(StatusOrType actual,
                         ::testing::MatchResultListener* listener) const override {
      if (!actual.ok()) {
        *listener << "which has status " << actual.status();
        return false;
      }
      return value_.MatchAndExplain(*actual, listener);
    }
    void DescribeTo(std::ostream* os) const override {
      *os << "is OK and holds a value that ";
      value_.DescribeTo(os);
    }
    void DescribeNegationTo(std::ostream* os) const override {
      *os << "is not OK or holds a value that ";
      value_.DescribeNegationTo(os);
    }

   private:
    const ::testing::Matcher<const Value&> value_;
  };

  ValueMatcher value_;
};

}  // namespace status_matchers_internal

// Matches an OK Status, or an OK StatusOr<T>.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = status_matchers_internal::GetStatus(arg);
  if (!status.ok()) *result_listener << "whose status is " << status;
  return status.ok();
}

// Matches a Status or StatusOr<T> with `code` and a message matching `message` (a string
// means equality; pass a matcher such as HasSubstr for a part of it).
template <typename MessageMatcher>
status_matchers_internal::StatusIsMatcher<MessageMatcher> StatusIs(absl::StatusCode code,
                                                                   MessageMatcher message) {
  return status_matchers_internal::StatusIsMatcher<MessageMatcher>(code, std::move(message));
}
// Matches a Status or StatusOr<T> with `code`, whatever its message.
inline auto StatusIs(absl::StatusCode code) { return StatusIs(code, ::testing::_); }

// Matches an OK StatusOr<T> whose value matches `value`.
template <typename ValueMatcher>
status_matchers_internal::IsOkAndHoldsMatcher<ValueMatcher> IsOkAndHolds(ValueMatcher value) {
  return status_matchers_internal::IsOkAndHoldsMatcher<ValueMatcher>(std::move(value));
}

}  // namespace pw

#endif  // PATHWAYS_BASE_STATUS_MATCHERS_H_
