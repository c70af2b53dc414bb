// Tests of broadcast_in_dim, reshape, transpose, slice, concatenate, gather and scatter_add.
#include <algorithm>

#include "pathways/kernels/kernels_test_util.h"

namespace pw::testing {
namespace {

using ir::DType;

const DType kAllDtypes[] = {DType::kF32, DType::kF64, DType::kI32, DType::kBool};

TEST(DataMovementKernelsTest, BroadcastInDim) {
  std::mt19937 rng(10);
  struct Case {
    std::vector<int64_t> in, out, dims;
  };
  const Case cases[] = {{{3}, {2, 3, 4}, {1}},       {{3, 1}, {3, 5}, {0, 1}},
                        {{}, {4, 5}, {}},            {{4, 2}, {2, 7, 4}, {2, 0}},
                        {{1, 1}, {1, 6}, {0, 1}},    {{0, 2}, {3, 0, 2}, {1, 2}}};
  for (DType dt : kAllDtypes) {
    for (const Case& c : cases) {
      ir::Literal x = RandomLiteral({dt, ir::Shape(c.in)}, rng);
      auto got = RunOne({x}, [&](auto& b, auto& p) {
        return b.BroadcastInDim(p[0], ir::Shape(c.out), c.dims);
      });
      RefArray src = RefArray::Of(x), want = RefArray::Zeros(c.out);
      ForEachIndex(c.out, [&](const std::vector<int64_t>& i) {
        std::vector<int64_t> j(c.in.size());
        for (size_t k = 0; k < c.in.size(); ++k) j[k] = c.in[k] == 1 ? 0 : i[c.dims[k]];
        want.at(i) = src.at(j);
      });
      SCOPED_TRACE(absl::StrCat(x.type().DebugString(), " -> ", ir::Shape(c.out).DebugString()));
      ExpectMatches(got, want, 0.0);
    }
  }
}

TEST(DataMovementKernelsTest, ReshapeKeepsRowMajorOrder) {
  std::mt19937 rng(11);
  ir::Literal x = RandomLiteral(T(DType::kF64, {2, 3, 4}), rng);
  auto got = RunOne({x}, [](auto& b, auto& p) { return b.Reshape(p[0], ir::Shape({4, 6})); });
  RefArray want = RefArray::Of(x);
  want.dims = {4, 6};
  ExpectMatches(got, want, 0.0);
}

TEST(DataMovementKernelsTest, TransposeRank2To4) {
  std::mt19937 rng(12);
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{5, 7}, {1, 0}},          {{2, 3, 4}, {2, 0, 1}},      {{2, 3, 4}, {1, 2, 0}},
      {{3, 1, 4}, {2, 1, 0}},    {{2, 3, 4, 5}, {3, 1, 0, 2}}, {{2, 3, 4, 5}, {0, 2, 1, 3}},
      {{2, 0, 3}, {2, 1, 0}},    {{4, 3, 2, 2}, {1, 0, 3, 2}},
      // Large enough for the tiled path, with sizes that are not tile multiples.
      {{37, 45}, {1, 0}},        {{3, 20, 33}, {0, 2, 1}},    {{17, 2, 19}, {2, 1, 0}}};
  for (DType dt : kAllDtypes) {
    for (const auto& [dims, perm] : cases) {
      ir::Literal x = RandomLiteral({dt, ir::Shape(dims)}, rng);
      auto got = RunOne({x}, [&](auto& b, auto& p) { return b.Transpose(p[0], perm); });
      std::vector<int64_t> out(dims.size());
      for (size_t i = 0; i < perm.size(); ++i) out[i] = dims[perm[i]];
      RefArray src = RefArray::Of(x), want = RefArray::Zeros(out);
      ForEachIndex(out, [&](const std::vector<int64_t>& i) {
        std::vector<int64_t> j(dims.size());
        for (size_t k = 0; k < perm.size(); ++k) j[perm[k]] = i[k];
        want.at(i) = src.at(j);
      });
      SCOPED_TRACE(x.type().DebugString());
      ExpectMatches(got, want, 0.0);
    }
  }
}

TEST(DataMovementKernelsTest, SliceWithStridesAndEmptyResults) {
  std::mt19937 rng(13);
  struct Case {
    std::vector<int64_t> dims, starts, limits, strides;
  };
  const Case cases[] = {{{10}, {1}, {9}, {3}},
                        {{6, 8}, {1, 2}, {5, 8}, {2, 3}},
                        {{6, 8}, {0, 3}, {6, 4}, {1, 1}},       // one column: non-contiguous
                        {{3, 4, 5}, {1, 0, 1}, {3, 4, 5}, {1, 2, 2}},
                        {{4, 4}, {4, 0}, {4, 4}, {1, 1}},       // zero rows at the end
                        {{5}, {0}, {5}, {1}}};
  for (DType dt : kAllDtypes) {
    for (const Case& c : cases) {
      ir::Literal x = RandomLiteral({dt, ir::Shape(c.dims)}, rng);
      auto got = RunOne({x}, [&](auto& b, auto& p) { return b.Slice(p[0], c.starts, c.limits, c.strides); });
      std::vector<int64_t> out(c.dims.size());
      for (size_t i = 0; i < out.size(); ++i) {
        out[i] = (c.limits[i] - c.starts[i] + c.strides[i] - 1) / c.strides[i];
      }
      RefArray src = RefArray::Of(x), want = RefArray::Zeros(out);
      ForEachIndex(out, [&](const std::vector<int64_t>& i) {
        std::vector<int64_t> j(out.size());
        for (size_t k = 0; k < out.size(); ++k) j[k] = c.starts[k] + i[k] * c.strides[k];
        want.at(i) = src.at(j);
      });
      SCOPED_TRACE(x.type().DebugString());
      ExpectMatches(got, want, 0.0);
    }
  }
}

TEST(DataMovementKernelsTest, ConcatenateAlongEachAxis) {
  std::mt19937 rng(14);
  for (DType dt : kAllDtypes) {
    for (int64_t axis : {0, 1, 2}) {
      std::vector<ir::Literal> xs;
      std::vector<int64_t> sizes = {2, 0, 3};
      for (int64_t s : sizes) {
        std::vector<int64_t> dims = {2, 3, 4};
        dims[axis] = s;
        xs.push_back(RandomLiteral({dt, ir::Shape(dims)}, rng));
      }
      auto got = RunOne(xs, [&](auto& b, auto& p) { return b.Concatenate(p, axis); });
      std::vector<int64_t> out = {2, 3, 4};
      out[axis] = 5;
      RefArray want = RefArray::Zeros(out);
      ForEachIndex(out, [&](const std::vector<int64_t>& i) {
        std::vector<int64_t> j = i;
        int64_t k = 0;
        while (j[axis] >= sizes[k]) j[axis] -= sizes[k++];
        want.at(i) = RefArray::Of(xs[k]).at(j);
      });
      SCOPED_TRACE(absl::StrCat(ir::DTypeName(dt), " axis ", axis));
      ExpectMatches(got, want, 0.0);
    }
  }
}

TEST(DataMovementKernelsTest, GatherClampsOutOfRangeIndices) {
  std::mt19937 rng(15);
  for (DType dt : kAllDtypes) {
    for (int64_t axis : {0, 1, 2}) {
      ir::Literal x = RandomLiteral({dt, ir::Shape({3, 4, 5})}, rng);
      ir::Literal idx = ir::Literal::Create<int32_t>({2, 3}, {0, 2, -7, 99, 1, 4});
      auto got = RunOne({x, idx}, [&](auto& b, auto& p) { return b.Gather(p[0], p[1], axis); });
      std::vector<int64_t> out;
      std::vector<int64_t> dims = {3, 4, 5};
      for (int64_t i = 0; i < axis; ++i) out.push_back(dims[i]);
      out.push_back(2);
      out.push_back(3);
      for (int64_t i = axis + 1; i < 3; ++i) out.push_back(dims[i]);
      RefArray src = RefArray::Of(x), want = RefArray::Zeros(out);
      ForEachIndex(out, [&](const std::vector<int64_t>& i) {
        std::vector<int64_t> j;
        for (int64_t k = 0; k < axis; ++k) j.push_back(i[k]);
        int64_t index = idx.data<int32_t>()[i[axis] * 3 + i[axis + 1]];
        j.push_back(std::clamp<int64_t>(index, 0, dims[axis] - 1));
        for (int64_t k = axis + 2; k < static_cast<int64_t>(i.size()); ++k) j.push_back(i[k]);
        want.at(i) = src.at(j);
      });
      SCOPED_TRACE(absl::StrCat(ir::DTypeName(dt), " axis ", axis));
      ExpectMatches(got, want, 0.0);
    }
  }
}

TEST(DataMovementKernelsTest, GatherFromEmptyAxisGivesZeros) {
  ir::Literal x(T(DType::kF32, {2, 0}));
  ir::Literal idx = ir::Literal::Create<int32_t>({3}, {0, 1, 5});
  auto got = RunOne({x, idx}, [](auto& b, auto& p) { return b.Gather(p[0], p[1], 1); });
  ExpectMatches(got, RefArray::Zeros({2, 3}), 0.0);
}

const DType kNumericDtypes[] = {DType::kF32, DType::kF64, DType::kI32};

TEST(DataMovementKernelsTest, ScatterAddAccumulatesRepeatedIndicesAlongAxis1) {
  // operand [2,3,2]; indices [4] = {2, 0, 2, 2} along axis 1; updates [2,4,2].
  const std::vector<double> operand = {1, 2, 3, 4, 5, 6,  //
                                       7, 8, 9, 10, 11, 12};
  const std::vector<double> updates = {1, 10, 2, 20, 3, 30, 4, 40,  //
                                       -1, -2, -3, -4, -5, -6, -7, -8};
  // Row 0 of axis 1 gets update 1; row 2 gets updates 0, 2 and 3; row 1 gets nothing.
  const std::vector<double> want = {1 + 2, 2 + 20, 3, 4, 5 + 1 + 3 + 4, 6 + 10 + 30 + 40,  //
                                    7 - 3, 8 - 4, 9, 10, 11 - 1 - 5 - 7, 12 - 2 - 6 - 8};
  for (DType dt : kNumericDtypes) {
    ir::Literal x = LiteralFrom(T(dt, {2, 3, 2}), operand);
    ir::Literal idx = ir::Literal::Create<int32_t>({4}, {2, 0, 2, 2});
    ir::Literal u = LiteralFrom(T(dt, {2, 4, 2}), updates);
    auto got = RunOne({x, idx, u}, [](auto& b, auto& p) { return b.ScatterAdd(p[0], p[1], p[2], 1); });
    RefArray expected = RefArray::Zeros({2, 3, 2});
    expected.data = want;
    SCOPED_TRACE(ir::DTypeName(dt));
    ExpectMatches(got, expected, 0.0);
  }
}

TEST(DataMovementKernelsTest, ScatterAddWithIndexMatrixOnAxis0) {
  // operand [3,2] of zeros; indices [[1,1],[0,1]]; updates [2,2,2]: an embedding's gradient.
  for (DType dt : kNumericDtypes) {
    ir::Literal x = LiteralFrom(T(dt, {3, 2}), {0, 0, 0, 0, 0, 0});
    ir::Literal idx = ir::Literal::Create<int32_t>({2, 2}, {1, 1, 0, 1});
    ir::Literal u = LiteralFrom(T(dt, {2, 2, 2}), {1, 2, 3, 4, 5, 6, 7, 8});
    auto got = RunOne({x, idx, u}, [](auto& b, auto& p) { return b.ScatterAdd(p[0], p[1], p[2], 0); });
    RefArray expected = RefArray::Zeros({3, 2});
    expected.data = {5, 6, 1 + 3 + 7, 2 + 4 + 8, 0, 0};
    SCOPED_TRACE(ir::DTypeName(dt));
    ExpectMatches(got, expected, 0.0);
  }
}

// scatter_add is gather's transpose: <gather(x, i), u> == <x, scatter_add(0, i, u)> for every
// axis, with the same clamping of out-of-range indices.
TEST(DataMovementKernelsTest, ScatterAddClampsAsGatherDoesAndIsItsTranspose) {
  std::mt19937 rng(16);
  const std::vector<int64_t> dims = {3, 4, 5};
  ir::Literal idx = ir::Literal::Create<int32_t>({2, 3}, {0, 2, -7, 99, 1, 4});
  for (int64_t axis : {0, 1, 2}) {
    std::vector<int64_t> out;
    for (int64_t i = 0; i < axis; ++i) out.push_back(dims[i]);
    out.push_back(2);
    out.push_back(3);
    for (int64_t i = axis + 1; i < 3; ++i) out.push_back(dims[i]);
    ir::Literal x = RandomLiteral({DType::kF64, ir::Shape(dims)}, rng);
    ir::Literal u = RandomLiteral({DType::kF64, ir::Shape(out)}, rng);
    ir::Literal zeros({DType::kF64, ir::Shape(dims)});
    auto gathered = RunOne({x, idx}, [&](auto& b, auto& p) { return b.Gather(p[0], p[1], axis); });
    auto scattered = RunOne({zeros, idx, u}, [&](auto& b, auto& p) {
      return b.ScatterAdd(p[0], p[1], p[2], axis);
    });
    RefArray want = RefArray::Zeros(dims);
    const RefArray src = RefArray::Of(u);
    ForEachIndex(out, [&](const std::vector<int64_t>& i) {
      std::vector<int64_t> j;
      for (int64_t k = 0; k < axis; ++k) j.push_back(i[k]);
      const int64_t index = idx.data<int32_t>()[i[axis] * 3 + i[axis + 1]];
      j.push_back(std::clamp<int64_t>(index, 0, dims[axis] - 1));
      for (int64_t k = axis + 2; k < static_cast<int64_t>(i.size()); ++k) j.push_back(i[k]);
      want.at(j) += src.at(i);
    });
    SCOPED_TRACE(absl::StrCat("axis ", axis));
    ExpectMatches(scattered, want, 1e-12);
    double lhs = 0, rhs = 0;
    for (int64_t k = 0; k < u.num_elements(); ++k) lhs += gathered.GetAsDouble(k) * u.GetAsDouble(k);
    for (int64_t k = 0; k < x.num_elements(); ++k) rhs += x.GetAsDouble(k) * scattered.GetAsDouble(k);
    EXPECT_NEAR(lhs, rhs, 1e-12 * std::max(1.0, std::abs(lhs)));
  }
}

TEST(DataMovementKernelsTest, ScatterAddIntoEmptyAxisDropsTheUpdatesAndI32Wraps) {
  ir::Literal x(T(DType::kF32, {2, 0}));
  ir::Literal idx = ir::Literal::Create<int32_t>({3}, {0, 1, 5});
  ir::Literal u = LiteralFrom(T(DType::kF32, {2, 3}), {1, 2, 3, 4, 5, 6});
  auto got = RunOne({x, idx, u}, [](auto& b, auto& p) { return b.ScatterAdd(p[0], p[1], p[2], 1); });
  ExpectMatches(got, RefArray::Zeros({2, 0}), 0.0);

  ir::Literal big = ir::Literal::Create<int32_t>({1}, {2147483647});
  ir::Literal twice = ir::Literal::Create<int32_t>({2}, {0, 0});
  ir::Literal ones = ir::Literal::Create<int32_t>({2}, {1, 1});
  auto wrapped = RunOne({big, twice, ones}, [](auto& b, auto& p) { return b.ScatterAdd(p[0], p[1], p[2], 0); });
  EXPECT_EQ(wrapped, ir::Literal::Create<int32_t>({1}, {-2147483647}));
}

}  // namespace
}  // namespace pw::testing
