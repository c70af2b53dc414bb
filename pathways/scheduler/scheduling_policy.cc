// FifoPolicy, and the policy factory of the gang scheduler.
#include "pathways/scheduler/scheduling_policy.h"

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/scheduler/priority_policy.h"
#include "pathways/scheduler/share_policy.h"

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

const char* SchedulingPolicyNames() { return "fifo, priority, share"; }

absl::StatusOr<std::unique_ptr<SchedulingPolicy>> MakeSchedulingPolicy(std::string_view name) {
  if (name == "fifo") return MakeFifoPolicy();
  if (name == "priority") return std::unique_ptr<SchedulingPolicy>(new PriorityPolicy());
  if (name == "share") return std::unique_ptr<SchedulingPolicy>(new SharePolicy());
  return absl::InvalidArgumentError(absl::StrCat("unknown scheduling policy '", std::string(name),
                                                 "'; choose one of: ", SchedulingPolicyNames()));
}

}  // namespace pw
