// Tests for InlineFunction: a function's live instructions land in another builder with its
// parameters bound, and mismatched calls are refused naming the function.
#include "pathways/ir/inline_function.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"

namespace pw::ir {
namespace {

using ::testing::HasSubstr;

TensorType F32(std::initializer_list<int64_t> dims) { return TensorType{DType::kF32, Shape(dims)}; }

Function Callee() {
  FunctionBuilder b("callee");
  Value x = b.Parameter(F32({3}));
  Value y = b.Parameter(F32({3}));
  b.Exp(y);  // dead: no output needs it
  absl::StatusOr<Function> f = b.Build({b.Multiply(b.Add(x, y), x)});
  EXPECT_THAT(f.status(), IsOk());
  return *f;
}

TEST(InlineFunctionTest, AddsTheLiveInstructionsWithParametersBound) {
  const Function callee = Callee();
  FunctionBuilder b("caller");
  Value p = b.Parameter(F32({3}));
  Value q = b.Tanh(p);
  absl::StatusOr<std::vector<Value>> values = InlineFunction(b, callee, {q, p});
  ASSERT_THAT(values.status(), IsOk());
  EXPECT_EQ((*values)[callee.parameters[0]].id(), q.id());
  std::vector<Value> out = OutputsOf(callee, *values);
  ASSERT_EQ(out.size(), 1u);
  absl::StatusOr<Function> caller = b.Build(out);
  ASSERT_THAT(caller.status(), IsOk());
  // parameter, tanh, then add and multiply: the dead exp is not copied.
  ASSERT_EQ(caller->instructions.size(), 4u);
  EXPECT_EQ(caller->instructions[2].op, OpCode::kAdd);
  EXPECT_EQ(caller->instructions[2].operands, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(caller->instructions[3].op, OpCode::kMultiply);
}

TEST(InlineFunctionTest, RefusesMismatchedCalls) {
  const Function callee = Callee();
  FunctionBuilder b("caller");
  Value p = b.Parameter(F32({3}));
  Value wide = b.Parameter(F32({4}));
  EXPECT_THAT(InlineFunction(b, callee, {p}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 argument(s) for 2")));
  EXPECT_THAT(InlineFunction(b, callee, {p, wide}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("argument 1 is f32[4], the parameter f32[3]")));
  FunctionBuilder gang("gang", {.num_shards = 2});
  Value g0 = gang.Parameter(F32({3}));
  EXPECT_THAT(InlineFunction(gang, callee, {g0, g0}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gang of 1, the caller for 2")));
}

}  // namespace
}  // namespace pw::ir
