// Clocks: a monotonic microsecond clock for traces and utilization, injectable for tests.
#ifndef PATHWAYS_BASE_CLOCK_H_
#define PATHWAYS_BASE_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace pw {

// Monotonic time in nanoseconds since an arbitrary fixed origin (steady_clock).
inline int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A source of monotonic time. Runtime objects take a Clock& so tests can substitute FakeClock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowNanos() const = 0;
  // The process-wide real clock; stateless, so sharing it is not a singleton in disguise.
  static Clock& Real();
};

class RealClock final : public Clock {
 public:
  int64_t NowNanos() const override { return MonotonicNanos(); }
};

inline Clock& Clock::Real() {
  static RealClock clock;
  return clock;
}

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  int64_t NowNanos() const override { return now_.load(std::memory_order_relaxed); }
  void AdvanceNanos(int64_t delta) { now_.fetch_add(delta, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_{0};
};

}  // namespace pw

#endif  // PATHWAYS_BASE_CLOCK_H_
