// GroupCommunicator: group collectives as rounds of whole-gang CollectivePermutes.
#include "pathways/kernels/group_communicator.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/ir/shape_inference.h"
#include "pathways/kernels/reduction.h"

namespace pw {

absl::StatusOr<ShardGroupIndex> ShardGroupIndex::Create(ir::ShardGroups groups, int64_t num_shards) {
  PW_ASSIGN_OR_RETURN(const int64_t size, ir::CollectiveGroupSize(groups, num_shards));
  ShardGroupIndex index;
  if (groups.empty()) {
    groups.emplace_back();
    for (int64_t i = 0; i < num_shards; ++i) groups[0].push_back(i);
  }
  index.group_size_ = size;
  index.group_of_.assign(num_shards, 0);
  index.position_.assign(num_shards, 0);
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t k = 0; k < groups[g].size(); ++k) {
      index.group_of_[groups[g][k]] = static_cast<int64_t>(g);
      index.position_[groups[g][k]] = static_cast<int64_t>(k);
    }
  }
  index.shift_pairs_.resize(size);
  for (int64_t shift = 0; shift < size; ++shift) {
    for (const auto& group : groups) {
      for (int64_t k = 0; k < size; ++k) {
        index.shift_pairs_[shift].emplace_back(group[k], group[(k + shift) % size]);
      }
    }
  }
  index.groups_ = std::move(groups);
  return index;
}

// Round s: every member sends to the member s positions ahead and receives from the member s
// behind. With per_target, member k sends its input block (k + s) mod g (the block meant for
// its receiver); otherwise its whole first block. out block j = what member j sent this rank.
absl::Status GroupCommunicator::GatherBlocks(const char* input, int64_t block_bytes,
                                             bool per_target, char* out) {
  const int64_t g = size();
  const int64_t me = rank();
  std::memcpy(out + me * block_bytes, input + (per_target ? me * block_bytes : 0), block_bytes);
  for (int64_t s = 1; s < g; ++s) {
    const int64_t to = (me + s) % g;
    const int64_t from = (me - s + g) % g;
    const char* send = input + (per_target ? to * block_bytes : 0);
    PW_RETURN_IF_ERROR(gang_.CollectivePermute(send, out + from * block_bytes, block_bytes,
                                               index_.ShiftPairs(s)));
  }
  return absl::OkStatus();
}

absl::Status GroupCommunicator::AllReduce(const void* input, void* output, int64_t count,
                                          ir::DType dtype, ir::ReduceKind kind) {
  if (!collectives::IsReducible(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("grouped all_reduce of ", ir::DTypeName(dtype)));
  }
  const int64_t bytes = count * ir::DTypeSize(dtype);
  std::vector<char> blocks(static_cast<size_t>(bytes * size()));
  PW_RETURN_IF_ERROR(GatherBlocks(static_cast<const char*>(input), bytes, false, blocks.data()));
  std::vector<const void*> inputs(size());
  for (int64_t k = 0; k < size(); ++k) inputs[k] = blocks.data() + k * bytes;
  collectives::ReduceInto(output, inputs.data(), size(), 0, count, dtype, kind);
  return absl::OkStatus();
}

absl::Status GroupCommunicator::AllGather(const void* input, void* output, int64_t count,
                                          ir::DType dtype) {
  return GatherBlocks(static_cast<const char*>(input), count * ir::DTypeSize(dtype), false,
                      static_cast<char*>(output));
}

absl::Status GroupCommunicator::ReduceScatter(const void* input, void* output, int64_t count,
                                              ir::DType dtype, ir::ReduceKind kind) {
  if (!collectives::IsReducible(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("grouped reduce_scatter of ", ir::DTypeName(dtype)));
  }
  const int64_t bytes = count * ir::DTypeSize(dtype);
  std::vector<char> blocks(static_cast<size_t>(bytes * size()));
  PW_RETURN_IF_ERROR(GatherBlocks(static_cast<const char*>(input), bytes, true, blocks.data()));
  std::vector<const void*> inputs(size());
  for (int64_t k = 0; k < size(); ++k) inputs[k] = blocks.data() + k * bytes;
  collectives::ReduceInto(output, inputs.data(), size(), 0, count, dtype, kind);
  return absl::OkStatus();
}

absl::Status GroupCommunicator::AllToAll(const void* input, void* output, int64_t count,
                                         ir::DType dtype) {
  return GatherBlocks(static_cast<const char*>(input), count * ir::DTypeSize(dtype), true,
                      static_cast<char*>(output));
}

absl::Status GroupCommunicator::CollectivePermute(const void* input, void* output, int64_t bytes,
                                                  absl::Span<const std::pair<int64_t, int64_t>> pairs) {
  // Positions to gang ranks, in every group at once.
  std::vector<std::pair<int64_t, int64_t>> gang_pairs;
  for (int64_t r = 0; r < index_.num_shards(); ++r) {
    if (index_.position(r) != 0) continue;
    const std::vector<int64_t>& group = index_.group_of_rank(r);
    for (const auto& [s, t] : pairs) {
      if (s < 0 || s >= size() || t < 0 || t >= size()) {
        return absl::InvalidArgumentError(absl::StrCat("grouped collective_permute pair (", s, ", ",
                                                       t, ") outside a group of ", size()));
      }
      gang_pairs.emplace_back(group[s], group[t]);
    }
  }
  return gang_.CollectivePermute(input, output, bytes, gang_pairs);
}

std::string GroupCommunicator::DebugString() const {
  return absl::StrCat("group ", rank(), "/", size(), " of ", gang_.DebugString());
}

}  // namespace pw
