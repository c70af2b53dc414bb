// GangScheduler: the one order in which an island's runs are dispatched (Pathways paper §4.5).
#ifndef PATHWAYS_SCHEDULER_GANG_SCHEDULER_H_
#define PATHWAYS_SCHEDULER_GANG_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/ids.h"
#include "pathways/scheduler/scheduling_policy.h"

namespace pw {

// Sends a run's messages to the hosts of one island. Called once, never under the scheduler's
// lock; it must not call back into the same scheduler synchronously (WorkerService::Run returns
// at once, so sending HostRuns is fine).
using DispatchFn = absl::AnyInvocable<void() &&>;

struct GangSchedulerOptions {
  // Runs admitted (dispatched, not yet finished) at once on the island; more wait in the policy,
  // which orders them. 0: the policy's default_window() (wide for FIFO, where the window only
  // bounds memory and queueing on hosts; shallow for the policies that reorder).
  int64_t max_runs_in_flight = 0;
  // Null: FifoPolicy.
  std::unique_ptr<SchedulingPolicy> policy;
  // Where dispatches released by OnRunFinished and FollowUp run: those calls come from
  // completion paths (worker threads) that must stay short and must not send to workers. Null:
  // inline in the caller. Submit always dispatches inline (no thread hop on the hot path).
  std::function<void(absl::AnyInvocable<void()>)> executor;
};

struct ClientSchedulerStats {
  ClientId client;
  int64_t submitted = 0;
  int64_t admitted = 0;
  int64_t finished = 0;
  int64_t queued = 0;     // now
  int64_t in_flight = 0;  // now
  int64_t weight = 1;     // of its latest run
  // Device time of its finished runs on the island's devices, as the hosts measured it.
  int64_t device_nanos = 0;
};

struct GangSchedulerStats {
  IslandId island;
  std::string policy;
  int64_t window = 0;  // admission window (runs in flight at most)
  int64_t submitted = 0;
  int64_t admitted = 0;
  int64_t finished = 0;
  int64_t follow_ups = 0;
  int64_t queued = 0;        // now
  int64_t in_flight = 0;     // now
  int64_t max_queued = 0;    // high-water mark
  int64_t queue_wait_nanos = 0;  // summed submission -> admission time
  int64_t device_nanos = 0;      // summed over the clients
  std::vector<ClientSchedulerStats> clients;  // by client id
};

// Centralized per-island scheduler. Every run dispatched to the island goes through it, and the
// order in which it calls the runs' DispatchFns is THE order of the island: at most one
// DispatchFn of an island runs at a time, in admission order, and each sends its messages to
// every host before the next starts. Hosts process messages in arrival order, so every device
// of the island runs the runs' gangs in the same order, and SPMD collectives cannot deadlock.
//
// Dispatching is "combining": the thread that finds no dispatch in progress dispatches
// everything that is ready, others just append. So the common case (empty queue, room in the
// window) dispatches inline in the submitting thread, and nothing ever waits on a lock held
// across a DispatchFn.
//
// A run spanning several islands is submitted with SubmitAcrossIslands, which takes the
// islands' locks in ascending id order: two runs sharing islands are then queued in the same
// relative order on each, so (under FIFO, or any policy whose order does not depend on the
// island) they are dispatched in the same relative order everywhere.
//
// Thread-safe. The scheduler must outlive any work it handed to `executor`.
class GangScheduler {
 public:
  GangScheduler(IslandId island, GangSchedulerOptions options = {});
  int64_t window() const { return window_; }
  GangScheduler(const GangScheduler&) = delete;
  GangScheduler& operator=(const GangScheduler&) = delete;

  IslandId island() const { return island_; }

  // Queues `run`; `dispatch` is called once it is admitted — before Submit returns when the
  // queue is empty and the window has room and no other thread is dispatching (then that
  // thread calls it, soon). ALREADY_EXISTS if the run id is queued or in flight here.
  absl::Status Submit(RunDescriptor run, DispatchFn dispatch);

  struct IslandPart {
    GangScheduler* scheduler = nullptr;
    DispatchFn dispatch;  // the run's messages to this island's hosts
  };
  // Submit for a run spanning several islands (one part per island, any order; distinct
  // islands). The run takes a window slot on each island and must be finished on each.
  // INVALID_ARGUMENT for repeated islands, ALREADY_EXISTS as Submit (then nothing is queued).
  static absl::Status SubmitAcrossIslands(RunDescriptor run, std::vector<IslandPart> parts);

  // Calls `fn` in the island's dispatch order without taking a window slot: the later messages
  // of an admitted run (sequential dispatch sends stage k+1 after stage k), which must keep
  // the island's single order too. FAILED_PRECONDITION if `run` is not in flight here.
  absl::Status FollowUp(RunId run, DispatchFn fn);
  // FollowUp for parts on several islands, locks in ascending island order.
  static absl::Status FollowUpAcrossIslands(RunId run, std::vector<IslandPart> parts);

  // A data-dependent edge (sequential-dispatch fallback): from now on only `run`'s follow-ups
  // are dispatched on this island; every other run, admitted or not, waits in order until
  // Release(run) or OnRunFinished(run). Called by an in-flight run whose next messages depend
  // on a value not yet known (the controller reads it, then follows up and releases), so that
  // no later run reaches a device stream before them. FAILED_PRECONDITION if `run` is not in
  // flight here or another run holds the island.
  absl::Status Hold(RunId run);
  // Ends `run`'s hold and dispatches what waited. NOT_FOUND if `run` does not hold the island.
  absl::Status Release(RunId run);
  // The run holding the island (invalid: none).
  RunId holder() const;

  // Every message of `run` finished on this island, its kernels having held the island's devices
  // for `device_nanos` (summed over devices; what the policy charges its client): frees its
  // window slot and admits queued runs (and ends its hold, if it still holds the island). A run still queued (it failed before it was admitted, e.g. its host was removed) is
  // cancelled instead: it will never be dispatched. NOT_FOUND if the run is unknown here.
  absl::Status OnRunFinished(RunId run, int64_t device_nanos = 0);

  GangSchedulerStats stats() const;
  std::string DebugString() const;

 private:
  // kCancelled: finished while queued; skipped (and forgotten) when the policy pops it.
  enum class RunState { kQueued, kInFlight, kCancelled };
  struct RunRecord {
    RunDescriptor descriptor;
    RunState state = RunState::kQueued;
    int64_t admit_nanos = 0;
    DispatchFn dispatch;  // while queued
  };
  struct ReadyItem {
    RunId run;
    DispatchFn fn;
  };
  enum class Kind { kSubmit, kFollowUp };

  static absl::Status SubmitParts(Kind kind, RunDescriptor run, std::vector<IslandPart> parts,
                                  bool inline_drain);
  // Checks that `run` can be submitted / followed up here.
  absl::Status CheckLocked(Kind kind, RunId run) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnqueueLocked(RunDescriptor run, DispatchFn dispatch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdmitLocked(RunRecord& record, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Admits queued runs while the window has room.
  void AdmitFromQueueLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The next ready item to dispatch: the first, or the holder's first while held (none: end).
  std::optional<ReadyItem> NextReadyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the hold; the holder's remaining follow-ups move ahead of every other ready item.
  void EndHoldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True if the caller became the dispatcher and must call Drain().
  bool ClaimDispatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs ready items in order until none are left, then gives up the dispatcher role.
  void Drain() ABSL_LOCKS_EXCLUDED(mu_);
  // Drain inline or on the executor.
  void DrainFromCompletion() ABSL_LOCKS_EXCLUDED(mu_);
  ClientSchedulerStats& ClientLocked(ClientId client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const IslandId island_;
  const std::function<void(absl::AnyInvocable<void()>)> executor_;

  mutable absl::Mutex mu_;
  std::unique_ptr<SchedulingPolicy> policy_ ABSL_GUARDED_BY(mu_);
  const int64_t window_;  // after policy_: its default may come from the policy
  absl::flat_hash_map<RunId, RunRecord> runs_ ABSL_GUARDED_BY(mu_);
  std::deque<ReadyItem> ready_ ABSL_GUARDED_BY(mu_);
  bool dispatching_ ABSL_GUARDED_BY(mu_) = false;
  RunId held_by_ ABSL_GUARDED_BY(mu_);  // invalid: not held
  int64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  GangSchedulerStats stats_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<ClientId, ClientSchedulerStats> clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_SCHEDULER_GANG_SCHEDULER_H_
