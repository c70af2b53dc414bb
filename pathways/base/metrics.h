// Counter and Histogram: lock-free metric cells cheap enough for the dispatch path.
//
// Both are written with relaxed atomics (no lock, no allocation) from any thread and read as a
// snapshot from any other; a snapshot taken while writers run may mix a few in-flight updates
// (a histogram's count and sum can be one observation apart), which exporters tolerate. The
// owner (e.g. ControllerMetrics) keeps them for its lifetime; they are neither copyable nor
// movable. Exporting them (Prometheus text) is the dashboard's job, not theirs.
#ifndef PATHWAYS_BASE_METRICS_H_
#define PATHWAYS_BASE_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace pw {

// A monotonically increasing int64 total (events, bytes, nanoseconds). Add saturates at
// INT64_MAX rather than wrapping, so a total never goes backwards.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // `n` < 0 is ignored (a counter only grows).
  void Add(int64_t n = 1);
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A latency distribution over fixed bucket bounds in nanoseconds (powers of 4 from 1 µs to
// about 4.5 min, then +Inf): Observe costs two relaxed fetch_adds and a short scan.
class LatencyHistogram {
 public:
  static constexpr int kNumBounds = 15;
  // Upper bounds (inclusive) of the finite buckets, in nanoseconds, ascending.
  static const std::array<int64_t, kNumBounds>& BoundsNanos();

  struct Snapshot {
    std::vector<int64_t> cumulative;  // count <= BoundsNanos()[i], then the +Inf bucket (total)
    int64_t count = 0;
    int64_t sum_nanos = 0;
  };

  LatencyHistogram() = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // A negative duration counts as 0 (a clock stepped backwards).
  void Observe(int64_t nanos);
  Snapshot Read() const;

 private:
  std::array<std::atomic<int64_t>, kNumBounds + 1> buckets_{};  // non-cumulative
  std::atomic<int64_t> sum_nanos_{0};
};

}  // namespace pw

#endif  // PATHWAYS_BASE_METRICS_H_
