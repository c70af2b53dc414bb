// Tests of FunctionBuilder errors: every op's checks, naming the op and its operand types.
#include <functional>

#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/ir_test_util.h"

namespace pw::ir {
namespace {

using testing::IsInvalidWith;

TensorType F32(Shape s) { return {DType::kF32, std::move(s)}; }
TensorType I32(Shape s) { return {DType::kI32, std::move(s)}; }
TensorType Bool(Shape s) { return {DType::kBool, std::move(s)}; }

// Runs `body` on a fresh builder named "f" and returns the builder's (sticky) status after it,
// checking that Build() reports the same error.
absl::Status ErrorOf(std::function<void(FunctionBuilder&)> body, int64_t num_shards = 1) {
  FunctionBuilder b("f", {.num_shards = num_shards});
  body(b);
  absl::Status status = b.status();
  absl::StatusOr<Function> fn = b.Build({b.ShardIndex()});
  EXPECT_EQ(fn.status(), status);
  return status;
}

TEST(BuilderErrorsTest, BinaryShapeMismatchNamesOpAndOperandTypes) {
  absl::Status s = ErrorOf([](FunctionBuilder& b) {
    b.Add(b.Parameter(F32({2, 3})), b.Parameter(F32({4})));
  });
  EXPECT_TRUE(IsInvalidWith(s, {"function 'f'", "add(", "f32[2,3]", "f32[4]", "broadcast"}));
}

TEST(BuilderErrorsTest, BinaryDtypeMismatch) {
  absl::Status s = ErrorOf([](FunctionBuilder& b) {
    b.Multiply(b.Parameter(F32({2})), b.Parameter(I32({2})));
  });
  EXPECT_TRUE(IsInvalidWith(s, {"multiply(", "f32[2]", "i32[2]", "operand types differ"}));
}

TEST(BuilderErrorsTest, ArithmeticOnBoolAndTranscendentalOnInt) {
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              Value p = b.Parameter(Bool({2}));
                              b.Add(p, p);
                            }),
                            {"add(", "bool[2]", "numeric"}));
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([](FunctionBuilder& b) { b.Exp(b.Parameter(I32({3}))); }),
      {"exp(", "i32[3]", "floating point"}));
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([](FunctionBuilder& b) { b.Reduce(b.Parameter(Bool({3})), {0}, ReduceKind::kSum); }),
      {"reduce(", "bool[3]", "numeric"}));
}

TEST(BuilderErrorsTest, CompareAndSelect) {
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.Compare(b.Parameter(F32({2})), b.Parameter(I32({2})),
                                        ComparisonDirection::kEq);
                            }),
                            {"compare(", "f32[2]", "i32[2]"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              Value p = b.Parameter(Bool({2}));
                              b.Compare(p, p, ComparisonDirection::kLt);
                            }),
                            {"compare(", "bool[2]", "EQ and NE", "LT"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              Value x = b.Parameter(F32({2}));
                              b.Select(x, x, x);
                            }),
                            {"select(", "predicate must be bool", "f32[2]"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.Select(b.Parameter(Bool({})), b.Parameter(F32({2})),
                                       b.Parameter(I32({2})));
                            }),
                            {"select(", "f32[2]", "i32[2]", "differ"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.Select(b.Parameter(Bool({3})), b.Parameter(F32({2})),
                                       b.Parameter(F32({2})));
                            }),
                            {"select(", "bool[3]", "f32[2]", "broadcast"}));
}

TEST(BuilderErrorsTest, DotRankAndContractingMismatch) {
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.Dot(b.Parameter(F32({2, 3})), b.Parameter(F32({4, 5})));
                            }),
                            {"dot_general(", "f32[2,3]", "f32[4,5]", "contracting dim sizes differ"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.Dot(b.Parameter(F32({2, 3, 4})), b.Parameter(F32({4, 5})));
                            }),
                            {"dot(", "f32[2,3,4]", "f32[4,5]", "ranks 3 and 2"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.Dot(b.Parameter(F32({2, 3})), b.Parameter(I32({3})));
                            }),
                            {"dot_general(", "f32[2,3]", "i32[3]", "dtypes differ"}));
}

TEST(BuilderErrorsTest, DotGeneralBadDimensionNumbers) {
  auto dot_error = [](DotDimensionNumbers d) {
    return ErrorOf([d](FunctionBuilder& b) {
      b.DotGeneral(b.Parameter(F32({8, 2, 3})), b.Parameter(F32({8, 3, 4})), d);
    });
  };
  EXPECT_TRUE(IsInvalidWith(dot_error({.lhs_batch = {0}, .lhs_contracting = {2}, .rhs_contracting = {1}}),
                            {"dot_general(", "1 batch dims but rhs has 0"}));
  EXPECT_TRUE(IsInvalidWith(dot_error({.lhs_contracting = {3}, .rhs_contracting = {1}}),
                            {"dot_general(", "lhs batch/contracting dim 3 is out of range for rank 3"}));
  EXPECT_TRUE(IsInvalidWith(
      dot_error({.lhs_batch = {2}, .rhs_batch = {0}, .lhs_contracting = {2}, .rhs_contracting = {1}}),
      {"dot_general(", "appears twice"}));
  EXPECT_TRUE(IsInvalidWith(
      dot_error({.lhs_batch = {1}, .rhs_batch = {0}, .lhs_contracting = {2}, .rhs_contracting = {1}}),
      {"dot_general(", "batch dim sizes differ", "f32[8,2,3]", "f32[8,3,4]"}));
}

TEST(BuilderErrorsTest, BadAxesAndDuplicateAxes) {
  auto x = [](FunctionBuilder& b) { return b.Parameter(F32({4, 6})); };
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.Reduce(x(b), {2}, ReduceKind::kSum); }),
                            {"reduce(", "f32[4,6]", "reduce axis 2 is out of range for rank 2"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.Reduce(x(b), {-1}, ReduceKind::kSum); }),
                            {"reduce(", "out of range"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.Reduce(x(b), {1, 1}, ReduceKind::kSum); }),
                            {"reduce(", "appears twice"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.AllGather(x(b), 2); }),
                            {"all_gather(", "f32[4,6]", "axis 2"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.AllToAll(x(b), 0, 5); }),
                            {"all_to_all(", "concat_axis 5"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.Gather(x(b), b.Parameter(I32({2})), 3); }),
                            {"gather(", "axis 3"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.Iota(I32({3}), 1); }),
                            {"iota(", "iota axis 1"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.Concatenate({x(b)}, -1); }),
                            {"concatenate(", "axis -1"}));
}

TEST(BuilderErrorsTest, BadPermutation) {
  auto x = [](FunctionBuilder& b) { return b.Parameter(F32({2, 3, 4})); };
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.Transpose(x(b), {0, 1}); }),
                            {"transpose(", "f32[2,3,4]", "must have 3 entries"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.Transpose(x(b), {0, 2, 2}); }),
                            {"transpose(", "permutation entry 2 appears twice"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.Transpose(x(b), {0, 1, 3}); }),
                            {"transpose(", "out of range"}));
}

TEST(BuilderErrorsTest, SliceOutOfBounds) {
  auto slice_error = [](std::vector<int64_t> starts, std::vector<int64_t> limits,
                        std::vector<int64_t> strides) {
    return ErrorOf([&](FunctionBuilder& b) { b.Slice(b.Parameter(F32({4, 5})), starts, limits, strides); });
  };
  EXPECT_TRUE(IsInvalidWith(slice_error({0, 0}, {5, 5}, {}), {"slice(", "f32[4,5]", "dim 0", "out of bounds"}));
  EXPECT_TRUE(IsInvalidWith(slice_error({-1, 0}, {2, 5}, {}), {"slice(", "out of bounds"}));
  EXPECT_TRUE(IsInvalidWith(slice_error({3, 0}, {2, 5}, {}), {"slice(", "[3:2:1]"}));
  EXPECT_TRUE(IsInvalidWith(slice_error({0, 0}, {4, 5}, {1, 0}), {"slice(", "dim 1"}));
  EXPECT_TRUE(IsInvalidWith(slice_error({0}, {4}, {1}), {"slice(", "2 entries"}));
  // A huge stride is legal (one element) and must not overflow.
  FunctionBuilder b("f");
  Value s = b.Slice(b.Parameter(F32({4})), {1}, {4}, {INT64_MAX});
  EXPECT_EQ(b.TypeOf(s), F32({1}));
}

TEST(BuilderErrorsTest, ShapeChangingOps) {
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.Reshape(b.Parameter(F32({2, 3})), Shape{4, 2}); }),
                            {"reshape(", "f32[2,3]", "6 elements", "[4,2]"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.Reshape(b.Parameter(F32({2})), Shape{-1, -2}); }),
                            {"reshape(", "invalid"}));
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([](FunctionBuilder& b) { b.BroadcastInDim(b.Parameter(F32({3})), Shape{2, 4}, {1}); }),
      {"broadcast_in_dim(", "f32[3]", "cannot broadcast"}));
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([](FunctionBuilder& b) { b.BroadcastInDim(b.Parameter(F32({3})), Shape{3}, {}); }),
      {"broadcast_in_dim(", "one entry per operand dim"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.BroadcastTo(b.Parameter(F32({2, 3})), Shape{3}); }),
                            {"f32[2,3]", "lower rank"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.Concatenate({b.Parameter(F32({2, 3})), b.Parameter(F32({3, 3}))}, 1);
                            }),
                            {"concatenate(", "f32[2,3]", "f32[3,3]", "outside axis 1"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.Concatenate({}, 0); }),
                            {"concatenate(", "at least one operand"}));
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([](FunctionBuilder& b) { b.Gather(b.Parameter(F32({4, 2})), b.Parameter(F32({3})), 0); }),
      {"gather(", "indices must be i32", "f32[3]"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.Convert(b.Parameter(F32({2})), DType::kInvalid); }),
                            {"convert(", "dtype is invalid"}));
}

TEST(BuilderErrorsTest, ScatterAddNamesWhatIsWrong) {
  auto scatter_error = [](TensorType operand, TensorType indices, TensorType updates, int64_t axis) {
    return ErrorOf([&](FunctionBuilder& b) {
      b.ScatterAdd(b.Parameter(operand), b.Parameter(indices), b.Parameter(updates), axis);
    });
  };
  EXPECT_TRUE(IsInvalidWith(scatter_error(F32({4, 2}), F32({3}), F32({3, 2}), 0),
                            {"scatter_add(", "indices must be i32", "f32[3]"}));
  EXPECT_TRUE(IsInvalidWith(
      scatter_error(F32({4, 2}), I32({3}), F32({2, 3}), 0),
      {"scatter_add(", "updates shape [2,3] must be [3,2]", "gather(operand f32[4,2]", "axis 0"}));
  EXPECT_TRUE(IsInvalidWith(scatter_error(F32({4, 2}), I32({3}), F32({4, 3}), 0),
                            {"updates shape [4,3] must be [3,2]"}));
  EXPECT_TRUE(IsInvalidWith(scatter_error(F32({4, 2}), I32({5, 3}), F32({4, 5}), 1),
                            {"updates shape [4,5] must be [4,5,3]", "axis 1"}));
  EXPECT_TRUE(IsInvalidWith(scatter_error(F32({4, 2}), I32({3}), TensorType{DType::kF64, Shape{3, 2}}, 0),
                            {"scatter_add(", "updates dtype f64", "differs from the operand's f32"}));
  EXPECT_TRUE(IsInvalidWith(scatter_error(Bool({4}), I32({3}), Bool({3}), 0),
                            {"scatter_add(", "operand must be a numeric type", "bool[4]"}));
  EXPECT_TRUE(IsInvalidWith(scatter_error(F32({4, 2}), I32({3}), F32({3, 2}), 2),
                            {"scatter_add(", "axis 2 is out of range for rank 2"}));
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([](FunctionBuilder& b) {
        b.AddInstruction(OpCode::kScatterAdd, {b.Parameter(F32({4})), b.Parameter(I32({4}))}, {});
      }),
      {"scatter_add(", "expects 3 operand(s), got 2"}));
}

TEST(BuilderErrorsTest, DynamicSliceUpdateCumsumAndTopKNameWhatIsWrong) {
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.DynamicSlice(b.Parameter(F32({4, 3})), {b.ConstantScalar<int32_t>(0)}, {1, 1});
                            }),
                            {"dynamic_slice(", "one start index per dim", "f32[4,3]", "got 1"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              Value i = b.ConstantScalar<int32_t>(0);
                              b.DynamicSlice(b.Parameter(F32({4, 3})), {i, b.ConstantScalar<float>(1)}, {1, 1});
                            }),
                            {"dynamic_slice(", "start index operand 2 (for dim 1)", "scalar i32", "f32[]"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              Value i = b.ConstantScalar<int32_t>(0);
                              b.DynamicSlice(b.Parameter(F32({4, 3})), {i, i}, {5, 1});
                            }),
                            {"slice size 5 of dim 0", "[0, 4]"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              Value i = b.ConstantScalar<int32_t>(0);
                              b.DynamicUpdateSlice(b.Parameter(F32({4, 3})), b.Parameter(F32({2, 4})), {i, i});
                            }),
                            {"dynamic_update_slice(", "update f32[2,4] does not fit", "dim 1"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              Value i = b.ConstantScalar<int32_t>(0);
                              b.DynamicUpdateSlice(b.Parameter(F32({4, 3})), b.Parameter(I32({2, 2})), {i, i});
                            }),
                            {"update i32[2,2]", "dtype and rank", "f32[4,3]"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.Cumsum(b.Parameter(F32({4, 3})), 2); }),
                            {"cumsum(", "axis 2 is out of range for rank 2"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.Cumsum(b.Parameter(Bool({4})), 0); }),
                            {"cumsum(", "numeric", "bool[4]"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.TopKIndices(b.Parameter(F32({4, 3})), 4); }),
                            {"top_k(", "k = 4 must be in [1, 3]", "f32[4,3]"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.TopK(b.Parameter(F32({})), 1); }),
                            {"top_k(", "rank >= 1", "f32[]"}));
}

TEST(BuilderErrorsTest, CollectivesShardChecks) {
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([](FunctionBuilder& b) { b.ReduceScatter(b.Parameter(F32({4, 2})), 0, ReduceKind::kSum); }, 3),
      {"reduce_scatter(", "f32[4,2]", "not divisible by the 3 shards"}));
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([](FunctionBuilder& b) { b.AllToAll(b.Parameter(F32({4, 2})), 1, 0); }, 4),
      {"all_to_all(", "split_axis dim 1", "not divisible by the 4 shards"}));
  auto permute_error = [](std::vector<std::pair<int64_t, int64_t>> pairs) {
    return ErrorOf([&](FunctionBuilder& b) { b.CollectivePermute(b.Parameter(F32({2})), pairs); }, 4);
  };
  EXPECT_TRUE(IsInvalidWith(permute_error({{0, 4}}), {"collective_permute(", "(0, 4)", "outside [0, 4)"}));
  EXPECT_TRUE(IsInvalidWith(permute_error({{-1, 0}}), {"collective_permute(", "(-1, 0)"}));
  EXPECT_TRUE(IsInvalidWith(permute_error({{0, 1}, {0, 2}}), {"collective_permute(", "shard 0 is the source of two pairs"}));
  EXPECT_TRUE(IsInvalidWith(permute_error({{0, 1}, {2, 1}}), {"collective_permute(", "shard 1 is the target of two pairs"}));
}

TEST(BuilderErrorsTest, UnknownOpsAndInvalidLeaves) {
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.AddInstruction(static_cast<OpCode>(20), {b.Parameter(F32({2}))}, {});
                            }),
                            {"unknown op code 20"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.AddInstruction(OpCode::kInvalid, {}, {});
                            }),
                            {"unknown op code 0"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.Unary(OpCode::kAdd, b.Parameter(F32({2}))); }),
                            {"add is not a unary elementwise op"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              Value x = b.Parameter(F32({2}));
                              b.Binary(OpCode::kCompare, x, x);
                            }),
                            {"compare is not a binary elementwise op"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.Parameter(F32({-3})); }),
                            {"parameter(", "f32[-3]", "invalid"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.AddInstruction(OpCode::kConstant, {}, {}); }),
                            {"constant(", "no literal"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) {
                              b.AddInstruction(OpCode::kAdd, {b.Parameter(F32({2}))}, {});
                            }),
                            {"add(", "expects 2 operand(s), got 1"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.ScalarLike(DType::kInvalid, 1); }),
                            {"constant of invalid dtype"}));
}

TEST(BuilderErrorsTest, ValueFromAnotherBuilder) {
  FunctionBuilder other("other");
  Value foreign = other.Parameter(F32({2}));
  absl::Status s = ErrorOf([&](FunctionBuilder& b) { b.Add(b.Parameter(F32({2})), foreign); });
  EXPECT_TRUE(IsInvalidWith(s, {"function 'f'", "add", "operand 1 belongs to another function builder"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([](FunctionBuilder& b) { b.Exp(Value()); }),
                            {"exp", "operand 0 is not a valid value"}));
  EXPECT_EQ(other.TypeOf(Value()), TensorType{});
}

TEST(BuilderErrorsTest, FirstErrorIsStickyAndLaterOpsAreInvalid) {
  FunctionBuilder b("f");
  Value x = b.Parameter(F32({2}));
  Value bad = b.Exp(b.Parameter(I32({2})));
  EXPECT_FALSE(bad.valid());
  const std::string first = testing::Message(b.status());
  // Later ops, even valid ones and other failing ones, return invalid values and keep the error.
  Value later = b.Exp(x);
  EXPECT_FALSE(later.valid());
  EXPECT_FALSE(b.Transpose(x, {5}).valid());
  EXPECT_FALSE(b.Parameter(F32({3})).valid());
  EXPECT_EQ(testing::Message(b.status()), first);
  absl::StatusOr<Function> fn = b.Build({x});
  EXPECT_TRUE(IsInvalidWith(fn.status(), {"exp(", "i32[2]"}));
}

TEST(BuilderErrorsTest, BuildChecks) {
  EXPECT_TRUE(IsInvalidWith(FunctionBuilder("f").Build({}).status(), {"function 'f'", "at least one output"}));
  EXPECT_TRUE(IsInvalidWith(FunctionBuilder("f", {.num_shards = 0}).Build({}).status(),
                            {"num_shards must be in [1, 65536], got 0"}));
  EXPECT_TRUE(IsInvalidWith(FunctionBuilder("f", {.num_shards = kMaxShards + 1}).status(), {"num_shards"}));
  FunctionBuilder b("f");
  Value x = b.Parameter(F32({2}));
  EXPECT_TRUE(IsInvalidWith(b.Build({x, Value()}).status(), {"return", "operand 1 is not a valid value"}));
  FunctionBuilder ok("g");
  Value y = ok.Parameter(F32({2}));
  ASSERT_TRUE(ok.Build({y}).ok());
  EXPECT_THAT(ok.Build({y}).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// A one-parameter function of `type` returning `body(b, x)`.
Function Region(const std::string& name, TensorType type,
                std::function<Value(FunctionBuilder&, Value)> body, int64_t num_shards = 1) {
  FunctionBuilder b(name, {.num_shards = num_shards});
  Value x = b.Parameter(type);
  absl::StatusOr<Function> f = b.Build({body(b, x)});
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *std::move(f) : Function{};
}

Function Always(TensorType type) {
  return Region("always", type, [](FunctionBuilder& b, Value) { return b.ConstantScalar<bool>(true); });
}

TEST(BuilderErrorsTest, AWhileNeedsABoundAndKeepsItsCarriedTypes) {
  const TensorType v = F32({3});
  Function id = Region("id", v, [](FunctionBuilder&, Value x) { return x; });
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.While(Always(v), id, {b.Parameter(v)}, 0); }),
                            {"while(", "needs a bound", "max_iterations must be at least 1, got 0"}));
  Function grow = Region("grow", v, [](FunctionBuilder& b, Value x) { return b.Concatenate({x, x}, 0); });
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.While(Always(v), grow, {b.Parameter(v)}, 4); }),
                            {"body 'grow' changes carried value 0 from f32[3] to f32[6]"}));
  Function not_bool = Region("sum", v, [](FunctionBuilder& b, Value x) {
    return b.Reduce(x, {0}, ReduceKind::kSum);
  });
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) { b.While(not_bool, id, {b.Parameter(v)}, 4); }),
                            {"cond 'sum' must return one bool[] scalar, returns (f32[])"}));
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([&](FunctionBuilder& b) { b.While(Always(v), id, {b.Parameter(F32({4}))}, 4); }),
      {"cond 'always' takes (f32[3]) but is given (f32[4])"}));
  Function two_shards = Region("id", v, [](FunctionBuilder&, Value x) { return x; }, 2);
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([&](FunctionBuilder& b) { b.While(Always(v), two_shards, {b.Parameter(v)}, 4); }),
      {"runs on 2 shard(s), the enclosing function on 1"}));
}

TEST(BuilderErrorsTest, CaseBranchesReturnTheSameTypes) {
  const TensorType v = F32({3});
  Function id = Region("id", v, [](FunctionBuilder&, Value x) { return x; });
  Function half = Region("half", v, [](FunctionBuilder& b, Value x) { return b.Slice(x, {0}, {2}); });
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) {
                              b.Case(b.ConstantScalar<int32_t>(0), {id, half}, {b.Parameter(v)});
                            }),
                            {"branch 1 'half' returns (f32[2]) but branch 0 'id' returns (f32[3])"}));
  EXPECT_TRUE(IsInvalidWith(ErrorOf([&](FunctionBuilder& b) {
                              b.Case(b.ConstantScalar<float>(0), {id}, {b.Parameter(v)});
                            }),
                            {"branch index) must be i32[], got f32[]"}));
  EXPECT_TRUE(IsInvalidWith(
      ErrorOf([&](FunctionBuilder& b) { b.Case(b.ConstantScalar<int32_t>(0), {}, {b.Parameter(v)}); }),
      {"needs at least one branch"}));
}

TEST(BuilderErrorsTest, TuplesAreReadOnlyThroughGetResult) {
  const TensorType v = F32({3});
  Function id = Region("id", v, [](FunctionBuilder&, Value x) { return x; });
  // Hand-made misuse: the tuple as an operand, as an output, and a wrong result index or type.
  auto with = [&](std::function<void(Function&, int64_t)> edit) {
    FunctionBuilder b("f");
    Value x = b.Parameter(v);
    std::vector<Value> r = b.Case(b.ConstantScalar<int32_t>(0), {id}, {x});
    absl::StatusOr<Function> f = b.Build({r[0]});
    EXPECT_TRUE(f.ok()) << f.status();
    const int64_t tuple = f->instruction(f->outputs[0]).operands[0];
    edit(*f, tuple);
    return Verify(*f);
  };
  EXPECT_TRUE(IsInvalidWith(with([](Function& f, int64_t t) { f.outputs[0] = t; }),
                            {"output 0 is the tuple", "return its get_result values"}));
  EXPECT_TRUE(IsInvalidWith(with([](Function& f, int64_t) { f.instructions.back().attrs.index = 3; }),
                            {"result index 3 is out of range", "has 1 result(s)"}));
  EXPECT_TRUE(IsInvalidWith(with([](Function& f, int64_t) {
                              f.instructions.back().attrs.type = {DType::kF32, Shape{2}};
                              f.instructions.back().type = {DType::kF32, Shape{2}};
                            }),
                            {"declared type f32[2] differs from result 0"}));
  EXPECT_TRUE(IsInvalidWith(with([](Function& f, int64_t t) {
                              f.instructions.back().op = OpCode::kNegate;
                            }),
                            {"uses the tuple", "only get_result may read it"}));
}

TEST(BuilderErrorsTest, RegionsNestAtMostTheLimit) {
  const TensorType v = F32({});
  Function f = Region("leaf", v, [](FunctionBuilder&, Value x) { return x; });
  for (int64_t depth = 0; depth <= kMaxRegionDepth; ++depth) {
    FunctionBuilder b("wrap");
    Value x = b.Parameter(v);
    std::vector<Value> r = b.Case(b.ConstantScalar<int32_t>(0), {f}, {x});
    absl::StatusOr<Function> next = b.Build({r[0]});
    if (depth < kMaxRegionDepth) {
      ASSERT_TRUE(next.ok()) << depth << ": " << next.status();
      f = *std::move(next);
    } else {
      EXPECT_TRUE(IsInvalidWith(next.status(), {"regions nest deeper than 16 levels"}));
    }
  }
}

}  // namespace
}  // namespace pw::ir
