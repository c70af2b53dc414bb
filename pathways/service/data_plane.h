// DataPlane: host-to-host shard transfers, never through the controller.
#ifndef PATHWAYS_SERVICE_DATA_PLANE_H_
#define PATHWAYS_SERVICE_DATA_PLANE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/ir/shape.h"

namespace pw {

// A shard being received in pieces (a chunked push across processes): the receiver hands out
// the destination buffer so chunks land in it directly, without staging the whole shard first.
// Used by one thread at a time.
class IncomingShard {
 public:
  // Destroying an unfinished shard fails it (CANCELLED), so its readers never wait forever.
  virtual ~IncomingShard() = default;
  // The shard's type.byte_size() bytes; write them in any order before Finish.
  virtual char* data() = 0;
  // OK: the bytes are complete and the shard becomes ready. Otherwise the shard fails with
  // `status`. Call once. Returns the receiver's verdict: OK, or why the shard could not be
  // stored (then the shard fails with that error too).
  virtual absl::Status Finish(absl::Status status) = 0;
};

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

  // Starts receiving the shard in pieces: ReceiveShard split in two, so a transport can write
  // chunks straight into the destination. Thread-safe; ReceiveShard's errors. The default stages
  // the bytes and calls ReceiveShard on Finish (one extra copy; errors come from Finish);
  // HostExecutor hands out the pre-allocated device buffer itself and reports errors here.
  virtual absl::StatusOr<std::unique_ptr<IncomingShard>> BeginReceiveShard(
      ArrayId array, int32_t shard, DeviceId device, const ir::TensorType& type);
};

namespace data_plane_internal {
class StagedIncomingShard final : public IncomingShard {
 public:
  StagedIncomingShard(ShardReceiver* receiver, ArrayId array, int32_t shard, DeviceId device,
                      ir::TensorType type)
      : receiver_(receiver), array_(array), shard_(shard), device_(device),
        type_(std::move(type)), bytes_(static_cast<size_t>(type_.byte_size()), '\0') {}
  ~StagedIncomingShard() override {
    if (!finished_) {
      (void)Finish(absl::CancelledError("the push ended before the shard was complete"));
    }
  }
  char* data() override { return bytes_.data(); }
  absl::Status Finish(absl::Status status) override {
    finished_ = true;
    if (status.ok()) {
      return receiver_->ReceiveShard(array_, shard_, device_, type_, bytes_.data(),
                                     static_cast<int64_t>(bytes_.size()));
    }
    receiver_->FailShard(array_, shard_, type_, std::move(status));
    return absl::OkStatus();
  }

 private:
  ShardReceiver* const receiver_;
  const ArrayId array_;
  const int32_t shard_;
  const DeviceId device_;
  const ir::TensorType type_;
  std::string bytes_;
  bool finished_ = false;
};
}  // namespace data_plane_internal

inline absl::StatusOr<std::unique_ptr<IncomingShard>> ShardReceiver::BeginReceiveShard(
    ArrayId array, int32_t shard, DeviceId device, const ir::TensorType& type) {
  return std::make_unique<data_plane_internal::StagedIncomingShard>(this, array, shard, device,
                                                                    type);
}

// The sending side, one per host. Implemented in-process (direct calls into the peer's
// ShardReceiver) and over gRPC and TCP (chunked pushes) in pathways/dataplane.
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

#endif  // PATHWAYS_SERVICE_DATA_PLANE_H_
