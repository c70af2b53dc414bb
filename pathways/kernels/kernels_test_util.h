// Test helpers for the kernels tests: random literals, double-precision reference arrays and
// compile-and-run shortcuts. References are computed here in the test, never by the kernels.
#ifndef PATHWAYS_KERNELS_KERNELS_TEST_UTIL_H_
#define PATHWAYS_KERNELS_KERNELS_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/ir/builder.h"
#include "pathways/kernels/cpu_executable.h"

namespace pw::testing {

// A dense row-major array of doubles: the reference side of every comparison.
struct RefArray {
  std::vector<int64_t> dims;
  std::vector<double> data;

  static RefArray Of(const ir::Literal& l) {
    RefArray r;
    r.dims.assign(l.shape().dims().begin(), l.shape().dims().end());
    r.data.resize(l.num_elements());
    for (int64_t i = 0; i < l.num_elements(); ++i) r.data[i] = l.GetAsDouble(i);
    return r;
  }
  static RefArray Zeros(std::vector<int64_t> dims) {
    RefArray r;
    r.dims = std::move(dims);
    int64_t n = 1;
    for (int64_t d : r.dims) n *= d;
    r.data.assign(n, 0.0);
    return r;
  }
  int64_t Offset(const std::vector<int64_t>& index) const {
    int64_t off = 0;
    for (size_t i = 0; i < dims.size(); ++i) off = off * dims[i] + index[i];
    return off;
  }
  double& at(const std::vector<int64_t>& index) { return data[Offset(index)]; }
  double at(const std::vector<int64_t>& index) const { return data[Offset(index)]; }
};

// Calls fn(index) for every index of `dims` in row-major order.
inline void ForEachIndex(const std::vector<int64_t>& dims,
                         const std::function<void(const std::vector<int64_t>&)>& fn) {
  for (int64_t d : dims) {
    if (d == 0) return;
  }
  std::vector<int64_t> index(dims.size(), 0);
  while (true) {
    fn(index);
    int64_t d = static_cast<int64_t>(dims.size()) - 1;
    for (; d >= 0; --d) {
      if (++index[d] < dims[d]) break;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

// Uniform values in [lo, hi] (integers for i32, 0/1 for bool).
inline ir::Literal RandomLiteral(ir::TensorType type, std::mt19937& rng, double lo = -2.0,
                                 double hi = 2.0) {
  ir::Literal l(type);
  std::uniform_real_distribution<double> dist(lo, hi);
  for (int64_t i = 0; i < l.num_elements(); ++i) {
    double v = dist(rng);
    switch (type.dtype) {
      case ir::DType::kF32: l.mutable_data<float>()[i] = static_cast<float>(v); break;
      case ir::DType::kF64: l.mutable_data<double>()[i] = v; break;
      case ir::DType::kI32: l.mutable_data<int32_t>()[i] = static_cast<int32_t>(std::lround(v)); break;
      default: l.mutable_data<bool>()[i] = v > (lo + hi) / 2; break;
    }
  }
  return l;
}

// Literal of `type` holding `values` (converted).
inline ir::Literal LiteralFrom(ir::TensorType type, const std::vector<double>& values) {
  ir::Literal l(type);
  for (int64_t i = 0; i < l.num_elements(); ++i) {
    double v = values[i];
    switch (type.dtype) {
      case ir::DType::kF32: l.mutable_data<float>()[i] = static_cast<float>(v); break;
      case ir::DType::kF64: l.mutable_data<double>()[i] = v; break;
      case ir::DType::kI32: l.mutable_data<int32_t>()[i] = static_cast<int32_t>(v); break;
      default: l.mutable_data<bool>()[i] = v != 0; break;
    }
  }
  return l;
}

// Tolerance suited to a dtype: relative for floats, exact for integers and bools.
inline double DefaultTolerance(ir::DType dtype) {
  return dtype == ir::DType::kF32 ? 2e-5 : dtype == ir::DType::kF64 ? 1e-12 : 0.0;
}

// Expects `actual` to have `dims` and match `expected` within `tol` relative (NaN == NaN).
inline void ExpectMatches(const ir::Literal& actual, const RefArray& expected, double tol = -1) {
  ASSERT_EQ(actual.shape(), ir::Shape(expected.dims)) << actual.DebugString();
  if (tol < 0) tol = DefaultTolerance(actual.dtype());
  for (int64_t i = 0; i < actual.num_elements(); ++i) {
    const double a = actual.GetAsDouble(i), e = expected.data[i];
    if (std::isnan(e)) {
      EXPECT_TRUE(std::isnan(a)) << "element " << i << ": got " << a << ", expected NaN";
      continue;
    }
    if (std::isinf(e)) {
      EXPECT_EQ(a, e) << "element " << i;
      continue;
    }
    EXPECT_NEAR(a, e, tol * std::max(1.0, std::abs(e)))
        << "element " << i << " of " << actual.type().DebugString();
  }
}

// Builds (outputs from `body`), compiles and runs a function in one call.
inline std::vector<ir::Literal> BuildAndRun(
    const std::vector<ir::TensorType>& param_types, const std::vector<ir::Literal>& args,
    const std::function<std::vector<ir::Value>(ir::FunctionBuilder&, const std::vector<ir::Value>&)>& body,
    CompileOptions options = {}) {
  ir::FunctionBuilder b("test");
  std::vector<ir::Value> params;
  for (const ir::TensorType& t : param_types) params.push_back(b.Parameter(t));
  std::vector<ir::Value> outs = body(b, params);
  absl::StatusOr<ir::Function> f = b.Build(outs);
  EXPECT_TRUE(f.ok()) << f.status();
  if (!f.ok()) return {};
  auto exe = CpuExecutable::Compile(*f, options);
  EXPECT_TRUE(exe.ok()) << exe.status();
  if (!exe.ok()) return {};
  auto result = (*exe)->ExecuteLiterals(args);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return {};
  return *std::move(result);
}

// One-op shortcut: runs fn(b, params)[0] on args and returns the single result.
inline ir::Literal RunOne(
    const std::vector<ir::Literal>& args,
    const std::function<ir::Value(ir::FunctionBuilder&, const std::vector<ir::Value>&)>& body,
    CompileOptions options = {}) {
  std::vector<ir::TensorType> types;
  for (const ir::Literal& l : args) types.push_back(l.type());
  std::vector<ir::Literal> out = BuildAndRun(
      types, args,
      [&](ir::FunctionBuilder& b, const std::vector<ir::Value>& p) {
        return std::vector<ir::Value>{body(b, p)};
      },
      options);
  if (out.empty()) return ir::Literal();
  return std::move(out[0]);
}

inline ir::TensorType T(ir::DType dtype, std::initializer_list<int64_t> dims) {
  return ir::TensorType{dtype, ir::Shape(dims)};
}

}  // namespace pw::testing

#endif  // PATHWAYS_KERNELS_KERNELS_TEST_UTIL_H_
