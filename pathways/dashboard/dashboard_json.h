// The dashboard's JSON documents, rendered from a ClusterSnapshot: the cluster (islands ->
// hosts -> devices with utilisation and memory), clients, programs (running and recently
// failed) and lost hosts. docs/dashboard.md describes each document.
#ifndef PATHWAYS_DASHBOARD_DASHBOARD_JSON_H_
#define PATHWAYS_DASHBOARD_DASHBOARD_JSON_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "pathways/dashboard/cluster_sampler.h"

namespace pw {

// Pure functions of the snapshot. The ones naming an object return NOT_FOUND naming it when
// the snapshot has no such island, host or client.
nlohmann::json ClusterJson(const ClusterSnapshot& s);
absl::StatusOr<nlohmann::json> IslandJson(const ClusterSnapshot& s, int64_t island);
absl::StatusOr<nlohmann::json> HostJson(const ClusterSnapshot& s, int64_t host);
nlohmann::json ClientsJson(const ClusterSnapshot& s);
absl::StatusOr<nlohmann::json> ClientJson(const ClusterSnapshot& s, int64_t client);
nlohmann::json ProgramsJson(const ClusterSnapshot& s);
nlohmann::json LostHostsJson(const ClusterSnapshot& s);

}  // namespace pw

#endif  // PATHWAYS_DASHBOARD_DASHBOARD_JSON_H_
