// ControllerMetrics: what the controller counts where its events happen — runs started and
// failed, computations finished, dispatch latency, queue time, run duration, bytes moved
// through the controller — and the last failed runs with their errors.
//
// Threads: the counters and histograms are lock-free (pathways/base/metrics.h) and are written
// on the dispatch path by whichever thread dispatches, sends or reports. RecordFailure takes a
// mutex; it runs only when a run fails. Every reader (the dashboard) may read from any thread.
// Owned by the Controller, which outlives every reader that holds a reference.
#ifndef PATHWAYS_CONTROLLER_CONTROLLER_METRICS_H_
#define PATHWAYS_CONTROLLER_CONTROLLER_METRICS_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/base/ids.h"
#include "pathways/base/metrics.h"

namespace pw {

// A run that ended with an error.
struct RunFailure {
  RunId run;
  ClientId client;
  std::string program;  // the program's name
  absl::Status error;
  absl::Time finished;
};

// A run admitted and not yet finished.
struct RunningRun {
  RunId run;
  ClientId client;
  std::string program;
  absl::Time started;
  int64_t stage = -1;  // the wave in progress (-1: the parallel one)
};

class ControllerMetrics {
 public:
  // How many failures RecentFailures keeps (the oldest go first).
  static constexpr size_t kMaxRecentFailures = 64;

  Counter runs_started;     // runs admitted (Run, and runs data-dependent steps start)
  Counter runs_failed;      // finished with an error (cancelled ones included)
  Counter runs_finished;    // finished, with or without an error
  Counter computations;     // compute nodes of finished runs
  Counter put_bytes;        // shard bytes clients put through the controller
  Counter fetch_bytes;      // shard bytes clients fetched through the controller
  LatencyHistogram dispatch_latency;  // Run called -> submitted to the islands' schedulers
  LatencyHistogram queue_time;        // submitted -> its first wave handed to the hosts
  LatencyHistogram run_duration;      // admitted -> finished

  void RecordFailure(RunFailure failure);
  // Most recent first.
  std::vector<RunFailure> RecentFailures() const;

 private:
  mutable absl::Mutex mu_;
  std::deque<RunFailure> failures_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_CONTROLLER_CONTROLLER_METRICS_H_
