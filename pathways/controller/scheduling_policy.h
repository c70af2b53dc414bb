// SchedulingPolicy: which queued run an island's gang scheduler admits next (FIFO, later
// priority or proportional share).
#ifndef PATHWAYS_CONTROLLER_SCHEDULING_POLICY_H_
#define PATHWAYS_CONTROLLER_SCHEDULING_POLICY_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "pathways/base/ids.h"

namespace pw {

// What a policy may know of a run. Plain data: the dispatch work itself stays in the scheduler,
// so a policy never runs or owns callbacks.
struct RunDescriptor {
  RunId run;
  ClientId client;
  // Larger runs first under a priority policy; ignored by FIFO.
  int64_t priority = 0;
  // Estimated device time of the run (e.g. from the lowering's shard count or past runs), for
  // proportional-share policies that charge clients by use. Any unit, consistently.
  int64_t cost_estimate = 1;
  // Assigned by the scheduler at submission: strictly increasing per island, the FIFO order
  // and the tie-breaker any policy should use so its order stays deterministic.
  int64_t sequence = 0;
  int64_t submit_nanos = 0;  // MonotonicNanos() at submission
};

// A queue discipline for one island. Called only by its GangScheduler, under the scheduler's
// lock: every method must be quick, must not block and must not call back into the scheduler.
// Not thread-safe by itself for that reason.
class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;

  virtual const char* name() const = 0;

  // Queues a run that could not be admitted at once.
  virtual void Push(const RunDescriptor& run) = 0;
  // Removes and returns the run to admit next. Requires !empty().
  virtual RunDescriptor Pop() = 0;
  virtual bool empty() const = 0;
  virtual int64_t size() const = 0;

  // Accounting hooks, so usage-based policies (proportional share) can charge clients. A run
  // admitted straight away (empty queue) is reported too, although it never went through Push.
  virtual void OnAdmitted(const RunDescriptor& run) {}
  // `elapsed_nanos`: admission to finish.
  virtual void OnFinished(const RunDescriptor& run, int64_t elapsed_nanos) {}
};

// First come, first served: runs are admitted in submission order.
class FifoPolicy final : public SchedulingPolicy {
 public:
  const char* name() const override { return "fifo"; }
  void Push(const RunDescriptor& run) override;
  RunDescriptor Pop() override;
  bool empty() const override { return queue_.empty(); }
  int64_t size() const override { return static_cast<int64_t>(queue_.size()); }

 private:
  std::deque<RunDescriptor> queue_;
};

std::unique_ptr<SchedulingPolicy> MakeFifoPolicy();

}  // namespace pw

#endif  // PATHWAYS_CONTROLLER_SCHEDULING_POLICY_H_
