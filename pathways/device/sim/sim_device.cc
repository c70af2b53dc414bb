// SimDevice implementation: the stream is a chain of tasks on an EventLoop; kernels wait on the
// loop's timers (never spin, never block a thread).
#include "pathways/device/sim/sim_device.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/base/clock.h"
#include "pathways/base/status.h"

namespace pw {
namespace {

int64_t SecondsToNanos(double seconds) {
  return seconds <= 0 ? 0 : static_cast<int64_t>(std::ceil(seconds * 1e9));
}

}  // namespace

int64_t SimPerformanceModel::KernelNanos(const WorkCost& cost) const {
  if (kernel_nanos > 0) return kernel_nanos;
  const double compute = peak_flops_per_second > 0 ? cost.flops / peak_flops_per_second : 0.0;
  const double memory =
      memory_bytes_per_second > 0 ? cost.bytes_accessed / memory_bytes_per_second : 0.0;
  // A cost built by hand may give only the ring bytes: those cross one ICI link.
  const int64_t network =
      cost.collectives.empty()
          ? SecondsToNanos(interconnect.ici.OccupancyNanos(cost.collective_bytes) / 1e9)
          : interconnect.CollectivesNanos(cost);
  return std::max<int64_t>(0, launch_overhead_nanos) + SecondsToNanos(std::max(compute, memory)) +
         network;
}

struct SimDevice::Shared {
  absl::Mutex mu;
  // Items not started yet; the head may be waiting for its inputs.
  std::deque<Item> queue ABSL_GUARDED_BY(mu);
  bool shutdown ABSL_GUARDED_BY(mu) = false;
  // The stream's chain is live: a Step is posted or running, the head waits for an input, or a
  // kernel waits for its timer. Enqueue posts a Step only when it is not.
  bool active ABSL_GUARDED_BY(mu) = false;
  // The head waits for an input of these: the input's callback posts the next Step.
  const Inputs* blocked_on ABSL_GUARDED_BY(mu) = nullptr;
  // The kernel waiting for its modelled end, and the generation of its timer (bumped when the
  // device goes, so the timer finds itself stale).
  std::optional<Item> timed ABSL_GUARDED_BY(mu);
  uint64_t timer_generation ABSL_GUARDED_BY(mu) = 0;
  std::deque<ItemTiming> timeline ABSL_GUARDED_BY(mu);
  // Tasks posted that will touch the device (a Step, an OnTimer), or a timer that found its
  // generation current and is about to: the destructor waits for none.
  int64_t tasks ABSL_GUARDED_BY(mu) = 0;
  SimDevice* device = nullptr;  // valid while blocked_on or timed is set, or tasks > 0
};

SimDevice::SimDevice(SimDeviceOptions options)
    : options_(std::move(options)),
      name_(absl::StrCat(options_.id.DebugString(), " (sim)")),
      // Timing mode computes no values: memory is accounted, not backed.
      memory_(MemoryPoolOptions{.name = name_, .capacity_bytes = options_.memory_capacity_bytes,
                                .host_backed = options_.execute}),
      own_loop_(options_.loop == nullptr
                    ? std::make_unique<EventLoop>(EventLoopOptions{
                          .name = absl::StrCat("pw-sim-", options_.id.value())})
                    : nullptr),
      loop_(options_.loop != nullptr ? options_.loop : own_loop_.get()),
      shared_(std::make_shared<Shared>()) {
  shared_->device = this;
  if (options_.trace != nullptr) {
    options_.trace->NameThread(options_.host.value(), options_.id.value(),
                               absl::StrCat("device ", options_.id.value(), " (sim)"));
  }
}

SimDevice::~SimDevice() {
  absl::MutexLock lock(&shared_->mu);
  shared_->shutdown = true;
  // Cut the wait short: a waiting head fails (or runs, if its inputs are set), a kernel under
  // its timer completes now. Its stale timer, if it ever fires, finds a new generation.
  if (shared_->blocked_on != nullptr) {
    shared_->blocked_on = nullptr;
    PostStepLocked();
  }
  if (shared_->timed.has_value()) {
    const uint64_t generation = ++shared_->timer_generation;
    ++shared_->tasks;
    loop_->Post([this, generation] {
      OnTimer(generation);
      TaskDone();
    });
  }
  shared_->mu.Await(absl::Condition(
      +[](Shared* s) ABSL_NO_THREAD_SAFETY_ANALYSIS { return !s->active && s->tasks == 0; },
      shared_.get()));
}

std::string SimDevice::DebugString() const {
  int64_t queued = 0;
  {
    absl::MutexLock lock(&shared_->mu);
    queued = static_cast<int64_t>(shared_->queue.size());
  }
  return absl::StrCat("SimDevice(", name_, " on ", options_.host.DebugString(), ", ", queued,
                      " queued, ", completed(), " completed, busy ", busy_nanos() / 1000,
                      " us (modelled), ", options_.execute ? "executing" : "not executing",
                      " kernels, ", memory_.DebugString(), ")");
}

EventRef SimDevice::Enqueue(StreamWork work) {
  EventRef done = AsyncEvent::Create();
  const int64_t enqueued = SimNowNanos();
  auto inputs = std::make_shared<Inputs>();
  inputs->set_at.assign(work.wait_for.size(), -1);
  // Each input's set time is taken when it is set (an input already set counts from now), not
  // when the stream gets to the item: under load that may be late. When the stream waits for
  // this item's inputs, the callback continues it.
  for (size_t i = 0; i < work.wait_for.size(); ++i) {
    work.wait_for[i]->AndThen([shared = shared_, inputs, i](const absl::Status&) {
      const int64_t now = SimNowNanos();
      absl::MutexLock lock(&shared->mu);
      inputs->set_at[i] = now;
      if (shared->blocked_on == inputs.get()) {
        shared->blocked_on = nullptr;
        shared->device->PostStepLocked();
      }
    });
  }
  absl::MutexLock lock(&shared_->mu);
  if (shared_->shutdown) {
    done->SetError(DeviceDestroyedError(name_, work.name));
    return done;
  }
  shared_->queue.push_back(
      Item{.work = std::move(work), .done = done, .enqueued_nanos = enqueued,
           .inputs = std::move(inputs)});
  if (!shared_->active) {
    shared_->active = true;
    PostStepLocked();
  }
  return done;
}

void SimDevice::PostStepLocked() {
  ++shared_->tasks;
  loop_->Post([this] {
    Step();
    TaskDone();
  });
}

void SimDevice::TaskDone() {
  // Holds Shared (and its mutex) past the unlock: the destructor may return, and the device go,
  // as soon as the count reaches zero.
  const std::shared_ptr<Shared> shared = shared_;
  absl::MutexLock lock(&shared->mu);
  --shared->tasks;
}

absl::Status SimDevice::Synchronize() {
  EventRef done = AsyncEvent::Create();
  {
    absl::MutexLock lock(&shared_->mu);
    if (shared_->shutdown) {
      return absl::AbortedError(absl::StrCat("Synchronize on ", name_, " while it is destroyed"));
    }
    shared_->queue.push_back(Item{.work = StreamWork{.name = "synchronize"}, .done = done,
                                  .kind = ItemKind::kMarker, .enqueued_nanos = MonotonicNanos(),
                                  .inputs = std::make_shared<Inputs>()});
    if (!shared_->active) {
      shared_->active = true;
      PostStepLocked();
    }
  }
  done->Await();
  return absl::OkStatus();
}

std::vector<SimDevice::ItemTiming> SimDevice::timeline() const {
  absl::MutexLock lock(&shared_->mu);
  return std::vector<ItemTiming>(shared_->timeline.begin(), shared_->timeline.end());
}

void SimDevice::Step() {
  // Items per task before yielding the thread to other devices' tasks.
  constexpr int kBatch = 64;
  for (int n = 0; n < kBatch; ++n) {
    Item item;
    int64_t ready_at = 0;
    bool runnable = true;
    {
      absl::MutexLock lock(&shared_->mu);
      if (shared_->queue.empty()) {
        shared_->active = false;
        return;
      }
      Item& head = shared_->queue.front();
      // When the item could have started: enqueued, and every input set (each input's modelled
      // set time, recorded when it was set).
      ready_at = head.enqueued_nanos;
      for (size_t i = 0; i < head.inputs->set_at.size(); ++i) {
        const int64_t set_at = head.inputs->set_at[i];
        if (set_at < 0 && !shared_->shutdown) {
          shared_->blocked_on = head.inputs.get();  // its callback posts the next Step
          return;
        }
        if (set_at < 0) {
          head.status = DeviceDestroyedError(name_, head.work.name);
          runnable = false;
          break;
        }
        ready_at = std::max(ready_at, set_at);
        // A failed input (the first in wait order): fn does not run, the item fails with its
        // status at once, whatever the later inputs do.
        if (head.work.wait_for[i]->IsError()) {
          head.status = head.work.wait_for[i]->status();
          runnable = false;
          break;
        }
      }
      item = std::move(head);
      shared_->queue.pop_front();
    }
    StartItem(item, ready_at, runnable);
    if (item.work.cost.has_value() && item.counted) {
      absl::MutexLock lock(&shared_->mu);
      if (!shared_->shutdown && item.end > MonotonicNanos()) {
        const uint64_t generation = shared_->timer_generation;
        const int64_t end = item.end;
        shared_->timed = std::move(item);
        loop_->PostAt(end, [shared = shared_, generation] {
          SimDevice* device = nullptr;
          {
            absl::MutexLock lock(&shared->mu);
            if (generation != shared->timer_generation) return;  // the device is going
            ++shared->tasks;
            device = shared->device;
          }
          device->OnTimer(generation);
          device->TaskDone();
        });
        return;
      }
    }
    FinishItem(item);
  }
  absl::MutexLock lock(&shared_->mu);
  PostStepLocked();
}

void SimDevice::OnTimer(uint64_t generation) {
  Item item;
  {
    absl::MutexLock lock(&shared_->mu);
    if (generation != shared_->timer_generation && !shared_->shutdown) return;
    if (!shared_->timed.has_value()) return;
    item = std::move(*shared_->timed);
    shared_->timed.reset();
  }
  const int64_t slack = std::max<int64_t>(0, MonotonicNanos() - item.end);
  slack_total_.fetch_add(slack, std::memory_order_relaxed);
  slack_count_.fetch_add(1, std::memory_order_relaxed);
  if (slack > slack_max_.load(std::memory_order_relaxed)) {
    slack_max_.store(slack, std::memory_order_relaxed);  // one stream task at a time writes
  }
  FinishItem(item);
  Step();
}

void SimDevice::StartItem(Item& item, int64_t ready_at, bool runnable) {
  // The modelled start: when the item was ready and the previous item had finished. Using
  // modelled instants (not when a task ran) keeps the loop's lateness from accumulating.
  item.start = std::max(stream_free_at_, ready_at);
  item.end = item.start;
  const bool kernel = item.work.cost.has_value();
  if (!runnable || !item.work.fn) return;
  item.counted = true;
  if (!kernel || options_.execute) {
    const int64_t real_start = MonotonicNanos();
    item.status = item.work.fn();
    item.end = item.start + (MonotonicNanos() - real_start);
    item.ran = true;
  } else {
    skipped_.fetch_add(1, std::memory_order_relaxed);
  }
  if (kernel) item.end = std::max(item.end, item.start + options_.model.KernelNanos(*item.work.cost));
  stream_free_at_ = item.end;
}

void SimDevice::FinishItem(Item& item) {
  const bool kernel = item.work.cost.has_value();
  if (item.counted) {
    busy_nanos_.fetch_add(item.end - item.start, std::memory_order_relaxed);
    if (item.work.busy_nanos_sink != nullptr) {
      item.work.busy_nanos_sink->fetch_add(item.end - item.start, std::memory_order_relaxed);
    }
  }
  const bool named = item.kind == ItemKind::kWork &&
                     (options_.timeline_capacity > 0 || options_.trace != nullptr);
  const std::string name = named ? std::move(item.work.name) : std::string();
  // Drop the closure and the waited events before completion is visible (as CpuDevice).
  item.work = StreamWork{};
  if (item.kind == ItemKind::kWork) {
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (item.counted && options_.trace != nullptr && options_.trace->enabled()) {
      options_.trace->Record(TraceEvent{.name = name, .category = "execute",
                                        .pid = options_.host.value(), .tid = options_.id.value(),
                                        .start_ns = item.start, .dur_ns = item.end - item.start});
    }
    if (options_.timeline_capacity > 0) {
      absl::MutexLock lock(&shared_->mu);
      shared_->timeline.push_back(ItemTiming{.name = name, .kernel = kernel, .ran = item.ran,
                                             .start_nanos = item.start, .end_nanos = item.end,
                                             .done_nanos = MonotonicNanos()});
      while (static_cast<int64_t>(shared_->timeline.size()) > options_.timeline_capacity) {
        shared_->timeline.pop_front();
      }
    }
  }
  EventRef done = std::move(item.done);
  // Callbacks (the executor's next steps, pushes, reports) see the modelled end as "now".
  ScopedSimTime modelled(item.end);
  done->SetStatus(std::move(item.status));
}

}  // namespace pw
