// ControllerMetrics: the bounded list of recent failures.
#include "pathways/controller/controller_metrics.h"

#include <utility>

namespace pw {

void ControllerMetrics::RecordFailure(RunFailure failure) {
  absl::MutexLock lock(&mu_);
  failures_.push_front(std::move(failure));
  while (failures_.size() > kMaxRecentFailures) failures_.pop_back();
}

std::vector<RunFailure> ControllerMetrics::RecentFailures() const {
  absl::MutexLock lock(&mu_);
  return {failures_.begin(), failures_.end()};
}

}  // namespace pw
