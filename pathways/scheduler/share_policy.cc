// SharePolicy: virtual-time accounting of measured device time.
#include "pathways/scheduler/share_policy.h"

#include <algorithm>

#include "pathways/base/logging.h"

namespace pw {
namespace {

// Weight of the newest run in a program's moving average of device time.
constexpr double kEstimateGain = 0.125;

double Weight(const RunDescriptor& run) { return static_cast<double>(std::max<int64_t>(1, run.weight)); }

}  // namespace

SharePolicy::Account& SharePolicy::Activate(ClientId client) {
  Account& account = accounts_[client];
  if (account.in_flight == 0 && !queues_.HasQueued(client)) {
    account.virtual_time = std::max(account.virtual_time, floor_);
  }
  return account;
}

double SharePolicy::Estimate(ProgramId program) const {
  auto it = estimates_.find(program);
  return it != estimates_.end() ? it->second : average_estimate_;
}

void SharePolicy::Push(const RunDescriptor& run) {
  Activate(run.client);
  queues_.Push(run);
}

RunDescriptor SharePolicy::Pop() {
  return queues_.PopBest([this](const RunDescriptor& head) {
    auto it = accounts_.find(head.client);
    return it != accounts_.end() ? it->second.virtual_time : floor_;
  });
}

void SharePolicy::OnAdmitted(const RunDescriptor& run) {
  Account& account = Activate(run.client);
  floor_ = std::max(floor_, account.virtual_time);
  ++account.in_flight;
  const double estimate = Estimate(run.program);
  account.virtual_time += estimate / Weight(run);
  charged_[run.run] = estimate;
}

void SharePolicy::OnFinished(const RunDescriptor& run, int64_t device_nanos) {
  double estimate = 0;
  if (auto it = charged_.find(run.run); it != charged_.end()) {
    estimate = it->second;
    charged_.erase(it);
  }
  Account& account = accounts_[run.client];
  PW_CHECK(account.in_flight > 0) << run.run << " finished but its client has nothing in flight";
  --account.in_flight;
  const double measured = static_cast<double>(std::max<int64_t>(0, device_nanos));
  account.virtual_time += (measured - estimate) / Weight(run);
  auto [it, inserted] = estimates_.try_emplace(run.program, measured);
  if (!inserted) it->second += kEstimateGain * (measured - it->second);
  average_estimate_ = inserted && estimates_.size() == 1
                          ? measured
                          : average_estimate_ + kEstimateGain * (measured - average_estimate_);
}

double SharePolicy::virtual_time(ClientId client) const {
  auto it = accounts_.find(client);
  return it != accounts_.end() ? it->second.virtual_time : 0;
}

}  // namespace pw
