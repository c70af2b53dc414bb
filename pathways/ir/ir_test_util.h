// Test helpers for the IR: a function that uses every op, and status-matching shorthands.
#ifndef PATHWAYS_IR_IR_TEST_UTIL_H_
#define PATHWAYS_IR_IR_TEST_UTIL_H_

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "pathways/ir/function.h"

namespace pw::ir::testing {

// A verified function with num_shards = 4 that contains every OpCode at least once, with names,
// constants of every dtype and non-trivial attributes. Outputs of several dtypes.
Function EveryOpFunction();

// The message of `status` as a std::string (absl::string_view is not std::string_view here).
inline std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Success iff `status` is InvalidArgument and its message contains every one of `parts`.
// Use as EXPECT_TRUE(IsInvalidWith(status, {"add(", "f32[2]"})).
::testing::AssertionResult IsInvalidWith(const absl::Status& status,
                                         std::initializer_list<std::string> parts);

}  // namespace pw::ir::testing

#endif  // PATHWAYS_IR_IR_TEST_UTIL_H_
