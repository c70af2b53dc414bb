// FifoPolicy: the default queue discipline of the gang scheduler.
#include "pathways/controller/scheduling_policy.h"

#include "pathways/base/logging.h"

namespace pw {

void FifoPolicy::Push(const RunDescriptor& run) {
  // The scheduler hands runs over in sequence order; keep it so even if a caller did not.
  PW_CHECK(queue_.empty() || queue_.back().sequence < run.sequence)
      << "runs pushed out of sequence order";
  queue_.push_back(run);
}

RunDescriptor FifoPolicy::Pop() {
  PW_CHECK(!queue_.empty()) << "Pop() on an empty FIFO";
  RunDescriptor run = queue_.front();
  queue_.pop_front();
  return run;
}

std::unique_ptr<SchedulingPolicy> MakeFifoPolicy() { return std::make_unique<FifoPolicy>(); }

}  // namespace pw
