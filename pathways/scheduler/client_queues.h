// ClientQueues: the queued runs of one island, one FIFO per client, for policies that choose
// which client goes next (priority, proportional share) without breaking the order invariants
// of SchedulingPolicy.
#ifndef PATHWAYS_SCHEDULER_CLIENT_QUEUES_H_
#define PATHWAYS_SCHEDULER_CLIENT_QUEUES_H_

#include <cstdint>
#include <deque>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/functional/function_ref.h"
#include "pathways/base/ids.h"
#include "pathways/scheduler/scheduling_policy.h"

namespace pw {

// A client's oldest queued run is its "head". A head may leave when it runs on one island, or
// when it is the oldest queued run spanning islands; PopBest takes, among the heads that may
// leave, the one of smallest key (ties: smallest sequence). One such head always exists while
// anything is queued: the oldest spanning run is either its client's head or behind that
// client's single-island runs. Not thread-safe (the policy's caller holds the lock).
class ClientQueues {
 public:
  void Push(const RunDescriptor& run);
  bool empty() const { return size_ == 0; }
  int64_t size() const { return size_; }
  bool HasQueued(ClientId client) const { return queues_.contains(client); }
  // Requires !empty().
  RunDescriptor PopBest(absl::FunctionRef<double(const RunDescriptor& head)> key);

 private:
  absl::btree_map<ClientId, std::deque<RunDescriptor>> queues_;  // no empty deques
  absl::btree_set<int64_t> spanning_;  // sequences of queued runs spanning islands
  int64_t size_ = 0;
};

}  // namespace pw

#endif  // PATHWAYS_SCHEDULER_CLIENT_QUEUES_H_
