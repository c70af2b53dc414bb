// ControllerServerSource: the DashboardSource of a ControllerServer in this process, reading
// the same data paths `pw status` and `pw trace` use.
#ifndef PATHWAYS_DASHBOARD_CONTROLLER_SERVER_SOURCE_H_
#define PATHWAYS_DASHBOARD_CONTROLLER_SERVER_SOURCE_H_

#include <vector>

#include "pathways/cluster/controller_server.h"
#include "pathways/dashboard/dashboard_source.h"

namespace pw {

// Thread-safe (ControllerServer's accessors are). `server` must outlive this source and every
// DashboardServer reading it: stop the dashboard before shutting the controller down.
class ControllerServerSource final : public DashboardSource {
 public:
  explicit ControllerServerSource(ControllerServer* server) : server_(server) {}

  ClusterStatus Status() override;
  std::vector<LostHost> LostHosts() override { return server_->lost_hosts(); }
  std::vector<RunningRun> RunningRuns() override { return server_->controller().RunningRuns(); }
  const ControllerMetrics& Metrics() override { return server_->controller().metrics(); }
  absl::Status CollectTrace(TraceRecorder& into) override;

 private:
  ControllerServer* const server_;
};

}  // namespace pw

#endif  // PATHWAYS_DASHBOARD_CONTROLLER_SERVER_SOURCE_H_
