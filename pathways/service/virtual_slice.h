// Virtual device slices: what a client asks for, what it gets, and how the mapping changes.
#ifndef PATHWAYS_SERVICE_VIRTUAL_SLICE_H_
#define PATHWAYS_SERVICE_VIRTUAL_SLICE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "pathways/base/ids.h"
#include "pathways/service/topology.h"

namespace pw {

// How much a slice cares about occupying neighbouring positions of the island's interconnect.
enum class ContiguityPolicy {
  // Load first; among placements with equal load, a contiguous run wins.
  kPreferContiguous,
  // Only a run of consecutive interconnect positions will do (RESOURCE_EXHAUSTED otherwise).
  kRequireContiguous,
  // Load only.
  kAny,
};
const char* ContiguityPolicyName(ContiguityPolicy policy);

struct SliceRequest {
  int64_t num_devices = 0;
  // Pin the slice to this island; otherwise the manager picks the least loaded island that fits.
  std::optional<IslandId> island;
  // Logical device mesh; empty means the 1-D mesh {num_devices}. Its product must be num_devices.
  std::vector<int64_t> mesh_shape;
  ContiguityPolicy contiguity = ContiguityPolicy::kPreferContiguous;
  std::string device_kind = "cpu";
  int64_t min_memory_bytes = 0;

  std::string DebugString() const;
};

// A client's view of its virtual devices. A value: a copy does not follow later remaps; ask the
// manager again (or compare mapping_version) to see the current mapping.
struct VirtualSlice {
  SliceId id;
  ClientId client;
  IslandId island;
  // devices[i] is the physical device that runs virtual device i. All distinct, all in `island`.
  std::vector<DeviceId> devices;
  std::vector<int64_t> mesh_shape;  // never empty; product == devices.size()
  // Starts at 1 and grows whenever the mapping changes (remap or failure), so a cache of
  // lowerings keyed by (slice, version) knows when to lower again.
  uint64_t mapping_version = 0;

  std::string DebugString() const;
};

enum class SliceEventKind {
  kRemapped,  // some virtual devices moved to other physical devices (changed_indices)
  kFailed,    // the slice lost devices and could not be remapped (status says why)
  kReleased,  // the client (or ReleaseClient) gave the slice back
};
const char* SliceEventKindName(SliceEventKind kind);

struct SliceEvent {
  SliceEventKind kind = SliceEventKind::kReleased;
  // The mapping after the event; for kFailed and kReleased, the last mapping the slice had.
  VirtualSlice slice;
  std::vector<int64_t> changed_indices;  // kRemapped: the virtual device indices that moved
  absl::Status status;                   // kFailed: the UNAVAILABLE error GetSlice now returns

  std::string DebugString() const;
};

}  // namespace pw

#endif  // PATHWAYS_SERVICE_VIRTUAL_SLICE_H_
