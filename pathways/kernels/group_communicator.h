// GroupCommunicator: a gang's Communicator seen as the communicator of this rank's shard group
// (ir::Attributes::groups, e.g. the shards along one mesh axis), for collectives over a subset
// of the gang's shards. Works over any Communicator: every operation is a sequence of
// CollectivePermutes among the whole gang (every group moves at once), so the collective
// implementations need nothing new.
//
// Semantics are the Communicator's with size() = the group size and rank() = this shard's
// position in its group. All-reduce and reduce-scatter gather the group's blocks and reduce
// them in group order, so every member computes the same bits. Cost: g - 1 permutes for a group
// of g (each moving `count` elements per rank), and a g x count staging buffer.
//
// Threads: as the underlying communicator (one operation at a time per rank).
#ifndef PATHWAYS_KERNELS_GROUP_COMMUNICATOR_H_
#define PATHWAYS_KERNELS_GROUP_COMMUNICATOR_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "pathways/kernels/communicator.h"

namespace pw {

// The shard groups of one collective, checked and indexed once (at compile time).
class ShardGroupIndex {
 public:
  // INVALID_ARGUMENT unless `groups` partition [0, num_shards) into groups of one size.
  static absl::StatusOr<ShardGroupIndex> Create(ir::ShardGroups groups, int64_t num_shards);
  int64_t group_size() const { return group_size_; }
  int64_t num_shards() const { return static_cast<int64_t>(group_of_.size()); }
  const std::vector<int64_t>& group_of_rank(int64_t rank) const { return groups_[group_of_[rank]]; }
  int64_t position(int64_t rank) const { return position_[rank]; }
  // Pairs moving every member's data `shift` positions forward in its group (mod group size).
  const std::vector<std::pair<int64_t, int64_t>>& ShiftPairs(int64_t shift) const {
    return shift_pairs_[shift];
  }

 private:
  ir::ShardGroups groups_;
  std::vector<int64_t> group_of_, position_;
  int64_t group_size_ = 0;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> shift_pairs_;  // by shift, 0..g-1
};

class GroupCommunicator final : public Communicator {
 public:
  // `gang` must be the communicator of a gang of index.num_shards() ranks; both must outlive
  // this object.
  GroupCommunicator(Communicator& gang, const ShardGroupIndex& index)
      : gang_(gang), index_(index) {}

  int64_t size() const override { return index_.group_size(); }
  int64_t rank() const override { return index_.position(gang_.rank()); }
  absl::Status AllReduce(const void* input, void* output, int64_t count, ir::DType dtype,
                         ir::ReduceKind kind) override;
  absl::Status AllGather(const void* input, void* output, int64_t count, ir::DType dtype) override;
  absl::Status ReduceScatter(const void* input, void* output, int64_t count, ir::DType dtype,
                             ir::ReduceKind kind) override;
  absl::Status AllToAll(const void* input, void* output, int64_t count, ir::DType dtype) override;
  // Pairs are positions within the group, the same for every group.
  absl::Status CollectivePermute(const void* input, void* output, int64_t bytes,
                                 absl::Span<const std::pair<int64_t, int64_t>> pairs) override;
  std::string DebugString() const override;

 private:
  // out block k (of `block_bytes`) = what the group's member k contributes to this rank: its
  // whole (first) block, or with `per_target` its input block numbered by this rank's position.
  absl::Status GatherBlocks(const char* input, int64_t block_bytes, bool per_target, char* out);

  Communicator& gang_;
  const ShardGroupIndex& index_;
};

}  // namespace pw

#endif  // PATHWAYS_KERNELS_GROUP_COMMUNICATOR_H_
