// Lowering: ProgramDef -> LoweredProgram (the sharded dataflow graph and each host's part).
#ifndef PATHWAYS_DATAFLOW_LOWERING_H_
#define PATHWAYS_DATAFLOW_LOWERING_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/ids.h"
#include "pathways/dataflow/lowered_program.h"
#include "pathways/dataflow/program.h"

namespace pw {

struct DeviceLocation {
  HostId host;
  IslandId island;
};

// Everything lowering reads besides the program: a snapshot, so lowering takes no locks.
struct LoweringContext {
  absl::flat_hash_map<FunctionId, FunctionSignature> functions;
  absl::flat_hash_map<SliceId, std::vector<DeviceId>> slices;  // virtual device i -> physical
  // Mesh shapes of slices that have one (absent: a line of its devices).
  absl::flat_hash_map<SliceId, std::vector<int64_t>> slice_meshes;
  absl::flat_hash_map<DeviceId, DeviceLocation> devices;
};

// Validates `program` and lowers it:
//  - one Compute node per call (num_shards shards, one per slice device), an Arg node per
//    program input and a Result node per output;
//  - a Transfer node (and a new value slot) wherever a call reads a value whose devices differ
//    from the call's slice devices, shard i moving from producer device i to consumer device i:
//    kCopy steps within a host, a kSend on the producer's host and a kRecv on the consumer's
//    across hosts; a value moved to the same devices twice is moved once;
//  - a resharding Transfer node where the layouts differ (another sharding, mesh or shard
//    count): each destination shard is assembled from the blocks of the source shards it
//    overlaps, one holder per block (the same device, else the same host, else the replicas in
//    turn); a block is cut out on its holder's host (kAssemble), pushed host to host
//    (kSend/kRecv) and written into place on the destination's host (kAssemble), each stage
//    skipped when the piece is a whole shard;
//  - each host's steps in graph order (the order its shards will be enqueued), and the per-stage
//    split used by sequential dispatch.
// Errors are INVALID_ARGUMENT naming the program, the call and the argument: unknown function or
// slice, argument count or per-shard type mismatch, slice size != function num_shards, a
// reference to a later call or a missing output, an unknown device, an invalid sharding, global
// shapes that differ between a value and the argument it is resharded into.
absl::StatusOr<std::shared_ptr<const LoweredProgram>> LowerProgram(const ProgramDef& program,
                                                                   const LoweringContext& context);

// Lowerings by (program, mapping versions of the slices it uses). Thread-safe.
class LoweringCache {
 public:
  struct Key {
    ProgramId program;
    std::vector<std::pair<SliceId, uint64_t>> slice_versions;  // sorted by slice
    friend bool operator==(const Key&, const Key&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.program, k.slice_versions);
    }
  };

  std::shared_ptr<const LoweredProgram> Lookup(const Key& key);
  void Insert(const Key& key, std::shared_ptr<const LoweredProgram> lowered);
  // Drops every lowering of `program` (e.g. when it is released).
  void Erase(ProgramId program);
  int64_t hits() const;
  int64_t misses() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Key, std::shared_ptr<const LoweredProgram>> entries_ ABSL_GUARDED_BY(mu_);
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_DATAFLOW_LOWERING_H_
