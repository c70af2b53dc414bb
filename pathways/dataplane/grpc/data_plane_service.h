// DataPlaneServiceImpl: the receiving side of host-to-host transfers across processes — the
// DataPlane service writing pushed chunks into a ShardReceiver (the host's executor).
#ifndef PATHWAYS_DATAPLANE_GRPC_DATA_PLANE_SERVICE_H_
#define PATHWAYS_DATAPLANE_GRPC_DATA_PLANE_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "pathways/base/async_value.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/service/data_plane.h"

namespace pw {

// One Push call per shard: its first message names the shard (array, shard, destination device,
// type) and carries either the producer's error (-> ShardReceiver::FailShard) or the first chunk;
// chunks must follow in order, each copied once from gRPC's receive buffers into the buffer
// ShardReceiver::BeginReceiveShard hands out. The answer is the receiver's verdict. A call that
// ends before the last byte fails the shard (UNAVAILABLE naming the sender), so its readers
// never wait forever.
//
// Threads: everything runs on gRPC callback threads (one chunk copy per message, no waiting).
// Push is a raw (ByteBuffer) method so chunks are never parsed into an intermediate string.
class DataPlaneServiceImpl final
    : public pathways::wire::DataPlane::WithRawCallbackMethod_Push<
          pathways::wire::DataPlane::Service> {
 public:
  // `name` names the receiving host in errors (e.g. "host:3"). A non-empty `operator_token` is
  // required of every push (gRPC metadata "pw-operator"): only peers of the host's cluster may
  // write into its buffers.
  explicit DataPlaneServiceImpl(std::string name, std::string operator_token = "");
  DataPlaneServiceImpl(const DataPlaneServiceImpl&) = delete;
  DataPlaneServiceImpl& operator=(const DataPlaneServiceImpl&) = delete;

  // Where chunks go; not owned, and it must outlive the server's Shutdown. Pushes arriving
  // before this is called wait for it (the server listens before the host has joined). Once.
  // A non-empty `name` replaces the constructor's from now on (the host's id, once known).
  void SetReceiver(ShardReceiver* receiver, std::string name = "");
  // Pushes waiting for a receiver, and later ones, are answered with `reason` (the host never
  // got its executor). No effect after SetReceiver.
  void Close(absl::Status reason);

  grpc::ServerReadReactor<grpc::ByteBuffer>* Push(grpc::CallbackServerContext* context,
                                                 grpc::ByteBuffer* response) override;

  struct Stats {
    int64_t pushes = 0;          // calls
    int64_t chunks = 0;          // chunk messages
    int64_t received_bytes = 0;  // shard bytes received
    // Shard bytes this service copied: each byte once, into the destination buffer (a
    // receiver without in-place chunks copies once more inside BeginReceiveShard's default).
    int64_t copied_bytes = 0;
  };
  Stats stats() const;

 private:
  class PushReactor;
  const std::string operator_token_;

  std::string name_;  // written before ready_ is set, read after
  const EventRef ready_ = AsyncEvent::Create();
  absl::Mutex mu_;
  bool decided_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<ShardReceiver*> receiver_{nullptr};
  std::atomic<int64_t> pushes_{0};
  std::atomic<int64_t> chunks_{0};
  std::atomic<int64_t> received_bytes_{0};
};

}  // namespace pw

#endif  // PATHWAYS_DATAPLANE_GRPC_DATA_PLANE_SERVICE_H_
