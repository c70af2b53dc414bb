// DataPlane: host-to-host shard transfers, never through the controller.
#ifndef PATHWAYS_WORKER_DATA_PLANE_H_
#define PATHWAYS_WORKER_DATA_PLANE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/ir/shape.h"

namespace pw {

// The receiving side of transfers; implemented by HostExecutor.
class ShardReceiver {
 public:
  virtual ~ShardReceiver() = default;
  // Writes `bytes` at `data` into shard `shard` of `array` on `device`, into the buffer the
  // receiver pre-allocated for it (or one it allocates now if the push arrives first), and
  // makes the shard ready. Thread-safe. Errors: INVALID_ARGUMENT for a size or type mismatch or a
  // device not on this host, RESOURCE_EXHAUSTED if no buffer can be allocated.
  virtual absl::Status ReceiveShard(ArrayId array, int32_t shard, DeviceId device,
                                    const ir::TensorType& type, const void* data,
                                    int64_t bytes) = 0;
  // Fails shard `shard` of `array` with `error` (the producer failed); dependents see it.
  virtual void FailShard(ArrayId array, int32_t shard, const ir::TensorType& type,
                         absl::Status error) = 0;
};

// The sending side, one per host. Implemented in-process (direct calls into the peer's
// ShardReceiver) and over gRPC (chunked pushes) in pathways/transport.
class DataPlane {
 public:
  virtual ~DataPlane() = default;
  // Pushes the shard to `dest_host`. `data` must stay valid until the returned event is
  // available; the event fails with UNAVAILABLE naming the host if it cannot be reached.
  virtual EventRef Push(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                        const ir::TensorType& type, const void* data, int64_t bytes) = 0;
  // Tells `dest_host` that the shard will never come, with the producer's error.
  virtual void PushError(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                         const ir::TensorType& type, absl::Status error) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_WORKER_DATA_PLANE_H_
