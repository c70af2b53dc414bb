// GrpcWorkerClient: the WorkerService the controller holds for a host in another process — the
// Worker service's stub, with ordered commands stamped `seq`, batched on one persistent stream,
// and host programs sent once.
#ifndef PATHWAYS_RPC_GRPC_WORKER_CLIENT_H_
#define PATHWAYS_RPC_GRPC_WORKER_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/base/trace.h"
#include "pathways/dataflow/host_run.h"
#include "pathways/dataflow/lowered_program.h"
#include "pathways/rpc/client_stream.h"
#include "pathways/rpc/grpc_call_tracker.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/service/worker_service.h"

namespace pw {

struct GrpcWorkerClientOptions {
  HostId host;
  std::string address;  // the worker's Worker service, "ip:port"
  // Receives a failed HostRunResult for every Run that could not be handed to the worker (the
  // worker will never report it). Required; must outlive the client.
  RunObserver* observer = nullptr;
  // Called once, on the first call that fails at the gRPC level (UNAVAILABLE, or a deadline
  // passed on a call the worker answers at once): the host is probably gone. Runs on a gRPC
  // thread or the caller's: it must be quick and must not call back into this client.
  std::function<void(HostId, absl::Status)> on_failure;
  // How long Status waits for an answer before reporting the host unreachable.
  absl::Duration status_timeout = absl::Seconds(1);
  // Deadline of the calls a live worker answers at once (RegisterFunction, PeerLost, FailShards,
  // CancelRun, Shutdown); PutShard gets this plus one second per 100 MB it carries. FetchShard has none:
  // it answers when the shard is ready, and keepalive pings notice a peer that vanished.
  absl::Duration call_timeout = absl::Seconds(30);
  // Null: a channel from grpc_transport::MakeChannel(address).
  std::shared_ptr<grpc::Channel> channel;
  // Releases wait while the host has runs in flight: they leave with the next run's batch, or
  // once RunsDone says the host's runs all finished, instead of in a message of their own (a
  // loop that releases each step's input then runs the next step sends one message per step,
  // not two). Only for an owner that calls RunsDone for every result the worker reports.
  bool defer_releases_while_running = false;
};

// Threads: every method may be called from any thread. Run, Release and FetchShard return at
// once; their calls go out asynchronously (gRPC callback API). Each of them takes the next
// `seq` (1, 2, 3, ... per client, assigned in call order under one lock), and the worker applies
// them in that order whatever order they arrive in, so every host sees the controller's gang
// order. Completion callbacks run on gRPC threads.
//
// The command stream: runs and releases go out on one Worker.Commands stream, opened by the
// first of them and kept for the client's life. A command goes out at once when no write is in
// flight (on the calling thread: no hand-off); commands arriving meanwhile wait and leave
// together, in seq order, as the next batch (at most kMaxCommandsPerBatch each). With
// defer_releases_while_running, releases alone wait while the host has runs in flight: they go
// with the next run, when RunsDone says none is left, or ahead of a fetch, save or put. Their
// outcome comes back on the worker's ControllerWorkers.ReportRuns stream, not here.
//
// Host programs: the first Run of a lowering (HostRun::lowered, the shared_ptr the controller's
// lowering cache hands out) carries the host's HostProgramProto under a fresh key; later runs of
// it carry the key only. The client remembers lowerings by weak_ptr, so a freed lowering whose
// address is reused gets a new key. A Run carrying the program that fails forgets the key, so
// the next run sends the program again.
//
// Failures: a call failing at the gRPC level fails what it carried — a Run's part becomes a
// HostRunResult with UNAVAILABLE naming the host and its address, a FetchShard's future fails
// the same way — and reports `on_failure`. The command stream ending for any reason but this
// client's own MarkLost or destruction is such a failure (the worker died, stopped, or refused
// a command: its error names it): the runs it had not sent fail, and every later run fails at
// once with the same error. MarkLost() makes every later call fail at once.
class GrpcWorkerClient final : public WorkerService {
 public:
  explicit GrpcWorkerClient(GrpcWorkerClientOptions options);
  // Cancels the calls in flight and the command stream and waits for their callbacks
  // (FetchShard futures fail with CANCELLED, runs not yet sent are reported failed).
  ~GrpcWorkerClient() override;
  GrpcWorkerClient(const GrpcWorkerClient&) = delete;
  GrpcWorkerClient& operator=(const GrpcWorkerClient&) = delete;

  // WorkerService.
  HostId host() const override { return options_.host; }
  // Blocking. The worker's error, or UNAVAILABLE naming the host.
  absl::Status RegisterFunction(FunctionId id, const ir::Function& function) override;
  void Run(HostRun run) override;
  // Blocking.
  absl::Status PutShard(ArrayId array, int32_t shard, DeviceId device,
                        const ir::Literal& data) override;
  AsyncValueRef<ir::Literal> FetchShard(ArrayId array, int32_t shard) override;
  // The worker writes and reads the files on its own filesystem: no shard data crosses the wire.
  AsyncValueRef<checkpoint::ShardFile> SaveShard(ArrayId array, int32_t shard,
                                                 std::string path) override;
  absl::Status LoadShard(ArrayId array, int32_t shard, DeviceId device,
                         const checkpoint::ShardFile& file) override;
  // Fire and forget (but ordered); a failure only reports `on_failure`.
  void Release(absl::Span<const ArrayId> arrays) override;
  // Fire and forget, and unordered (no seq): it takes effect on arrival, even ahead of a Run
  // sent before it, which is correct because the worker keeps the peer lost for every later
  // run; a seq would only make it wait behind runs still in transit. A failure only reports
  // `on_failure`.
  void PeerLost(HostId peer, absl::Status reason) override;
  void FailShards(ArrayId array, absl::Span<const int32_t> shards, absl::Status status) override;
  void CancelRun(RunId run, absl::Status status) override;
  // Blocking for at most status_timeout. A host that does not answer is returned with only
  // `host` and `status` set: UNAVAILABLE "host:3 (127.0.0.1:5000) did not answer Status ...".
  HostStatus Status() const override;

  // The worker's recent trace events, merged into `into` (which must be recording).
  absl::Status FetchTrace(TraceRecorder& into, absl::Duration timeout) const;
  // Asks the worker process to stop.
  absl::Status Shutdown(absl::Duration timeout);

  // The worker reported `n` results (one per Run; see defer_releases_while_running). Releases
  // waiting for the host's runs go out once none is in flight.
  void RunsDone(int64_t n);

  // The host was declared lost: calls in flight are cancelled and every later call fails at once
  // with `reason` (Run: reported to the observer). The first reason sticks.
  void MarkLost(absl::Status reason);
  // OK while the host is believed alive.
  absl::Status lost() const;

  const std::string& address() const { return options_.address; }
  // The last seq stamped (0 before any ordered command).
  uint64_t last_seq() const;
  // Host programs sent with a run so far (not counting runs that carried only the key).
  int64_t programs_sent() const;
  // Batches written to the command stream so far (each holding one or more commands).
  int64_t batches_written() const;
  std::string DebugString() const;

 private:
  struct ProgramEntry {
    std::weak_ptr<const LoweredProgram> lowered;
    uint64_t key = 0;
  };
  // A run in a batch not yet written, to fail if it never is.
  struct QueuedRun {
    RunId run;
    int64_t stage = 0;
    const LoweredProgram* lowered = nullptr;
    uint64_t key = 0;
    bool with_program = false;
  };
  using CommandBatch = pathways::wire::WorkerCommandBatch;
  using CommandStream = grpc_transport::ClientStream<CommandBatch>;

  // Starts an async unary call; `done(grpc_status, response)` runs once on a gRPC thread (or
  // inline, with CANCELLED, when the client is closing).
  template <typename Request, typename Response, typename Start, typename Done>
  void StartAsync(Request request, absl::Duration timeout, Start start, Done done) const;
  // What a failed gRPC call means for the runtime; reports on_failure when the host looks gone.
  absl::Status CallFailed(const grpc::Status& status, std::string_view what,
                          bool deadline_means_lost) const;
  void ReportFailure(const absl::Status& status) const;
  // The completion of a call nothing waits for (PeerLost, FailShards, CancelRun): a failed call is judged
  // by CallFailed (a deadline means the host is gone), an error answer is logged.
  std::function<void(const grpc::Status&, pathways::wire::StatusResponse&)> NotifyOnly(
      std::string what) const;
  // Reports run `run` (stage `stage`) of this host as failed to the observer.
  void FailRun(RunId run, int64_t stage, absl::Status status) const;
  // The key of `lowered` on this host and whether this run must carry the program.
  std::pair<uint64_t, bool> ProgramKeyLocked(const std::shared_ptr<const LoweredProgram>& lowered)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetProgram(const LoweredProgram* lowered, uint64_t key);
  // Command stream (grpc_worker_client_commands.cc). `add(batch)` appends one command to the
  // waiting batch under mu_ (so seq order is batch order); the batch goes out at once if no
  // write is in flight. False (nothing added) once the stream failed or the host was lost.
  void OpenStreamLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `run` (null for a release) is recorded after `add` ran, so `add` may fill it in.
  bool EnqueueLocked(const std::function<void(CommandBatch&)>& add, const QueuedRun* run)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the waiting batch for writing if no write is in flight (null otherwise), and unless it
  // holds releases only that wait for the host's runs (defer_releases_while_running).
  // `releases_too`: they go now, or with the next batch taken if a write is in flight.
  std::unique_ptr<CommandBatch> TakeBatchLocked(bool releases_too = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // TakeBatchLocked, opening the stream when the batch taken is its first (*open: start it
  // with this batch).
  std::unique_ptr<CommandBatch> TakeBatchOpeningLocked(bool* open, bool releases_too = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the releases waiting for the host's runs now (or with the next batch, if a write is
  // in flight). Outside mu_.
  void FlushReleases();
  // Writes `batch` (starting the stream with it the first time). Outside mu_.
  void WriteBatch(std::unique_ptr<CommandBatch> batch, bool open);
  void OnBatchWritten(bool ok);
  void OnStreamDone(const grpc::Status& status);
  // Fails every run in `runs` with `status` (and forgets the programs they carried).
  void FailQueuedRuns(std::vector<QueuedRun> runs, const absl::Status& status);
  // PutShard and LoadShard: `request` with its data or load set; the rest is filled here.
  absl::Status CallPutShard(pathways::wire::PutShardRequest request, ArrayId array, int32_t shard,
                            DeviceId device, int64_t bytes, const std::string& what);
  // FetchShard and SaveShard (with `save_path`): fails `result` with the call's or the worker's
  // error, or hands the response to `on_ok`.
  template <typename T>
  void StartFetchCall(ArrayId array, int32_t shard, std::string save_path, std::string what,
                      const AsyncValueRef<T>& result,
                      std::function<void(pathways::wire::FetchShardResponse&)> on_ok);

  const GrpcWorkerClientOptions options_;
  const std::string peer_;  // "host:3 (127.0.0.1:5000)"
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pathways::wire::Worker::Stub> stub_;
  std::shared_ptr<grpc_transport::CallTracker> calls_;

  mutable absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_key_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<const LoweredProgram*, ProgramEntry> programs_ ABSL_GUARDED_BY(mu_);
  // Keys of programs whose lowering is gone, for the worker to drop: sent with the next run (a
  // run that never reaches the worker takes its list along; a host that lost runs is lost).
  std::vector<uint64_t> forget_ ABSL_GUARDED_BY(mu_);
  int64_t inserts_since_sweep_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t programs_sent_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status lost_ ABSL_GUARDED_BY(mu_);
  mutable bool failure_reported_ ABSL_GUARDED_BY(mu_) = false;

  // The command stream: null until the first command; once it ended, stream_error_ says why.
  std::unique_ptr<CommandStream> stream_ ABSL_GUARDED_BY(mu_);
  absl::Status stream_error_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // MarkLost or the destructor ended the stream
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // a write failed: the stream is over
  std::unique_ptr<CommandBatch> waiting_ ABSL_GUARDED_BY(mu_);
  // Runs enqueued and not yet reported done (defer_releases_while_running only).
  int64_t runs_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // The waiting releases go with the next batch taken, runs in flight or not.
  bool flush_releases_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<QueuedRun> waiting_runs_ ABSL_GUARDED_BY(mu_);
  std::vector<QueuedRun> writing_runs_ ABSL_GUARDED_BY(mu_);
  int64_t batches_written_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_RPC_GRPC_WORKER_CLIENT_H_
