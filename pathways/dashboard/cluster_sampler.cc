// ClusterSampler: snapshots and the per-device utilisation rings.
#include "pathways/dashboard/cluster_sampler.h"

#include <algorithm>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/time/clock.h"

namespace pw {

ClusterSampler::ClusterSampler(DashboardSource* source, ClusterSamplerOptions options)
    : source_(source), options_(options) {}

ClusterSampler::~ClusterSampler() { Stop(); }

std::shared_ptr<const ClusterSnapshot> ClusterSampler::Sample() {
  absl::MutexLock lock(&sample_mu_);
  return SampleLocked();
}

std::shared_ptr<const ClusterSnapshot> ClusterSampler::Fresh() {
  absl::MutexLock lock(&sample_mu_);
  // Another caller may have sampled while this one waited for the lock.
  if (std::shared_ptr<const ClusterSnapshot> latest = Latest();
      latest != nullptr && absl::Now() - latest->taken < options_.max_age) {
    return latest;
  }
  return SampleLocked();
}

std::shared_ptr<const ClusterSnapshot> ClusterSampler::Latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

std::shared_ptr<const ClusterSnapshot> ClusterSampler::SampleLocked() {
  auto snapshot = std::make_shared<ClusterSnapshot>();
  snapshot->status = source_->Status();
  snapshot->lost_hosts = source_->LostHosts();
  snapshot->running = source_->RunningRuns();
  snapshot->failures = source_->Metrics().RecentFailures();
  snapshot->taken = absl::Now();
  for (const HostStatus& host : snapshot->status.hosts) {
    for (const DeviceStatus& device : host.devices) {
      DeviceHistory& h = history_[device.id];
      if (h.last_busy_nanos >= 0 && snapshot->taken > h.last_at) {
        const double wall = absl::ToDoubleNanoseconds(snapshot->taken - h.last_at);
        const double busy = static_cast<double>(device.busy_nanos - h.last_busy_nanos);
        h.points.push_back({snapshot->taken, std::clamp(busy / wall, 0.0, 1.0)});
        while (static_cast<int64_t>(h.points.size()) > options_.history) h.points.pop_front();
      }
      h.last_busy_nanos = device.busy_nanos;
      h.last_at = snapshot->taken;
    }
  }
  // A device that left the cluster (its host lost) drops its ring; one whose host did not
  // answer this round keeps it and gets a point once the host answers again.
  absl::btree_set<DeviceId> member;
  for (const IslandInfo& island : snapshot->status.islands) member.insert(island.devices.begin(), island.devices.end());
  for (auto it = history_.begin(); it != history_.end();) {
    it = member.contains(it->first) ? std::next(it) : history_.erase(it);
  }
  for (const auto& [device, h] : history_) {
    snapshot->utilization[device].assign(h.points.begin(), h.points.end());
  }
  std::shared_ptr<const ClusterSnapshot> published = std::move(snapshot);
  absl::MutexLock lock(&mu_);
  latest_ = published;
  return published;
}

void ClusterSampler::Start() {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(options_.interval)) Sample();
  });
}

void ClusterSampler::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pw
