// MemoryPool: a device's memory with a hard capacity, exact accounting and a small-block cache.
#ifndef PATHWAYS_DEVICE_MEMORY_POOL_H_
#define PATHWAYS_DEVICE_MEMORY_POOL_H_

#include <array>
#include <deque>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/device/device_buffer.h"

namespace pw {

// The allocation handle the pool returns (one concept, two names used across the runtime).
using DeviceAllocation = DeviceBuffer;

struct MemoryPoolOptions {
  // Names the pool in errors and logs, e.g. "device:3 (cpu)".
  std::string name = "memory pool";
  // Hard limit on the bytes handed out at once; an allocation beyond it fails.
  int64_t capacity_bytes = int64_t{1} << 30;
  // Freed blocks up to kMaxCachedBlockBytes are kept for reuse, up to this many bytes in total,
  // so the dispatch hot path rarely reaches the system allocator. Cached memory is not "in use".
  int64_t max_cached_bytes = int64_t{64} << 20;
  // false: allocations are accounted exactly as usual (capacity, peak, OOM) but backed by no
  // host memory: every buffer aliases the process's UnbackedRegion (unbacked_region.h), so its
  // bytes are undefined and shared with every other unbacked buffer. For devices whose values
  // are never computed (simulated devices in timing mode).
  bool host_backed = true;
};

// Thread-safe: Allocate and buffer destruction may happen on any thread. Accounting is
// lock-free (atomics); the block cache takes one short per-size-class lock.
class MemoryPool {
 public:
  // Blocks up to this size are rounded to a power of two and cached when freed.
  static constexpr int64_t kMaxCachedBlockBytes = int64_t{1} << 20;
  static constexpr int64_t kAlignment = 64;

  explicit MemoryPool(MemoryPoolOptions options);
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;
  // Every buffer must have been released (an internal invariant of the owner, checked).
  ~MemoryPool();

  // Returns `bytes` bytes (64-byte aligned; a zero-byte request gives a valid, unique pointer,
  // except in an unbacked pool, where every buffer starts at the same address).
  // Errors: INVALID_ARGUMENT for a negative size; RESOURCE_EXHAUSTED when the request would take
  // bytes_in_use() past capacity() (the message names the pool, the request, the bytes in use and
  // the capacity) or when the host cannot provide the memory.
  absl::StatusOr<DeviceAllocation> Allocate(int64_t bytes);
  // Back-pressure: a request that fits the capacity but not the memory free now waits, up to
  // `wait`, for buffers to be released, in the order the waiting requests came (a later one
  // never takes the memory an earlier one waits for). A request larger than the capacity fails
  // at once. RESOURCE_EXHAUSTED after the wait says how long it waited.
  absl::StatusOr<DeviceAllocation> Allocate(int64_t bytes, absl::Duration wait);

  // Exact sum of the sizes of live allocations (as requested, not rounded).
  int64_t bytes_in_use() const { return bytes_in_use_.load(std::memory_order_relaxed); }
  // Highest bytes_in_use() since construction or the last ResetPeak().
  int64_t peak_bytes_in_use() const { return peak_bytes_in_use_.load(std::memory_order_relaxed); }
  // Number of live allocations.
  int64_t num_allocations() const { return num_allocations_.load(std::memory_order_relaxed); }
  int64_t capacity() const { return options_.capacity_bytes; }
  // Host memory held by the free-block cache (not counted in bytes_in_use()).
  int64_t cached_bytes() const { return cached_bytes_.load(std::memory_order_relaxed); }
  const std::string& name() const { return options_.name; }
  bool host_backed() const { return options_.host_backed; }

  void ResetPeak() { peak_bytes_in_use_.store(bytes_in_use(), std::memory_order_relaxed); }
  // Returns every cached block to the system.
  void TrimCache();

  std::string DebugString() const;

 private:
  friend class DeviceBuffer;
  static constexpr int kNumSizeClasses = 15;  // 64 B .. 1 MiB

  // Called by DeviceBuffer; `bytes` is the requested size.
  void Release(void* data, int64_t bytes);

  struct SizeClass {
    absl::Mutex mu;
    std::vector<void*> free ABSL_GUARDED_BY(mu);
  };

  MemoryPoolOptions options_;
  std::atomic<int64_t> bytes_in_use_{0};
  std::atomic<int64_t> peak_bytes_in_use_{0};
  std::atomic<int64_t> num_allocations_{0};
  std::atomic<int64_t> cached_bytes_{0};
  std::array<SizeClass, kNumSizeClasses> classes_;

  // Requests waiting for memory (Allocate with a wait), in arrival order.
  std::atomic<int64_t> waiters_{0};
  absl::Mutex wait_mu_;
  absl::CondVar freed_;
  std::deque<int64_t> waiting_ ABSL_GUARDED_BY(wait_mu_);
  int64_t next_ticket_ ABSL_GUARDED_BY(wait_mu_) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_DEVICE_MEMORY_POOL_H_
