#include "pathways/base/metrics.h"

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pw {
namespace {

TEST(CounterTest, AddsAndIgnoresNegativeAndSaturates) {
  Counter c;
  c.Add();
  c.Add(41);
  c.Add(-5);
  EXPECT_EQ(c.value(), 42);
  c.Add(INT64_MAX);
  EXPECT_EQ(c.value(), INT64_MAX);
}

TEST(CounterTest, ConcurrentAddsAreAllCounted) {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) c.Add();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000);
}

TEST(LatencyHistogramTest, BucketsAreCumulativeWithInfAsTotal) {
  LatencyHistogram h;
  h.Observe(500);         // <= 1 µs
  h.Observe(1000);        // <= 1 µs (bounds are inclusive)
  h.Observe(3000);        // <= 4 µs
  h.Observe(-7);          // counts as 0
  h.Observe(INT64_MAX / 2);  // beyond every bound: +Inf only
  const LatencyHistogram::Snapshot s = h.Read();
  ASSERT_EQ(s.cumulative.size(), LatencyHistogram::kNumBounds + 1);
  EXPECT_EQ(s.cumulative[0], 3);
  EXPECT_EQ(s.cumulative[1], 4);
  EXPECT_EQ(s.cumulative[LatencyHistogram::kNumBounds - 1], 4);
  EXPECT_EQ(s.cumulative.back(), 5);
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.sum_nanos, 500 + 1000 + 3000 + INT64_MAX / 2);
  const auto& bounds = LatencyHistogram::BoundsNanos();
  EXPECT_TRUE(std::is_sorted(bounds.begin(), bounds.end()));
}

}  // namespace
}  // namespace pw
