// RenderMetrics: the dashboard's /metrics page — the controller's counters and histograms and a
// cluster snapshot's gauges (devices, hosts, clients, schedulers), in Prometheus text format.
// docs/dashboard.md lists every metric.
#ifndef PATHWAYS_DASHBOARD_METRICS_PAGE_H_
#define PATHWAYS_DASHBOARD_METRICS_PAGE_H_

#include <string>

#include "pathways/controller/controller_metrics.h"
#include "pathways/dashboard/cluster_sampler.h"

namespace pw {

// Pure: reads `metrics` (lock-free) and `snapshot`.
std::string RenderMetrics(const ControllerMetrics& metrics, const ClusterSnapshot& snapshot);

}  // namespace pw

#endif  // PATHWAYS_DASHBOARD_METRICS_PAGE_H_
