// GangScheduler: admission window, policy queue and the combining dispatcher of one island.
#include "pathways/scheduler/gang_scheduler.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"

namespace pw {
namespace {

// Device-time totals saturate rather than overflow (hosts' reports are bounded one by one).
int64_t SaturatingAdd(int64_t a, int64_t b) { return b > INT64_MAX - a ? INT64_MAX : a + b; }

}  // namespace

GangScheduler::GangScheduler(IslandId island, GangSchedulerOptions options)
    : island_(island),
      executor_(std::move(options.executor)),
      policy_(options.policy != nullptr ? std::move(options.policy) : MakeFifoPolicy()),
      window_(options.max_runs_in_flight > 0 ? options.max_runs_in_flight
                                             : std::max<int64_t>(1, policy_->default_window())) {
  stats_.island = island;
  stats_.policy = policy_->name();
  stats_.window = window_;
}

ClientSchedulerStats& GangScheduler::ClientLocked(ClientId client) {
  auto [it, inserted] = clients_.try_emplace(client);
  if (inserted) it->second.client = client;
  return it->second;
}

absl::Status GangScheduler::CheckLocked(Kind kind, RunId run) const {
  auto it = runs_.find(run);
  if (kind == Kind::kSubmit) {
    if (it != runs_.end()) {
      return absl::AlreadyExistsError(
          absl::StrCat(run.DebugString(), " is already queued or in flight on ",
                       island_.DebugString()));
    }
    return absl::OkStatus();
  }
  if (it == runs_.end() || it->second.state != RunState::kInFlight) {
    return absl::FailedPreconditionError(absl::StrCat(
        "follow-up for ", run.DebugString(), " which is not in flight on ", island_.DebugString()));
  }
  return absl::OkStatus();
}

void GangScheduler::AdmitLocked(RunRecord& record, int64_t now) {
  record.state = RunState::kInFlight;
  record.admit_nanos = now;
  ++in_flight_;
  ++stats_.admitted;
  stats_.queue_wait_nanos += now - record.descriptor.submit_nanos;
  ClientSchedulerStats& client = ClientLocked(record.descriptor.client);
  ++client.admitted;
  ++client.in_flight;
  policy_->OnAdmitted(record.descriptor);
}

void GangScheduler::EnqueueLocked(RunDescriptor run, DispatchFn dispatch) {
  const int64_t now = MonotonicNanos();
  run.sequence = next_sequence_++;
  run.submit_nanos = now;
  ++stats_.submitted;
  ClientSchedulerStats& client = ClientLocked(run.client);
  ++client.submitted;
  client.weight = run.weight;
  RunRecord& record = runs_[run.run];
  record.descriptor = run;
  if (policy_->empty() && in_flight_ < window_) {
    AdmitLocked(record, now);
    ready_.push_back(ReadyItem{run.run, std::move(dispatch)});
    return;
  }
  record.dispatch = std::move(dispatch);
  policy_->Push(run);
  ++ClientLocked(run.client).queued;
  stats_.max_queued = std::max(stats_.max_queued, policy_->size());
  AdmitFromQueueLocked(now);
}

void GangScheduler::AdmitFromQueueLocked(int64_t now) {
  while (!policy_->empty() && in_flight_ < window_) {
    const RunDescriptor next = policy_->Pop();
    auto it = runs_.find(next.run);
    PW_CHECK(it != runs_.end() && it->second.state != RunState::kInFlight)
        << "policy " << policy_->name() << " returned " << next.run << " which is not queued";
    if (it->second.state == RunState::kCancelled) {
      runs_.erase(it);
      continue;
    }
    --ClientLocked(next.client).queued;
    AdmitLocked(it->second, now);
    ready_.push_back(ReadyItem{next.run, std::move(it->second.dispatch)});
  }
}

std::optional<GangScheduler::ReadyItem> GangScheduler::NextReadyLocked() {
  for (auto it = ready_.begin(); it != ready_.end(); ++it) {
    if (held_by_.valid() && it->run != held_by_) continue;
    ReadyItem item = std::move(*it);
    ready_.erase(it);
    return item;
  }
  return std::nullopt;
}

bool GangScheduler::ClaimDispatchLocked() {
  if (dispatching_ || ready_.empty()) return false;
  dispatching_ = true;
  return true;
}

void GangScheduler::Drain() {
  mu_.Lock();
  PW_CHECK(dispatching_) << "Drain() without the dispatcher role";
  while (std::optional<ReadyItem> item = NextReadyLocked()) {
    mu_.Unlock();
    std::move(item->fn)();
    mu_.Lock();
  }
  dispatching_ = false;
  mu_.Unlock();
}

absl::Status GangScheduler::Hold(RunId run) {
  absl::MutexLock lock(&mu_);
  PW_RETURN_IF_ERROR(CheckLocked(Kind::kFollowUp, run));
  if (held_by_.valid() && held_by_ != run) {
    return absl::FailedPreconditionError(absl::StrCat(
        island_.DebugString(), " is held by ", held_by_.DebugString(), "; ", run.DebugString(),
        " cannot hold it too"));
  }
  held_by_ = run;
  return absl::OkStatus();
}

absl::Status GangScheduler::Release(RunId run) {
  bool claimed;
  {
    absl::MutexLock lock(&mu_);
    if (held_by_ != run || !run.valid()) {
      return absl::NotFoundError(
          absl::StrCat(run.DebugString(), " does not hold ", island_.DebugString()));
    }
    EndHoldLocked();
    claimed = ClaimDispatchLocked();
  }
  if (claimed) DrainFromCompletion();
  return absl::OkStatus();
}

void GangScheduler::EndHoldLocked() {
  // The holder's follow-ups still waiting go first: they were sent in its place in the order.
  std::stable_partition(ready_.begin(), ready_.end(),
                        [this](const ReadyItem& item) { return item.run == held_by_; });
  held_by_ = RunId();
}

RunId GangScheduler::holder() const {
  absl::MutexLock lock(&mu_);
  return held_by_;
}

void GangScheduler::DrainFromCompletion() {
  if (executor_) {
    executor_([this] { Drain(); });
  } else {
    Drain();
  }
}

absl::Status GangScheduler::Submit(RunDescriptor run, DispatchFn dispatch) {
  bool claimed;
  {
    absl::MutexLock lock(&mu_);
    PW_RETURN_IF_ERROR(CheckLocked(Kind::kSubmit, run.run));
    EnqueueLocked(run, std::move(dispatch));
    claimed = ClaimDispatchLocked();
  }
  if (claimed) Drain();
  return absl::OkStatus();
}

absl::Status GangScheduler::FollowUp(RunId run, DispatchFn fn) {
  bool claimed;
  {
    absl::MutexLock lock(&mu_);
    PW_RETURN_IF_ERROR(CheckLocked(Kind::kFollowUp, run));
    ++stats_.follow_ups;
    ready_.push_back(ReadyItem{run, std::move(fn)});
    claimed = ClaimDispatchLocked();
  }
  if (claimed) DrainFromCompletion();
  return absl::OkStatus();
}

absl::Status GangScheduler::SubmitAcrossIslands(RunDescriptor run, std::vector<IslandPart> parts) {
  run.spans_islands = parts.size() > 1;
  return SubmitParts(Kind::kSubmit, run, std::move(parts), /*inline_drain=*/true);
}

absl::Status GangScheduler::FollowUpAcrossIslands(RunId run, std::vector<IslandPart> parts) {
  RunDescriptor descriptor;
  descriptor.run = run;
  return SubmitParts(Kind::kFollowUp, descriptor, std::move(parts), /*inline_drain=*/false);
}

// Locks several schedulers at once, which the static analysis cannot follow.
absl::Status GangScheduler::SubmitParts(Kind kind, RunDescriptor run,
                                        std::vector<IslandPart> parts, bool inline_drain)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  for (const IslandPart& part : parts) {
    if (part.scheduler == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("null scheduler for ", run.run.DebugString()));
    }
  }
  std::sort(parts.begin(), parts.end(), [](const IslandPart& a, const IslandPart& b) {
    return a.scheduler->island_ < b.scheduler->island_;
  });
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].scheduler->island_ == parts[i - 1].scheduler->island_) {
      return absl::InvalidArgumentError(absl::StrCat(run.run.DebugString(), " names ",
                                                     parts[i].scheduler->island_.DebugString(),
                                                     " twice"));
    }
  }
  // Ascending island order on every caller: no lock-order inversion, and the relative order
  // of two multi-island runs is decided once for all their islands.
  for (IslandPart& part : parts) part.scheduler->mu_.Lock();
  absl::Status status;
  for (IslandPart& part : parts) {
    status = part.scheduler->CheckLocked(kind, run.run);
    if (!status.ok()) break;
  }
  std::vector<GangScheduler*> claimed;
  if (status.ok()) {
    for (IslandPart& part : parts) {
      GangScheduler& s = *part.scheduler;
      if (kind == Kind::kSubmit) {
        s.EnqueueLocked(run, std::move(part.dispatch));
      } else {
        ++s.stats_.follow_ups;
        s.ready_.push_back(ReadyItem{run.run, std::move(part.dispatch)});
      }
      if (s.ClaimDispatchLocked()) claimed.push_back(&s);
    }
  }
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) it->scheduler->mu_.Unlock();
  for (GangScheduler* s : claimed) {
    if (inline_drain) {
      s->Drain();
    } else {
      s->DrainFromCompletion();
    }
  }
  return status;
}

absl::Status GangScheduler::OnRunFinished(RunId run, int64_t device_nanos) {
  bool claimed;
  {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run);
    if (it == runs_.end() || it->second.state == RunState::kCancelled) {
      return absl::NotFoundError(absl::StrCat(run.DebugString(), " finished but is not in flight on ",
                                              island_.DebugString()));
    }
    if (it->second.state == RunState::kQueued) {
      // The policy still holds its descriptor; AdmitFromQueueLocked drops it when popped.
      it->second.state = RunState::kCancelled;
      it->second.dispatch = nullptr;
      --ClientLocked(it->second.descriptor.client).queued;
      ++stats_.finished;
      return absl::OkStatus();
    }
    const int64_t now = MonotonicNanos();
    device_nanos = std::max<int64_t>(0, device_nanos);
    policy_->OnFinished(it->second.descriptor, device_nanos);
    ClientSchedulerStats& client = ClientLocked(it->second.descriptor.client);
    client.device_nanos = SaturatingAdd(client.device_nanos, device_nanos);
    stats_.device_nanos = SaturatingAdd(stats_.device_nanos, device_nanos);
    ++client.finished;
    --client.in_flight;
    ++stats_.finished;
    --in_flight_;
    runs_.erase(it);
    if (held_by_ == run) EndHoldLocked();
    AdmitFromQueueLocked(now);
    claimed = ClaimDispatchLocked();
  }
  if (claimed) DrainFromCompletion();
  return absl::OkStatus();
}

GangSchedulerStats GangScheduler::stats() const {
  absl::MutexLock lock(&mu_);
  GangSchedulerStats out = stats_;
  out.queued = policy_->size();
  out.in_flight = in_flight_;
  for (const auto& [id, client] : clients_) out.clients.push_back(client);
  return out;
}

std::string GangScheduler::DebugString() const {
  const GangSchedulerStats s = stats();
  std::string out = absl::StrCat("GangScheduler{", island_.DebugString(), " policy=", s.policy,
                                 " window=", window_, " in_flight=", s.in_flight,
                                 " queued=", s.queued, " submitted=", s.submitted,
                                 " admitted=", s.admitted, " finished=", s.finished,
                                 " follow_ups=", s.follow_ups, " max_queued=", s.max_queued,
                                 " device_ms=", s.device_nanos / 1'000'000);
  for (const ClientSchedulerStats& c : s.clients) {
    absl::StrAppend(&out, "\n  ", c.client.DebugString(), ": submitted=", c.submitted,
                    " admitted=", c.admitted, " finished=", c.finished, " queued=", c.queued,
                    " in_flight=", c.in_flight, " weight=", c.weight,
                    " device_ms=", c.device_nanos / 1'000'000);
  }
  absl::StrAppend(&out, "}");
  return out;
}

}  // namespace pw
