// SimDevice implementation: one stream thread that sleeps (never spins) through modelled time.
#include "pathways/device/sim/sim_device.h"

#include <sys/prctl.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/base/clock.h"
#include "pathways/base/status.h"
#include "pathways/base/thread_name.h"

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
  std::deque<Item> queue ABSL_GUARDED_BY(mu);
  bool shutdown ABSL_GUARDED_BY(mu) = false;
  std::deque<ItemTiming> timeline ABSL_GUARDED_BY(mu);
};

SimDevice::SimDevice(SimDeviceOptions options)
    : options_(std::move(options)),
      name_(absl::StrCat(options_.id.DebugString(), " (sim)")),
      // Timing mode computes no values: memory is accounted, not backed.
      memory_(MemoryPoolOptions{.name = name_, .capacity_bytes = options_.memory_capacity_bytes,
                                .host_backed = options_.execute}),
      shared_(std::make_shared<Shared>()) {
  if (options_.trace != nullptr) {
    options_.trace->NameThread(options_.host.value(), options_.id.value(),
                               absl::StrCat("device ", options_.id.value(), " (sim)"));
  }
  thread_ = std::thread([this] { Loop(); });
}

SimDevice::~SimDevice() {
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->shutdown = true;
  }
  thread_.join();
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
  // when the stream thread gets to the item: under load that thread may come late.
  for (size_t i = 0; i < work.wait_for.size(); ++i) {
    work.wait_for[i]->AndThen([shared = shared_, inputs, i](const absl::Status&) {
      const int64_t now = SimNowNanos();
      absl::MutexLock lock(&shared->mu);
      inputs->set_at[i] = now;
    });
  }
  absl::MutexLock lock(&shared_->mu);
  if (shared_->shutdown) {
    done->SetError(DeviceDestroyedError(name_, work.name));
    return done;
  }
  shared_->queue.push_back(
      Item{std::move(work), done, ItemKind::kWork, enqueued, std::move(inputs)});
  return done;
}

absl::Status SimDevice::Synchronize() {
  EventRef done = AsyncEvent::Create();
  {
    absl::MutexLock lock(&shared_->mu);
    if (shared_->shutdown) {
      return absl::AbortedError(absl::StrCat("Synchronize on ", name_, " while it is destroyed"));
    }
    shared_->queue.push_back(
        Item{StreamWork{.name = "synchronize"}, done, ItemKind::kMarker, MonotonicNanos()});
  }
  done->Await();
  return absl::OkStatus();
}

std::vector<SimDevice::ItemTiming> SimDevice::timeline() const {
  absl::MutexLock lock(&shared_->mu);
  return std::vector<ItemTiming>(shared_->timeline.begin(), shared_->timeline.end());
}

bool SimDevice::WaitForInput(const Item& item, size_t i, int64_t& ready_at) {
  struct Arg {
    Shared* shared;
    const int64_t* set_at;
  } arg{shared_.get(), &item.inputs->set_at[i]};
  absl::MutexLock lock(&shared_->mu);
  shared_->mu.Await(absl::Condition(
      +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS { return *a->set_at >= 0 || a->shared->shutdown; },
      &arg));
  if (*arg.set_at < 0) return false;  // shutting down
  ready_at = std::max(ready_at, *arg.set_at);
  return true;
}

void SimDevice::SleepUntil(int64_t deadline) {
  absl::MutexLock lock(&shared_->mu);
  int64_t now = MonotonicNanos();
  if (now >= deadline) return;  // already late: no wake-up to measure
  while (!shared_->shutdown && now < deadline) {
    shared_->mu.AwaitWithTimeout(absl::Condition(&shared_->shutdown),
                                 absl::Nanoseconds(deadline - now));
    now = MonotonicNanos();
  }
  if (shared_->shutdown) return;
  const int64_t slack = now - deadline;
  slack_total_.fetch_add(slack, std::memory_order_relaxed);
  slack_count_.fetch_add(1, std::memory_order_relaxed);
  if (slack > slack_max_.load(std::memory_order_relaxed)) {
    slack_max_.store(slack, std::memory_order_relaxed);  // stream thread is the only writer
  }
}

void SimDevice::RunItem(Item& item) {
  absl::Status status;
  bool runnable = true;
  // When the item could have started: enqueued, and every input set (each input's modelled
  // set time, recorded when it was set).
  int64_t ready_at = item.enqueued_nanos;
  for (size_t i = 0; i < item.work.wait_for.size(); ++i) {
    const EventRef& e = item.work.wait_for[i];
    if (!WaitForInput(item, i, ready_at)) {
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
  // The modelled start: when the item was ready and the previous item had finished. Using
  // modelled instants (not when this thread woke up) keeps wake-up slack from accumulating.
  const int64_t start = std::max(stream_free_at_, ready_at);
  int64_t end = start;
  const bool kernel = item.work.cost.has_value();
  bool ran = false;
  const bool has_fn = static_cast<bool>(item.work.fn);
  if (runnable && has_fn) {
    if (!kernel || options_.execute) {
      const int64_t real_start = MonotonicNanos();
      status = item.work.fn();
      const int64_t real_end = MonotonicNanos();
      ran = true;
      end = start + (real_end - real_start);
    } else {
      skipped_.fetch_add(1, std::memory_order_relaxed);
    }
    if (kernel) {
      end = std::max(end, start + options_.model.KernelNanos(*item.work.cost));
      SleepUntil(end);
    }
    busy_nanos_.fetch_add(end - start, std::memory_order_relaxed);
    if (item.work.busy_nanos_sink != nullptr) {
      item.work.busy_nanos_sink->fetch_add(end - start, std::memory_order_relaxed);
    }
    stream_free_at_ = end;
  }
  const std::string name = item.kind == ItemKind::kWork && (options_.timeline_capacity > 0 ||
                                                            options_.trace != nullptr)
                               ? item.work.name
                               : std::string();
  // Drop the closure and the waited events before completion is visible (as CpuDevice).
  item.work = StreamWork{};
  if (item.kind == ItemKind::kWork) {
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (runnable && has_fn && options_.trace != nullptr && options_.trace->enabled()) {
      options_.trace->Record(TraceEvent{.name = name, .category = "execute",
                                        .pid = options_.host.value(), .tid = options_.id.value(),
                                        .start_ns = start, .dur_ns = end - start});
    }
    if (options_.timeline_capacity > 0) {
      absl::MutexLock lock(&shared_->mu);
      shared_->timeline.push_back(ItemTiming{.name = name, .kernel = kernel, .ran = ran,
                                             .start_nanos = start, .end_nanos = end,
                                             .done_nanos = MonotonicNanos()});
      while (static_cast<int64_t>(shared_->timeline.size()) > options_.timeline_capacity) {
        shared_->timeline.pop_front();
      }
    }
  }
  EventRef done = std::move(item.done);
  // Callbacks (the executor's next steps, pushes, reports) see the modelled end as "now".
  ScopedSimTime modelled(end);
  done->SetStatus(std::move(status));
}

void SimDevice::Loop() {
  SetCurrentThreadName(absl::StrCat("pw-sim-", options_.id.value()));
  // Timed waits of this thread expire on time, not up to the default 50 us late.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  while (true) {
    Item item;
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->mu.Await(absl::Condition(
          +[](Shared* s) ABSL_NO_THREAD_SAFETY_ANALYSIS { return !s->queue.empty() || s->shutdown; },
          shared_.get()));
      if (shared_->queue.empty()) return;  // shutting down, drained
      item = std::move(shared_->queue.front());
      shared_->queue.pop_front();
    }
    RunItem(item);
  }
}

}  // namespace pw
