// SimulatedNetwork: the timer thread and the delaying decorators.
#include "pathways/cluster/simulated_network.h"

#include <sys/prctl.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/thread_name.h"

namespace pw {

absl::Status NetworkModel::Validate() const {
  if (control_latency_nanos < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "network model: control_latency_nanos must be >= 0, got ", control_latency_nanos));
  }
  return interconnect.Validate();
}

SimulatedNetwork::SimulatedNetwork() {
  thread_ = std::thread([this] { Loop(); });
}

SimulatedNetwork::~SimulatedNetwork() { Shutdown(); }

void SimulatedNetwork::Send(Link link, int64_t latency_nanos, int64_t occupancy_nanos,
                            absl::AnyInvocable<void()> deliver, absl::AnyInvocable<void()> drop) {
  {
    absl::MutexLock lock(&mu_);
    if (!shutdown_) {
      // A message sent from a modelled event (a kernel's end, a delivery) leaves at that instant.
      const int64_t now = SimNowNanos();
      LinkState& state = links_[link];
      state.busy_until = std::max(now, state.busy_until) + std::max<int64_t>(0, occupancy_nanos);
      const int64_t deadline =
          std::max(state.busy_until + std::max<int64_t>(0, latency_nanos), state.last_arrival);
      state.last_arrival = deadline;
      auto key = std::make_pair(deadline, next_seq_++);
      if (queue_.empty() || key < queue_.begin()->first) front_changed_ = true;
      queue_.emplace(key, Message{std::move(deliver), std::move(drop)});
      return;
    }
  }
  dropped_.fetch_add(1, std::memory_order_relaxed);
  if (drop) drop();
}

void SimulatedNetwork::Shutdown() {
  std::map<std::pair<int64_t, int64_t>, Message> pending;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_ && !thread_.joinable()) return;
    shutdown_ = true;
    pending.swap(queue_);
  }
  if (thread_.joinable()) thread_.join();
  for (auto& [key, message] : pending) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    if (message.drop) message.drop();
  }
}

void SimulatedNetwork::Loop() {
  SetCurrentThreadName("pw-sim-net");
  // Timed waits expire on time, not up to the default 50 us late.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  std::vector<std::pair<int64_t, Message>> due;
  absl::MutexLock lock(&mu_);
  while (true) {
    if (shutdown_) return;
    if (queue_.empty()) {
      mu_.Await(absl::Condition(
          +[](SimulatedNetwork* n) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return n->shutdown_ || !n->queue_.empty();
          },
          this));
      continue;
    }
    const int64_t now = MonotonicNanos();
    const int64_t first = queue_.begin()->first.first;
    if (first > now) {
      front_changed_ = false;
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](SimulatedNetwork* n) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                 return n->shutdown_ || n->front_changed_;
                               },
                               this),
                           absl::Nanoseconds(first - now));
      continue;
    }
    while (!queue_.empty() && queue_.begin()->first.first <= now) {
      auto node = queue_.extract(queue_.begin());
      due.emplace_back(node.key().first, std::move(node.mapped()));
    }
    mu_.Unlock();
    for (auto& [deadline, message] : due) {
      const int64_t late = MonotonicNanos() - deadline;
      late_total_.fetch_add(late, std::memory_order_relaxed);
      if (late > late_max_.load(std::memory_order_relaxed)) {
        late_max_.store(late, std::memory_order_relaxed);  // this thread is the only writer
      }
      {
        ScopedSimTime modelled(deadline);  // what the delivery triggers happens at the deadline
        message.deliver();
      }
      delivered_.fetch_add(1, std::memory_order_relaxed);
    }
    due.clear();  // destroys the closures outside the lock
    mu_.Lock();
  }
}

int64_t SimulatedNetwork::in_flight() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

std::string SimulatedNetwork::DebugString() const {
  absl::MutexLock lock(&mu_);
  const int64_t n = delivered();
  return absl::StrCat("SimulatedNetwork(", queue_.size(), " in flight, ", n, " delivered, ",
                      dropped(), " dropped, late by ", n > 0 ? late_total_nanos() / n : 0,
                      " ns on average, ", late_max_nanos(), " ns at most)");
}

void DelayedWorkerService::Run(HostRun run) {
  network_->Send(ToHost(), latency_, 0,
                 [inner = inner_, run = std::move(run)]() mutable { inner->Run(std::move(run)); });
}

AsyncValueRef<ir::Literal> DelayedWorkerService::FetchShard(ArrayId array, int32_t shard) {
  AsyncValueRef<ir::Literal> result = MakeAsyncValue<ir::Literal>();
  auto unreachable = [host = host_, array, shard] {
    return absl::UnavailableError(absl::StrCat("simulated network shut down before ",
                                               host.DebugString(), " answered a fetch of ",
                                               array.DebugString(), " shard ", shard));
  };
  network_->Send(
      ToHost(), latency_, 0,
      [this, array, shard, result, unreachable] {
        AsyncValueRef<ir::Literal> answer = inner_->FetchShard(array, shard);
        answer->AndThen([this, answer, result, unreachable](const absl::Status&) {
          network_->Send(
              ToController(), latency_, 0,
              [answer, result] {
                if (answer->IsError()) {
                  result->SetError(answer->status());
                } else {
                  result->SetValue(answer->value());
                }
              },
              [result, unreachable] { result->SetError(unreachable()); });
        });
      },
      [result, unreachable] { result->SetError(unreachable()); });
  return result;
}

void DelayedWorkerService::Release(absl::Span<const ArrayId> arrays) {
  network_->Send(ToHost(), latency_, 0,
                 [inner = inner_, arrays = std::vector<ArrayId>(arrays.begin(), arrays.end())] {
                   inner->Release(arrays);
                 });
}

void DelayedWorkerService::PeerLost(HostId peer, absl::Status reason) {
  network_->Send(ToHost(), latency_, 0, [inner = inner_, peer, reason = std::move(reason)] {
    inner->PeerLost(peer, reason);
  });
}

void DelayedWorkerService::FailShards(ArrayId array, absl::Span<const int32_t> shards,
                                      absl::Status status) {
  network_->Send(ToHost(), latency_, 0,
                 [inner = inner_, array, shards = std::vector<int32_t>(shards.begin(), shards.end()),
                  status = std::move(status)] { inner->FailShards(array, shards, status); });
}

void DelayedWorkerService::CancelRun(RunId run, absl::Status status) {
  network_->Send(ToHost(), latency_, 0, [inner = inner_, run, status = std::move(status)] {
    inner->CancelRun(run, status);
  });
}

void DelayedRunObserver::OnHostRunDone(HostRunResult result) {
  network_->Send({host_.value(), SimulatedNetwork::kController}, latency_, 0,
                 [inner = inner_, network = network_, result = std::move(result)]() mutable {
                   const int64_t cpu0 = ThreadCpuNanos();
                   inner->OnHostRunDone(std::move(result));
                   network->AddControllerCpuNanos(ThreadCpuNanos() - cpu0);
                 });
}

bool DelayedDataPlane::CrossIsland(HostId dest) const {
  return island_of_ != nullptr && model_.models_cross_island() && island_of_(dest) != island_of_(host_);
}

EventRef DelayedDataPlane::Push(HostId dest_host, ArrayId array, int32_t shard,
                                DeviceId dest_device, const ir::TensorType& type,
                                const void* data, int64_t bytes) {
  const bool cross = CrossIsland(dest_host);
  if (!cross && !model_.interconnect.ici.modelled()) {
    return inner_->Push(dest_host, array, shard, dest_device, type, data, bytes);  // not modelled
  }
  EventRef done = AsyncEvent::Create();
  network_->Send(
      {host_.value(), dest_host.value()}, model_.PushLatencyNanos(cross),
      model_.PushOccupancyNanos(bytes, cross),
      [inner = inner_, dest_host, array, shard, dest_device, type, data, bytes, done] {
        EventRef pushed = inner->Push(dest_host, array, shard, dest_device, type, data, bytes);
        pushed->AndThen([done](const absl::Status& status) { done->SetStatus(status); });
      },
      [done, from = host_, dest_host, array, shard] {
        done->SetError(absl::UnavailableError(absl::StrCat(
            "simulated network shut down before the push of ", array.DebugString(), " shard ",
            shard, " from ", from.DebugString(), " reached ", dest_host.DebugString())));
      });
  return done;
}

void DelayedDataPlane::PushError(HostId dest_host, ArrayId array, int32_t shard,
                                 DeviceId dest_device, const ir::TensorType& type,
                                 absl::Status error) {
  if (!CrossIsland(dest_host) && !model_.interconnect.ici.modelled()) {
    inner_->PushError(dest_host, array, shard, dest_device, type, std::move(error));
    return;
  }
  network_->Send({host_.value(), dest_host.value()}, model_.PushLatencyNanos(CrossIsland(dest_host)), 0,
                 [inner = inner_, dest_host, array, shard, dest_device, type,
                  error = std::move(error)] {
                   inner->PushError(dest_host, array, shard, dest_device, type, error);
                 });
}

}  // namespace pw
