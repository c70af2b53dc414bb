// Waiting primitives for hand-offs between threads: CPU pause, bounded polling, futex sleep.
//
// Waking a sleeping thread costs tens of microseconds on small machines while an atomic hand-off
// costs well under one, so the runtime's waits poll briefly before they sleep.
#ifndef PATHWAYS_BASE_SPIN_WAIT_H_
#define PATHWAYS_BASE_SPIN_WAIT_H_

#include <atomic>
#include <cstdint>
#include <thread>

#include "pathways/base/clock.h"

namespace pw {

// A hint to the CPU that this thread is spinning.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls `ready()` until it holds or `budget_nanos` have passed: a few hundred pause instructions
// first (a hand-off from a running producer lands within a microsecond), then yields so other
// runnable threads get the CPU. Returns the last value of ready().
template <typename Ready>
bool SpinUntil(int64_t budget_nanos, Ready ready) {
  for (int i = 0; i < 256; ++i) {
    if (ready()) return true;
    CpuRelax();
  }
  const int64_t deadline = MonotonicNanos() + budget_nanos;
  while (MonotonicNanos() < deadline) {
    if (ready()) return true;
    std::this_thread::yield();
  }
  return ready();
}

inline constexpr int64_t kNoTimeout = INT64_MAX;

// Sleeps while *word == expected, for at most `timeout_nanos` (kNoTimeout: no limit). Returns on
// a wake-up, the timeout, a signal, or at once when *word differs: callers re-check their
// condition. Linux futex, private to the process.
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_nanos);
// Wakes every thread sleeping in FutexWait on `word`.
void FutexWakeAll(std::atomic<uint32_t>* word);

}  // namespace pw

#endif  // PATHWAYS_BASE_SPIN_WAIT_H_
