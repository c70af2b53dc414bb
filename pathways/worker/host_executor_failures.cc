// HostExecutor: what fails work from outside — lost peers (their receives fail), shards that will
// never be produced (FailShards), and cancelled runs (their queued compute is skipped and their
// receives fail).
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/worker/host_executor.h"
#include "pathways/worker/host_executor_internal.h"

namespace pw {

// ---- Lost peers ------------------------------------------------------------------------------

void HostExecutor::PeerLost(HostId peer, absl::Status reason) {
  InboxItem item;
  item.kind = InboxKind::kPeerLost;
  item.peer = peer;
  item.reason = std::move(reason);
  Enqueue(std::move(item));
}

void HostExecutor::HandlePeerLost(HostId peer, const absl::Status& reason) {
  if (!lost_peers_.try_emplace(peer, reason).second) return;  // the first reason sticks
  std::vector<LostReceive> receives;
  {
    // Every message received before this item is dispatched, so each of its receive entries
    // exists. Messages leave live_ (under this lock) before they are deleted.
    absl::MutexLock lock(&live_mu_);
    for (const Message* msg : live_) {
      CollectLostReceives(*msg->program, *msg->lowered, *msg->arrays, msg->run.run, receives);
    }
  }
  // Outside the lock: failing an entry runs its readers' callbacks, which may finalize a message.
  FailLostReceives(receives);
}

void HostExecutor::CollectLostReceives(const LoweredHostProgram& program,
                                       const LoweredProgram& lowered,
                                       const std::vector<ArrayId>& arrays, RunId run,
                                       std::vector<LostReceive>& out) const {
  for (const HostStep& step : program.steps) {
    if (step.kind != StepKind::kRecv || step.shard < 0 || step.dst_value < 0 ||
        static_cast<size_t>(step.dst_value) >= arrays.size()) {
      continue;
    }
    auto lost = lost_peers_.find(step.peer_host);
    if (lost == lost_peers_.end()) continue;
    const bool named = step.node >= 0 && static_cast<size_t>(step.node) < lowered.nodes.size();
    const absl::Status& reason = lost->second;
    out.push_back(LostReceive{
        arrays[step.dst_value], step.shard,
        absl::UnavailableError(absl::StrCat(
            "node '", named ? lowered.nodes[step.node].name : absl::StrCat("#", step.node),
            "' shard ", step.shard, " on ", step.device.DebugString(), " of ",
            options_.host.DebugString(), " (", run.DebugString(), "): its sender ",
            step.peer_host.DebugString(), " was lost",
            reason.ok() ? "" : absl::StrCat(": ", reason.message())))});
  }
}

void HostExecutor::FailLostReceives(const std::vector<LostReceive>& receives) {
  for (const LostReceive& receive : receives) {
    ShardEntryRef entry = store_.Find(receive.array, receive.shard);
    if (entry == nullptr) continue;  // already released: nothing waits for it
    // An entry claimed by a push still under way fails too: its sender is gone. The push
    // keeps its own reference to the buffer, and its final Complete has no effect.
    (void)entry->Claim();
    entry->Complete(receive.error);
  }
}

// ---- Shards that will never come -------------------------------------------------------------

void HostExecutor::FailShards(ArrayId array, absl::Span<const int32_t> shards,
                              absl::Status status) {
  if (status.ok()) status = absl::InternalError("FailShards without an error");
  for (int32_t shard : shards) FailShard(array, shard, ir::TensorType{}, status);
}

void HostExecutor::FailShard(ArrayId array, int32_t shard, const ir::TensorType& type,
                             absl::Status error) {
  (void)type;
  if (shard < 0 || shard >= ir::kMaxShards) return;  // no such shard can be waited for
  ShardEntryRef entry = store_.GetOrCreate(array, shard);
  if (entry->Claim()) entry->Complete(std::move(error));
}

// ---- Cancelled runs --------------------------------------------------------------------------

void HostExecutor::CancelRun(RunId run, absl::Status status) {
  if (status.ok()) status = absl::CancelledError(absl::StrCat(run.DebugString(), " was cancelled"));
  {
    absl::MutexLock lock(&cancelled_mu_);
    if (!cancelled_.try_emplace(run, status).second) return;  // the first status sticks
    cancelled_order_.push_back(run);
    if (cancelled_order_.size() > kMaxCancelledRuns) {
      cancelled_.erase(cancelled_order_.front());
      cancelled_order_.pop_front();
    }
  }
  any_cancelled_.store(true, std::memory_order_release);
  InboxItem item;
  item.kind = InboxKind::kCancelRun;
  item.cancelled = run;
  item.reason = std::move(status);
  Enqueue(std::move(item));
}

std::optional<absl::Status> HostExecutor::Cancelled(RunId run) const {
  if (!any_cancelled_.load(std::memory_order_acquire)) return std::nullopt;
  absl::MutexLock lock(&cancelled_mu_);
  auto it = cancelled_.find(run);
  if (it == cancelled_.end()) return std::nullopt;
  return it->second;
}

void HostExecutor::HandleCancelRun(RunId run, const absl::Status& status) {
  std::vector<LostReceive> receives;
  {
    absl::MutexLock lock(&live_mu_);
    for (const Message* msg : live_) {
      if (msg->run.run != run || msg->arrays == nullptr) continue;
      for (const HostStep& step : msg->program->steps) {
        if (step.kind != StepKind::kRecv || step.shard < 0 || step.dst_value < 0 ||
            static_cast<size_t>(step.dst_value) >= msg->arrays->size()) {
          continue;
        }
        receives.push_back(LostReceive{(*msg->arrays)[step.dst_value], step.shard, status});
      }
    }
  }
  // Outside the lock, as for lost peers. Compute steps still queued on the streams skip their
  // kernels when their turn comes (RunCompute), failing their outputs with `status`.
  FailLostReceives(receives);
}

}  // namespace pw
