// The load-spreading placement policy: which physical devices of one island a slice should use.
//
// Pure functions over a snapshot of an island (no locks, no manager state), so the policy can be
// tested on its own and swapped without touching the bookkeeping in ResourceManager.
#ifndef PATHWAYS_CONTROLLER_PLACEMENT_H_
#define PATHWAYS_CONTROLLER_PLACEMENT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "pathways/base/ids.h"
#include "pathways/service/virtual_slice.h"

namespace pw {

// One physical device as the policy sees it.
struct PlacementCandidate {
  DeviceId device;
  int64_t position = 0;  // index_in_island; consecutive positions are interconnect neighbours
  int64_t load = 0;      // live virtual devices already mapped onto it
};

// `devices` (one slice's, in interconnect order) reordered for a row-major mesh whose rows have
// `row_size` devices: each host contributes whole rows from its own devices first (in host
// order), and the devices left over fill the remaining rows in interconnect order, so a row —
// the group a collective over the mesh's last axis runs in — stays on one host where it can.
std::vector<DeviceId> OrderForMesh(const std::vector<DeviceId>& devices, int64_t row_size,
                                   const std::function<HostId(DeviceId)>& host_of);

struct Placement {
  std::vector<DeviceId> devices;  // distinct, in interconnect order (a mesh slice's are then
                                  // reordered by OrderForMesh)
  int64_t max_load = 0;           // highest load among `devices` before this placement
  int64_t total_load = 0;         // sum of their loads before this placement
  bool contiguous = false;        // positions form one run without gaps

  // The policy's order: lower max load, then lower total load, then contiguous before not.
  bool BetterThan(const Placement& other) const;
};

// Chooses `num_devices` distinct devices among `candidates` (sorted by strictly increasing
// position). Spreading load comes first: the result minimises the max load, then the total load.
// kPreferContiguous picks a contiguous run when one is as good on load; kRequireContiguous only
// considers contiguous runs. Returns nullopt when nothing fits (too few candidates, or no
// contiguous run that long under kRequireContiguous).
std::optional<Placement> PlaceInIsland(absl::Span<const PlacementCandidate> candidates,
                                       int64_t num_devices, ContiguityPolicy policy);

// The `count` least loaded candidates (ties broken by position), in the order chosen; fewer when
// there are not enough. Used to replace the lost virtual devices of a slice.
std::vector<DeviceId> PickLeastLoaded(absl::Span<const PlacementCandidate> candidates,
                                      int64_t count);

}  // namespace pw

#endif  // PATHWAYS_CONTROLLER_PLACEMENT_H_
