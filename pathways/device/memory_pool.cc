// MemoryPool implementation.
#include "pathways/device/memory_pool.h"

#include <algorithm>

#include <bit>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "pathways/base/logging.h"
#include "pathways/device/unbacked_region.h"

namespace pw {
namespace {

// Size class of a cached block (-1 when the block is too big to cache).
int SizeClassOf(int64_t bytes) {
  if (bytes > MemoryPool::kMaxCachedBlockBytes) return -1;
  uint64_t rounded = std::bit_ceil(static_cast<uint64_t>(bytes < 64 ? 64 : bytes));
  return std::countr_zero(rounded) - 6;  // 64 B is class 0
}

int64_t ClassBytes(int size_class) { return int64_t{64} << size_class; }

int64_t BlockBytes(int64_t bytes) {
  int size_class = SizeClassOf(bytes);
  if (size_class >= 0) return ClassBytes(size_class);
  return (bytes + MemoryPool::kAlignment - 1) / MemoryPool::kAlignment * MemoryPool::kAlignment;
}

std::string HumanBytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30)) return absl::StrFormat("%.2f GiB", bytes / 1073741824.0);
  if (bytes >= (int64_t{1} << 20)) return absl::StrFormat("%.2f MiB", bytes / 1048576.0);
  if (bytes >= (int64_t{1} << 10)) return absl::StrFormat("%.2f KiB", bytes / 1024.0);
  return absl::StrCat(bytes, " B");
}

}  // namespace

MemoryPool::MemoryPool(MemoryPoolOptions options) : options_(std::move(options)) {}

MemoryPool::~MemoryPool() {
  PW_CHECK(num_allocations() == 0)
      << DebugString() << " destroyed while " << num_allocations()
      << " buffers are still alive; buffers must not outlive their device";
  TrimCache();
}

absl::StatusOr<DeviceAllocation> MemoryPool::Allocate(int64_t bytes) {
  if (bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("negative allocation size ", bytes, " requested from ", options_.name));
  }
  // Reserve capacity first so concurrent allocations can never overshoot it together.
  int64_t in_use = bytes_in_use_.load(std::memory_order_relaxed);
  do {
    if (bytes > options_.capacity_bytes - in_use) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "out of memory on ", options_.name, ": cannot allocate ", bytes, " bytes (",
          HumanBytes(bytes), "); ", in_use, " bytes (", HumanBytes(in_use), ") in use of ",
          options_.capacity_bytes, " bytes (", HumanBytes(options_.capacity_bytes),
          ") capacity in ", num_allocations(), " allocations"));
    }
  } while (!bytes_in_use_.compare_exchange_weak(in_use, in_use + bytes,
                                                std::memory_order_relaxed));
  int64_t now = in_use + bytes;
  int64_t peak = peak_bytes_in_use_.load(std::memory_order_relaxed);
  while (now > peak &&
         !peak_bytes_in_use_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }

  void* data = nullptr;
  if (!options_.host_backed) {
    absl::StatusOr<void*> region = UnbackedRegion::Get(bytes);
    if (!region.ok()) {
      bytes_in_use_.fetch_sub(bytes, std::memory_order_relaxed);
      return absl::ResourceExhaustedError(
          absl::StrCat(region.status().message(), " (", options_.name, ")"));
    }
    num_allocations_.fetch_add(1, std::memory_order_relaxed);
    return DeviceAllocation(this, *region, bytes);
  }
  int size_class = SizeClassOf(bytes);
  if (size_class >= 0) {
    SizeClass& sc = classes_[size_class];
    absl::MutexLock lock(&sc.mu);
    if (!sc.free.empty()) {
      data = sc.free.back();
      sc.free.pop_back();
      cached_bytes_.fetch_sub(ClassBytes(size_class), std::memory_order_relaxed);
    }
  }
  if (data == nullptr) data = std::aligned_alloc(kAlignment, BlockBytes(bytes));
  if (data == nullptr) {
    bytes_in_use_.fetch_sub(bytes, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat("host allocation of ", BlockBytes(bytes),
                                                     " bytes failed for ", options_.name));
  }
  num_allocations_.fetch_add(1, std::memory_order_relaxed);
  return DeviceAllocation(this, data, bytes);
}

absl::StatusOr<DeviceAllocation> MemoryPool::Allocate(int64_t bytes, absl::Duration wait) {
  absl::StatusOr<DeviceAllocation> first = Allocate(bytes);
  if (first.ok() || wait <= absl::ZeroDuration() || !absl::IsResourceExhausted(first.status()) ||
      bytes > options_.capacity_bytes) {
    return first;
  }
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + wait;
  absl::MutexLock lock(&wait_mu_);
  const int64_t ticket = next_ticket_++;
  waiting_.push_back(ticket);
  waiters_.fetch_add(1);
  absl::StatusOr<DeviceAllocation> result = std::move(first);
  while (true) {
    if (waiting_.front() == ticket) {
      result = Allocate(bytes);
      if (result.ok() || !absl::IsResourceExhausted(result.status())) break;
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) break;
    // Woken by every release; the short bound covers a release racing the check above.
    freed_.WaitWithTimeout(&wait_mu_, std::min(deadline - now, absl::Milliseconds(10)));
  }
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), ticket));
  waiters_.fetch_sub(1);
  freed_.SignalAll();  // the next in line may go
  if (!result.ok() && absl::IsResourceExhausted(result.status())) {
    return absl::ResourceExhaustedError(absl::StrCat(
        result.status().message(), " (after waiting ", absl::FormatDuration(absl::Now() - start),
        " for buffers to be released)"));
  }
  return result;
}

void MemoryPool::Release(void* data, int64_t bytes) {
  bytes_in_use_.fetch_sub(bytes);
  num_allocations_.fetch_sub(1, std::memory_order_relaxed);
  if (waiters_.load() > 0) {
    absl::MutexLock lock(&wait_mu_);
    freed_.SignalAll();
  }
  if (!options_.host_backed) return;  // the region is shared and stays
  int size_class = SizeClassOf(bytes);
  if (size_class >= 0) {
    int64_t block = ClassBytes(size_class);
    if (cached_bytes_.fetch_add(block, std::memory_order_relaxed) + block <=
        options_.max_cached_bytes) {
      SizeClass& sc = classes_[size_class];
      absl::MutexLock lock(&sc.mu);
      sc.free.push_back(data);
      return;
    }
    cached_bytes_.fetch_sub(block, std::memory_order_relaxed);
  }
  std::free(data);
}

void MemoryPool::TrimCache() {
  for (int i = 0; i < kNumSizeClasses; ++i) {
    std::vector<void*> blocks;
    {
      absl::MutexLock lock(&classes_[i].mu);
      blocks.swap(classes_[i].free);
    }
    cached_bytes_.fetch_sub(ClassBytes(i) * static_cast<int64_t>(blocks.size()),
                            std::memory_order_relaxed);
    for (void* b : blocks) std::free(b);
  }
}

std::string MemoryPool::DebugString() const {
  return absl::StrCat("MemoryPool(", options_.name, ": ", bytes_in_use(), " of ", capacity(),
                      " bytes in use, peak ", peak_bytes_in_use(), ", ", num_allocations(),
                      " allocations, ", cached_bytes(), " bytes cached)");
}

}  // namespace pw
