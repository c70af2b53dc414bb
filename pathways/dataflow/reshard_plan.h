// PlanReshard: which blocks of which source shards each destination shard of a reshard reads.
//
// Used by lowering: a value laid out one way over some devices is read by a call (or returned)
// laid out another way over other devices. Both layouts describe one global array; every
// destination shard is covered by the pieces where it overlaps the source layout's blocks, each
// read from one holder of that block. Pure; no state.
#ifndef PATHWAYS_DATAFLOW_RESHARD_PLAN_H_
#define PATHWAYS_DATAFLOW_RESHARD_PLAN_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "pathways/base/ids.h"
#include "pathways/dataflow/sharding.h"
#include "pathways/ir/shape.h"

namespace pw {

// One side of a reshard: shards of `shard` shape laid out by `sharding` over `mesh`, shard i
// on devices[i] of hosts[i].
struct ShardLayout {
  ir::Shape shard;
  Sharding sharding;
  absl::Span<const DeviceId> devices;
  absl::Span<const HostId> hosts;
  absl::Span<const int64_t> mesh;
};

// A piece of a destination shard: the block of global coordinates `box`, read from source
// shard `holder`. Offsets are relative to the source shard and to the destination shard, in
// the global rank (ShardView).
struct ReshardPiece {
  int32_t holder = 0;
  std::vector<int64_t> src_offset;
  std::vector<int64_t> dst_offset;
  std::vector<int64_t> extent;
  bool whole_src = false;  // the piece is the holder's whole shard
  bool whole_dst = false;  // the piece is the whole destination shard
};

// For each destination shard, its pieces in row-major order of the source blocks. Among the
// replicas of a block, the holder is the one on the destination's device, else one on its
// host, else replica (j mod replicas) for destination shard j, spreading the reads. Both
// layouts must describe the same global shape (checked by the caller); a destination shard of
// zero elements has no pieces.
std::vector<std::vector<ReshardPiece>> PlanReshard(const ShardLayout& from,
                                                   const ShardLayout& to);

}  // namespace pw

#endif  // PATHWAYS_DATAFLOW_RESHARD_PLAN_H_
