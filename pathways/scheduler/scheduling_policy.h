// SchedulingPolicy: which queued run an island's gang scheduler admits next. Three disciplines:
// FIFO (this header), strict priority (priority_policy.h) and proportional share of measured
// device time (share_policy.h); MakeSchedulingPolicy picks one by name.
#ifndef PATHWAYS_SCHEDULER_SCHEDULING_POLICY_H_
#define PATHWAYS_SCHEDULER_SCHEDULING_POLICY_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pathways/base/ids.h"

namespace pw {

// The default admission window of the policies that reorder (priority, share): runs admitted
// ahead of an island's devices. Deep enough that the devices never wait for the controller's
// next dispatch, shallow enough that the policy, not arrival order, decides what runs next
// (docs/benchmarks.md, "Multi-tenancy", measures both sides of the choice).
inline constexpr int64_t kOrderingWindow = 4;

// What a policy may know of a run. Plain data: the dispatch work itself stays in the scheduler,
// so a policy never runs or owns callbacks.
struct RunDescriptor {
  RunId run;
  ClientId client;
  // The program the run executes: runs of one program cost about the same device time, so a
  // usage-based policy estimates a run's cost from the program's past runs.
  ProgramId program;
  // The client's share under the proportional-share policy (>= 1): two busy clients of weights
  // 1 and 4 get device time 1:4.
  int64_t weight = 1;
  // The client's priority under the priority policy: larger first.
  int64_t priority = 0;
  // Set by the scheduler for a run submitted on several islands at once.
  bool spans_islands = false;
  // Assigned by the scheduler at submission: strictly increasing per island, the FIFO order
  // and the tie-breaker any policy uses so its order stays deterministic. Runs spanning islands
  // get their sequence on every island under all those islands' locks, so their relative order
  // is the same on each.
  int64_t sequence = 0;
  int64_t submit_nanos = 0;  // MonotonicNanos() at submission
};

// A queue discipline for one island. Called only by its GangScheduler, under the scheduler's
// lock: every method must be quick, must not block and must not call back into the scheduler.
// Not thread-safe by itself for that reason.
//
// Whatever the policy, its order must keep two invariants, or devices can wait forever:
//  - a client's runs leave in the order they came (a run may read what the client's earlier
//    run writes, and a device stream runs its items in order: a reader admitted before its
//    writer would block the stream the writer needs);
//  - runs spanning several islands leave in sequence order (their relative order must be the
//    same on every island they share, or two of them could each wait for the other).
// ClientQueues (client_queues.h) keeps both for the policies that reorder.
class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;

  virtual const char* name() const = 0;
  // The admission window this policy wants when the operator sets none: how many runs may be
  // dispatched and unfinished on the island at once. FIFO decides nothing by queueing, so its
  // window is wide; a policy that reorders must keep the window shallow, or it orders nothing.
  virtual int64_t default_window() const = 0;

  // Queues a run that could not be admitted at once.
  virtual void Push(const RunDescriptor& run) = 0;
  // Removes and returns the run to admit next. Requires !empty().
  virtual RunDescriptor Pop() = 0;
  virtual bool empty() const = 0;
  virtual int64_t size() const = 0;

  // Accounting hooks, so usage-based policies (proportional share) can charge clients. A run
  // admitted straight away (empty queue) is reported too, although it never went through Push.
  virtual void OnAdmitted(const RunDescriptor& run) {}
  // `device_nanos`: the time the run's kernels held this island's devices, summed over the
  // devices, as the hosts measured it (modelled time on simulated devices).
  virtual void OnFinished(const RunDescriptor& run, int64_t device_nanos) {}
};

// First come, first served: runs are admitted in submission order.
class FifoPolicy final : public SchedulingPolicy {
 public:
  const char* name() const override { return "fifo"; }
  int64_t default_window() const override { return 1024; }
  void Push(const RunDescriptor& run) override;
  RunDescriptor Pop() override;
  bool empty() const override { return queue_.empty(); }
  int64_t size() const override { return static_cast<int64_t>(queue_.size()); }

 private:
  std::deque<RunDescriptor> queue_;
};

std::unique_ptr<SchedulingPolicy> MakeFifoPolicy();

// "fifo", "priority" or "share"; INVALID_ARGUMENT naming the choices otherwise.
absl::StatusOr<std::unique_ptr<SchedulingPolicy>> MakeSchedulingPolicy(std::string_view name);
// The names MakeSchedulingPolicy accepts, for help texts: "fifo, priority, share".
const char* SchedulingPolicyNames();

}  // namespace pw

#endif  // PATHWAYS_SCHEDULER_SCHEDULING_POLICY_H_
