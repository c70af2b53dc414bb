// Clocks: a monotonic microsecond clock for traces and utilization, injectable for tests.
#ifndef PATHWAYS_BASE_CLOCK_H_
#define PATHWAYS_BASE_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>

namespace pw {

// CPU time the calling thread has used, in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
inline int64_t ThreadCpuNanos() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Monotonic time in nanoseconds since an arbitrary fixed origin (steady_clock).
inline int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Modelled time. While a simulated device completes an item (its event's callbacks run inline
// on the stream thread) or a simulated network delivers a message, this thread's "now" is the
// modelled instant of that event: the kernel's modelled end, the message's arrival deadline.
// Elsewhere it is MonotonicNanos(). Whatever the runtime sends or completes from such a
// callback is stamped with the modelled instant, so the wake-up latency of this machine's
// threads (tens of microseconds on a loaded VM) is absorbed by later modelled waits instead of
// adding up along a chain of hand-offs. Causality holds: the modelled instant is never later
// than the real one.
namespace clock_internal {
inline thread_local int64_t modelled_now = 0;  // 0: not inside a modelled event
}  // namespace clock_internal

inline int64_t SimNowNanos() {
  const int64_t modelled = clock_internal::modelled_now;
  return modelled > 0 ? modelled : MonotonicNanos();
}

// Sets this thread's modelled "now" for its lifetime (see SimNowNanos).
class ScopedSimTime {
 public:
  explicit ScopedSimTime(int64_t nanos) : saved_(clock_internal::modelled_now) {
    clock_internal::modelled_now = nanos;
  }
  ~ScopedSimTime() { clock_internal::modelled_now = saved_; }
  ScopedSimTime(const ScopedSimTime&) = delete;
  ScopedSimTime& operator=(const ScopedSimTime&) = delete;

 private:
  int64_t saved_;
};

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
