// Array: a client's handle on a sharded array that is a future — usable before it is computed.
#ifndef PATHWAYS_CLIENT_ARRAY_H_
#define PATHWAYS_CLIENT_ARRAY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pathways/base/ids.h"
#include "pathways/service/controller_service.h"
#include "pathways/ir/literal.h"

namespace pw {

namespace internal {
struct ClientState;  // the connection an Array keeps alive
// One logical (sharded) array: the controller reference is counted once here, not per shard
// (paper §4.2), and released when the last Array copy goes away.
struct ArrayRef {
  std::shared_ptr<ClientState> client;
  ArrayInfo info;
  RunId producer;  // the run computing it (invalid for put or restored arrays)
  ~ArrayRef();
};
}  // namespace internal

class Array;
namespace internal {
// Wraps a controller array (already counted once for this client) in a handle.
Array AdoptArray(std::shared_ptr<ClientState> client, ArrayInfo info, RunId producer = RunId());
}  // namespace internal

// Copies share one reference; the array's device memory is freed when the last copy is
// destroyed or Release() is called. Its global shape follows its sharding over its slice's
// mesh (sharding.h): stacked (pmap semantics, the default) is [num_shards, shard_shape...],
// shard i holding global row i on device i of its slice; partitioned layouts split dimensions
// over mesh axes, and replicated arrays have the shard's shape.
class Array {
 public:
  Array() = default;

  bool valid() const { return ref_ != nullptr; }
  ArrayId id() const;
  const ArraySpec& spec() const;
  const ir::TensorType& shard_type() const { return spec().shard_type; }
  ir::DType dtype() const { return shard_type().dtype; }
  int64_t num_shards() const;
  const Sharding& sharding() const { return spec().sharding; }
  // The slice's mesh ([num_shards] for a slice without one).
  std::vector<int64_t> mesh() const;
  // The global shape: [num_shards, shard dims...] when stacked.
  ir::Shape shape() const;
  const std::vector<DeviceId>& devices() const;
  // The run that computes this array (Client::Cancel cancels it); invalid for an array put or
  // restored from a checkpoint.
  RunId producer() const;

  // Blocks until every shard is computed; returns the error that reached the array, if any.
  absl::Status Await() const;
  // Fetches every shard to host memory (after Await).
  absl::StatusOr<std::vector<ir::Literal>> FetchShards() const;
  // The whole array as one literal of shape() (the shards put together by the sharding).
  absl::StatusOr<ir::Literal> ToLiteral() const;
  // Drops this handle's reference now (other copies keep the array alive).
  void Release() { ref_.reset(); }

  std::string DebugString() const;

 private:
  friend Array internal::AdoptArray(std::shared_ptr<internal::ClientState>, ArrayInfo, RunId);
  explicit Array(std::shared_ptr<internal::ArrayRef> ref) : ref_(std::move(ref)) {}
  std::shared_ptr<internal::ArrayRef> ref_;
};

}  // namespace pw

#endif  // PATHWAYS_CLIENT_ARRAY_H_
