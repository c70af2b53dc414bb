// SimDevice: a simulated accelerator. Same stream contract as CpuDevice, but a kernel (a stream
// item with a WorkCost) takes the time a performance model gives it, waited for on a timer rather
// than computed, so one machine can drive thousands of devices through the real runtime.
//
// Threads: the stream is a chain of tasks on an EventLoop, one item at a time in enqueue order,
// never a blocked thread: an item whose inputs are not set waits for their callbacks, a kernel
// waits for a timer at its modelled end. Many devices may share one loop (SimDeviceOptions::loop),
// so 2,048 devices cost a few threads; without one, the device makes a loop of its own (one
// thread). Completions (the done events' callbacks) run on the loop's threads.
#ifndef PATHWAYS_DEVICE_SIM_SIM_DEVICE_H_
#define PATHWAYS_DEVICE_SIM_SIM_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pathways/base/async_value.h"
#include "pathways/base/clock.h"
#include "pathways/base/event_loop.h"
#include "pathways/base/ids.h"
#include "pathways/base/trace.h"
#include "pathways/device/device.h"
#include "pathways/device/memory_pool.h"
#include "pathways/device/sim/interconnect_model.h"
#include "pathways/kernels/work_cost.h"

namespace pw {

// Turns a WorkCost into time: a roofline (compute or memory bound, whichever is slower), plus
// its collectives costed by the interconnect model (inside an island: its ICI figures), plus a
// fixed launch overhead. Defaults are of the order of one TPU v4 chip (Cloud TPU v4 docs: 275
// TFLOP/s bf16, 1.2 TB/s HBM).
struct SimPerformanceModel {
  double peak_flops_per_second = 275e12;
  double memory_bytes_per_second = 1.2e12;
  InterconnectModel interconnect = InterconnectModel::TpuV4Class();
  int64_t launch_overhead_nanos = 2'000;
  // When > 0, every kernel takes exactly this long whatever its cost (a benchmark's "every
  // stage takes 100 us").
  int64_t kernel_nanos = 0;

  int64_t KernelNanos(const WorkCost& cost) const;
};

struct SimDeviceOptions {
  DeviceId id;
  HostId host;
  int64_t memory_capacity_bytes = int64_t{1} << 30;
  // As CpuDeviceOptions::trace: every finished item becomes an "execute" event, with the
  // modelled start and duration for kernels.
  TraceRecorder* trace = nullptr;
  SimPerformanceModel model;
  // true: a kernel's fn runs for real (values are right), then the stream is held until the
  // modelled end. false: a kernel's fn is skipped, so no CPU is burned (its outputs hold
  // whatever their buffers held: timing studies only). Items without a cost always run.
  // With false the device's memory is accounted but not backed (MemoryPoolOptions::
  // host_backed): every buffer aliases one shared stand-in region, so runtime copies into it
  // may be skipped, and the capacity may exceed the host's RAM.
  bool execute = true;
  // Keep the timeline of the last `timeline_capacity` items (timeline()); 0 keeps none.
  int64_t timeline_capacity = 0;
  // The loop the stream's tasks run on; not owned, must outlive the device. Null: the device
  // makes its own one-thread loop. Share one only when kernels do not block (execute = false,
  // or kernels without collectives): a kernel's fn runs on a loop thread, and one blocked in a
  // collective waiting for a device whose tasks need that thread never returns.
  EventLoop* loop = nullptr;
};

class SimDevice final : public Device {
 public:
  // One finished stream item, in the device's own clock (MonotonicNanos).
  struct ItemTiming {
    std::string name;
    bool kernel = false;  // had a cost
    bool ran = false;     // fn was called
    int64_t start_nanos = 0;  // modelled start: max(ready, end of the previous item), where
                              // ready is when the item was enqueued or its last input was set
                              // (at that setter's SimNowNanos())
    int64_t end_nanos = 0;    // start + max(modelled time, fn's real duration)
    int64_t done_nanos = 0;   // when the stream thread actually completed the event
  };

  explicit SimDevice(SimDeviceOptions options);
  // As CpuDevice: runs what can run, fails the rest ABORTED ("device destroyed"), and returns
  // once none of its tasks is pending or running. A kernel's remaining modelled time is cut short.
  ~SimDevice() override;

  DeviceId id() const override { return options_.id; }
  std::string_view kind() const override { return "sim"; }
  HostId host() const override { return options_.host; }
  std::string DebugString() const override;
  MemoryPool& memory() override { return memory_; }

  EventRef Enqueue(StreamWork work) override;
  absl::Status Synchronize() override;
  // Modelled busy time: kernels count their modelled duration, other items their real one.
  int64_t busy_nanos() const override { return busy_nanos_.load(std::memory_order_relaxed); }
  int64_t completed() const override { return completed_.load(std::memory_order_relaxed); }

  const SimDeviceOptions& options() const { return options_; }
  // Kernels whose fn was skipped (execute = false).
  int64_t skipped_kernels() const { return skipped_.load(std::memory_order_relaxed); }
  // How late kernels completed after their modelled end (the loop's timer firing late, or its
  // threads busy): sum, count and maximum. The simulation's error per kernel on this machine.
  int64_t wake_slack_total_nanos() const { return slack_total_.load(std::memory_order_relaxed); }
  int64_t wake_slack_count() const { return slack_count_.load(std::memory_order_relaxed); }
  int64_t wake_slack_max_nanos() const { return slack_max_.load(std::memory_order_relaxed); }
  // The last timeline_capacity items, oldest first.
  std::vector<ItemTiming> timeline() const;

 private:
  enum class ItemKind : uint8_t { kWork, kMarker };
  // When an item's inputs were set, recorded by callbacks registered at Enqueue (so a stream
  // that gets to the item late still knows when it could have started). Guarded by Shared::mu.
  struct Inputs {
    std::vector<int64_t> set_at;  // per input: its set time (the setter's SimNowNanos()), or -1
  };
  struct Item {
    StreamWork work;
    EventRef done;
    ItemKind kind = ItemKind::kWork;
    int64_t enqueued_nanos = 0;
    std::shared_ptr<Inputs> inputs;
    // Filled when the item starts.
    absl::Status status;
    bool ran = false;
    bool counted = false;  // its fn was (or would have been) called: busy time and a trace event
    int64_t start = 0;
    int64_t end = 0;
  };
  // Queue, flags and the item under a timer; shared with callbacks that may outlive the device.
  struct Shared;

  // The stream's task: starts items in order until one waits (for an input or its modelled
  // end), the queue is empty, or a batch is done (then it re-posts itself).
  void Step();
  // Runs on the loop when a kernel's modelled end comes; `generation` tells a stale timer.
  void OnTimer(uint64_t generation);
  // Posts a Step, counted in Shared::tasks (Shared::mu held); TaskDone uncounts it at its end.
  void PostStepLocked();
  void TaskDone();
  // Computes the item's modelled start and end and runs its fn when it should run.
  void StartItem(Item& item, int64_t ready_at, bool runnable);
  void FinishItem(Item& item);

  const SimDeviceOptions options_;
  const std::string name_;
  MemoryPool memory_;
  std::unique_ptr<EventLoop> own_loop_;  // when options_.loop is null
  EventLoop* const loop_;
  std::shared_ptr<Shared> shared_;
  // Only the stream's running task touches it: the modelled end of the previous item.
  int64_t stream_free_at_ = 0;

  std::atomic<int64_t> busy_nanos_{0};
  std::atomic<int64_t> completed_{0};
  std::atomic<int64_t> skipped_{0};
  std::atomic<int64_t> slack_total_{0};
  std::atomic<int64_t> slack_count_{0};
  std::atomic<int64_t> slack_max_{0};
};

}  // namespace pw

#endif  // PATHWAYS_DEVICE_SIM_SIM_DEVICE_H_
