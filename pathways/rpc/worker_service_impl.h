// WorkerServiceImpl: the Worker gRPC service — what the controller's GrpcWorkerClient calls —
// forwarding to a host's WorkerService (its HostExecutor), with the wire's ordering and host
// program cache.
#ifndef PATHWAYS_RPC_WORKER_SERVICE_IMPL_H_
#define PATHWAYS_RPC_WORKER_SERVICE_IMPL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/base/trace.h"
#include "pathways/rpc/command_sequencer.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/wire/wire_convert.h"
#include "pathways/service/worker_service.h"

namespace pw {

// What the service forwards to once the host has joined. Not owned; they must outlive the
// server's Shutdown.
struct WorkerBackend {
  HostId host;
  WorkerService* worker = nullptr;
  // Receives the results of runs the service fails itself (unknown program key, a run that does
  // not fit its program): the same observer the executor reports to.
  RunObserver* observer = nullptr;
  TraceRecorder* trace = nullptr;  // may be null: Trace answers with no events
};

struct WorkerServiceImplOptions {
  // Names the host in errors until it has an id (e.g. the listen address).
  std::string name = "worker";
  // Called (on a gRPC thread, after the answer went out) when Worker.Shutdown arrives.
  std::function<void()> on_shutdown;
  // Required of every call (gRPC metadata "pw-operator"): commands come from the controller and
  // peers of this host's cluster only. Empty: nothing is required.
  std::string operator_token;
};

// Threads: every method runs on gRPC callback threads and only queues work on the executor
// (runs, releases and FetchShard are queued there anyway), except RegisterFunction, which
// compiles the function, and PutShard, which copies the shard to its device.
//
// Checkpoints travel on the same calls: FetchShard with save_path is WorkerService::SaveShard
// (answered once the file is written), PutShard with load is WorkerService::LoadShard.
//
// Ordering: runs and releases (batches on the Commands stream) and FetchShard with seq > 0 are
// applied in seq order (CommandSequencer); FetchShard answers once the shard is ready (no thread
// waits for it). A batch is handled on the gRPC thread that read it (its commands applied or
// parked) before the next is read. A command that cannot be read or a repeated seq ends the
// stream with INVALID_ARGUMENT naming it (a repeated FetchShard seq is answered so); the
// batch's seqs still count. The stream needs the operator token like every call
// (PERMISSION_DENIED ends it at once); Stop ends every open stream with its reason.
// PeerLost carries no seq and is applied on arrival: it must not wait behind a run still in
// transit, and the executor fails the receives of such a run when it comes.
//
// Host programs: a run carrying `program` caches it under its key (in seq order, so a later run
// naming only the key finds it even if it arrived first); a run naming a key this host does not
// hold is not dispatched: its HostRunResult carries FAILED_PRECONDITION naming the key.
//
// Calls that arrive before SetBackend wait for it (the controller may call as soon as the host
// joined, before its executor exists).
class WorkerServiceImpl final : public pathways::wire::Worker::CallbackService {
 public:
  explicit WorkerServiceImpl(WorkerServiceImplOptions options);
  ~WorkerServiceImpl() override;
  WorkerServiceImpl(const WorkerServiceImpl&) = delete;
  WorkerServiceImpl& operator=(const WorkerServiceImpl&) = delete;

  // Once; calls waiting for it proceed (on this thread).
  void SetBackend(WorkerBackend backend);
  // Before grpc::Server::Shutdown: answers every call still waiting (for the backend, for its
  // seq, for a shard) with `reason`, and refuses later ones, so the server can stop.
  void Stop(absl::Status reason);

  grpc::ServerUnaryReactor* RegisterFunction(
      grpc::CallbackServerContext* context,
      const pathways::wire::WorkerRegisterFunctionRequest* request,
      pathways::wire::StatusResponse* response) override;
  grpc::ServerBidiReactor<pathways::wire::WorkerCommandBatch, pathways::wire::StatusResponse>*
  Commands(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* PutShard(grpc::CallbackServerContext* context,
                                     const pathways::wire::PutShardRequest* request,
                                     pathways::wire::StatusResponse* response) override;
  grpc::ServerUnaryReactor* FetchShard(grpc::CallbackServerContext* context,
                                       const pathways::wire::FetchShardRequest* request,
                                       pathways::wire::FetchShardResponse* response) override;
  grpc::ServerUnaryReactor* FailShards(grpc::CallbackServerContext* context,
                                       const pathways::wire::FailShardsRequest* request,
                                       pathways::wire::StatusResponse* response) override;
  grpc::ServerUnaryReactor* CancelRun(grpc::CallbackServerContext* context,
                                      const pathways::wire::WorkerCancelRunRequest* request,
                                      pathways::wire::StatusResponse* response) override;
  grpc::ServerUnaryReactor* PeerLost(grpc::CallbackServerContext* context,
                                     const pathways::wire::PeerLostRequest* request,
                                     pathways::wire::StatusResponse* response) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const pathways::wire::HostStatusRequest* request,
                                   pathways::wire::HostStatusResponse* response) override;
  grpc::ServerUnaryReactor* Trace(grpc::CallbackServerContext* context,
                                  const pathways::wire::TraceRequest* request,
                                  pathways::wire::TraceResponse* response) override;
  grpc::ServerUnaryReactor* Shutdown(grpc::CallbackServerContext* context,
                                     const pathways::wire::ShutdownRequest* request,
                                     pathways::wire::StatusResponse* response) override;

  // Host programs held.
  int64_t num_programs() const;
  const CommandSequencer& sequencer() const { return sequencer_; }

 private:
  // A run as it waits for its turn: the program already parsed (if it came with one) and the
  // bindings, or the error that will be reported when its turn comes.
  struct PendingRun;
  // A FetchShard waiting for its turn or its shard; answered exactly once.
  struct PendingFetch;
  // One open Commands stream (worker_command_stream.cc).
  class CommandReader;

  // Runs `fn` once the backend is set (at once if it is), or answers `response` with the
  // reason it never will be.
  template <typename Response>
  void WhenReady(grpc::ServerUnaryReactor* reactor, Response* response,
                 absl::AnyInvocable<void()> fn);
  // Checks a batch and queues its commands in the sequencer; the error (naming the command)
  // ends the stream.
  absl::Status ApplyBatch(const pathways::wire::WorkerCommandBatch& batch);
  // Ends each stream with `reason` (Stop).
  static void EndStreams(const absl::flat_hash_set<std::shared_ptr<CommandReader>>& streams,
                         const absl::Status& reason);
  absl::Status QueueRun(const pathways::wire::HostRunProto& request);
  absl::Status QueueRelease(const pathways::wire::ReleaseRequest& request);
  void ApplyRun(PendingRun& run);
  void ReportFailedRun(const PendingRun& run, absl::Status error);
  void StartFetch(const std::shared_ptr<PendingFetch>& fetch, ArrayId array, int32_t shard);
  void StartSave(const std::shared_ptr<PendingFetch>& fetch, ArrayId array, int32_t shard,
                 const std::string& path);
  void FinishFetch(const std::shared_ptr<PendingFetch>& fetch, const absl::Status& status,
                   const ir::Literal* data, const checkpoint::ShardFile* saved = nullptr);

  const WorkerServiceImplOptions options_;
  const EventRef ready_ = AsyncEvent::Create();
  WorkerBackend backend_;  // written once before ready_ is set
  CommandSequencer sequencer_;

  mutable absl::Mutex mu_;
  bool decided_ ABSL_GUARDED_BY(mu_) = false;  // SetBackend or Stop happened
  std::optional<absl::Status> stopped_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, wire::ReceivedHostProgram> programs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::shared_ptr<PendingFetch>> fetches_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::shared_ptr<CommandReader>> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_RPC_WORKER_SERVICE_IMPL_H_
