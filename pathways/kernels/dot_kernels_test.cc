// Tests of dot_general in every layout and dtype, both implementations, against double references.
#include <algorithm>

#include "pathways/kernels/kernels_test_util.h"

namespace pw::testing {
namespace {

using ir::DType;

// lhs / rhs dims and dimension numbers; the reference contracts in double.
struct DotCase {
  std::vector<int64_t> lhs, rhs;
  ir::DotDimensionNumbers dn;
};

RefArray RefDot(const RefArray& l, const RefArray& r, const ir::DotDimensionNumbers& dn) {
  auto free_of = [](size_t rank, const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    std::vector<int64_t> f;
    for (int64_t i = 0; i < static_cast<int64_t>(rank); ++i) {
      if (std::find(a.begin(), a.end(), i) == a.end() && std::find(b.begin(), b.end(), i) == b.end()) f.push_back(i);
    }
    return f;
  };
  auto lf = free_of(l.dims.size(), dn.lhs_batch, dn.lhs_contracting);
  auto rf = free_of(r.dims.size(), dn.rhs_batch, dn.rhs_contracting);
  std::vector<int64_t> out, cdims;
  for (int64_t d : dn.lhs_batch) out.push_back(l.dims[d]);
  for (int64_t d : lf) out.push_back(l.dims[d]);
  for (int64_t d : rf) out.push_back(r.dims[d]);
  for (int64_t d : dn.lhs_contracting) cdims.push_back(l.dims[d]);
  RefArray res = RefArray::Zeros(out);
  ForEachIndex(out, [&](const std::vector<int64_t>& o) {
    std::vector<int64_t> li(l.dims.size()), ri(r.dims.size());
    size_t p = 0;
    for (size_t k = 0; k < dn.lhs_batch.size(); ++k, ++p) {
      li[dn.lhs_batch[k]] = o[p];
      ri[dn.rhs_batch[k]] = o[p];
    }
    for (int64_t d : lf) li[d] = o[p++];
    for (int64_t d : rf) ri[d] = o[p++];
    double sum = 0;
    ForEachIndex(cdims, [&](const std::vector<int64_t>& c) {
      for (size_t k = 0; k < c.size(); ++k) {
        li[dn.lhs_contracting[k]] = c[k];
        ri[dn.rhs_contracting[k]] = c[k];
      }
      sum += l.at(li) * r.at(ri);
    });
    res.at(o) = sum;
  });
  return res;
}

std::vector<DotCase> DotCases() {
  return {
      {{37, 53}, {53, 29}, {{}, {}, {1}, {0}}},                  // plain matmul, odd sizes
      {{53, 37}, {53, 29}, {{}, {}, {0}, {0}}},                  // lhs contracting dim 0
      {{37, 53}, {29, 53}, {{}, {}, {1}, {1}}},                  // rhs transposed
      {{53, 37}, {29, 53}, {{}, {}, {0}, {1}}},                  // both transposed
      {{3, 5, 7}, {3, 7, 4}, {{0}, {0}, {2}, {1}}},              // batched
      {{5, 3, 7}, {7, 3, 4}, {{1}, {1}, {2}, {0}}},              // batch dim in the middle
      {{2, 3, 4, 5}, {3, 5, 4, 6}, {{1}, {0}, {2, 3}, {2, 1}}},  // two contracting dims
      {{2, 6, 3, 4}, {2, 3, 4, 5}, {{0, 2}, {0, 1}, {3}, {2}}},  // two batch dims
      {{8}, {8}, {{}, {}, {0}, {0}}},                            // vector dot -> scalar
      {{4, 1}, {1, 5}, {{}, {}, {1}, {0}}},                      // outer product (K = 1)
      {{1, 6}, {6, 1}, {{}, {}, {1}, {0}}},                      // M = N = 1
      {{4, 0}, {0, 5}, {{}, {}, {1}, {0}}},                      // K = 0: zeros
      {{0, 3}, {3, 5}, {{}, {}, {1}, {0}}},                      // M = 0: empty
      {{6, 5}, {7}, {{}, {}, {}, {}}},                           // no contraction: outer
  };
}

TEST(DotKernelsTest, DotGeneralAllLayoutsAllDtypesBothImplementations) {
  std::mt19937 rng(21);
  for (DType dt : {DType::kF32, DType::kF64, DType::kI32}) {
    for (DotImplementation impl : {DotImplementation::kOneDnn, DotImplementation::kLoops}) {
      if (dt != DType::kF32 && impl == DotImplementation::kLoops) continue;  // same kernel
      for (const DotCase& c : DotCases()) {
        ir::Literal l = RandomLiteral({dt, ir::Shape(c.lhs)}, rng, -3, 3);
        ir::Literal r = RandomLiteral({dt, ir::Shape(c.rhs)}, rng, -3, 3);
        CompileOptions options;
        options.dot = impl;
        auto got = RunOne({l, r}, [&](auto& b, auto& p) { return b.DotGeneral(p[0], p[1], c.dn); },
                          options);
        SCOPED_TRACE(absl::StrCat(l.type().DebugString(), " x ", r.type().DebugString(),
                                  impl == DotImplementation::kOneDnn ? " onednn" : " loops"));
        ExpectMatches(got, RefDot(RefArray::Of(l), RefArray::Of(r), c.dn),
                      dt == DType::kF32 ? 1e-4 : -1);
      }
    }
  }
}

TEST(DotKernelsTest, DotOfOperandsComputedInsideTheFunction) {
  // Operands in scratch (not arguments), and a dot feeding another op.
  std::mt19937 rng(22);
  ir::Literal a = RandomLiteral(T(DType::kF32, {17, 9}), rng);
  ir::Literal b = RandomLiteral(T(DType::kF32, {9, 11}), rng);
  auto got = RunOne({a, b}, [](auto& bld, auto& p) {
    auto d = bld.Dot(bld.Exp(p[0]), bld.Transpose(bld.Transpose(p[1], {1, 0}), {1, 0}));
    return bld.Add(d, d);
  });
  RefArray ea = RefArray::Of(a);
  for (double& v : ea.data) v = std::exp(v);
  RefArray want = RefDot(ea, RefArray::Of(b), {{}, {}, {1}, {0}});
  for (double& v : want.data) v *= 2;
  ExpectMatches(got, want, 1e-4);
}

TEST(DotKernelsTest, TransposedOperandsAreReadInPlaceNotCopied) {
  ir::FunctionBuilder b("t");
  auto l = b.Parameter(T(DType::kF32, {53, 37}));  // contracting dim 0
  auto r = b.Parameter(T(DType::kF32, {29, 53}));  // contracting dim 1
  auto f = b.Build({b.DotGeneral(l, r, {{}, {}, {0}, {1}})});
  ASSERT_TRUE(f.ok());
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  EXPECT_THAT((*exe)->DebugString(), ::testing::HasSubstr("lhs strided, rhs strided, oneDNN"));
  // A batch dim that is neither leading nor mergeable forces a dense copy of that operand.
  ir::FunctionBuilder b2("c");
  auto l2 = b2.Parameter(T(DType::kF32, {2, 6, 3, 4}));
  auto r2 = b2.Parameter(T(DType::kF32, {2, 3, 4, 5}));
  auto f2 = b2.Build({b2.DotGeneral(l2, r2, {{0, 2}, {0, 1}, {3}, {2}})});
  ASSERT_TRUE(f2.ok());
  auto exe2 = CpuExecutable::Compile(*f2);
  ASSERT_TRUE(exe2.ok()) << exe2.status();
  EXPECT_THAT((*exe2)->DebugString(), ::testing::HasSubstr("lhs copied, rhs strided"));
}

}  // namespace
}  // namespace pw::testing
