// DashboardSource: what the dashboard reads from a running controller — the cluster status
// (`pw status`'s data), lost hosts, runs in flight, the controller's metrics and the trace
// (`pw trace`'s data). An interface so the HTTP server is tested without a cluster.
#ifndef PATHWAYS_DASHBOARD_DASHBOARD_SOURCE_H_
#define PATHWAYS_DASHBOARD_DASHBOARD_SOURCE_H_

#include <vector>

#include "absl/status/status.h"
#include "pathways/base/trace.h"
#include "pathways/cluster/host_membership.h"
#include "pathways/controller/controller_metrics.h"
#include "pathways/service/controller_service.h"

namespace pw {

// Threads: every method may be called from any thread, concurrently. Each only reads: none
// changes what the cluster runs. Implementations outlive the DashboardServer that reads them.
class DashboardSource {
 public:
  virtual ~DashboardSource() = default;

  // The operator's view: every client and slice, every live host (a host that does not answer
  // in time has a non-OK HostStatus::status). Blocks up to the hosts' status timeout.
  virtual ClusterStatus Status() = 0;
  virtual std::vector<LostHost> LostHosts() = 0;
  virtual std::vector<RunningRun> RunningRuns() = 0;
  virtual const ControllerMetrics& Metrics() = 0;
  // Recent trace events of the controller and every live host, into `into` (recording).
  // Blocks up to the hosts' trace timeout; a host that does not answer is marked in the trace.
  virtual absl::Status CollectTrace(TraceRecorder& into) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_DASHBOARD_DASHBOARD_SOURCE_H_
