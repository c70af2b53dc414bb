// Tests of FunctionBuilder and shape inference: the result type of every op.
#include "pathways/ir/builder.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/ir/ir.pb.h"
#include "pathways/ir/ir_test_util.h"
#include "pathways/ir/serialization.h"

namespace pw::ir {
namespace {

TensorType F32(Shape s) { return {DType::kF32, std::move(s)}; }
TensorType F64(Shape s) { return {DType::kF64, std::move(s)}; }
TensorType I32(Shape s) { return {DType::kI32, std::move(s)}; }
TensorType Bool(Shape s) { return {DType::kBool, std::move(s)}; }

// Builds a function whose single output is `out(builder, params...)` and returns its type.
class Fixture {
 public:
  explicit Fixture(int64_t num_shards = 1) : b_("f", {.num_shards = num_shards}) {}
  FunctionBuilder& b() { return b_; }
  Value P(TensorType t) { return b_.Parameter(std::move(t)); }
  TensorType TypeOf(Value v) {
    EXPECT_TRUE(b_.status().ok()) << b_.status();
    return b_.TypeOf(v);
  }

 private:
  FunctionBuilder b_;
};

TEST(BuilderTest, NamedScopesNestAndAreCheckedAndSerialized) {
  FunctionBuilder b("scopes");
  Value x = b.Parameter(F32({2}));
  b.PushScope("block0");
  b.PushScope("mlp");
  Value y = b.Exp(x);
  b.PopScope();
  Value z = b.Add(y, x);
  b.PopScope();
  Value w = b.Negate(z);
  auto f = b.Build({w});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->instructions[1].scope, "block0/mlp");
  EXPECT_EQ(f->instructions[2].scope, "block0");
  EXPECT_EQ(f->instructions[3].scope, "");
  auto back = FromProto(ToProto(*f));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *f);
  Function renamed = *f;
  renamed.instructions[1].scope = "other";
  EXPECT_NE(Fingerprint(renamed), Fingerprint(*f));
  pathways::ir::FunctionProto long_scope = ToProto(*f);
  long_scope.mutable_instructions(1)->set_scope(std::string(kMaxScopeLength + 1, 's'));
  EXPECT_THAT(FromProto(long_scope).status().message(), ::testing::HasSubstr("scope of 1025 bytes"));

  FunctionBuilder bad("bad");
  bad.PushScope("a/b");
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("no '/'"));
  FunctionBuilder unbalanced("unbalanced");
  unbalanced.PopScope();
  EXPECT_EQ(unbalanced.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(BuilderTest, UnaryKeepsTypeAndNegateAbsAcceptIntegers) {
  Fixture f;
  Value x = f.P(F32({2, 3}));
  for (OpCode op : {OpCode::kNegate, OpCode::kExp, OpCode::kLog, OpCode::kTanh, OpCode::kSqrt,
                    OpCode::kRsqrt, OpCode::kAbs}) {
    EXPECT_EQ(f.TypeOf(f.b().Unary(op, x)), F32({2, 3})) << OpName(op);
  }
  Value i = f.P(I32({5}));
  EXPECT_EQ(f.TypeOf(f.b().Negate(i)), I32({5}));
  EXPECT_EQ(f.TypeOf(f.b().Abs(i)), I32({5}));
}

TEST(BuilderTest, BinaryOpsBroadcastNumpyStyle) {
  Fixture f;
  Value a = f.P(F32({2, 1, 3}));
  Value b = f.P(F32({4, 1}));
  Value scalar = f.P(F32({}));
  for (OpCode op : {OpCode::kAdd, OpCode::kSubtract, OpCode::kMultiply, OpCode::kDivide,
                    OpCode::kMaximum, OpCode::kMinimum, OpCode::kPower}) {
    EXPECT_EQ(f.TypeOf(f.b().Binary(op, a, b)), F32({2, 4, 3})) << OpName(op);
  }
  EXPECT_EQ(f.TypeOf(f.b().Add(scalar, a)), F32({2, 1, 3}));
  EXPECT_EQ(f.TypeOf(f.b().Add(scalar, scalar)), F32({}));
}

TEST(BuilderTest, BinaryInsertsBroadcastInDimOnlyWhereNeeded) {
  FunctionBuilder b("f");
  Value a = b.Parameter(F32({2, 3}));
  Value row = b.Parameter(F32({3}));
  Value sum = b.Add(a, row);
  absl::StatusOr<Function> fn = b.Build({sum});
  ASSERT_TRUE(fn.ok()) << fn.status();
  ASSERT_EQ(fn->instructions.size(), 4u);
  const Instruction& bcast = fn->instructions[2];
  EXPECT_EQ(bcast.op, OpCode::kBroadcastInDim);
  EXPECT_EQ(bcast.operands, std::vector<int64_t>{1});
  EXPECT_EQ(bcast.attrs.dims, std::vector<int64_t>{1});
  EXPECT_EQ(bcast.type, F32({2, 3}));
  EXPECT_EQ(fn->instructions[3].operands, (std::vector<int64_t>{0, 2}));
}

TEST(BuilderTest, BroadcastingWithZeroSizedDims) {
  Fixture f;
  Value a = f.P(F32({0, 3}));
  EXPECT_EQ(f.TypeOf(f.b().Add(a, f.P(F32({1, 3})))), F32({0, 3}));
  EXPECT_EQ(f.TypeOf(f.b().Multiply(f.P(F32({1})), a)), F32({0, 3}));
  EXPECT_EQ(f.TypeOf(f.b().Exp(f.P(F32({0})))), F32({0}));
}

TEST(BuilderTest, CompareBroadcastsAndGivesBool) {
  Fixture f;
  Value a = f.P(I32({3, 1}));
  Value b = f.P(I32({4}));
  EXPECT_EQ(f.TypeOf(f.b().Compare(a, b, ComparisonDirection::kGe)), Bool({3, 4}));
  Value p = f.P(Bool({2}));
  EXPECT_EQ(f.TypeOf(f.b().Compare(p, p, ComparisonDirection::kNe)), Bool({2}));
}

TEST(BuilderTest, SelectBroadcastsAllThreeOperands) {
  Fixture f;
  Value pred = f.P(Bool({3, 1}));
  Value on_true = f.P(F32({4}));
  Value on_false = f.P(F32({}));
  EXPECT_EQ(f.TypeOf(f.b().Select(pred, on_true, on_false)), F32({3, 4}));
  Value scalar_pred = f.P(Bool({}));
  EXPECT_EQ(f.TypeOf(f.b().Select(scalar_pred, on_true, on_true)), F32({4}));
}

TEST(BuilderTest, ConvertIotaAndConstants) {
  Fixture f;
  EXPECT_EQ(f.TypeOf(f.b().Convert(f.P(I32({2, 2})), DType::kF64)), F64({2, 2}));
  EXPECT_EQ(f.TypeOf(f.b().Convert(f.P(F32({})), DType::kBool)), Bool({}));
  EXPECT_EQ(f.TypeOf(f.b().Iota(I32({3, 5}), 1)), I32({3, 5}));
  EXPECT_EQ(f.TypeOf(f.b().Constant(Literal::Create<float>(Shape{2, 2}, {1, 2, 3, 4}))),
            F32({2, 2}));
  EXPECT_EQ(f.TypeOf(f.b().ScalarLike(DType::kI32, 3.7)), I32({}));
  EXPECT_EQ(f.TypeOf(f.b().ScalarLike(DType::kBool, 1)), Bool({}));
  EXPECT_EQ(f.TypeOf(f.b().Constant(Literal(F32({0, 4})))), F32({0, 4}));
}

TEST(BuilderTest, BroadcastInDimReshapeTranspose) {
  Fixture f;
  Value x = f.P(F32({3, 1}));
  EXPECT_EQ(f.TypeOf(f.b().BroadcastInDim(x, Shape{2, 3, 5}, {1, 2})), F32({2, 3, 5}));
  EXPECT_EQ(f.TypeOf(f.b().BroadcastTo(x, Shape{4, 3, 7})), F32({4, 3, 7}));
  Value y = f.P(F32({2, 3, 4}));
  EXPECT_EQ(f.TypeOf(f.b().Reshape(y, Shape{6, 4})), F32({6, 4}));
  EXPECT_EQ(f.TypeOf(f.b().Reshape(y, Shape{24})), F32({24}));
  EXPECT_EQ(f.TypeOf(f.b().Reshape(f.P(F32({1})), Shape{})), F32({}));
  EXPECT_EQ(f.TypeOf(f.b().Transpose(y, {2, 0, 1})), F32({4, 2, 3}));
  EXPECT_EQ(f.TypeOf(f.b().Transpose(f.P(F32({})), {})), F32({}));
}

TEST(BuilderTest, SliceWithStrides) {
  Fixture f;
  Value x = f.P(F32({10, 6}));
  EXPECT_EQ(f.TypeOf(f.b().Slice(x, {1, 0}, {10, 6}, {3, 1})), F32({3, 6}));  // rows 1,4,7
  EXPECT_EQ(f.TypeOf(f.b().Slice(x, {0, 1}, {10, 6}, {4, 2})), F32({3, 3}));  // 0,4,8 x 1,3,5
  EXPECT_EQ(f.TypeOf(f.b().Slice(x, {2, 2}, {2, 6})), F32({0, 4}));
  EXPECT_EQ(f.TypeOf(f.b().Slice(x, {9, 5}, {10, 6}, {100, 100})), F32({1, 1}));
  EXPECT_EQ(f.TypeOf(f.b().Slice(f.P(F32({})), {}, {})), F32({}));
}

TEST(BuilderTest, Concatenate) {
  Fixture f;
  Value a = f.P(F32({2, 3}));
  Value b = f.P(F32({2, 5}));
  Value empty = f.P(F32({2, 0}));
  EXPECT_EQ(f.TypeOf(f.b().Concatenate({a, b, empty, a}, 1)), F32({2, 11}));
  EXPECT_EQ(f.TypeOf(f.b().Concatenate({a, a}, 0)), F32({4, 3}));
  EXPECT_EQ(f.TypeOf(f.b().Concatenate({a}, 0)), F32({2, 3}));
}

TEST(BuilderTest, GatherIsAnEmbeddingLookup) {
  Fixture f;
  Value table = f.P(F32({1000, 64}));
  EXPECT_EQ(f.TypeOf(f.b().Gather(table, f.P(I32({8, 128})), 0)), F32({8, 128, 64}));
  EXPECT_EQ(f.TypeOf(f.b().Gather(table, f.P(I32({})), 0)), F32({64}));
  Value x = f.P(F32({3, 5, 2}));
  EXPECT_EQ(f.TypeOf(f.b().Gather(x, f.P(I32({6})), 1)), F32({3, 6, 2}));
  EXPECT_EQ(f.TypeOf(f.b().Gather(x, f.P(I32({0})), 2)), F32({3, 5, 0}));
}

TEST(BuilderTest, ScatterAddTakesGathersShapeAndGivesTheOperands) {
  Fixture f;
  Value table = f.P(F32({1000, 64}));
  EXPECT_EQ(f.TypeOf(f.b().ScatterAdd(table, f.P(I32({8, 128})), f.P(F32({8, 128, 64})), 0)),
            F32({1000, 64}));
  EXPECT_EQ(f.TypeOf(f.b().ScatterAdd(table, f.P(I32({})), f.P(F32({64})), 0)), F32({1000, 64}));
  Value x = f.P(F64({3, 5, 2}));
  EXPECT_EQ(f.TypeOf(f.b().ScatterAdd(x, f.P(I32({6})), f.P(F64({3, 6, 2})), 1)), F64({3, 5, 2}));
  Value n = f.P(I32({3, 0}));
  EXPECT_EQ(f.TypeOf(f.b().ScatterAdd(n, f.P(I32({4})), f.P(I32({3, 4})), 1)), I32({3, 0}));
}

TEST(BuilderTest, DotFollowsNumpyMatmul) {
  Fixture f;
  Value v3 = f.P(F32({3}));
  Value m23 = f.P(F32({2, 3}));
  Value m34 = f.P(F32({3, 4}));
  EXPECT_EQ(f.TypeOf(f.b().Dot(v3, v3)), F32({}));
  EXPECT_EQ(f.TypeOf(f.b().Dot(m23, v3)), F32({2}));
  EXPECT_EQ(f.TypeOf(f.b().Dot(v3, m34)), F32({4}));
  EXPECT_EQ(f.TypeOf(f.b().Dot(m23, m34)), F32({2, 4}));
  EXPECT_EQ(f.TypeOf(f.b().Dot(f.P(F32({5, 7, 2, 3})), f.P(F32({5, 7, 3, 4})))),
            F32({5, 7, 2, 4}));
  EXPECT_EQ(f.TypeOf(f.b().Dot(f.P(F32({2, 0})), f.P(F32({0, 4})))), F32({2, 4}));
  EXPECT_EQ(f.TypeOf(f.b().Dot(f.P(I32({2, 3})), f.P(I32({3})))), I32({2}));
}

TEST(BuilderTest, DotGeneralWithBatchAndContractingDims) {
  Fixture f;
  Value lhs = f.P(F32({8, 2, 3, 4}));
  Value rhs = f.P(F32({4, 8, 3, 5}));
  // batch: lhs 0 / rhs 1 (8); contracting: lhs {2,3} / rhs {2,0} (3, 4); free: lhs 1, rhs 3.
  DotDimensionNumbers d{.lhs_batch = {0}, .rhs_batch = {1},
                        .lhs_contracting = {2, 3}, .rhs_contracting = {2, 0}};
  EXPECT_EQ(f.TypeOf(f.b().DotGeneral(lhs, rhs, d)), F32({8, 2, 5}));
  // No contraction at all: an outer product.
  EXPECT_EQ(f.TypeOf(f.b().DotGeneral(f.P(F32({2})), f.P(F32({3})), {})), F32({2, 3}));
}

TEST(BuilderTest, ReduceDropsAxesAndStoresThemAscending) {
  FunctionBuilder b("f");
  Value x = b.Parameter(F32({2, 3, 4}));
  Value r = b.Reduce(x, {2, 0}, ReduceKind::kSum);
  EXPECT_EQ(b.TypeOf(r), F32({3}));
  EXPECT_EQ(b.TypeOf(b.Reduce(x, {}, ReduceKind::kMax)), F32({2, 3, 4}));
  EXPECT_EQ(b.TypeOf(b.Reduce(x, {0, 1, 2}, ReduceKind::kMin)), F32({}));
  EXPECT_EQ(b.TypeOf(b.Reduce(b.Parameter(F32({0, 5})), {0}, ReduceKind::kSum)), F32({5}));
  absl::StatusOr<Function> fn = b.Build({r});
  ASSERT_TRUE(fn.ok()) << fn.status();
  EXPECT_EQ(fn->instructions[r.id()].attrs.dims, (std::vector<int64_t>{0, 2}));
}

TEST(BuilderTest, CollectiveShapesDependOnNumShards) {
  Fixture f(/*num_shards=*/4);
  Value x = f.P(F32({8, 3}));
  EXPECT_EQ(f.TypeOf(f.b().AllReduce(x, ReduceKind::kSum)), F32({8, 3}));
  EXPECT_EQ(f.TypeOf(f.b().AllGather(x, 0)), F32({32, 3}));
  EXPECT_EQ(f.TypeOf(f.b().AllGather(x, 1)), F32({8, 12}));
  EXPECT_EQ(f.TypeOf(f.b().ReduceScatter(x, 0, ReduceKind::kMax)), F32({2, 3}));
  EXPECT_EQ(f.TypeOf(f.b().AllToAll(x, 0, 1)), F32({2, 12}));
  EXPECT_EQ(f.TypeOf(f.b().AllToAll(x, 0, 0)), F32({8, 3}));
  EXPECT_EQ(f.TypeOf(f.b().CollectivePermute(x, {{0, 3}, {3, 0}})), F32({8, 3}));
  EXPECT_EQ(f.TypeOf(f.b().CollectivePermute(x, {})), F32({8, 3}));
  EXPECT_EQ(f.TypeOf(f.b().ShardIndex()), I32({}));
  EXPECT_EQ(f.TypeOf(f.b().AllGather(f.P(Bool({0})), 0)), Bool({0}));
  EXPECT_EQ(f.TypeOf(f.b().ReduceScatter(f.P(F32({0})), 0, ReduceKind::kSum)), F32({0}));
  EXPECT_EQ(f.b().num_shards(), 4);
}

TEST(BuilderTest, SingleShardCollectivesAreIdentityShaped) {
  Fixture f;
  Value x = f.P(F32({3, 5}));
  EXPECT_EQ(f.TypeOf(f.b().AllGather(x, 1)), F32({3, 5}));
  EXPECT_EQ(f.TypeOf(f.b().ReduceScatter(x, 0, ReduceKind::kSum)), F32({3, 5}));
  EXPECT_EQ(f.TypeOf(f.b().AllToAll(x, 1, 0)), F32({3, 5}));
}

TEST(BuilderTest, BuildRecordsParametersOutputsAndNames) {
  FunctionBuilder b("mlp", {.num_shards = 2});
  Value x = b.Parameter(F32({4, 8}), "x");
  Value w = b.Parameter(F32({8, 2}), "w");
  Value y = b.AddInstruction(OpCode::kTanh, {b.Dot(x, w)}, {}, "hidden");
  absl::StatusOr<Function> fn = b.Build({y, x});
  ASSERT_TRUE(fn.ok()) << fn.status();
  EXPECT_EQ(fn->name, "mlp");
  EXPECT_EQ(fn->num_shards, 2);
  EXPECT_EQ(fn->parameters, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(fn->instructions[1].attrs.index, 1);
  EXPECT_EQ(fn->instructions[1].name, "w");
  EXPECT_EQ(fn->instructions[y.id()].name, "hidden");
  EXPECT_EQ(fn->parameter_types(), (std::vector<TensorType>{F32({4, 8}), F32({8, 2})}));
  EXPECT_EQ(fn->output_types(), (std::vector<TensorType>{F32({4, 2}), F32({4, 8})}));
  EXPECT_FALSE(fn->HasCollectives());
  EXPECT_TRUE(Verify(*fn).ok());
}

TEST(BuilderTest, EveryOpFunctionCoversEveryOpCode) {
  Function fn = testing::EveryOpFunction();
  ASSERT_TRUE(Verify(fn).ok()) << Verify(fn);
  EXPECT_TRUE(fn.HasCollectives());
  for (uint32_t code = 1; code < 0x100; ++code) {
    if (!IsKnownOpCode(code)) continue;
    bool found = false;
    for (const Instruction& inst : fn.instructions) found |= inst.op == static_cast<OpCode>(code);
    EXPECT_TRUE(found) << "EveryOpFunction lacks " << OpName(static_cast<OpCode>(code));
  }
}

TEST(OpTest, NamesRoundTripAndClassificationIsExact) {
  for (uint32_t code = 0; code < 0x100; ++code) {
    OpCode op = static_cast<OpCode>(code);
    if (!IsKnownOpCode(code)) {
      EXPECT_STREQ(OpName(op), "invalid");
      EXPECT_FALSE(IsUnaryElementwise(op) || IsBinaryElementwise(op) || IsCollective(op)) << code;
      continue;
    }
    absl::StatusOr<OpCode> parsed = ParseOpName(OpName(op));
    ASSERT_TRUE(parsed.ok()) << OpName(op);
    EXPECT_EQ(*parsed, op);
  }
  EXPECT_FALSE(ParseOpName("matmul").ok());
  EXPECT_TRUE(IsBinaryElementwise(OpCode::kPower));
  EXPECT_FALSE(IsBinaryElementwise(OpCode::kCompare));
  EXPECT_TRUE(IsCollective(OpCode::kShardIndex));
}

TEST(ShapeTest, ValidityElementCountsAndPrinting) {
  EXPECT_EQ(Shape{}.num_elements(), 1);
  EXPECT_EQ((Shape{2, 0, 3}).num_elements(), 0);
  EXPECT_EQ((Shape{2, 3, 4}).strides(), (absl::InlinedVector<int64_t, 6>{12, 4, 1}));
  EXPECT_FALSE((Shape{0, int64_t{1} << 50}).IsValid());
  EXPECT_FALSE((Shape{-1}).IsValid());
  EXPECT_FALSE((Shape{int64_t{1} << 21, int64_t{1} << 21}).IsValid());
  EXPECT_TRUE((Shape{int64_t{1} << 20, int64_t{1} << 20}).IsValid());
  EXPECT_FALSE(Shape(std::vector<int64_t>(kMaxRank + 1, 1)).IsValid());
  EXPECT_EQ(F32({2, 3}).DebugString(), "f32[2,3]");
  EXPECT_EQ(F32({2, 3}).byte_size(), 24);
  std::ostringstream os;
  os << Bool({}) << " " << Shape{4} << " " << DType::kF64 << " " << OpCode::kDotGeneral;
  EXPECT_EQ(os.str(), "bool[] [4] f64 dot_general");
  EXPECT_EQ(*ParseDType("float32"), DType::kF32);
  EXPECT_FALSE(ParseDType("f16").ok());
}

}  // namespace
}  // namespace pw::ir
