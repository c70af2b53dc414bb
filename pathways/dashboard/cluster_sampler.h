// ClusterSampler: snapshots of a DashboardSource for the dashboard's pages — the status, lost
// hosts, runs in flight and recent failures — with each device's utilisation over the last
// minutes (busy time between consecutive snapshots / wall time, kept in a small ring).
#ifndef PATHWAYS_DASHBOARD_CLUSTER_SAMPLER_H_
#define PATHWAYS_DASHBOARD_CLUSTER_SAMPLER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "pathways/base/ids.h"
#include "pathways/dashboard/dashboard_source.h"

namespace pw {

struct UtilizationPoint {
  absl::Time at;
  double utilization = 0;  // in [0, 1]: the device's busy share of the interval ending at `at`
};

// One snapshot of the cluster; immutable once published.
struct ClusterSnapshot {
  absl::Time taken;
  ClusterStatus status;
  std::vector<LostHost> lost_hosts;
  std::vector<RunningRun> running;
  std::vector<RunFailure> failures;  // most recent first
  // Per device, oldest first, at most ClusterSamplerOptions::history points.
  absl::btree_map<DeviceId, std::vector<UtilizationPoint>> utilization;
};

struct ClusterSamplerOptions {
  // How often the background thread samples (Start).
  absl::Duration interval = absl::Seconds(1);
  // Utilisation points kept per device (at `interval`, 300 points are five minutes).
  int64_t history = 300;
  // Fresh() reuses a snapshot younger than this instead of asking the hosts again, so a burst of
  // requests costs the cluster at most one status round per `max_age`.
  absl::Duration max_age = absl::Milliseconds(250);
};

// Threads: Sample, Fresh and Latest are thread-safe; samples are taken one at a time (a
// caller of Fresh waits for a sample in progress). The background thread started by Start runs
// until Stop (or destruction). `source` must outlive the sampler.
class ClusterSampler {
 public:
  ClusterSampler(DashboardSource* source, ClusterSamplerOptions options);
  ~ClusterSampler();  // Stop()
  ClusterSampler(const ClusterSampler&) = delete;
  ClusterSampler& operator=(const ClusterSampler&) = delete;

  // Takes a snapshot now and publishes it.
  std::shared_ptr<const ClusterSnapshot> Sample();
  // The latest snapshot if younger than options.max_age, else a new one.
  std::shared_ptr<const ClusterSnapshot> Fresh();
  // The latest snapshot, or null before the first.
  std::shared_ptr<const ClusterSnapshot> Latest() const;

  // Samples every options.interval on a thread of its own. Call at most once.
  void Start();
  void Stop();

 private:
  struct DeviceHistory {
    int64_t last_busy_nanos = -1;
    absl::Time last_at;
    std::deque<UtilizationPoint> points;
  };
  std::shared_ptr<const ClusterSnapshot> SampleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sample_mu_);

  DashboardSource* const source_;
  const ClusterSamplerOptions options_;
  absl::Mutex sample_mu_;  // one sample at a time
  absl::btree_map<DeviceId, DeviceHistory> history_ ABSL_GUARDED_BY(sample_mu_);
  mutable absl::Mutex mu_;
  std::shared_ptr<const ClusterSnapshot> latest_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace pw

#endif  // PATHWAYS_DASHBOARD_CLUSTER_SAMPLER_H_
