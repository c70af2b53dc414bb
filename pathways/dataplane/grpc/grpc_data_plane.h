// GrpcDataPlane: the sending side of host-to-host transfers across processes — each push is one
// DataPlane.Push call streaming the shard in chunks from its device buffer to the peer host.
#ifndef PATHWAYS_DATAPLANE_GRPC_GRPC_DATA_PLANE_H_
#define PATHWAYS_DATAPLANE_GRPC_GRPC_DATA_PLANE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/service/host_resolver.h"
#include "pathways/service/data_plane.h"

namespace pw {

struct GrpcDataPlaneOptions {
  // Names the sending host in errors and logs (e.g. "host:3").
  std::string name = "data plane";
  HostResolver resolve;
  // Bytes per ShardPushProto; tests shrink it to get many chunks from small shards.
  int64_t chunk_bytes = grpc_transport::kPushChunkBytes;
};

// Threads: Push and PushError return at once, from any thread. A push to a host already resolved
// starts its call on the calling thread (no blocking work); otherwise the plane's thread resolves
// the host first. The returned event is set once the receiver answered (its verdict: OK or why it
// could not store the shard) or the call failed — on a gRPC callback thread or the plane's
// thread, never inside gRPC's transport — and only once gRPC has let go of the shard's memory.
//
// Copies: none in user space on this side. Each chunk message is a small header plus a gRPC
// slice pointing into the caller's buffer; the kernel copies it into the socket. (The receiver
// copies each chunk once, from gRPC's receive buffers into the destination buffer.)
//
// One channel (one TCP connection) per peer host, created on first use and kept.
class GrpcDataPlane final : public DataPlane {
 public:
  explicit GrpcDataPlane(GrpcDataPlaneOptions options);
  // Shutdown().
  ~GrpcDataPlane() override;
  GrpcDataPlane(const GrpcDataPlane&) = delete;
  GrpcDataPlane& operator=(const GrpcDataPlane&) = delete;

  // Errors on the event: UNAVAILABLE naming the host (and its address, once resolved) when it
  // cannot be resolved or reached or the call breaks; the receiver's error otherwise (e.g.
  // INVALID_ARGUMENT for a type mismatch, RESOURCE_EXHAUSTED when it has no memory).
  EventRef Push(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                const ir::TensorType& type, const void* data, int64_t bytes) override;
  // Fire and forget; a failure is logged.
  void PushError(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                 const ir::TensorType& type, absl::Status error) override;

  // Fails pushes still waiting for their host's address, cancels calls in flight and waits until
  // every push event is set; later pushes fail UNAVAILABLE at once. Idempotent. Must not be
  // called from a push event's callback.
  void Shutdown();

  struct Stats {
    int64_t pushes = 0;          // Push and PushError calls
    int64_t chunks = 0;          // chunk messages written
    int64_t payload_bytes = 0;   // shard bytes handed to gRPC (by reference)
    int64_t copied_bytes = 0;    // shard bytes copied in user space on this side (always 0)
  };
  Stats stats() const;
  std::string DebugString() const;

 private:
  class PushCall;
  struct Peer {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<grpc::GenericStub> stub;
  };

  // Starts `call` now (host resolved) or queues it behind its host's resolution.
  void Submit(PushCall* call);
  void Resolve(HostId host);
  // Runs `task` on the plane's thread (completions released inside gRPC's transport).
  void Post(absl::AnyInvocable<void()> task);
  void Loop();
  // Bookkeeping of a call: no longer cancellable, and its event set.
  void Ended(PushCall* call);
  void Finished();

  const GrpcDataPlaneOptions options_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool thread_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<HostId, std::shared_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
  // Calls waiting for their host's address, by host.
  absl::flat_hash_map<HostId, std::vector<PushCall*>> unresolved_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<PushCall*> in_flight_ ABSL_GUARDED_BY(mu_);
  int64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;  // pushes whose event is not set yet
  std::deque<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);

  std::atomic<int64_t> pushes_{0};
  std::atomic<int64_t> chunks_{0};
  std::atomic<int64_t> payload_bytes_{0};

  std::thread thread_;
};

}  // namespace pw

#endif  // PATHWAYS_DATAPLANE_GRPC_GRPC_DATA_PLANE_H_
