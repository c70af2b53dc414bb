// Tests of the elementwise kernels against double-precision references.
#include <cmath>
#include <limits>
#include <vector>

#include "pathways/kernels/kernels_test_util.h"

namespace pw::testing {
namespace {

using ir::DType;
using ir::OpCode;

const std::vector<std::vector<int64_t>> kShapes = {{}, {1}, {7}, {3, 5}, {0, 4}, {2, 1, 33}};

double RefUnary(OpCode op, double x) {
  switch (op) {
    case OpCode::kNegate: return -x;
    case OpCode::kAbs: return std::abs(x);
    case OpCode::kExp: return std::exp(x);
    case OpCode::kLog: return std::log(x);
    case OpCode::kTanh: return std::tanh(x);
    case OpCode::kSqrt: return std::sqrt(x);
    case OpCode::kRsqrt: return 1.0 / std::sqrt(x);
    case OpCode::kSine: return std::sin(x);
    case OpCode::kCosine: return std::cos(x);
    default: return NAN;
  }
}

// Large f32 tanh / exp / log run as oneDNN eltwise primitives: the same function as libm's to
// a few ulps, NaN and infinities included.
TEST(ElementwiseKernelsTest, LargeF32TanhExpLogMatchLibm) {
  constexpr int64_t kN = 8192;
  std::vector<float> x(kN);
  for (int64_t i = 0; i < kN; ++i) x[i] = -20.0f + 40.0f * static_cast<float>(i) / kN;
  x[0] = std::numeric_limits<float>::quiet_NaN();
  x[1] = std::numeric_limits<float>::infinity();
  for (OpCode op : {OpCode::kTanh, OpCode::kExp, OpCode::kLog}) {
    ir::FunctionBuilder b("eltwise");
    ir::Value v = b.Parameter(T(DType::kF32, {kN}));
    ir::Value y = b.AddInstruction(op, {v}, {});
    auto f = b.Build({y});
    ASSERT_TRUE(f.ok()) << f.status();
    auto exe = CpuExecutable::Compile(*f);
    ASSERT_TRUE(exe.ok()) << exe.status();
    auto out = (*exe)->ExecuteLiterals({*ir::Literal::Create<float>(ir::Shape{kN}, x)});
    ASSERT_TRUE(out.ok()) << out.status();
    auto got = (*out)[0].data<float>();
    for (int64_t i = 0; i < kN; ++i) {
      const float want = op == OpCode::kTanh ? std::tanh(x[i]) : op == OpCode::kExp ? std::exp(x[i]) : std::log(x[i]);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got[i])) << ir::OpName(op) << "(" << x[i] << ")";
      } else if (std::isinf(want)) {
        EXPECT_EQ(got[i], want) << ir::OpName(op) << "(" << x[i] << ")";
      } else {
        EXPECT_NEAR(got[i], want, 4e-6f * std::max(1.0f, std::abs(want))) << ir::OpName(op) << "(" << x[i] << ")";
      }
    }
  }
}

TEST(ElementwiseKernelsTest, UnaryOpsMatchReferenceForEveryDtypeAndShape) {
  std::mt19937 rng(1);
  for (OpCode op : {OpCode::kNegate, OpCode::kAbs, OpCode::kExp, OpCode::kLog, OpCode::kTanh,
                    OpCode::kSqrt, OpCode::kRsqrt, OpCode::kSine, OpCode::kCosine}) {
    for (DType dt : {DType::kF32, DType::kF64, DType::kI32}) {
      if (dt == DType::kI32 && op != OpCode::kNegate && op != OpCode::kAbs) continue;
      for (const auto& dims : kShapes) {
        const bool positive = op == OpCode::kLog || op == OpCode::kSqrt || op == OpCode::kRsqrt;
        ir::Literal x = RandomLiteral({dt, ir::Shape(dims)}, rng, positive ? 0.1 : -3, 3);
        ir::Literal got = RunOne({x}, [&](auto& b, auto& p) { return b.Unary(op, p[0]); });
        RefArray want = RefArray::Of(x);
        for (double& v : want.data) v = RefUnary(op, v);
        SCOPED_TRACE(absl::StrCat(ir::OpName(op), " ", x.type().DebugString()));
        ExpectMatches(got, want);
      }
    }
  }
}

double RefBinary(OpCode op, double a, double b, DType dt) {
  switch (op) {
    case OpCode::kAdd: return a + b;
    case OpCode::kSubtract: return a - b;
    case OpCode::kMultiply: return a * b;
    case OpCode::kDivide: return dt == DType::kI32 ? std::trunc(a / b) : a / b;
    case OpCode::kMaximum: return std::max(a, b);
    case OpCode::kMinimum: return std::min(a, b);
    case OpCode::kPower: return std::pow(a, b);
    default: return NAN;
  }
}

TEST(ElementwiseKernelsTest, BinaryOpsMatchReferenceForEveryDtypeAndShape) {
  std::mt19937 rng(2);
  for (OpCode op : {OpCode::kAdd, OpCode::kSubtract, OpCode::kMultiply, OpCode::kDivide,
                    OpCode::kMaximum, OpCode::kMinimum, OpCode::kPower}) {
    for (DType dt : {DType::kF32, DType::kF64, DType::kI32}) {
      for (const auto& dims : kShapes) {
        ir::TensorType t{dt, ir::Shape(dims)};
        // Positive bases keep power real; i32 divisors and exponents stay small and nonzero.
        ir::Literal a = RandomLiteral(t, rng, op == OpCode::kPower ? 0.5 : -9, 9);
        ir::Literal b = RandomLiteral(t, rng, 1, op == OpCode::kPower ? 3 : 9);
        ir::Literal got = RunOne({a, b}, [&](auto& bld, auto& p) { return bld.Binary(op, p[0], p[1]); });
        RefArray want = RefArray::Of(a), rb = RefArray::Of(b);
        for (size_t i = 0; i < want.data.size(); ++i) want.data[i] = RefBinary(op, want.data[i], rb.data[i], dt);
        SCOPED_TRACE(absl::StrCat(ir::OpName(op), " ", t.DebugString()));
        ExpectMatches(got, want, dt == DType::kF32 ? 1e-5 : -1);
      }
    }
  }
}

TEST(ElementwiseKernelsTest, BitwiseOpsSeeWordsAndShiftLogically) {
  const ir::Literal a = ir::Literal::Create<int32_t>({5}, {0x0f0f, -1, 6, -8, 1});
  const ir::Literal b = ir::Literal::Create<int32_t>({5}, {0x00ff, 0x1234, 3, 1, 40});
  auto run = [&](OpCode op) {
    return RunOne({a, b}, [&](auto& bld, auto& p) { return bld.Binary(op, p[0], p[1]); });
  };
  EXPECT_EQ(run(OpCode::kAnd), ir::Literal::Create<int32_t>({5}, {0x000f, 0x1234, 2, 0, 0}));
  EXPECT_EQ(run(OpCode::kOr), ir::Literal::Create<int32_t>({5}, {0x0fff, -1, 7, -7, 41}));
  EXPECT_EQ(run(OpCode::kXor), ir::Literal::Create<int32_t>({5}, {0x0ff0, ~0x1234, 5, -7, 41}));
  // Logical: -8 >> 1 fills with zeros; shifts of 32 or more give 0.
  EXPECT_EQ(run(OpCode::kShiftRightLogical),
            ir::Literal::Create<int32_t>({5}, {0, 0, 0, 0x7ffffffc, 0}));
  EXPECT_EQ(run(OpCode::kShiftLeft),
            ir::Literal::Create<int32_t>({5}, {0, 0, 48, -16, 0}));
  // Floats have no bits to operate on.
  ir::FunctionBuilder bad("bad");
  ir::Value x = bad.Parameter(T(DType::kF32, {2}));
  EXPECT_FALSE(bad.Build({bad.Xor(x, x)}).ok());
}

TEST(ElementwiseKernelsTest, BinaryOpsBroadcastThroughTheBuilder) {
  std::mt19937 rng(3);
  ir::Literal a = RandomLiteral(T(DType::kF32, {3, 1}), rng);
  ir::Literal b = RandomLiteral(T(DType::kF32, {4}), rng);
  ir::Literal got = RunOne({a, b}, [](auto& bld, auto& p) { return bld.Subtract(p[0], p[1]); });
  RefArray want = RefArray::Zeros({3, 4});
  ForEachIndex({3, 4}, [&](const std::vector<int64_t>& i) {
    want.at(i) = a.GetAsDouble(i[0]) - b.GetAsDouble(i[1]);
  });
  ExpectMatches(got, want);
  // Scalar with a tensor.
  ir::Literal s = ir::Literal::Scalar<float>(2.5f);
  got = RunOne({s, b}, [](auto& bld, auto& p) { return bld.Multiply(p[1], p[0]); });
  RefArray want2 = RefArray::Of(b);
  for (double& v : want2.data) v *= 2.5;
  ExpectMatches(got, want2);
}

TEST(ElementwiseKernelsTest, IntegerEdgeCasesDoNotTrap) {
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  const int32_t kMax = std::numeric_limits<int32_t>::max();
  ir::Literal a = ir::Literal::Create<int32_t>({5}, {7, kMin, kMax, -7, 2});
  ir::Literal b = ir::Literal::Create<int32_t>({5}, {0, -1, 1, 2, -1});
  auto div = RunOne({a, b}, [](auto& bld, auto& p) { return bld.Divide(p[0], p[1]); });
  EXPECT_THAT(div.data<int32_t>(), ::testing::ElementsAre(-1, kMin, kMax, -3, -2));
  auto add = RunOne({a, b}, [](auto& bld, auto& p) { return bld.Add(p[0], p[1]); });
  EXPECT_EQ(add.data<int32_t>()[2], kMin);  // wraps
  auto neg = RunOne({a}, [](auto& bld, auto& p) { return bld.Abs(p[0]); });
  EXPECT_EQ(neg.data<int32_t>()[1], kMin);
  ir::Literal base = ir::Literal::Create<int32_t>({5}, {2, -1, 1, 3, -2});
  ir::Literal exp = ir::Literal::Create<int32_t>({5}, {10, -3, -5, -1, 3});
  auto pw = RunOne({base, exp}, [](auto& bld, auto& p) { return bld.Power(p[0], p[1]); });
  EXPECT_THAT(pw.data<int32_t>(), ::testing::ElementsAre(1024, -1, 1, 0, -8));
}

TEST(ElementwiseKernelsTest, MaximumAndMinimumPropagateNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ir::Literal a = ir::Literal::Create<float>({3}, {nan, 1.f, 2.f});
  ir::Literal b = ir::Literal::Create<float>({3}, {1.f, nan, 3.f});
  auto mx = RunOne({a, b}, [](auto& bld, auto& p) { return bld.Maximum(p[0], p[1]); });
  auto mn = RunOne({a, b}, [](auto& bld, auto& p) { return bld.Minimum(p[0], p[1]); });
  EXPECT_TRUE(std::isnan(mx.data<float>()[0]) && std::isnan(mx.data<float>()[1]));
  EXPECT_TRUE(std::isnan(mn.data<float>()[0]) && std::isnan(mn.data<float>()[1]));
  EXPECT_EQ(mx.data<float>()[2], 3.f);
  EXPECT_EQ(mn.data<float>()[2], 2.f);
}

TEST(ElementwiseKernelsTest, CompareEveryDirectionAndDtype) {
  using D = ir::ComparisonDirection;
  std::mt19937 rng(4);
  for (DType dt : {DType::kF32, DType::kF64, DType::kI32, DType::kBool}) {
    for (D dir : {D::kEq, D::kNe, D::kLt, D::kLe, D::kGt, D::kGe}) {
      if (dt == DType::kBool && dir != D::kEq && dir != D::kNe) continue;
      ir::TensorType t{dt, ir::Shape({4, 6})};
      ir::Literal a = RandomLiteral(t, rng, -2, 2), b = RandomLiteral(t, rng, -2, 2);
      if (dt != DType::kBool) {  // force some equal elements
        b = LiteralFrom(t, [&] {
          std::vector<double> v(24);
          for (int i = 0; i < 24; ++i) v[i] = i % 3 == 0 ? a.GetAsDouble(i) : b.GetAsDouble(i);
          return v;
        }());
      }
      auto got = RunOne({a, b}, [&](auto& bld, auto& p) { return bld.Compare(p[0], p[1], dir); });
      RefArray want = RefArray::Zeros({4, 6});
      for (int i = 0; i < 24; ++i) {
        double x = a.GetAsDouble(i), y = b.GetAsDouble(i);
        bool r = dir == D::kEq ? x == y : dir == D::kNe ? x != y : dir == D::kLt ? x < y
               : dir == D::kLe ? x <= y : dir == D::kGt ? x > y : x >= y;
        want.data[i] = r;
      }
      SCOPED_TRACE(absl::StrCat(ir::ComparisonName(dir), " ", t.DebugString()));
      EXPECT_EQ(got.dtype(), DType::kBool);
      ExpectMatches(got, want);
    }
  }
}

TEST(ElementwiseKernelsTest, SelectWithFullAndScalarPredicate) {
  std::mt19937 rng(5);
  for (DType dt : {DType::kF32, DType::kF64, DType::kI32, DType::kBool}) {
    ir::TensorType t{dt, ir::Shape({3, 4})};
    ir::Literal p = RandomLiteral(T(DType::kBool, {3, 4}), rng);
    ir::Literal a = RandomLiteral(t, rng), b = RandomLiteral(t, rng);
    auto got = RunOne({p, a, b}, [](auto& bld, auto& v) { return bld.Select(v[0], v[1], v[2]); });
    RefArray want = RefArray::Of(a);
    for (int i = 0; i < 12; ++i) want.data[i] = p.GetAsDouble(i) != 0 ? a.GetAsDouble(i) : b.GetAsDouble(i);
    ExpectMatches(got, want);
    for (bool pred : {true, false}) {
      auto got2 = RunOne({ir::Literal::Scalar<bool>(pred), a, b},
                         [](auto& bld, auto& v) { return bld.Select(v[0], v[1], v[2]); });
      ExpectMatches(got2, RefArray::Of(pred ? a : b));
    }
  }
}

TEST(ElementwiseKernelsTest, ConvertBetweenAllDtypes) {
  const std::vector<double> values = {0.0, 1.0, -1.75, 2.5, 3e9, -3e9, 1e-3, 7.0};
  for (DType from : {DType::kF32, DType::kF64, DType::kI32, DType::kBool}) {
    for (DType to : {DType::kF32, DType::kF64, DType::kI32, DType::kBool}) {
      std::vector<double> in = values;
      if (from == DType::kI32) in = {0, 1, -2, 3, 2147483647, -2147483647, 5, 7};
      if (from == DType::kBool) in = {0, 1, 1, 0, 1, 0, 0, 1};
      ir::Literal x = LiteralFrom({from, ir::Shape({8})}, in);
      auto got = RunOne({x}, [&](auto& bld, auto& p) { return bld.Convert(p[0], to); });
      RefArray want = RefArray::Of(x);
      for (double& v : want.data) {
        if (to == DType::kBool) v = v != 0;
        else if (to == DType::kI32) v = std::clamp(std::trunc(v), -2147483648.0, 2147483647.0);
        else if (to == DType::kF32) v = static_cast<float>(v);
      }
      SCOPED_TRACE(absl::StrCat(ir::DTypeName(from), " -> ", ir::DTypeName(to)));
      ExpectMatches(got, want, 0.0);
    }
  }
  // NaN to i32 is 0, not undefined behaviour.
  ir::Literal nan = ir::Literal::Create<float>({2}, {std::nanf(""), 1e30f});
  auto got = RunOne({nan}, [](auto& bld, auto& p) { return bld.Convert(p[0], DType::kI32); });
  EXPECT_THAT(got.data<int32_t>(), ::testing::ElementsAre(0, std::numeric_limits<int32_t>::max()));
}

TEST(ElementwiseKernelsTest, IotaAlongEachAxis) {
  for (DType dt : {DType::kF32, DType::kF64, DType::kI32}) {
    for (int64_t axis : {0, 1, 2}) {
      ir::TensorType t{dt, ir::Shape({2, 3, 4})};
      auto got = RunOne({ir::Literal::Scalar<float>(0)}, [&](auto& bld, auto&) { return bld.Iota(t, axis); });
      RefArray want = RefArray::Zeros({2, 3, 4});
      ForEachIndex(want.dims, [&](const std::vector<int64_t>& i) { want.at(i) = i[axis]; });
      ExpectMatches(got, want, 0.0);
    }
  }
  auto empty = RunOne({ir::Literal::Scalar<float>(0)},
                      [](auto& bld, auto&) { return bld.Iota(T(DType::kI32, {0, 3}), 1); });
  EXPECT_EQ(empty.num_elements(), 0);
}

}  // namespace
}  // namespace pw::testing
