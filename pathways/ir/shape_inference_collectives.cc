// Shape inference of the collectives: shard groups, permutation pairs and result types.
#include <algorithm>
#include <utility>
#include <vector>

#include "pathways/ir/shape_inference.h"
#include "pathways/ir/shape_inference_internal.h"

namespace pw::ir {
namespace {

using internal::CheckArity;
using internal::CheckAxis;
using internal::Checked;
using internal::CheckNumeric;
using internal::Invalid;

absl::Status CheckPermutePairs(absl::Span<const std::pair<int64_t, int64_t>> pairs,
                               int64_t num_shards) {
  // Sorted copies rather than per-shard flags: cost follows the pairs, not the gang size,
  // so many small permutes in a large gang stay cheap to verify.
  std::vector<int64_t> sources, targets;
  sources.reserve(pairs.size());
  targets.reserve(pairs.size());
  for (const auto& [s, t] : pairs) {
    if (s < 0 || s >= num_shards || t < 0 || t >= num_shards) {
      return Invalid("pair (", s, ", ", t, ") names a shard outside [0, ", num_shards, ")");
    }
    sources.push_back(s);
    targets.push_back(t);
  }
  std::sort(sources.begin(), sources.end());
  std::sort(targets.begin(), targets.end());
  if (auto it = std::adjacent_find(sources.begin(), sources.end()); it != sources.end()) {
    return Invalid("shard ", *it, " is the source of two pairs");
  }
  if (auto it = std::adjacent_find(targets.begin(), targets.end()); it != targets.end()) {
    return Invalid("shard ", *it, " is the target of two pairs");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> GroupSize(const std::vector<std::vector<int64_t>>& groups,
                                  int64_t num_shards) {
  if (groups.empty()) return num_shards;
  const int64_t size = static_cast<int64_t>(groups[0].size());
  if (size == 0) return Invalid("shard group 0 is empty");
  std::vector<bool> seen(num_shards, false);
  int64_t members = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (static_cast<int64_t>(groups[g].size()) != size) {
      return Invalid("shard group ", g, " has ", groups[g].size(), " shards, group 0 has ", size,
                     " (groups must have one size)");
    }
    for (int64_t shard : groups[g]) {
      if (shard < 0 || shard >= num_shards) {
        return Invalid("shard group ", g, " names shard ", shard, " outside [0, ", num_shards, ")");
      }
      if (seen[shard]) return Invalid("shard ", shard, " is in two shard groups");
      seen[shard] = true;
      ++members;
    }
  }
  if (members != num_shards) {
    return Invalid("the shard groups cover ", members, " of the ", num_shards, " shards");
  }
  return size;
}

}  // namespace

namespace internal {

absl::StatusOr<TensorType> InferCollective(OpCode op, absl::Span<const TensorType> in,
                                           const Attributes& a, int64_t gang_shards) {
  int64_t num_shards = gang_shards;  // the communicating group's size
  if (op != OpCode::kCollectivePermute && op != OpCode::kShardIndex) {
    PW_ASSIGN_OR_RETURN(num_shards, GroupSize(a.groups, gang_shards));
  } else if (!a.groups.empty()) {
    return Invalid(OpName(op), " takes no shard groups");
  }
  switch (op) {
    case OpCode::kAllReduce:
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      PW_RETURN_IF_ERROR(CheckNumeric(in[0], "operand"));
      if (static_cast<uint8_t>(a.reduce_kind) > static_cast<uint8_t>(ReduceKind::kMin)) {
        return Invalid("unknown reduction ", static_cast<int>(a.reduce_kind));
      }
      return in[0];
    case OpCode::kAllGather: {
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      PW_RETURN_IF_ERROR(CheckAxis(a.axis, in[0].shape.rank(), "axis"));
      TensorType t = in[0];
      t.shape.set_dim(a.axis, t.shape.dim(a.axis) * num_shards);
      return Checked(t);
    }
    case OpCode::kReduceScatter: {
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      PW_RETURN_IF_ERROR(CheckNumeric(in[0], "operand"));
      PW_RETURN_IF_ERROR(CheckAxis(a.axis, in[0].shape.rank(), "axis"));
      if (static_cast<uint8_t>(a.reduce_kind) > static_cast<uint8_t>(ReduceKind::kMin)) {
        return Invalid("unknown reduction ", static_cast<int>(a.reduce_kind));
      }
      TensorType t = in[0];
      if (t.shape.dim(a.axis) % num_shards != 0) {
        return Invalid("dim ", a.axis, " of ", t.DebugString(), " is not divisible by the ",
                       num_shards, " shards");
      }
      t.shape.set_dim(a.axis, t.shape.dim(a.axis) / num_shards);
      return t;
    }
    case OpCode::kAllToAll: {
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      PW_RETURN_IF_ERROR(CheckAxis(a.split_axis, in[0].shape.rank(), "split_axis"));
      PW_RETURN_IF_ERROR(CheckAxis(a.concat_axis, in[0].shape.rank(), "concat_axis"));
      TensorType t = in[0];
      if (t.shape.dim(a.split_axis) % num_shards != 0) {
        return Invalid("split_axis dim ", a.split_axis, " of ", t.DebugString(),
                       " is not divisible by the ", num_shards, " shards");
      }
      t.shape.set_dim(a.split_axis, t.shape.dim(a.split_axis) / num_shards);
      t.shape.set_dim(a.concat_axis, t.shape.dim(a.concat_axis) * num_shards);
      return Checked(t);
    }
    case OpCode::kCollectivePermute:
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      PW_RETURN_IF_ERROR(CheckPermutePairs(a.pairs, gang_shards));
      return in[0];
    case OpCode::kShardIndex:
      PW_RETURN_IF_ERROR(CheckArity(in, 0));
      return TensorType{DType::kI32, Shape{}};
    default:
      return Invalid("unknown op code ", static_cast<int>(op));
  }
}

}  // namespace internal

absl::StatusOr<int64_t> CollectiveGroupSize(const std::vector<std::vector<int64_t>>& groups,
                                            int64_t num_shards) {
  return GroupSize(groups, num_shards);
}

}  // namespace pw::ir
