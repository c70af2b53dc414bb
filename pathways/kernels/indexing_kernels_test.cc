// Tests of dynamic_slice, dynamic_update_slice, cumsum and top_k against reference loops.
#include <algorithm>
#include <limits>

#include "pathways/kernels/kernels_test_util.h"

namespace pw::testing {
namespace {

using ir::DType;

ir::Literal I32(int32_t v) { return LiteralFrom(T(DType::kI32, {}), {static_cast<double>(v)}); }

// Start values including negative and past-the-end ones, which clamp.
const int32_t kStarts[] = {-3, 0, 1, 2, 7};

TEST(IndexingKernelsTest, DynamicSliceClampsItsStartsLikeXla) {
  std::mt19937 rng(40);
  const std::vector<int64_t> dims = {4, 5, 3};
  const std::vector<int64_t> sizes = {2, 5, 1};
  for (DType dt : {DType::kF32, DType::kF64, DType::kI32, DType::kBool}) {
    ir::Literal x = RandomLiteral({dt, ir::Shape(dims)}, rng);
    for (int32_t s0 : kStarts) {
      for (int32_t s2 : kStarts) {
        auto got = RunOne({x, I32(s0), I32(1), I32(s2)}, [&](auto& b, auto& p) {
          return b.DynamicSlice(p[0], {p[1], p[2], p[3]}, sizes);
        });
        const std::vector<int64_t> start = {std::clamp<int64_t>(s0, 0, 2), 0,
                                            std::clamp<int64_t>(s2, 0, 2)};
        RefArray src = RefArray::Of(x), want = RefArray::Zeros(sizes);
        ForEachIndex(sizes, [&](const std::vector<int64_t>& i) {
          want.at(i) = src.at({i[0] + start[0], i[1] + start[1], i[2] + start[2]});
        });
        SCOPED_TRACE(absl::StrCat(x.type().DebugString(), " starts ", s0, ",1,", s2));
        ExpectMatches(got, want, 0.0);
      }
    }
  }
}

TEST(IndexingKernelsTest, DynamicSliceOfScalarsAndEmptyBlocks) {
  ir::Literal x = LiteralFrom(T(DType::kF32, {}), {2.5});
  ExpectMatches(RunOne({x}, [](auto& b, auto& p) { return b.DynamicSlice(p[0], {}, {}); }),
                RefArray::Of(x), 0.0);
  std::mt19937 rng(41);
  ir::Literal y = RandomLiteral(T(DType::kF64, {3, 4}), rng);
  auto got = RunOne({y, I32(9), I32(2)}, [](auto& b, auto& p) {
    return b.DynamicSlice(p[0], {p[1], p[2]}, {0, 2});
  });
  EXPECT_EQ(got.shape(), ir::Shape({0, 2}));
}

TEST(IndexingKernelsTest, DynamicUpdateSliceReplacesTheClampedBlock) {
  std::mt19937 rng(42);
  for (DType dt : {DType::kF32, DType::kI32}) {
    ir::Literal x = RandomLiteral({dt, ir::Shape({5, 4})}, rng);
    ir::Literal u = RandomLiteral({dt, ir::Shape({2, 3})}, rng, 5.0, 9.0);
    for (int32_t s0 : kStarts) {
      for (int32_t s1 : kStarts) {
        auto got = RunOne({x, u, I32(s0), I32(s1)}, [](auto& b, auto& p) {
          return b.DynamicUpdateSlice(p[0], p[1], {p[2], p[3]});
        });
        const int64_t r = std::clamp<int64_t>(s0, 0, 3), c = std::clamp<int64_t>(s1, 0, 1);
        RefArray want = RefArray::Of(x), upd = RefArray::Of(u);
        ForEachIndex({2, 3}, [&](const std::vector<int64_t>& i) {
          want.at({i[0] + r, i[1] + c}) = upd.at(i);
        });
        SCOPED_TRACE(absl::StrCat(x.type().DebugString(), " starts ", s0, ",", s1));
        ExpectMatches(got, want, 0.0);
      }
    }
  }
}

TEST(IndexingKernelsTest, CumsumForwardAndReverseOnEveryAxis) {
  std::mt19937 rng(43);
  const std::vector<int64_t> dims = {3, 4, 2};
  for (DType dt : {DType::kF32, DType::kF64, DType::kI32}) {
    ir::Literal x = RandomLiteral({dt, ir::Shape(dims)}, rng);
    for (int64_t axis = 0; axis < 3; ++axis) {
      for (bool reverse : {false, true}) {
        auto got = RunOne({x}, [&](auto& b, auto& p) { return b.Cumsum(p[0], axis, reverse); });
        RefArray src = RefArray::Of(x), want = RefArray::Zeros(dims);
        ForEachIndex(dims, [&](const std::vector<int64_t>& i) {
          double sum = 0;
          std::vector<int64_t> j = i;
          for (j[axis] = 0; j[axis] < dims[axis]; ++j[axis]) {
            if (reverse ? j[axis] >= i[axis] : j[axis] <= i[axis]) sum += src.at(j);
          }
          want.at(i) = sum;
        });
        SCOPED_TRACE(absl::StrCat(x.type().DebugString(), " axis ", axis, " reverse ", reverse));
        ExpectMatches(got, want);
      }
    }
  }
}

TEST(IndexingKernelsTest, TopKIsLargestFirstWithTiesToTheLowerIndex) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ir::Literal x = LiteralFrom(T(DType::kF32, {2, 5}), {1, 3, 3, -1, 3, nan, 0, 2, 2, -5});
  std::vector<ir::Literal> out = BuildAndRun({x.type()}, {x}, [](auto& b, auto& p) {
    auto [values, indices] = b.TopK(p[0], 3);
    return std::vector<ir::Value>{values, indices};
  });
  ASSERT_EQ(out.size(), 2u);
  RefArray want_idx{{2, 3}, {1, 2, 4, 0, 2, 3}};
  ExpectMatches(out[1], want_idx, 0.0);
  RefArray want_val{{2, 3}, {3, 3, 3, nan, 2, 2}};
  ExpectMatches(out[0], want_val, 0.0);
}

TEST(IndexingKernelsTest, TopKMatchesASortOnRandomRows) {
  std::mt19937 rng(44);
  for (DType dt : {DType::kF64, DType::kI32}) {
    ir::Literal x = RandomLiteral({dt, ir::Shape({3, 2, 7})}, rng, -3, 3);
    for (int64_t k : {1, 4, 7}) {
      auto got = RunOne({x}, [k](auto& b, auto& p) { return b.TopKIndices(p[0], k); });
      RefArray src = RefArray::Of(x), want = RefArray::Zeros({3, 2, k});
      for (int64_t r = 0; r < 6; ++r) {
        std::vector<int64_t> order(7);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
          return src.data[r * 7 + a] > src.data[r * 7 + b];
        });
        for (int64_t j = 0; j < k; ++j) want.data[r * k + j] = static_cast<double>(order[j]);
      }
      SCOPED_TRACE(absl::StrCat(x.type().DebugString(), " k ", k));
      ExpectMatches(got, want, 0.0);
    }
  }
}

}  // namespace
}  // namespace pw::testing
