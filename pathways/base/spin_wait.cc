// Futex waits (Linux).
#include "pathways/base/spin_wait.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

namespace pw {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "futex words must be plain 32-bit atomics");

void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_nanos) {
  timespec ts;
  timespec* tsp = nullptr;
  if (timeout_nanos != kNoTimeout) {
    ts.tv_sec = static_cast<time_t>(timeout_nanos / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout_nanos % 1'000'000'000);
    tsp = &ts;
  }
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, tsp, nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace pw
