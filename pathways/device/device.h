// Device: the interface every backend (CPU today; a simulated accelerator and CUDA later)
// implements — identity, memory and one in-order stream of work.
#ifndef PATHWAYS_DEVICE_DEVICE_H_
#define PATHWAYS_DEVICE_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/device/device_buffer.h"
#include "pathways/device/memory_pool.h"
#include "pathways/kernels/work_cost.h"

namespace pw {

// One item of a device stream.
struct StreamWork {
  // Shown in traces and errors (e.g. "matmul.3 shard 2").
  std::string name;
  // The item starts only once all of these are available.
  std::vector<EventRef> wait_for;
  // Runs on the device's stream thread. Its status becomes the item's event status. Dropped
  // (destroyed) on the stream thread once the item is finished, run or not.
  absl::AnyInvocable<absl::Status()> fn;
  // The modelled cost of `fn` when it is a kernel (a compiled function); absent for runtime work
  // (copies, transfers, markers). CpuDevice ignores it; SimDevice turns it into time.
  std::optional<WorkCost> cost;
  // When set, the time the item held the device (what busy_nanos() grows by for it: modelled
  // on a simulated device) is added here before its event completes. Must outlive the item.
  // The host executor charges a run's kernels to the run with it.
  std::atomic<int64_t>* busy_nanos_sink = nullptr;
};

// A device is owned by its host's executor and outlives every buffer allocated from it.
// All methods are thread-safe.
class Device {
 public:
  Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  virtual ~Device() = default;

  virtual DeviceId id() const = 0;
  // The backend name: "cpu", later "sim", "cuda".
  virtual std::string_view kind() const = 0;
  virtual HostId host() const = 0;
  virtual std::string DebugString() const = 0;

  // The device's memory. Allocation errors are described on MemoryPool::Allocate.
  virtual MemoryPool& memory() = 0;
  absl::StatusOr<DeviceBuffer> Allocate(int64_t bytes) { return memory().Allocate(bytes); }
  // With back-pressure: MemoryPool::Allocate(bytes, wait).
  absl::StatusOr<DeviceBuffer> Allocate(int64_t bytes, absl::Duration wait) {
    return memory().Allocate(bytes, wait);
  }

  // Appends `work` to the device's stream and returns the event of its completion, immediately.
  //
  // Contract (all backends):
  //  - Callable from any thread, concurrently. Items run one at a time on the device's stream
  //    thread, strictly in enqueue order (an in-order stream, like a CUDA stream); items enqueued
  //    by different threads are ordered by their Enqueue calls.
  //  - An item starts only after every event in `wait_for` is available; items behind it wait.
  //  - If an event in `wait_for` failed, `fn` does NOT run and the returned event fails with that
  //    event's status unchanged (the first failed one in `wait_for` order). Later items still run.
  //  - Otherwise `fn` runs; the returned event becomes ready with OK or fails with its error.
  //  - The returned event's AndThen callbacks run on the stream thread: keep them short.
  //  - On destruction, items whose events are still waited on are failed with ABORTED
  //    ("device destroyed"); work enqueued while the device is being destroyed fails the same way.
  virtual EventRef Enqueue(StreamWork work) = 0;

  // Blocks until every item enqueued before the call has finished (run or failed). Returns OK,
  // or ABORTED when the device is shutting down. Per-item errors are reported by their events.
  virtual absl::Status Synchronize() = 0;

  // Total time spent inside work functions (modelled time on a simulated device);
  // utilization = busy_nanos delta / wall time delta.
  virtual int64_t busy_nanos() const = 0;
  // Number of stream items finished (run or failed).
  virtual int64_t completed() const = 0;
};

// ABORTED: `device` was destroyed before stream item `item` could run (it waited on an
// unfinished event, or was enqueued during destruction). Every backend reports it this way.
absl::Status DeviceDestroyedError(std::string_view device, std::string_view item);

}  // namespace pw

#endif  // PATHWAYS_DEVICE_DEVICE_H_
