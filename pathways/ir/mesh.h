// Device meshes: a slice's devices as a row-major grid with named axes, and the shard groups
// of a collective over some of its axes.
#ifndef PATHWAYS_IR_MESH_H_
#define PATHWAYS_IR_MESH_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/ir/op.h"

namespace pw::ir {

// The groups of shards that differ only in their coordinates along `axes` of a row-major mesh
// of `mesh_shape` (shard i has coordinates i unravelled over mesh_shape): a collective over
// those axes runs within each group. Groups are ordered by the other coordinates and list
// their shards in row-major order of the `axes` coordinates (the order of `axes` as given),
// so block k of a gather is the shard at position k along the axes. INVALID_ARGUMENT for an
// axis out of range or repeated, or an empty or non-positive mesh.
absl::StatusOr<ShardGroups> MeshAxisGroups(absl::Span<const int64_t> mesh_shape,
                                           absl::Span<const int64_t> axes);

}  // namespace pw::ir

#endif  // PATHWAYS_IR_MESH_H_
