// PriorityPolicy: strict priority between clients — the queued run of the highest-priority
// client goes first — FIFO within a client and among clients of equal priority.
#ifndef PATHWAYS_SCHEDULER_PRIORITY_POLICY_H_
#define PATHWAYS_SCHEDULER_PRIORITY_POLICY_H_

#include "pathways/scheduler/client_queues.h"
#include "pathways/scheduler/scheduling_policy.h"

namespace pw {

// A client's priority comes with each of its runs (RunDescriptor::priority, from the client's
// ConnectOptions). Lower-priority clients wait as long as higher ones keep the island busy.
class PriorityPolicy final : public SchedulingPolicy {
 public:
  const char* name() const override { return "priority"; }
  int64_t default_window() const override;
  void Push(const RunDescriptor& run) override { queues_.Push(run); }
  RunDescriptor Pop() override;
  bool empty() const override { return queues_.empty(); }
  int64_t size() const override { return queues_.size(); }

 private:
  ClientQueues queues_;
};

}  // namespace pw

#endif  // PATHWAYS_SCHEDULER_PRIORITY_POLICY_H_
