// Global arrays and their shards on the client: cutting a host literal into the shards of a
// layout (Put) and putting fetched shards back together (fetch). Pure; thread-safe.
#ifndef PATHWAYS_CLIENT_GLOBAL_ARRAY_H_
#define PATHWAYS_CLIENT_GLOBAL_ARRAY_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/dataflow/sharding.h"
#include "pathways/ir/literal.h"

namespace pw {

// The shards of `global` laid out by `sharding` over `mesh` (one per device, in device order).
// INVALID_ARGUMENT when the sharding does not fit the mesh or the global shape does not divide.
absl::StatusOr<std::vector<ir::Literal>> SplitGlobal(const ir::Literal& global,
                                                     const Sharding& sharding,
                                                     absl::Span<const int64_t> mesh);

// The global array the `shards` (one per device of `mesh`, each of `shard_type`) form under
// `sharding`; a replicated block is read from its first holder. INVALID_ARGUMENT when a shard
// is not of `shard_type` or the count is not the mesh's.
absl::StatusOr<ir::Literal> AssembleGlobal(absl::Span<const ir::Literal> shards,
                                           const ir::TensorType& shard_type,
                                           const Sharding& sharding,
                                           absl::Span<const int64_t> mesh);

}  // namespace pw

#endif  // PATHWAYS_CLIENT_GLOBAL_ARRAY_H_
