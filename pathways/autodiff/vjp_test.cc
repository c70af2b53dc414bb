// Tests for Vjp and ValueAndGrad: every op's derivative against central finite differences in
// f64 (the functions really run, on the CPU kernels), composites (a layer, softmax
// cross-entropy), the transposed collectives, and the errors.
#include "pathways/autodiff/vjp.h"

#include <set>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/ir/builder.h"
#include "pathways/kernels/cpu_executable.h"

namespace pw::autodiff {
namespace {

using ::testing::HasSubstr;
using ir::DType;
using ir::Function;
using ir::FunctionBuilder;
using ir::Literal;
using ir::OpCode;
using ir::Shape;
using ir::TensorType;
using ir::Value;

TensorType F64(std::initializer_list<int64_t> dims) { return TensorType{DType::kF64, Shape(dims)}; }

// Where random inputs are drawn from: some ops need a positive argument.
enum class Domain { kAny, kPositive };

Literal Random(const TensorType& type, std::mt19937& rng, Domain domain) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> v(type.num_elements());
  for (double& x : v) x = domain == Domain::kPositive ? 0.5 + std::abs(normal(rng)) : normal(rng);
  return *Literal::Create<double>(type.shape, absl::Span<const double>(v));
}

double Dot(const Literal& a, const Literal& b) {
  double s = 0;
  auto x = a.data<double>();
  auto y = b.data<double>();
  for (size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

Literal Axpy(const Literal& x, double t, const Literal& v) {
  std::vector<double> out(x.data<double>().begin(), x.data<double>().end());
  auto d = v.data<double>();
  for (size_t i = 0; i < out.size(); ++i) out[i] += t * d[i];
  return *Literal::Create<double>(x.type().shape, absl::Span<const double>(out));
}

std::vector<Literal> Execute(const Function& f, const std::vector<Literal>& args) {
  auto exe = CpuExecutable::Compile(f);
  EXPECT_THAT(exe.status(), IsOk()) << f;
  if (!exe.ok()) return {};
  auto out = (*exe)->ExecuteLiterals(args);
  EXPECT_THAT(out.status(), IsOk()) << f;
  return out.ok() ? *std::move(out) : std::vector<Literal>{};
}

// Checks Vjp(f) against central differences at random f64 inputs: along a random direction v,
// <grad, v> must equal d/dt <ct, f(x + t v)> to `tolerance` relative.
void CheckVjp(const Function& f, Domain domain = Domain::kAny, double tolerance = 1e-6,
              double eps = 1e-5, uint32_t seed = 1) {
  SCOPED_TRACE(f.ToString());
  absl::StatusOr<Function> vjp = Vjp(f);
  ASSERT_THAT(vjp.status(), IsOk());
  std::mt19937 rng(seed);
  std::vector<Literal> x, v, ct;
  for (const TensorType& t : f.parameter_types()) {
    x.push_back(Random(t, rng, domain));
    v.push_back(Random(t, rng, Domain::kAny));
  }
  for (const TensorType& t : f.output_types()) ct.push_back(Random(t, rng, Domain::kAny));
  std::vector<Literal> args = x;
  args.insert(args.end(), ct.begin(), ct.end());
  const std::vector<Literal> got = Execute(*vjp, args);
  const size_t n_out = f.outputs.size();
  ASSERT_EQ(got.size(), n_out + x.size());
  const std::vector<Literal> primal = Execute(f, x);
  for (size_t i = 0; i < n_out; ++i) EXPECT_EQ(got[i], primal[i]) << "output " << i;
  double analytic = 0;
  for (size_t p = 0; p < x.size(); ++p) analytic += Dot(got[n_out + p], v[p]);
  auto phi = [&](double t) {
    std::vector<Literal> moved;
    for (size_t p = 0; p < x.size(); ++p) moved.push_back(Axpy(x[p], t, v[p]));
    const std::vector<Literal> out = Execute(f, moved);
    double s = 0;
    for (size_t i = 0; i < n_out; ++i) s += Dot(out[i], ct[i]);
    return s;
  };
  const double numeric = (phi(eps) - phi(-eps)) / (2 * eps);
  EXPECT_NEAR(analytic, numeric, tolerance * std::max(1.0, std::abs(numeric)))
      << "analytic " << analytic << " numeric " << numeric;
}

using Body = std::function<std::vector<Value>(FunctionBuilder&, const std::vector<Value>&)>;

Function Make(std::vector<TensorType> params, const Body& body, int64_t num_shards = 1) {
  FunctionBuilder b("f", {.num_shards = num_shards});
  std::vector<Value> xs;
  for (const TensorType& t : params) xs.push_back(b.Parameter(t));
  absl::StatusOr<Function> f = b.Build(body(b, xs));
  EXPECT_THAT(f.status(), IsOk());
  return f.ok() ? *std::move(f) : Function{};
}

// The recomputed forward pass is under "forward/<scope>", each derivative under
// "backward/<scope of the instruction it differentiates>".
TEST(VjpTest, TheDerivativeNamesItsForwardAndBackwardScopes) {
  FunctionBuilder b("scoped");
  ir::Value x = b.Parameter(TensorType{DType::kF64, Shape{3}});
  b.PushScope("mlp");
  ir::Value y = b.Tanh(x);
  b.PopScope();
  auto f = b.Build({b.Reduce(y, {0}, ir::ReduceKind::kSum)});
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<Function> g = ValueAndGrad(*f);
  ASSERT_TRUE(g.ok()) << g.status();
  std::set<std::string> scopes;
  for (const ir::Instruction& inst : g->instructions) {
    if (inst.op == OpCode::kTanh) EXPECT_EQ(inst.scope, "forward/mlp");
    if (inst.op != OpCode::kParameter) scopes.insert(inst.scope);
  }
  EXPECT_TRUE(scopes.count("forward/mlp"));
  EXPECT_TRUE(scopes.count("forward"));      // the unscoped reduce
  EXPECT_TRUE(scopes.count("backward/mlp"));  // tanh's derivative
  EXPECT_TRUE(scopes.count("backward"));
}

TEST(VjpTest, UnaryElementwiseOps) {
  for (OpCode op : {OpCode::kNegate, OpCode::kExp, OpCode::kTanh, OpCode::kAbs, OpCode::kSine,
                    OpCode::kCosine}) {
    SCOPED_TRACE(ir::OpName(op));
    CheckVjp(Make({F64({2, 3})}, [op](FunctionBuilder& b, const std::vector<Value>& x) {
      return std::vector<Value>{b.Unary(op, x[0])};
    }));
  }
  for (OpCode op : {OpCode::kLog, OpCode::kSqrt, OpCode::kRsqrt}) {
    SCOPED_TRACE(ir::OpName(op));
    CheckVjp(Make({F64({5})}, [op](FunctionBuilder& b, const std::vector<Value>& x) {
      return std::vector<Value>{b.Unary(op, x[0])};
    }), Domain::kPositive);
  }
}

TEST(VjpTest, BinaryElementwiseOpsAndTheirBroadcasts) {
  for (OpCode op : {OpCode::kAdd, OpCode::kSubtract, OpCode::kMultiply, OpCode::kDivide,
                    OpCode::kMaximum, OpCode::kMinimum, OpCode::kPower}) {
    SCOPED_TRACE(ir::OpName(op));
    // x[3,4] op y[4]: the builder broadcasts y, whose cotangent sums over the new axis.
    CheckVjp(Make({F64({3, 4}), F64({4})}, [op](FunctionBuilder& b, const std::vector<Value>& x) {
      return std::vector<Value>{b.Binary(op, x[0], x[1])};
    }), Domain::kPositive);
  }
}

TEST(VjpTest, TiesOfMaximumSplitTheCotangent) {
  Function f = Make({F64({2}), F64({2})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Maximum(x[0], x[1])};
  });
  const std::vector<Literal> got =
      Execute(*Vjp(f), {Literal::Create<double>({2}, {1, 5}), Literal::Create<double>({2}, {1, 3}),
                        Literal::Create<double>({2}, {2, 2})});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1], Literal::Create<double>({2}, {1, 2}));
  EXPECT_EQ(got[2], Literal::Create<double>({2}, {1, 0}));
}

TEST(VjpTest, TiesOfReduceMaxSplitAndPowerAtZeroExponentIsZero) {
  Function max = Make({F64({3})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Reduce(x[0], {0}, ir::ReduceKind::kMax)};
  });
  std::vector<Literal> got = Execute(*Vjp(max), {Literal::Create<double>({3}, {3, 3, 1}),
                                                 Literal::Scalar<double>(4.0)});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], Literal::Create<double>({3}, {2, 2, 0}));
  Function pow = Make({F64({2}), F64({2})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Power(x[0], x[1])};
  });
  got = Execute(*Vjp(pow), {Literal::Create<double>({2}, {0, 2}), Literal::Create<double>({2}, {0, 3}),
                            Literal::Create<double>({2}, {1, 1})});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1], Literal::Create<double>({2}, {0, 12}));  // d/da a^e: 0 at e == 0
}

TEST(VjpTest, StopGradientPassesNoCotangent) {
  Function f = Make({F64({3})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Multiply(x[0], b.StopGradient(x[0]))};
  });
  const std::vector<Literal> got =
      Execute(*Vjp(f), {Literal::Create<double>({3}, {1, 2, 3}), Literal::Create<double>({3}, {1, 1, 1})});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], Literal::Create<double>({3}, {1, 2, 3}));  // d(x * sg(x))/dx = sg(x)
}

TEST(VjpTest, ASliceTakingOneElementWithAHugeStride) {
  CheckVjp(Make({F64({5, 4})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Slice(x[0], {2, 1}, {3, 4}, {int64_t{1} << 40, 2})};
  }));
}

TEST(VjpTest, SelectConvertAndCompare) {
  CheckVjp(Make({F64({6}), F64({6})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    Value mask = b.Compare(x[0], x[1], ir::ComparisonDirection::kGt);
    return std::vector<Value>{b.Select(mask, b.Exp(x[0]), b.Multiply(x[1], x[1]))};
  }));
  // f64 -> f32 -> f64 rounds to f32: a wider step and a looser tolerance.
  CheckVjp(Make({F64({4})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Convert(b.Tanh(b.Convert(x[0], DType::kF32)), DType::kF64)};
  }), Domain::kAny, /*tolerance=*/1e-3, /*eps=*/1e-2);
}

TEST(VjpTest, DataMovement) {
  CheckVjp(Make({F64({3, 1})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    // Widening a size-1 dim, adding a leading dim and permuting the operand's dims.
    return std::vector<Value>{b.BroadcastInDim(x[0], Shape({4, 5, 3}), {2, 1})};
  }));
  CheckVjp(Make({F64({2, 3, 4})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Reshape(b.Transpose(x[0], {2, 0, 1}), Shape({8, 3}))};
  }));
  CheckVjp(Make({F64({7, 5})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Slice(x[0], {1, 0}, {7, 4}, {2, 3})};
  }));
  CheckVjp(Make({F64({2, 3}), F64({2, 2})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Concatenate({x[0], x[1], x[0]}, 1)};
  }));
}

int CountOps(const Function& f, OpCode op) {
  int n = 0;
  for (const ir::Instruction& inst : f.instructions) n += inst.op == op;
  return n;
}

TEST(VjpTest, GatherScattersBackToTheClampedIndices) {
  Function lookup = Make({F64({5, 3})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    // An embedding lookup of indices [2, 3] with repeats and out-of-range ones (clamped).
    Value ids = b.Constant(Literal::Create<int32_t>({2, 3}, {0, 4, 4, 1, 9, -2}));
    return std::vector<Value>{b.Gather(x[0], ids, 0)};
  });
  CheckVjp(lookup);
  CheckVjp(Make({F64({2, 6, 3})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    Value ids = b.Constant(Literal::Create<int32_t>({4}, {5, 0, 5, 2}));
    return std::vector<Value>{b.Gather(x[0], ids, 1)};
  }));
  // The transpose is a single scatter_add: no contraction over the indexed axis.
  absl::StatusOr<Function> vjp = Vjp(lookup);
  ASSERT_THAT(vjp.status(), IsOk());
  EXPECT_EQ(CountOps(*vjp, OpCode::kScatterAdd), 1);
  EXPECT_EQ(CountOps(*vjp, OpCode::kDotGeneral), 0);
  // Every row a repeated index names gets the sum of its cotangent rows.
  const std::vector<Literal> got =
      Execute(*vjp, {Literal(F64({5, 3})),
                     Literal::Create<double>({2, 3, 3}, {1, 1, 1, 2, 2, 2, 3, 3, 3,  //
                                                         4, 4, 4, 5, 5, 5, 6, 6, 6})});
  ASSERT_EQ(got.size(), 2u);
  // Indices {0, 4, 4, 1, 9 -> 4, -2 -> 0}.
  EXPECT_EQ(got[1], Literal::Create<double>({5, 3}, {7, 7, 7, 4, 4, 4, 0, 0, 0, 0, 0, 0,  //
                                                     10, 10, 10}));
}

TEST(VjpTest, ScatterAddPassesTheOperandAndGathersTheUpdates) {
  // Repeated indices along axis 1, and an out-of-range one (clamped to the last row).
  CheckVjp(Make({F64({2, 4, 3}), F64({2, 5, 3})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    Value ids = b.Constant(Literal::Create<int32_t>({5}, {3, 0, 3, 3, 7}));
    return std::vector<Value>{b.ScatterAdd(x[0], ids, x[1], 1)};
  }));
  // Composed with a nonlinearity, so the cotangent differs per element, and an index matrix.
  CheckVjp(Make({F64({4, 2}), F64({2, 2, 2})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    Value ids = b.Constant(Literal::Create<int32_t>({2, 2}, {1, 1, 0, 1}));
    return std::vector<Value>{b.Tanh(b.ScatterAdd(b.Multiply(x[0], x[0]), ids, x[1], 0))};
  }));
}

TEST(VjpTest, DynamicSliceAndUpdateTransposeIntoEachOtherAtClampedStarts) {
  for (int32_t start : {-2, 1, 9}) {  // clamped to 0, in range, clamped to the end
    SCOPED_TRACE(start);
    CheckVjp(Make({F64({5, 4})}, [start](FunctionBuilder& b, const std::vector<Value>& x) {
      Value s0 = b.ConstantScalar<int32_t>(start), s1 = b.ConstantScalar<int32_t>(1);
      return std::vector<Value>{b.Tanh(b.DynamicSlice(b.Multiply(x[0], x[0]), {s0, s1}, {2, 3}))};
    }));
    CheckVjp(Make({F64({5, 4}), F64({2, 3})}, [start](FunctionBuilder& b, const std::vector<Value>& x) {
      Value s0 = b.ConstantScalar<int32_t>(start), s1 = b.ConstantScalar<int32_t>(1);
      return std::vector<Value>{
          b.Sine(b.DynamicUpdateSlice(x[0], b.Multiply(x[1], x[1]), {s0, s1}))};
    }));
  }
}

TEST(VjpTest, CumsumBothWaysAndTopKValues) {
  for (bool reverse : {false, true}) {
    CheckVjp(Make({F64({3, 4})}, [reverse](FunctionBuilder& b, const std::vector<Value>& x) {
      return std::vector<Value>{b.Tanh(b.Cumsum(b.Multiply(x[0], x[0]), 1, reverse))};
    }));
  }
  // Values of top_k: random f64 inputs have no ties, so the selection is locally constant.
  CheckVjp(Make({F64({3, 6})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    auto [values, indices] = b.TopK(x[0], 2);
    return std::vector<Value>{b.Sine(b.Add(values, b.Convert(indices, DType::kF64)))};
  }));
}

TEST(VjpTest, DotGeneralWithBatchAndPermutedContractingDims) {
  CheckVjp(Make({F64({3, 4}), F64({4, 2})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Dot(x[0], x[1])};
  }));
  CheckVjp(Make({F64({4, 2, 3, 5}), F64({3, 2, 6, 4})},
                [](FunctionBuilder& b, const std::vector<Value>& x) {
                  ir::DotDimensionNumbers dn;
                  dn.lhs_batch = {1};
                  dn.rhs_batch = {1};
                  dn.lhs_contracting = {2, 0};
                  dn.rhs_contracting = {0, 3};
                  return std::vector<Value>{b.DotGeneral(x[0], x[1], dn)};
                }));
}

TEST(VjpTest, Reductions) {
  for (ir::ReduceKind kind : {ir::ReduceKind::kSum, ir::ReduceKind::kMax, ir::ReduceKind::kMin}) {
    SCOPED_TRACE(ir::ReduceKindName(kind));
    CheckVjp(Make({F64({3, 4, 2})}, [kind](FunctionBuilder& b, const std::vector<Value>& x) {
      return std::vector<Value>{b.Reduce(x[0], {0, 2}, kind)};
    }));
  }
}

TEST(VjpTest, ALayerAndSoftmaxCrossEntropy) {
  // loss = -sum(onehot * log_softmax(tanh(x W + b))), the shape of a classifier's step.
  Function f = Make({F64({4, 3}), F64({3, 5}), F64({5})},
                    [](FunctionBuilder& b, const std::vector<Value>& p) {
    Value h = b.Tanh(b.Add(b.Dot(p[0], p[1]), p[2]));
    Value m = b.Reduce(h, {1}, ir::ReduceKind::kMax);
    Value shifted = b.Subtract(h, b.BroadcastInDim(m, Shape({4, 5}), {0}));
    Value lse = b.Log(b.Reduce(b.Exp(shifted), {1}, ir::ReduceKind::kSum));
    Value logp = b.Subtract(shifted, b.BroadcastInDim(lse, Shape({4, 5}), {0}));
    Value labels = b.Constant(Literal::Create<int32_t>({4}, {1, 0, 4, 2}));
    Value hot = b.Convert(b.Compare(b.BroadcastInDim(labels, Shape({4, 5}), {0}),
                                    b.Iota(TensorType{DType::kI32, Shape({4, 5})}, 1),
                                    ir::ComparisonDirection::kEq),
                          DType::kF64);
    return std::vector<Value>{b.Negate(b.Reduce(b.Multiply(hot, logp), {0, 1}, ir::ReduceKind::kSum))};
  });
  CheckVjp(f);
  // ValueAndGrad of the same loss equals Vjp with a cotangent of 1.
  absl::StatusOr<Function> vg = ValueAndGrad(f);
  ASSERT_THAT(vg.status(), IsOk());
  std::mt19937 rng(3);
  std::vector<Literal> x;
  for (const TensorType& t : f.parameter_types()) x.push_back(Random(t, rng, Domain::kAny));
  std::vector<Literal> with_one = x;
  with_one.push_back(Literal::Scalar<double>(1.0));
  EXPECT_EQ(Execute(*vg, x), Execute(*Vjp(f), with_one));
}

TEST(VjpTest, WrtPicksAndOrdersTheParametersAndUnusedOnesGetZeros) {
  Function f = Make({F64({2}), F64({2}), F64({2})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Multiply(x[0], x[2])};
  });
  absl::StatusOr<Function> vjp = Vjp(f, {.wrt = {2, 1}});
  ASSERT_THAT(vjp.status(), IsOk());
  const std::vector<Literal> got =
      Execute(*vjp, {Literal::Create<double>({2}, {3, 4}), Literal::Create<double>({2}, {9, 9}),
                     Literal::Create<double>({2}, {5, 6}), Literal::Create<double>({2}, {1, 10})});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1], Literal::Create<double>({2}, {3, 40}));  // d/dx2 = ct * x0
  EXPECT_EQ(got[2], Literal::Create<double>({2}, {0, 0}));   // x1 is unused
}

TEST(VjpTest, IntegerInputsAndOutputsHaveNoCotangents) {
  Function f = Make({F64({3}), TensorType{DType::kI32, Shape({3})}},
                    [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Multiply(x[0], b.Convert(x[1], DType::kF64)), x[1]};
  });
  absl::StatusOr<Function> vjp = Vjp(f);
  ASSERT_THAT(vjp.status(), IsOk());
  // Parameters: x, n, and one cotangent (for the float output only); outputs: both, then dx.
  EXPECT_EQ(vjp->parameters.size(), 3u);
  EXPECT_EQ(vjp->outputs.size(), 3u);
  EXPECT_THAT(Vjp(f, {.wrt = {1}}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not floating point")));
}

TEST(VjpTest, CollectivesTransposeAsInPmap) {
  auto op_of = [](const Function& f, OpCode op) {
    int n = 0;
    for (const ir::Instruction& inst : f.instructions) n += inst.op == op;
    return n;
  };
  Function gather = Make({F64({2, 3})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.AllGather(x[0], 0)};
  }, /*num_shards=*/4);
  absl::StatusOr<Function> g = Vjp(gather);
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_EQ(op_of(*g, OpCode::kReduceScatter), 1);
  Function sum = Make({F64({3})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.AllReduce(x[0], ir::ReduceKind::kSum)};
  }, 4);
  EXPECT_EQ(op_of(*Vjp(sum), OpCode::kAllReduce), 2);  // forward and backward
  Function a2a = Make({F64({4, 6})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.AllToAll(x[0], 0, 1)};
  }, 2);
  absl::StatusOr<Function> t = Vjp(a2a);
  ASSERT_THAT(t.status(), IsOk());
  const ir::Instruction& back = t->instruction(t->outputs[1]);
  EXPECT_EQ(back.op, OpCode::kAllToAll);
  EXPECT_EQ(back.attrs.split_axis, 1);
  EXPECT_EQ(back.attrs.concat_axis, 0);
  Function perm = Make({F64({2})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.CollectivePermute(x[0], {{0, 1}, {1, 2}, {2, 0}})};
  }, 3);
  absl::StatusOr<Function> p = Vjp(perm);
  ASSERT_THAT(p.status(), IsOk());
  const ir::Instruction& inverse = p->instruction(p->outputs[1]);
  EXPECT_EQ(inverse.op, OpCode::kCollectivePermute);
  EXPECT_EQ(inverse.attrs.pairs,
            (std::vector<std::pair<int64_t, int64_t>>{{1, 0}, {2, 1}, {0, 2}}));
  Function max = Make({F64({3})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.AllReduce(x[0], ir::ReduceKind::kMax)};
  }, 4);
  EXPECT_THAT(Vjp(max).status(), StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("max")));
}

TEST(VjpTest, BadRequestsNameTheCulprit) {
  Function f = Make({F64({2}), F64({2})}, [](FunctionBuilder& b, const std::vector<Value>& x) {
    return std::vector<Value>{b.Add(x[0], x[1])};
  });
  EXPECT_THAT(Vjp(f, {.wrt = {2}}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wrt index 2 is out of range")));
  EXPECT_THAT(Vjp(f, {.wrt = {0, 0}}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  EXPECT_THAT(ValueAndGrad(f).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("output 0 must be a floating-point scalar, got f64[2]")));
  Function broken = f;
  broken.instructions[2].operands = {5, 0};
  EXPECT_THAT(Vjp(broken).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace pw::autodiff

namespace pw::autodiff {
namespace {

// i < n over carried (i, ...): the loop's cond for `types` after the counter.
Function CountBelow(int32_t n, const std::vector<TensorType>& types) {
  FunctionBuilder c("below");
  Value i = c.Parameter(TensorType{DType::kI32, Shape{}});
  for (const TensorType& t : types) c.Parameter(t);
  return *c.Build({c.Compare(i, c.ConstantScalar<int32_t>(n), ir::ComparisonDirection::kLt)});
}

// A scan over stacked layers: h = tanh(W[i] h + b[i]) for i < layers, with the loop bounded
// by `bound` (>= layers: the loop exits early when bound > layers).
Function ScannedLayers(int64_t layers, int64_t bound) {
  const TensorType w = F64({layers, 3, 3}), bias = F64({layers, 3}), h = F64({3});
  FunctionBuilder body("layer");
  Value i = body.Parameter(TensorType{DType::kI32, Shape{}});
  Value bw = body.Parameter(w), bb = body.Parameter(bias), bh = body.Parameter(h);
  Value zero = body.ConstantScalar<int32_t>(0);
  Value wi = body.Reshape(body.DynamicSlice(bw, {i, zero, zero}, {1, 3, 3}), Shape{3, 3});
  Value bi = body.Reshape(body.DynamicSlice(bb, {i, zero}, {1, 3}), Shape{3});
  Value next = body.Tanh(body.Add(body.Dot(wi, bh), bi));
  Function body_fn = *body.Build({body.Add(i, body.ConstantScalar<int32_t>(1)), bw, bb, next});
  FunctionBuilder b("scanned");
  Value pw = b.Parameter(w), pb = b.Parameter(bias), ph = b.Parameter(h);
  std::vector<Value> r = b.While(CountBelow(static_cast<int32_t>(layers), {w, bias, h}), body_fn,
                                 {b.ConstantScalar<int32_t>(0), pw, pb, ph}, bound);
  return *b.Build({b.Multiply(r[3], r[3])});
}

// The same layers unrolled.
Function UnrolledLayers(int64_t layers) {
  FunctionBuilder b("unrolled");
  Value w = b.Parameter(F64({layers, 3, 3})), bias = b.Parameter(F64({layers, 3}));
  Value h = b.Parameter(F64({3}));
  for (int64_t l = 0; l < layers; ++l) {
    Value wl = b.Reshape(b.Slice(w, {l, 0, 0}, {l + 1, 3, 3}), Shape{3, 3});
    Value bl = b.Reshape(b.Slice(bias, {l, 0}, {l + 1, 3}), Shape{3});
    h = b.Tanh(b.Add(b.Dot(wl, h), bl));
  }
  return *b.Build({b.Multiply(h, h)});
}

TEST(VjpControlFlowTest, AScanOverStackedLayersMatchesFiniteDifferences) {
  CheckVjp(ScannedLayers(4, 4));
  CheckVjp(ScannedLayers(3, 7), Domain::kAny, 1e-6, 1e-5, /*seed=*/2);  // exits early
}

TEST(VjpControlFlowTest, AScannedModelHasTheUnrolledGradients) {
  std::mt19937 rng(5);
  std::vector<Literal> args = {Random(F64({4, 3, 3}), rng, Domain::kAny),
                               Random(F64({4, 3}), rng, Domain::kAny),
                               Random(F64({3}), rng, Domain::kAny), Random(F64({3}), rng, Domain::kAny)};
  const std::vector<Literal> scanned = Execute(*Vjp(ScannedLayers(4, 6)), args);
  const std::vector<Literal> unrolled = Execute(*Vjp(UnrolledLayers(4)), args);
  ASSERT_EQ(scanned.size(), unrolled.size());
  for (size_t i = 0; i < scanned.size(); ++i) {
    auto a = scanned[i].data<double>(), b = unrolled[i].data<double>();
    ASSERT_EQ(a.size(), b.size());
    for (size_t e = 0; e < a.size(); ++e) EXPECT_NEAR(a[e], b[e], 1e-12) << "output " << i;
  }
}

TEST(VjpControlFlowTest, NestedLoopsDifferentiate) {
  // outer 2 times { inner 3 times { h = sin(h) * a } ; h = h + a }
  const TensorType v = F64({2});
  FunctionBuilder inner("inner");
  Value ii = inner.Parameter(TensorType{DType::kI32, Shape{}});
  Value ia = inner.Parameter(v), ih = inner.Parameter(v);
  Function inner_fn = *inner.Build(
      {inner.Add(ii, inner.ConstantScalar<int32_t>(1)), ia, inner.Multiply(inner.Sine(ih), ia)});
  FunctionBuilder outer("outer");
  Value oi = outer.Parameter(TensorType{DType::kI32, Shape{}});
  Value oa = outer.Parameter(v), oh = outer.Parameter(v);
  std::vector<Value> in = outer.While(CountBelow(3, {v, v}), inner_fn,
                                      {outer.ConstantScalar<int32_t>(0), oa, oh}, 3);
  Function outer_fn =
      *outer.Build({outer.Add(oi, outer.ConstantScalar<int32_t>(1)), oa, outer.Add(in[2], oa)});
  CheckVjp(Make({v, v}, [&](FunctionBuilder& b, const std::vector<Value>& x) {
    std::vector<Value> r =
        b.While(CountBelow(2, {v, v}), outer_fn, {b.ConstantScalar<int32_t>(0), x[0], x[1]}, 4);
    return std::vector<Value>{r[2]};
  }));
}

TEST(VjpControlFlowTest, ACaseDifferentiatesThroughTheBranchTaken) {
  const TensorType v = F64({3});
  auto branch = [&](int which) {
    FunctionBuilder fb("branch");
    Value a = fb.Parameter(v), c = fb.Parameter(v);
    Value out = which == 0 ? fb.Multiply(fb.Exp(a), c) : fb.Subtract(fb.Tanh(c), a);
    return *fb.Build({out, fb.Add(a, c)});
  };
  for (int32_t index : {0, 1, 5}) {
    SCOPED_TRACE(index);
    CheckVjp(Make({v, v}, [&](FunctionBuilder& b, const std::vector<Value>& x) {
      return b.Case(b.ConstantScalar<int32_t>(index), {branch(0), branch(1)}, {x[0], x[1]});
    }));
  }
}

}  // namespace
}  // namespace pw::autodiff
