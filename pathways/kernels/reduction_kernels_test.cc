// Tests of reduce over any axes, every kind and dtype, against double references.
#include <algorithm>
#include <limits>

#include "pathways/kernels/kernels_test_util.h"

namespace pw::testing {
namespace {

using ir::DType;
using ir::ReduceKind;

RefArray RefReduce(const RefArray& x, const std::vector<int64_t>& axes, ReduceKind kind) {
  std::vector<int64_t> out;
  for (int64_t d = 0; d < static_cast<int64_t>(x.dims.size()); ++d) {
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) out.push_back(x.dims[d]);
  }
  const double init = kind == ReduceKind::kSum ? 0.0
                      : kind == ReduceKind::kMax ? -std::numeric_limits<double>::infinity()
                                                 : std::numeric_limits<double>::infinity();
  RefArray r = RefArray::Zeros(out);
  std::fill(r.data.begin(), r.data.end(), init);
  ForEachIndex(x.dims, [&](const std::vector<int64_t>& i) {
    std::vector<int64_t> j;
    for (size_t d = 0; d < i.size(); ++d) {
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) j.push_back(i[d]);
    }
    double& acc = r.at(j);
    double v = x.at(i);
    acc = kind == ReduceKind::kSum ? acc + v : kind == ReduceKind::kMax ? std::max(acc, v) : std::min(acc, v);
  });
  return r;
}

TEST(ReductionKernelsTest, ReduceOverAnyAxesEveryKindAndDtype) {
  std::mt19937 rng(20);
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{7}, {0}},          {{3, 4, 5}, {0}},       {{3, 4, 5}, {1}},    {{3, 4, 5}, {2}},
      {{3, 4, 5}, {0, 2}}, {{3, 4, 5}, {1, 2}},    {{3, 4, 5}, {0, 1, 2}}, {{3, 4, 5}, {}},
      {{2, 1, 3, 1}, {1, 2}}, {{4, 0, 3}, {1}},    {{4, 0, 3}, {0}},    {{}, {}},
      {{2, 3, 2, 3}, {0, 2}}, {{1, 1}, {0, 1}}};
  for (DType dt : {DType::kF32, DType::kF64, DType::kI32}) {
    for (ReduceKind kind : {ReduceKind::kSum, ReduceKind::kMax, ReduceKind::kMin}) {
      for (const auto& [dims, axes] : cases) {
        ir::Literal x = RandomLiteral({dt, ir::Shape(dims)}, rng, -50, 50);
        auto got = RunOne({x}, [&](auto& b, auto& p) { return b.Reduce(p[0], axes, kind); });
        RefArray want = RefReduce(RefArray::Of(x), axes, kind);
        if (dt == DType::kI32) {  // the identity of an empty i32 max/min is the extreme value
          for (double& v : want.data) {
            if (std::isinf(v)) v = v > 0 ? 2147483647.0 : -2147483648.0;
          }
        }
        SCOPED_TRACE(absl::StrCat(ir::ReduceKindName(kind), " ", x.type().DebugString(), " axes ",
                                  absl::StrJoin(axes, ",")));
        ExpectMatches(got, want, dt == DType::kF32 ? 1e-5 : -1);
      }
    }
  }
}

}  // namespace
}  // namespace pw::testing
