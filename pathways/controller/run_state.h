// Controller::RunState: one run's dispatch state, shared by the files of the controller that
// dispatch runs (controller_run.cc) and lose hosts (controller_host_loss.cc). Internal.
#ifndef PATHWAYS_CONTROLLER_RUN_STATE_H_
#define PATHWAYS_CONTROLLER_RUN_STATE_H_

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "pathways/controller/controller.h"

namespace pw {

struct Controller::RunState {
  RunId id;
  ClientId client;
  ProgramId program;
  ConnectOptions client_options;  // the client's weight and priority, for the schedulers
  DispatchMode mode = DispatchMode::kParallel;
  std::shared_ptr<const LoweredProgram> lowered;
  std::shared_ptr<const std::vector<ArrayId>> value_arrays;
  int64_t gang_base = 0;
  std::vector<HostTarget> targets;         // every host of the run, by host id
  std::vector<IslandId> islands;           // of the targets, ascending
  std::vector<GangScheduler*> schedulers;  // islands[i]'s
  std::vector<std::shared_ptr<ArrayRecord>> inputs;   // one reference each, for the run
  std::vector<std::shared_ptr<ArrayRecord>> outputs;  // produced arrays, one reference each
  std::vector<ArrayRecord*> output_by_slot;           // value slot -> produced array or null
  // Set for a run a data-dependent step started: it is dispatched as that step's follow-up and
  // never submitted to (nor finished in) the schedulers itself.
  RunId holder;
  // The DeadlineTimer entry of the run's deadline (0: none); cancelled when the run finishes.
  int64_t deadline_timer = 0;
  // MonotonicNanos() when the run was admitted and submitted to its schedulers; `sent` once its
  // first wave went to the hosts (ControllerMetrics::queue_time is observed once).
  int64_t admitted_ns = 0;
  int64_t submitted_ns = 0;
  std::atomic<bool> sent{false};

  absl::Mutex mu;
  int64_t stage ABSL_GUARDED_BY(mu) = -1;  // the wave in progress (-1: the parallel one)
  absl::flat_hash_set<HostId> pending ABSL_GUARDED_BY(mu);  // hosts yet to report it
  absl::Status first_error ABSL_GUARDED_BY(mu);
  // Device time the hosts reported, per island (indexed like `islands`).
  std::vector<int64_t> device_nanos ABSL_GUARDED_BY(mu);
  bool finished ABSL_GUARDED_BY(mu) = false;
  // Every host reported the last stage; the run finishes once no report is still resolving its
  // shards (hosts report concurrently, and a report resolves its shards outside `mu`).
  bool all_reported ABSL_GUARDED_BY(mu) = false;
  int64_t resolving ABSL_GUARDED_BY(mu) = 0;

  IslandId IslandOf(HostId host) const {
    auto it = std::lower_bound(targets.begin(), targets.end(), host,
                               [](const HostTarget& t, HostId h) { return t.host < h; });
    return it != targets.end() && it->host == host ? it->island : IslandId();
  }
  const absl::btree_map<HostId, std::shared_ptr<const LoweredHostProgram>>& Wave(
      int64_t wave) const {
    return wave < 0 ? lowered->hosts : lowered->stages[wave];
  }
};

}  // namespace pw

#endif  // PATHWAYS_CONTROLLER_RUN_STATE_H_
