#include "pathways/client/global_array.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/base/status.h"
#include "pathways/dataflow/box_copy.h"

namespace pw {
namespace {

int64_t NumDevices(absl::Span<const int64_t> mesh) {
  int64_t n = 1;
  for (int64_t m : mesh) n *= m;
  return n;
}

std::vector<int64_t> Dims(absl::Span<const int64_t> dims) {
  return std::vector<int64_t>(dims.begin(), dims.end());
}

}  // namespace

absl::StatusOr<std::vector<ir::Literal>> SplitGlobal(const ir::Literal& global,
                                                     const Sharding& sharding,
                                                     absl::Span<const int64_t> mesh) {
  PW_ASSIGN_OR_RETURN(ir::Shape shard_shape, ShardShape(global.type().shape, sharding, mesh));
  PW_RETURN_IF_ERROR(ValidateSharding(sharding, shard_shape.rank(), mesh));
  const ir::TensorType shard_type{global.dtype(), shard_shape};
  const std::vector<int64_t> global_dims = Dims(global.type().shape.dims());
  const std::vector<int64_t> view = Dims(ShardView(shard_shape, sharding));
  const std::vector<int64_t> zeros(view.size(), 0);
  const int64_t n = NumDevices(mesh);
  std::vector<ir::Literal> shards;
  shards.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    const Box box = ShardBox(shard_shape, sharding, mesh, i);
    const std::vector<int64_t> offset = Dims(box.offset);
    ir::Literal shard(shard_type);
    PW_RETURN_IF_ERROR(CopyBox(BoxCopy{global_dims, offset, view, zeros, view},
                               ir::DTypeSize(global.dtype()), global.untyped_data(),
                               shard.untyped_data()));
    shards.push_back(std::move(shard));
  }
  return shards;
}

absl::StatusOr<ir::Literal> AssembleGlobal(absl::Span<const ir::Literal> shards,
                                           const ir::TensorType& shard_type,
                                           const Sharding& sharding,
                                           absl::Span<const int64_t> mesh) {
  const int64_t n = NumDevices(mesh);
  if (static_cast<int64_t>(shards.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat(shards.size(), " shards for a mesh [",
                                                   absl::StrJoin(mesh, ","), "] of ", n,
                                                   " devices"));
  }
  PW_RETURN_IF_ERROR(ValidateSharding(sharding, shard_type.shape.rank(), mesh));
  const ir::Shape global_shape = GlobalShape(shard_type.shape, sharding, mesh);
  ir::Literal global(ir::TensorType{shard_type.dtype, global_shape});
  const std::vector<int64_t> global_dims = Dims(global_shape.dims());
  const std::vector<int64_t> view = Dims(ShardView(shard_type.shape, sharding));
  const std::vector<int64_t> zeros(view.size(), 0);
  // Every block is written once: replicas after the first holder are skipped.
  absl::flat_hash_set<std::vector<int64_t>> written;
  for (int64_t i = 0; i < n; ++i) {
    if (!(shards[i].type() == shard_type)) {
      return absl::InvalidArgumentError(absl::StrCat("shard ", i, " is ",
                                                     shards[i].type().DebugString(), ", expected ",
                                                     shard_type.DebugString()));
    }
    const std::vector<int64_t> offset = Dims(ShardBox(shard_type.shape, sharding, mesh, i).offset);
    if (!sharding.stacked() && !written.insert(offset).second) continue;
    PW_RETURN_IF_ERROR(CopyBox(BoxCopy{view, zeros, global_dims, offset, view},
                               ir::DTypeSize(shard_type.dtype), shards[i].untyped_data(),
                               global.untyped_data()));
  }
  return global;
}

}  // namespace pw
