// InProcessDataPlane: the DataPlane for hosts living in one process — a push is a direct call
// into the destination host's ShardReceiver (one memcpy into its pre-allocated buffer).
#ifndef PATHWAYS_DATAPLANE_IN_PROCESS_IN_PROCESS_DATA_PLANE_H_
#define PATHWAYS_DATAPLANE_IN_PROCESS_IN_PROCESS_DATA_PLANE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/service/data_plane.h"

namespace pw {

// A directory HostId -> ShardReceiver shared by every host of the process. Thread-safe.
//
// Pushes run the receiver's ReceiveShard on the pushing thread (typically the producer's device
// thread) without holding the directory lock, so a push may trigger further pushes. Unregister
// waits for pushes already inside the receiver to return, after which the receiver may be
// destroyed.
class InProcessDataPlane final : public DataPlane {
 public:
  InProcessDataPlane() = default;
  InProcessDataPlane(const InProcessDataPlane&) = delete;
  InProcessDataPlane& operator=(const InProcessDataPlane&) = delete;
  ~InProcessDataPlane() override;

  // `receiver` is not owned and must stay valid until Unregister(host) returns.
  // ALREADY_EXISTS when `host` is registered.
  absl::Status Register(HostId host, ShardReceiver* receiver);
  // Removes `host`; pushes to it fail with UNAVAILABLE from now on. Must not be called from
  // inside a push. Unknown hosts are ignored.
  void Unregister(HostId host);

  // Returns an available event: OK, the receiver's error, or UNAVAILABLE naming the host.
  EventRef Push(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                const ir::TensorType& type, const void* data, int64_t bytes) override;
  // Dropped (with a log line) when the host is unknown.
  void PushError(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                 const ir::TensorType& type, absl::Status error) override;

  int64_t pushes() const;
  std::string DebugString() const;

 private:
  struct Peer {
    ShardReceiver* receiver = nullptr;
    int64_t active = 0;  // calls inside the receiver
  };
  // The peer with one more active call, or null.
  std::shared_ptr<Peer> Acquire(HostId host);
  void ReleasePeer(const std::shared_ptr<Peer>& peer);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<HostId, std::shared_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
  int64_t pushes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_DATAPLANE_IN_PROCESS_IN_PROCESS_DATA_PLANE_H_
