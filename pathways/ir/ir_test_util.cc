// EveryOpFunction(): one function exercising every op, shared by the IR tests.
#include "pathways/ir/ir_test_util.h"

#include "pathways/base/logging.h"
#include "pathways/ir/builder.h"

namespace pw::ir::testing {

Function EveryOpFunction() {
  FunctionBuilder b("every_op", {.num_shards = 4});
  Value x = b.Parameter({DType::kF32, Shape{4, 8}}, "x");
  Value w = b.Parameter({DType::kF32, Shape{8, 16}}, "w");
  Value idx = b.Parameter({DType::kI32, Shape{3}}, "idx");

  Value h = b.Dot(x, w);  // [4,16]
  h = b.Add(h, b.Convert(b.Iota({DType::kI32, Shape{16}}, 0), DType::kF32));
  Value s = b.Subtract(h, b.ConstantScalar<float>(1.0f));
  Value d = b.Divide(b.Multiply(s, s), b.ConstantScalar<float>(3.0f));
  Value mx = b.Maximum(d, b.Minimum(h, s));
  Value p = b.Power(b.Abs(mx), b.ConstantScalar<float>(0.5f));
  Value e = b.Exp(b.Negate(p));
  Value l = b.Log(b.Sqrt(e));
  Value t = b.Tanh(b.Rsqrt(b.Add(e, b.ConstantScalar<float>(1.0f))));
  Value lt = b.Compare(l, t, ComparisonDirection::kLt);
  Value sel = b.Select(lt, l, t);

  Value r = b.Reshape(sel, Shape{4, 4, 4});
  Value tr = b.Transpose(r, {2, 0, 1});
  Value sl = b.Slice(tr, {0, 0, 0}, {4, 4, 4}, {1, 2, 1});  // [4,2,4]
  Value cat = b.Concatenate({sl, sl}, 1);                  // [4,4,4]
  Value bmm = b.DotGeneral(cat, r, {.lhs_batch = {0}, .rhs_batch = {0},
                                    .lhs_contracting = {2}, .rhs_contracting = {1}});
  Value red = b.Reduce(bmm, {1}, ReduceKind::kMax);  // [4,4]
  Value ar = b.AllReduce(red, ReduceKind::kSum);
  Value ag = b.AllGather(ar, 0);                       // [16,4]
  Value rs = b.ReduceScatter(ag, 0, ReduceKind::kMin);  // [4,4]
  Value a2a = b.AllToAll(rs, 0, 1);                    // [1,16]
  Value cp = b.CollectivePermute(a2a, {{0, 1}, {1, 2}, {2, 3}});

  Value g = b.Gather(w, idx, 0);  // [3,16]
  g = b.ScatterAdd(b.Transpose(w, {1, 0}), idx, b.Transpose(g, {1, 0}), 1);  // [16,8]
  Value shard = b.BroadcastInDim(b.ShardIndex(), Shape{2, 2}, {});
  Value ints = b.Add(shard, b.Constant(Literal::Create<int32_t>(Shape{2}, {7, -7})));
  Value one = b.ConstantScalar<int32_t>(1);
  ints = b.Xor(b.Or(b.And(ints, b.ShiftLeft(ints, one)), one), b.ShiftRightLogical(ints, one));
  Value ds = b.DynamicSlice(w, {one, b.ConstantScalar<int32_t>(3)}, {2, 5});  // [2,5]
  Value cs = b.Cumsum(b.DynamicUpdateSlice(w, ds, {one, one}), 1, /*reverse=*/true);
  Value top = b.TopKIndices(cs, 3);  // [8,3] i32
  Value bools = b.Constant(Literal::Create<bool>(Shape{2}, {true, false}));
  Value doubles = b.StopGradient(
      b.Sine(b.Cosine(b.Constant(Literal::Create<double>(Shape{2}, {1.5, -2.25})))));
  Value eq = b.Compare(bools, b.ConstantScalar<bool>(false), ComparisonDirection::kEq);

  // Control flow: count up while the count is below 5 (at most 8 times), then a two-way case.
  const TensorType i32{DType::kI32, Shape{}};
  FunctionBuilder cond("below_five", {.num_shards = 4});
  Value c = cond.Parameter(i32);
  cond.Parameter(b.TypeOf(ds));
  FunctionBuilder body("step", {.num_shards = 4});
  Value bi = body.Parameter(i32);
  Value bx = body.Parameter(b.TypeOf(ds));
  FunctionBuilder neg("negate", {.num_shards = 4});
  Value nx = neg.Parameter(b.TypeOf(ds));
  FunctionBuilder keep("keep", {.num_shards = 4});
  Value kx = keep.Parameter(b.TypeOf(ds));
  std::vector<Value> loop = b.While(
      *cond.Build({cond.Compare(c, cond.ConstantScalar<int32_t>(5), ComparisonDirection::kLt)}),
      *body.Build({body.Add(bi, body.ConstantScalar<int32_t>(1)), body.Add(bx, bx)}),
      {b.ConstantScalar<int32_t>(0), ds}, /*max_iterations=*/8);
  std::vector<Value> branch = b.Case(loop[0], {*neg.Build({neg.Negate(nx)}), *keep.Build({kx})},
                                     {loop[1]});

  absl::StatusOr<Function> f = b.Build({cp, g, ints, eq, doubles, lt, cs, top, branch[0]});
  PW_CHECK(f.ok()) << f.status();
  return *std::move(f);
}

::testing::AssertionResult IsInvalidWith(const absl::Status& status,
                                         std::initializer_list<std::string> parts) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "expected InvalidArgument, got " << status;
  }
  for (const std::string& part : parts) {
    if (Message(status).find(part) == std::string::npos) {
      return ::testing::AssertionFailure() << "message lacks \"" << part << "\": " << status;
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace pw::ir::testing
