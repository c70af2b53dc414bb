// Tests of CpuExecutable: planning (liveness, output placement), errors, and concurrency.
#include "pathways/kernels/cpu_executable.h"

#include <thread>

#include "pathways/base/status_matchers.h"
#include "pathways/kernels/kernels_test_util.h"

namespace pw::testing {
namespace {

using ir::DType;
using ::testing::HasSubstr;

TEST(CpuExecutableTest, LongElementwiseChainNeedsConstantScratch) {
  constexpr int64_t kN = 1024, kSteps = 200;
  ir::FunctionBuilder b("chain");
  ir::Value x = b.Parameter(T(DType::kF32, {kN}));
  ir::Value v = x;
  for (int i = 0; i < kSteps; ++i) v = i % 2 == 0 ? b.Add(v, x) : b.Multiply(v, x);
  auto f = b.Build({b.Negate(v)});
  ASSERT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  // Two live intermediates at a time (the result is written into the output directly).
  EXPECT_LE((*exe)->scratch_bytes(), 2 * kN * 4);
  EXPECT_GT((*exe)->scratch_bytes(), 0);
  EXPECT_EQ((*exe)->num_steps(), kSteps + 1);

  ir::Literal in = LiteralFrom(T(DType::kF32, {kN}), std::vector<double>(kN, 1.0));
  auto out = (*exe)->ExecuteLiterals({in});
  ASSERT_TRUE(out.ok()) << out.status();
  double want = 1;
  for (int i = 0; i < kSteps; ++i) want = i % 2 == 0 ? want + 1 : want * 1;
  EXPECT_EQ((*out)[0].data<float>()[kN - 1], -want);
}

// Consecutive instructions of one named scope are one trace event on the given lane; nothing is
// recorded while the recorder is off.
TEST(CpuExecutableTest, NamedScopesBecomeTraceEventsWhileTracing) {
  ir::FunctionBuilder b("scoped");
  ir::Value x = b.Parameter(T(DType::kF32, {8}));
  b.PushScope("forward");
  ir::Value y = b.Exp(x);
  b.PushScope("inner");
  y = b.Add(y, x);
  b.PopScope();
  b.PopScope();
  y = b.Multiply(y, y);  // unscoped
  b.PushScope("optimizer");
  y = b.Negate(y);
  b.PopScope();
  auto f = b.Build({y});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->instructions[2].scope, "forward/inner");
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  TraceRecorder trace;
  std::vector<float> in(8, 1.0f), out(8);
  const void* args[] = {in.data()};
  void* outs[] = {out.data()};
  std::vector<char> scratch((*exe)->scratch_bytes() + 64);
  void* aligned = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
  const ExecuteContext context{.trace = &trace, .trace_pid = 3, .trace_tid = 7};
  ASSERT_THAT((*exe)->Execute(args, outs, aligned, context), IsOk());
  EXPECT_EQ(trace.num_events(), 0u);  // off
  trace.Start();
  ASSERT_THAT((*exe)->Execute(args, outs, aligned, context), IsOk());
  std::vector<std::string> names;
  for (const TraceEvent& e : trace.TakeEvents()) {
    EXPECT_EQ(e.category, "scope");
    EXPECT_EQ(e.pid, 3);
    EXPECT_EQ(e.tid, 7);
    EXPECT_GE(e.dur_ns, 0);
    names.push_back(e.name);
  }
  EXPECT_THAT(names, ::testing::ElementsAre("forward", "forward/inner", "optimizer"));
}

TEST(CpuExecutableTest, OutputsThatAreParametersConstantsOrRepeatedAreCopied) {
  ir::FunctionBuilder b("outs");
  ir::Value x = b.Parameter(T(DType::kI32, {3}));
  ir::Value c = b.Constant(ir::Literal::Create<int32_t>({2}, {7, 8}));
  ir::Value n = b.Negate(x);
  auto f = b.Build({n, x, n, c, x});
  ASSERT_TRUE(f.ok());
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok());
  EXPECT_EQ((*exe)->scratch_bytes(), 0);
  auto out = (*exe)->ExecuteLiterals({ir::Literal::Create<int32_t>({3}, {1, 2, 3})});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 5u);
  EXPECT_THAT((*out)[0].data<int32_t>(), ::testing::ElementsAre(-1, -2, -3));
  EXPECT_THAT((*out)[1].data<int32_t>(), ::testing::ElementsAre(1, 2, 3));
  EXPECT_THAT((*out)[2].data<int32_t>(), ::testing::ElementsAre(-1, -2, -3));
  EXPECT_THAT((*out)[3].data<int32_t>(), ::testing::ElementsAre(7, 8));
  EXPECT_THAT((*out)[4].data<int32_t>(), ::testing::ElementsAre(1, 2, 3));
}

TEST(CpuExecutableTest, DeadInstructionsDoNotRun) {
  ir::FunctionBuilder b("dead");
  ir::Value x = b.Parameter(T(DType::kF32, {64}));
  for (int i = 0; i < 5; ++i) b.Exp(x);  // unused
  auto f = b.Build({b.Add(x, x)});
  ASSERT_TRUE(f.ok());
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok());
  EXPECT_EQ((*exe)->num_steps(), 1);
  EXPECT_THAT((*exe)->DebugString(), HasSubstr("(add)"));
  EXPECT_THAT((*exe)->DebugString(), ::testing::Not(HasSubstr("(exp)")));
}

TEST(CpuExecutableTest, ConstantsFeedKernels) {
  auto got = RunOne({ir::Literal::Create<double>({3}, {1, 2, 3})}, [](auto& b, auto& p) {
    return b.Add(p[0], b.Constant(ir::Literal::Create<double>({3}, {0.5, 0.25, 0.125})));
  });
  EXPECT_THAT(got.data<double>(), ::testing::ElementsAre(1.5, 2.25, 3.125));
}

TEST(CpuExecutableTest, CompileRejectsAnInvalidFunction) {
  ir::Function f;
  f.name = "broken";
  ir::Instruction p;
  p.id = 0;
  p.op = ir::OpCode::kParameter;
  p.type = T(DType::kF32, {2});
  p.attrs.type = p.type;
  ir::Instruction add;
  add.id = 1;
  add.op = ir::OpCode::kAdd;
  add.operands = {0, 5};  // does not exist
  add.type = p.type;
  f.instructions = {p, add};
  f.parameters = {0};
  f.outputs = {1};
  auto exe = CpuExecutable::Compile(f);
  EXPECT_THAT(exe.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(exe.status().message(), HasSubstr("broken"));
}

TEST(CpuExecutableTest, ExecuteValidatesBuffers) {
  ir::FunctionBuilder b("f");
  ir::Value x = b.Parameter(T(DType::kF32, {16}), "x");
  auto f = b.Build({b.Exp(b.Exp(x))});
  ASSERT_TRUE(f.ok());
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok());
  ASSERT_GT((*exe)->scratch_bytes(), 0);
  alignas(64) float in[16] = {}, out[16], scratch[64];
  const void* args[] = {in};
  void* outs[] = {out};
  EXPECT_TRUE((*exe)->Execute(args, outs, scratch, {}).ok());
  EXPECT_THAT((*exe)->Execute({}, outs, scratch, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT((*exe)->Execute(args, {}, scratch, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT((*exe)->Execute(args, outs, nullptr, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT((*exe)->Execute(args, outs, reinterpret_cast<char*>(scratch) + 4, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  const void* null_args[] = {nullptr};
  absl::Status st = (*exe)->Execute(null_args, outs, scratch, {});
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(st.message(), HasSubstr("\"x\""));
}

TEST(CpuExecutableTest, ExecuteLiteralsChecksArgumentTypes) {
  ir::FunctionBuilder b("typed");
  ir::Value x = b.Parameter(T(DType::kF32, {2}), "x");
  ir::Value y = b.Parameter(T(DType::kF32, {2}), "y");
  auto f = b.Build({b.Add(x, y)});
  ASSERT_TRUE(f.ok());
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok());
  auto wrong_count = (*exe)->ExecuteLiterals({ir::Literal(T(DType::kF32, {2}))});
  EXPECT_THAT(wrong_count.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  auto wrong_type = (*exe)->ExecuteLiterals(
      {ir::Literal(T(DType::kF32, {2})), ir::Literal(T(DType::kF64, {2}))});
  EXPECT_THAT(wrong_type.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(wrong_type.status().message(), HasSubstr("\"y\""));
  EXPECT_THAT(wrong_type.status().message(), HasSubstr("f64[2]"));
  auto wrong_shape = (*exe)->ExecuteLiterals(
      {ir::Literal(T(DType::kF32, {3})), ir::Literal(T(DType::kF32, {2}))});
  EXPECT_THAT(wrong_shape.status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CpuExecutableTest, ConcurrentExecutionsOfOneExecutable) {
  ir::FunctionBuilder b("mlp");
  ir::Value x = b.Parameter(T(DType::kF32, {8, 32}));
  ir::Value w = b.Parameter(T(DType::kF32, {32, 16}));
  ir::Value h = b.Tanh(b.Dot(x, w));
  auto f = b.Build({b.Reduce(b.Transpose(h, {1, 0}), {1}, ir::ReduceKind::kSum)});
  ASSERT_TRUE(f.ok());
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok());
  std::mt19937 rng(30);
  ir::Literal w_lit = RandomLiteral(T(DType::kF32, {32, 16}), rng, -0.3, 0.3);
  std::vector<ir::Literal> xs, expected;
  for (int t = 0; t < 4; ++t) {
    xs.push_back(RandomLiteral(T(DType::kF32, {8, 32}), rng));
    auto out = (*exe)->ExecuteLiterals({xs.back(), w_lit});
    ASSERT_TRUE(out.ok());
    expected.push_back((*out)[0]);
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int iter = 0; iter < 50; ++iter) {
        auto out = (*exe)->ExecuteLiterals({xs[t], w_lit});
        if (!out.ok() || !((*out)[0] == expected[t])) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

TEST(CpuExecutableTest, DebugStringShowsThePlan) {
  ir::FunctionBuilder b("plan");
  ir::Value x = b.Parameter(T(DType::kF32, {4, 4}));
  auto f = b.Build({b.Transpose(b.Exp(x), {1, 0})});
  ASSERT_TRUE(f.ok());
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok());
  const std::string s = (*exe)->DebugString();
  EXPECT_THAT(s, HasSubstr("'plan'"));
  EXPECT_THAT(s, HasSubstr("(exp) f32[4,4] (arg0) -> scratch+0"));
  EXPECT_THAT(s, HasSubstr("(transpose) f32[4,4] (scratch+0) -> out0"));
}

}  // namespace
}  // namespace pw::testing
