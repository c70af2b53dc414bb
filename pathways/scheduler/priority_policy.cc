// PriorityPolicy: the highest-priority client's oldest run first.
#include "pathways/scheduler/priority_policy.h"

namespace pw {

int64_t PriorityPolicy::default_window() const { return kOrderingWindow; }

RunDescriptor PriorityPolicy::Pop() {
  return queues_.PopBest([](const RunDescriptor& head) { return -static_cast<double>(head.priority); });
}

}  // namespace pw
