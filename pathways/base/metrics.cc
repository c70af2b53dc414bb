// Counter and LatencyHistogram: relaxed atomics only.
#include "pathways/base/metrics.h"

#include <cstdint>

namespace pw {

void Counter::Add(int64_t n) {
  if (n <= 0) return;
  int64_t old = value_.load(std::memory_order_relaxed);
  // fetch_add would wrap past INT64_MAX; a CAS loop saturates (uncontended it runs once).
  while (!value_.compare_exchange_weak(old, old > INT64_MAX - n ? INT64_MAX : old + n,
                                       std::memory_order_relaxed)) {
  }
}

const std::array<int64_t, LatencyHistogram::kNumBounds>& LatencyHistogram::BoundsNanos() {
  static const std::array<int64_t, kNumBounds> bounds = [] {
    std::array<int64_t, kNumBounds> b{};
    int64_t v = 1000;  // 1 µs
    for (int i = 0; i < kNumBounds; ++i, v *= 4) b[i] = v;
    return b;
  }();
  return bounds;
}

void LatencyHistogram::Observe(int64_t nanos) {
  if (nanos < 0) nanos = 0;
  const auto& bounds = BoundsNanos();
  int i = 0;
  while (i < kNumBounds && nanos > bounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(nanos, std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const {
  Snapshot s;
  s.cumulative.reserve(kNumBounds + 1);
  int64_t total = 0;
  for (const auto& b : buckets_) {
    total += b.load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  s.count = total;
  s.sum_nanos = sum_nanos_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace pw
