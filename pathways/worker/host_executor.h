// HostExecutor: one host's executor (paper §4.4) — owns the host's view of its devices, its
// object store and compiled functions, and turns HostRun messages into device stream work.
#ifndef PATHWAYS_WORKER_HOST_EXECUTOR_H_
#define PATHWAYS_WORKER_HOST_EXECUTOR_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "pathways/base/async_value.h"
#include "pathways/base/event_loop.h"
#include "pathways/base/ids.h"
#include "pathways/base/trace.h"
#include "pathways/collectives/collective_groups.h"
#include "pathways/device/device.h"
#include "pathways/kernels/compile_options.h"
#include "pathways/kernels/cpu_executable.h"
#include "pathways/kernels/executable_cache.h"
#include "pathways/worker/buffer_store.h"
#include "pathways/service/data_plane.h"
#include "pathways/service/worker_service.h"

namespace pw {

struct HostExecutorOptions {
  HostId host;
  // The host's devices; not owned, and they must outlive the executor (in-flight steps finish
  // on their streams while the executor shuts down).
  std::vector<Device*> devices;
  // Not owned; must outlive the executor. The data plane is the sending side only: whoever
  // owns the executor registers it as the host's ShardReceiver (and unregisters it before
  // destroying it).
  DataPlane* data_plane = nullptr;
  CollectiveGroups* collectives = nullptr;
  // Receives one HostRunResult per message (also for messages still queued at destruction).
  RunObserver* observer = nullptr;
  TraceRecorder* trace = nullptr;
  CompileOptions compile;
  // How long the idle dispatch thread polls its inbox before sleeping (a wake-up costs ~40 µs).
  // Applies to the executor's own loop only (dispatch_loop null).
  int64_t idle_spin_nanos = 50'000;
  // The loop the host's dispatch runs on; not owned, must outlive the executor. Null: the
  // executor makes its own one-thread loop. Many hosts of a simulated cluster share one, so
  // 512 hosts do not cost 512 threads.
  EventLoop* dispatch_loop = nullptr;
  // Back-pressure: an output, scratch arena or put that fits its device but not the memory free
  // now waits this long, in order, for the buffers the host's earlier work releases as it
  // finishes (MemoryPool::Allocate with a wait) — the dispatch thread waits, so later messages
  // wait behind it. What can never fit the device fails at once with RESOURCE_EXHAUSTED.
  absl::Duration allocation_wait = absl::Seconds(5);
};

// Threads: Run() only queues the message; the dispatch task (on the executor's own one-thread
// loop, or on a loop shared with other hosts: one task of this host at a time) processes
// messages strictly in arrival order, doing all host work of a message at once (output and receive allocation,
// collective joins, enqueueing every compute shard with wait_for = its inputs' ready events).
// Completions run as short callbacks on the device stream threads (and, for pushes from peers,
// on the pusher's thread): they complete store entries, start sends and copies, and count the
// message's steps down; the step that finishes a message releases its temporaries and reports
// to the observer.
//
// Ordering: Release and FetchShard take effect after every run received before them has been
// dispatched (they travel the same FIFO when needed), so releasing an array right after Run
// cannot starve the run, and fetching a shard a queued run produces waits for it instead of
// failing with NOT_FOUND. Release therefore returns before the memory is freed. PeerLost travels
// the same FIFO, so every run received before it is dispatched (its receive entries exist) when
// the dispatch thread fails the receives from the lost peer; the peer then stays lost, and each
// later run's receives from it are failed right after that run is dispatched.
//
// Scratch: each device keeps one scratch arena reused by all its steps (a device runs one step
// at a time); it grows to the largest need and is reported in DeviceStatus::scratch_bytes.
class HostExecutor final : public WorkerService, public ShardReceiver {
 public:
  // Trace lanes (tid) on the host's pid, beside the device lanes (tid = device id).
  static constexpr int64_t kDispatchLane = 1000;
  static constexpr int64_t kTransferLane = 1001;

  explicit HostExecutor(HostExecutorOptions options);
  // Stops the dispatch thread (queued messages are reported as ABORTED), fails every shard
  // still pending in the store, aborts the gangs of in-flight steps, and waits for in-flight
  // steps to drain from the device streams. Never waits on a peer host.
  ~HostExecutor() override;
  HostExecutor(const HostExecutor&) = delete;
  HostExecutor& operator=(const HostExecutor&) = delete;

  // WorkerService.
  HostId host() const override { return options_.host; }
  absl::Status RegisterFunction(FunctionId id, const ir::Function& function) override;
  void Run(HostRun run) override;
  absl::Status PutShard(ArrayId array, int32_t shard, DeviceId device,
                        const ir::Literal& data) override;
  AsyncValueRef<ir::Literal> FetchShard(ArrayId array, int32_t shard) override;
  void Release(absl::Span<const ArrayId> arrays) override;
  void PeerLost(HostId peer, absl::Status reason) override;
  void FailShards(ArrayId array, absl::Span<const int32_t> shards, absl::Status status) override;
  void CancelRun(RunId run, absl::Status status) override;
  HostStatus Status() const override;

  // ShardReceiver.
  absl::Status ReceiveShard(ArrayId array, int32_t shard, DeviceId device,
                            const ir::TensorType& type, const void* data,
                            int64_t bytes) override;
  void FailShard(ArrayId array, int32_t shard, const ir::TensorType& type,
                 absl::Status error) override;
  // Hands out the shard's receive buffer (pre-allocated by the receive step, or allocated now),
  // so a chunked push writes into device memory directly.
  absl::StatusOr<std::unique_ptr<IncomingShard>> BeginReceiveShard(
      ArrayId array, int32_t shard, DeviceId device, const ir::TensorType& type) override;

  std::string DebugString() const;

 private:
  struct DeviceState {
    Device* device = nullptr;
    // Dispatch thread only. Steps hold a reference while they may run.
    std::shared_ptr<DeviceBuffer> scratch;
    std::atomic<int64_t> scratch_bytes{0};
  };
  struct Registration {
    ir::Function function;
    uint64_t fingerprint = 0;
    std::shared_ptr<const CpuExecutable> executable;
    bool has_collectives = false;
  };
  struct Message;
  struct ComputeWork;
  // The dispatch thread's FIFO carries runs and the requests that must be ordered after the
  // runs received before them (a Release must not overtake a queued run reading the array; a
  // fetch of a shard a queued run will produce must find its entry).
  enum class InboxKind : uint8_t { kRun, kRelease, kFetch, kPeerLost, kCancelRun };
  struct InboxItem {
    InboxKind kind = InboxKind::kRun;
    HostRun run;                          // kRun
    std::vector<ArrayId> arrays;          // kRelease
    ArrayId array;                        // kFetch
    int32_t shard = 0;                    // kFetch
    AsyncValueRef<ir::Literal> fetched;   // kFetch
    HostId peer;                          // kPeerLost
    RunId cancelled;                      // kCancelRun
    absl::Status reason;                  // kPeerLost, kCancelRun
  };
  // A receive whose sender is lost: its shard entry and the error it fails with.
  struct LostReceive {
    ArrayId array;
    int32_t shard = 0;
    absl::Status error;
  };

  // A shard being received: its claimed store entry and destination buffer. On error the
  // entry, if claimed, has already failed with that error.
  struct Receiving {
    ShardEntryRef entry;
    std::shared_ptr<DeviceBuffer> buffer;
  };
  absl::StatusOr<Receiving> StartReceive(ArrayId array, int32_t shard, DeviceId device,
                                         const ir::TensorType& type);

  // The dispatch task: handles inbox batches until the inbox is empty (or a few batches have
  // run: then it posts itself again, so hosts sharing a loop take turns).
  void Drain();
  void Handle(InboxItem& item);
  void Enqueue(InboxItem item);
  // Resolves `result` with the shard's contents once `entry` is ready.
  static void FetchWhenReady(ShardEntryRef entry, AsyncValueRef<ir::Literal> result);
  absl::Status ShardNotFound(ArrayId array, int32_t shard) const;
  void Dispatch(HostRun run);
  // Dispatches `run`, then fails its receives from lost peers (dispatch thread).
  void DispatchRun(HostRun run);
  // Records `peer` as lost and fails the receives from it of every dispatched message.
  void HandlePeerLost(HostId peer, const absl::Status& reason);
  // Appends the receive steps of one message whose sender is in lost_peers_.
  void CollectLostReceives(const LoweredHostProgram& program, const LoweredProgram& lowered,
                           const std::vector<ArrayId>& arrays, RunId run,
                           std::vector<LostReceive>& out) const;
  // Fails each shard unless it already completed (a push under way is cut short).
  void FailLostReceives(const std::vector<LostReceive>& receives);
  // Fails the receives of every dispatched message of a cancelled run (dispatch thread).
  void HandleCancelRun(RunId run, const absl::Status& status);
  // The status a cancelled run's steps fail with; nullopt for a run not cancelled.
  std::optional<absl::Status> Cancelled(RunId run) const;
  void DispatchCompute(Message* msg, size_t index);
  void DispatchRecv(Message* msg, size_t index);
  void DispatchSend(Message* msg, size_t index);
  void DispatchCopy(Message* msg, size_t index);
  void DispatchAssemble(Message* msg, size_t index);
  // Claims step `index`'s destination shard and installs a fresh buffer on `device`; false
  // (the step already finished with the error) when it was produced already or allocation fails.
  bool ClaimDestination(Message* msg, size_t index, DeviceState& device, ShardEntryRef& dst,
                        std::shared_ptr<DeviceBuffer>& buffer);
  absl::Status CheckAssembly(const Message& msg, const HostStep& step) const;
  // DispatchCompute's steps, in the order it takes them. The message's own list of functions
  // is searched before the registry, which takes a lock.
  std::shared_ptr<const Registration> ComputeRegistration(Message& msg, FunctionId id) const;
  // On success the communicator is in `work` and the gang in `msg.gangs` (for shutdown).
  absl::Status JoinComputeGang(Message& msg, const HostStep& step, ComputeWork& work);
  // Claims every output it can, even after one was already produced: the step completes the
  // ones it claimed. The error names the first one it could not claim.
  absl::Status ClaimComputeOutputs(const Message& msg, const HostStep& step, ComputeWork& work);
  static absl::Status CheckComputeSignature(const Registration& reg, const HostStep& step);
  absl::Status AllocateComputeBuffers(const Message& msg, const HostStep& step,
                                      DeviceState& device, ComputeWork& work);
  // Queues the step on its device's stream; the completion callback owns `work`.
  void EnqueueCompute(Message* msg, size_t index, const HostStep& step, DeviceState& device,
                      std::unique_ptr<ComputeWork> work);
  // The stream item: runs the executable on the step's buffers (on the device thread).
  absl::Status RunCompute(const Message& msg, const HostStep& step, const ComputeWork& work) const;
  // Fails a malformed step at dispatch: its outputs (if any) carry `error`, its gang (if any) is
  // aborted, and the step counts as finished.
  void FailStepAtDispatch(Message* msg, size_t index, const absl::Status& error);
  // Records `status` for step `index`'s reported outputs, frees the temporaries it was the
  // last to touch, and counts the step down; the last step of a message finalizes it.
  // kDispatchHold is the dispatch thread's own hold on the message.
  static constexpr size_t kDispatchHold = ~size_t{0};
  void StepDone(Message* msg, size_t index, const absl::Status& status);
  void ReleaseTemporary(const Message& msg, int32_t t);
  void Finalize(Message* msg);
  void Report(HostRunResult result);

  // Whether `slot` names a value of the message's lowering with a bound ArrayId.
  static bool ValidSlot(const Message& msg, int32_t slot);
  static bool IndexesTemporaries(const LoweredHostProgram& program);
  // The number of shards of value `slot` (its lowered device list); 0 for an invalid slot.
  static int32_t ShardBound(const Message& msg, int32_t slot);
  // A valid slot and 0 <= shard < ShardBound.
  static bool ValidShard(const Message& msg, int32_t slot, int32_t shard);
  DeviceState* FindDevice(DeviceId id);
  // The scratch arena of `state` with at least `bytes`; dispatch thread only.
  absl::StatusOr<std::shared_ptr<DeviceBuffer>> Scratch(DeviceState& state, int64_t bytes);
  std::shared_ptr<const Registration> FindRegistration(FunctionId id) const;
  // "node 'b' shard 1 on device:3": how a step's own failures are named.
  std::string StepLabel(const Message& msg, const HostStep& step) const;
  void TraceTransfer(const char* what, const Message& msg, const HostStep& step,
                     int64_t start_ns) const;

  const HostExecutorOptions options_;
  std::vector<std::unique_ptr<DeviceState>> devices_;
  absl::flat_hash_map<DeviceId, DeviceState*> device_index_;  // immutable after construction
  ExecutableCache cache_;
  BufferStore store_;

  mutable absl::Mutex registry_mu_;
  absl::flat_hash_map<FunctionId, std::shared_ptr<const Registration>> registrations_
      ABSL_GUARDED_BY(registry_mu_);

  // Inbox. `draining_`: a Drain task is posted or running.
  mutable absl::Mutex inbox_mu_;
  std::deque<InboxItem> inbox_ ABSL_GUARDED_BY(inbox_mu_);
  bool draining_ ABSL_GUARDED_BY(inbox_mu_) = false;
  bool stop_ ABSL_GUARDED_BY(inbox_mu_) = false;

  // Messages dispatched and not yet finalized (for shutdown).
  mutable absl::Mutex live_mu_;
  absl::flat_hash_set<Message*> live_ ABSL_GUARDED_BY(live_mu_);
  // Messages not completely finished (including their report); shutdown waits for zero.
  int64_t unfinished_ ABSL_GUARDED_BY(live_mu_) = 0;

  // Hosts the controller declared lost, with the reason it gave. Dispatch thread only.
  absl::flat_hash_map<HostId, absl::Status> lost_peers_;

  // Runs the controller cancelled, with their status: the most recent kMaxCancelledRuns (a
  // cancelled run's messages arrive soon after the cancel, if not before it).
  static constexpr size_t kMaxCancelledRuns = 4096;
  // Set by the first CancelRun: until then a compute step does not look (no lock per kernel).
  std::atomic<bool> any_cancelled_{false};
  mutable absl::Mutex cancelled_mu_;
  absl::flat_hash_map<RunId, absl::Status> cancelled_ ABSL_GUARDED_BY(cancelled_mu_);
  std::deque<RunId> cancelled_order_ ABSL_GUARDED_BY(cancelled_mu_);

  std::atomic<int64_t> runs_received_{0};
  std::atomic<int64_t> transfer_bytes_sent_{0};  // pushed to peers, counted once each push is done
  std::atomic<int64_t> dispatch_nanos_{0};
  // Last: the own loop's thread is joined before anything above goes.
  std::unique_ptr<EventLoop> own_loop_;
  EventLoop* loop_ = nullptr;
};

}  // namespace pw

#endif  // PATHWAYS_WORKER_HOST_EXECUTOR_H_
