// CpuDevice implementation: a batch-draining stream thread that polls briefly before sleeping.
#include "pathways/device/cpu/cpu_device.h"

#include <omp.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/spin_wait.h"
#include "pathways/base/status.h"
#include "pathways/base/thread_name.h"

namespace pw {

struct CpuDevice::Waker {
  enum State : uint32_t { kAwake = 0, kSleepingForWork = 1, kSleepingForEvent = 2 };
  // Bumped by every wake-up; the stream thread sleeps on it with std::atomic::wait (a futex).
  std::atomic<uint32_t> signal{0};
  std::atomic<uint32_t> state{kAwake};

  void Wake() {
    signal.fetch_add(1, std::memory_order_seq_cst);
    signal.notify_one();
  }
  // Sleeps unless `ready()` turns true after announcing the sleep. The announce-then-recheck
  // order pairs with producers' publish-then-check-state order (both seq_cst), so a wake-up
  // is never lost.
  template <typename Ready>
  void Sleep(State why, Ready ready) {
    uint32_t seen = signal.load(std::memory_order_seq_cst);
    state.store(why, std::memory_order_seq_cst);
    if (!ready()) signal.wait(seen, std::memory_order_seq_cst);
    state.store(kAwake, std::memory_order_relaxed);
  }
};

CpuDevice::CpuDevice(CpuDeviceOptions options)
    : options_(std::move(options)),
      name_(absl::StrCat(options_.id.DebugString(), " (cpu)")),
      memory_(MemoryPoolOptions{.name = name_, .capacity_bytes = options_.memory_capacity_bytes}),
      waker_(std::make_shared<Waker>()) {
  if (options_.trace != nullptr) {
    options_.trace->NameThread(options_.host.value(), options_.id.value(),
                               absl::StrCat("device ", options_.id.value(), " (cpu)"));
  }
  thread_ = std::thread([this] { Loop(); });
}

CpuDevice::~CpuDevice() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  shutting_down_.store(true, std::memory_order_seq_cst);
  waker_->Wake();
  thread_.join();
}

std::string CpuDevice::DebugString() const {
  return absl::StrCat("CpuDevice(", name_, " on ", options_.host.DebugString(), ", ",
                      queued_.load(std::memory_order_relaxed), " queued, ", completed(),
                      " completed, busy ", busy_nanos() / 1000, " us, ", memory_.DebugString(),
                      ")");
}

EventRef CpuDevice::Enqueue(StreamWork work) {
  EventRef done = AsyncEvent::Create();
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) {
      done->SetError(DeviceDestroyedError(name_, work.name));
      return done;
    }
    queue_.push_back(Item{std::move(work), done, ItemKind::kWork});
    queued_.fetch_add(1, std::memory_order_seq_cst);
  }
  // Only a thread that is asleep waiting for work pays for a wake-up; a polling one sees
  // queued_ change, and one sleeping on an event will find the item when that event fires.
  if (waker_->state.load(std::memory_order_seq_cst) == Waker::kSleepingForWork) waker_->Wake();
  return done;
}

absl::Status CpuDevice::Synchronize() {
  EventRef done = AsyncEvent::Create();
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) {
      return absl::AbortedError(absl::StrCat("Synchronize on ", name_, " while it is destroyed"));
    }
    queue_.push_back(Item{StreamWork{.name = "synchronize"}, done, ItemKind::kMarker});
    queued_.fetch_add(1, std::memory_order_seq_cst);
  }
  if (waker_->state.load(std::memory_order_seq_cst) == Waker::kSleepingForWork) waker_->Wake();
  done->Await();
  return absl::OkStatus();
}

bool CpuDevice::TakeBatch(std::vector<Item>& batch) {
  auto has_work = [this] {
    return queued_.load(std::memory_order_seq_cst) > 0 ||
           shutting_down_.load(std::memory_order_seq_cst);
  };
  while (true) {
    if (SpinUntil(options_.idle_spin_nanos, has_work)) {
      absl::MutexLock lock(&mu_);
      if (!queue_.empty()) {
        batch.swap(queue_);  // keeps both vectors' capacity: no allocation once warm
        queued_.store(0, std::memory_order_relaxed);
        return true;
      }
      if (shutdown_) return false;
      continue;
    }
    waker_->Sleep(Waker::kSleepingForWork, has_work);
  }
}

bool CpuDevice::WaitForEvent(const EventRef& event) {
  auto done = [&] {
    return event->IsAvailable() || shutting_down_.load(std::memory_order_seq_cst);
  };
  if (!SpinUntil(options_.idle_spin_nanos, done)) {
    // The callback holds the waker, not the device: the event may outlive the device.
    event->AndThen([waker = waker_](const absl::Status&) { waker->Wake(); });
    while (!done()) waker_->Sleep(Waker::kSleepingForEvent, done);
  }
  return event->IsAvailable();
}

void CpuDevice::RunItem(Item& item) {
  absl::Status status;
  bool runnable = true;
  for (const EventRef& e : item.work.wait_for) {
    if (!e->IsAvailable() && !WaitForEvent(e)) {
      status = DeviceDestroyedError(name_, item.work.name);
      runnable = false;
      break;
    }
    if (e->IsError()) {
      status = e->status();
      runnable = false;
      break;
    }
  }
  if (runnable && item.work.fn) {
    TraceScope scope(item.kind == ItemKind::kWork ? options_.trace : nullptr, item.work.name,
                     "execute", options_.host.value(), options_.id.value());
    const int64_t start = MonotonicNanos();
    status = item.work.fn();
    const int64_t busy = MonotonicNanos() - start;
    busy_nanos_.fetch_add(busy, std::memory_order_relaxed);
    if (item.work.busy_nanos_sink != nullptr) {
      item.work.busy_nanos_sink->fetch_add(busy, std::memory_order_relaxed);
    }
  }
  // Drop the closure and the waited events here, on the stream thread, before completion is
  // visible: whoever awaits the event may then rely on the captures being released.
  item.work = StreamWork{};
  if (item.kind == ItemKind::kWork) completed_.fetch_add(1, std::memory_order_relaxed);
  EventRef done = std::move(item.done);
  done->SetStatus(std::move(status));
}

void CpuDevice::Loop() {
  SetCurrentThreadName(absl::StrCat("pw-dev-", options_.id.value()));
  omp_set_num_threads(options_.intra_op_threads < 1 ? 1 : options_.intra_op_threads);
  std::vector<Item> batch;
  while (TakeBatch(batch)) {
    for (Item& item : batch) RunItem(item);
    batch.clear();
  }
}

}  // namespace pw
