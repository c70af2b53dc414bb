// Sharding: how a global array is laid out over the devices of a slice, and which block of it
// each shard holds.
//
// A slice's devices form a row-major mesh (its mesh shape; a 1-D mesh of n devices when none
// was given): shard i sits at mesh coordinates i unravelled over the mesh. Two layouts:
//  - stacked (pmap's convention, the default): the global array is the shards stacked along a
//    new leading axis, global shape [n] + shard shape;
//  - partitioned (a PartitionSpec): global dimension d is split over the mesh axes spec[d]
//    (major first) into equal blocks, one per combination of those axes' coordinates; mesh axes
//    named in no entry replicate (shards differing only along them hold the same block). An
//    empty spec is the replicated layout: every shard holds the whole array.
// Pure functions; no state.
#ifndef PATHWAYS_DATAFLOW_SHARDING_H_
#define PATHWAYS_DATAFLOW_SHARDING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/ir/shape.h"

namespace pw {

struct Sharding {
  enum class Kind : uint8_t { kStacked = 0, kPartitioned = 1 };
  Kind kind = Kind::kStacked;
  // kPartitioned: spec[d] = the mesh axes global dimension d is split over, major first.
  std::vector<std::vector<int32_t>> spec;

  static Sharding Stacked() { return Sharding{}; }
  static Sharding Replicated() { return Sharding{Kind::kPartitioned, {}}; }
  // Dimension `dim` split over `axes`; every other dimension whole.
  static Sharding Split(int32_t dim, std::vector<int32_t> axes);

  bool stacked() const { return kind == Kind::kStacked; }
  // Partitioned with no axis named: every shard holds the whole array.
  bool replicated() const;
  friend bool operator==(const Sharding&, const Sharding&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Sharding& s) {
    return H::combine(std::move(h), s.kind, s.spec);
  }
  // "stacked", "replicated", "split(0:[1], 2:[0])" (dimension: mesh axes).
  std::string DebugString() const;
};

// A block of a global array: offsets and extents per global dimension.
struct Box {
  absl::InlinedVector<int64_t, 6> offset;
  absl::InlinedVector<int64_t, 6> extent;
  friend bool operator==(const Box&, const Box&) = default;
  int64_t num_elements() const;
};

// The mesh of `num_devices` devices: `mesh_shape` when given, else [num_devices].
std::vector<int64_t> MeshOrLine(absl::Span<const int64_t> mesh_shape, int64_t num_devices);

// Checks `sharding` for shards of rank `shard_rank` on `mesh`: no more spec entries than
// dimensions, axes in range and named at most once. INVALID_ARGUMENT saying which.
absl::Status ValidateSharding(const Sharding& sharding, int64_t shard_rank,
                              absl::Span<const int64_t> mesh);

// The global shape of shards of `shard` shape laid out by a valid `sharding` over `mesh`.
ir::Shape GlobalShape(const ir::Shape& shard, const Sharding& sharding,
                      absl::Span<const int64_t> mesh);
// The shard shape of a `global` array laid out by a valid `sharding` over `mesh`;
// INVALID_ARGUMENT when a split dimension does not divide evenly (or, stacked, the leading
// dimension is not the number of devices).
absl::StatusOr<ir::Shape> ShardShape(const ir::Shape& global, const Sharding& sharding,
                                     absl::Span<const int64_t> mesh);
// A shard's dimensions in the global array's rank: stacked shards gain a leading 1.
absl::InlinedVector<int64_t, 6> ShardView(const ir::Shape& shard, const Sharding& sharding);

// The block shard `index` (0 <= index < product(mesh)) holds, for a valid sharding.
Box ShardBox(const ir::Shape& shard, const Sharding& sharding, absl::Span<const int64_t> mesh,
             int64_t index);

// The overlap of two boxes of equal rank; empty (some extent 0) when they do not meet.
Box Intersect(const Box& a, const Box& b);

}  // namespace pw

#endif  // PATHWAYS_DATAFLOW_SHARDING_H_
