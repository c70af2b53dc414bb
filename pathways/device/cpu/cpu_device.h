// CpuDevice: a Device whose stream is served by one dedicated host thread (one modelled core).
#ifndef PATHWAYS_DEVICE_CPU_CPU_DEVICE_H_
#define PATHWAYS_DEVICE_CPU_CPU_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/base/trace.h"
#include "pathways/device/device.h"
#include "pathways/device/memory_pool.h"

namespace pw {

struct CpuDeviceOptions {
  DeviceId id;
  HostId host;
  int64_t memory_capacity_bytes = int64_t{1} << 30;
  // When non-null and enabled, every executed item is recorded as an "execute" event on lane
  // (pid = host, tid = device). Must outlive the device.
  TraceRecorder* trace = nullptr;
  // OpenMP threads the stream thread may use inside one kernel (oneDNN uses OpenMP).
  int intra_op_threads = 1;
  // How long the idle stream thread polls for new work (or a waited-on event) before sleeping.
  // Waking a sleeping thread costs tens of microseconds; polling briefly keeps back-to-back
  // work on the fast path without burning a core when the device is really idle.
  int64_t idle_spin_nanos = 50'000;
};

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(CpuDeviceOptions options);
  // Runs every queued item whose waits are satisfied, fails the others with ABORTED
  // ("device destroyed"), and joins the stream thread. Never hangs on unfinished events.
  ~CpuDevice() override;

  DeviceId id() const override { return options_.id; }
  std::string_view kind() const override { return "cpu"; }
  HostId host() const override { return options_.host; }
  std::string DebugString() const override;
  MemoryPool& memory() override { return memory_; }

  EventRef Enqueue(StreamWork work) override;
  absl::Status Synchronize() override;
  int64_t busy_nanos() const override { return busy_nanos_.load(std::memory_order_relaxed); }
  int64_t completed() const override { return completed_.load(std::memory_order_relaxed); }

 private:
  // Markers are internal (Synchronize): not counted in completed(), not traced.
  enum class ItemKind : uint8_t { kWork, kMarker };
  struct Item {
    StreamWork work;
    EventRef done;
    ItemKind kind = ItemKind::kWork;
  };
  // The stream thread's sleep/wake word; shared with event callbacks, which may fire after the
  // device is gone.
  struct Waker;

  void Loop();
  // Moves queued items into `batch` (empty on entry). Polls, then sleeps, until there is work.
  // Returns false once the device is shutting down and nothing is queued.
  bool TakeBatch(std::vector<Item>& batch);
  // Returns once `event` is available (true) or the device is shutting down (false).
  bool WaitForEvent(const EventRef& event);
  void RunItem(Item& item);

  const CpuDeviceOptions options_;
  const std::string name_;
  MemoryPool memory_;
  std::shared_ptr<Waker> waker_;

  absl::Mutex mu_;
  std::vector<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // queue_.size(), readable without the lock so the polling thread does not contend with
  // producers.
  std::atomic<int64_t> queued_{0};
  std::atomic<bool> shutting_down_{false};

  std::atomic<int64_t> busy_nanos_{0};
  std::atomic<int64_t> completed_{0};
  std::thread thread_;
};

}  // namespace pw

#endif  // PATHWAYS_DEVICE_CPU_CPU_DEVICE_H_
