// Tests of while, case and get_result against reference loops.
#include "pathways/base/status_matchers.h"
#include "pathways/kernels/kernels_test_util.h"

namespace pw::testing {
namespace {

using ir::DType;
using ir::FunctionBuilder;
using ir::Value;

const ir::TensorType kI32 = T(DType::kI32, {});

// sum = 0; i = 0; while (i < n) { sum += x * i; i += 1 }, at most `bound` times.
std::vector<ir::Literal> RunSumLoop(int32_t n, int64_t bound) {
  const ir::TensorType vec = T(DType::kF32, {3});
  FunctionBuilder cond("below_n");
  Value ci = cond.Parameter(kI32), cn = cond.Parameter(kI32);
  cond.Parameter(vec);
  cond.Parameter(vec);
  FunctionBuilder body("accumulate");
  Value bi = body.Parameter(kI32), bn = body.Parameter(kI32);
  Value bx = body.Parameter(vec), bs = body.Parameter(vec);
  Value next =
      body.Add(bs, body.Multiply(bx, body.BroadcastTo(body.Convert(bi, DType::kF32), {3})));
  FunctionBuilder b("sum_loop");
  Value nn = b.Parameter(kI32), x = b.Parameter(vec);
  Value zero = b.BroadcastTo(b.ConstantScalar<float>(0), {3});
  std::vector<Value> r =
      b.While(*cond.Build({cond.Compare(ci, cn, ir::ComparisonDirection::kLt)}),
              *body.Build({body.Add(bi, body.ConstantScalar<int32_t>(1)), bn, bx, next}),
              {b.ConstantScalar<int32_t>(0), nn, x, zero}, bound);
  auto f = b.Build({r[0], r[3]});
  EXPECT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  EXPECT_TRUE(exe.ok()) << exe.status();
  auto out = (*exe)->ExecuteLiterals(
      {LiteralFrom(kI32, {static_cast<double>(n)}), LiteralFrom(vec, {1.0, -2.0, 0.5})});
  EXPECT_TRUE(out.ok()) << out.status();
  return *std::move(out);
}

TEST(ControlFlowKernelsTest, WhileRunsUntilItsPredicateFails) {
  for (int32_t n : {0, 1, 4, 7}) {
    SCOPED_TRACE(n);
    std::vector<ir::Literal> out = RunSumLoop(n, 100);
    EXPECT_EQ(out[0].GetAsDouble(0), n);
    const double s = n * (n - 1) / 2.0;  // 0 + 1 + ... + (n - 1)
    ExpectMatches(out[1], RefArray{{3}, {s, -2 * s, 0.5 * s}}, 0.0);
  }
}

TEST(ControlFlowKernelsTest, WhileStopsAtItsBound) {
  std::vector<ir::Literal> out = RunSumLoop(1000, 5);
  EXPECT_EQ(out[0].GetAsDouble(0), 5);
  ExpectMatches(out[1], RefArray{{3}, {10.0, -20.0, 5.0}}, 0.0);
}

TEST(ControlFlowKernelsTest, CaseRunsTheIndexedBranchAndTheLastOutOfRange) {
  const ir::TensorType vec = T(DType::kF64, {2});
  auto branch = [&](int which) {
    FunctionBuilder fb("branch" + std::to_string(which));
    Value a = fb.Parameter(vec), c = fb.Parameter(kI32);
    Value v = which == 0 ? fb.Negate(a) : which == 1 ? fb.Add(a, a) : fb.Multiply(a, a);
    return *fb.Build({v, fb.Add(c, fb.ConstantScalar<int32_t>(which))});
  };
  FunctionBuilder b("three_way");
  Value index = b.Parameter(kI32), a = b.Parameter(vec), c = b.Parameter(kI32);
  std::vector<Value> r = b.Case(index, {branch(0), branch(1), branch(2)}, {a, c});
  auto f = b.Build(r);
  ASSERT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  const std::vector<std::pair<int32_t, int>> cases = {{0, 0}, {1, 1}, {2, 2}, {3, 2}, {-1, 2}};
  for (const auto& [index_value, branch_run] : cases) {
    SCOPED_TRACE(index_value);
    auto out = (*exe)->ExecuteLiterals({LiteralFrom(kI32, {static_cast<double>(index_value)}),
                                        LiteralFrom(vec, {3.0, -1.5}), LiteralFrom(kI32, {10})});
    ASSERT_TRUE(out.ok()) << out.status();
    const std::vector<double> want = branch_run == 0   ? std::vector<double>{-3.0, 1.5}
                                     : branch_run == 1 ? std::vector<double>{6.0, -3.0}
                                                       : std::vector<double>{9.0, 2.25};
    ExpectMatches((*out)[0], RefArray{{2}, want}, 0.0);
    EXPECT_EQ((*out)[1].GetAsDouble(0), 10 + branch_run);
  }
}

TEST(ControlFlowKernelsTest, NestedLoopsAndTheirScratch) {
  // outer: 3 times { inner: 4 times { x = x + 1 } ; x = x * 2 }, from x = 0: ((4*2+4)*2+4)*2 = 56.
  const ir::TensorType f32 = T(DType::kF32, {});
  auto count_below = [&](int32_t n, const std::string& name) {
    FunctionBuilder c(name);
    Value i = c.Parameter(kI32);
    c.Parameter(f32);
    return *c.Build({c.Compare(i, c.ConstantScalar<int32_t>(n), ir::ComparisonDirection::kLt)});
  };
  FunctionBuilder inner_body("inc");
  Value ii = inner_body.Parameter(kI32), ix = inner_body.Parameter(f32);
  ir::Function inner = *inner_body.Build({inner_body.Add(ii, inner_body.ConstantScalar<int32_t>(1)),
                                          inner_body.Add(ix, inner_body.ConstantScalar<float>(1))});
  FunctionBuilder outer_body("inner_then_double");
  Value oi = outer_body.Parameter(kI32), ox = outer_body.Parameter(f32);
  std::vector<Value> in = outer_body.While(count_below(4, "below4"), inner,
                                           {outer_body.ConstantScalar<int32_t>(0), ox}, 10);
  ir::Function outer =
      *outer_body.Build({outer_body.Add(oi, outer_body.ConstantScalar<int32_t>(1)),
                         outer_body.Multiply(in[1], outer_body.ConstantScalar<float>(2))});
  FunctionBuilder b("nested");
  Value x = b.Parameter(f32);
  std::vector<Value> r =
      b.While(count_below(3, "below3"), outer, {b.ConstantScalar<int32_t>(0), x}, 10);
  auto f = b.Build({r[1]});
  ASSERT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto out = (*exe)->ExecuteLiterals({LiteralFrom(f32, {0.0})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].GetAsDouble(0), 56.0);
  EXPECT_GT((*exe)->scratch_bytes(), 0);
}

TEST(ControlFlowKernelsTest, ErrorsInsideARegionNameTheIteration) {
  // A collective in the body without a communicator: FAILED_PRECONDITION naming the loop.
  FunctionBuilder cond("always", {.num_shards = 2});
  cond.Parameter(T(DType::kF32, {2}));
  FunctionBuilder body("reduce", {.num_shards = 2});
  Value v = body.Parameter(T(DType::kF32, {2}));
  FunctionBuilder b("loop", {.num_shards = 2});
  Value x = b.Parameter(T(DType::kF32, {2}));
  auto f = b.Build(b.While(*cond.Build({cond.ConstantScalar<bool>(true)}),
                           *body.Build({body.AllReduce(v, ir::ReduceKind::kSum)}), {x}, 3));
  ASSERT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto out = (*exe)->ExecuteLiterals({LiteralFrom(T(DType::kF32, {2}), {1.0, 2.0})});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition) << out.status();
}

}  // namespace
}  // namespace pw::testing
