// WorkerService: what a host executor offers the controller. Implemented by HostExecutor
// in-process, and by a gRPC stub in pathways/rpc; the controller sees only this interface.
#ifndef PATHWAYS_SERVICE_WORKER_SERVICE_H_
#define PATHWAYS_SERVICE_WORKER_SERVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/checkpoint/shard_file.h"
#include "pathways/dataflow/host_run.h"
#include "pathways/ir/function.h"
#include "pathways/ir/literal.h"

namespace pw {

struct DeviceStatus {
  DeviceId id;
  std::string kind;
  int64_t memory_capacity_bytes = 0;
  int64_t memory_in_use_bytes = 0;
  int64_t peak_memory_in_use_bytes = 0;
  int64_t busy_nanos = 0;       // time spent running work; utilization = delta / wall delta
  int64_t completed_items = 0;  // stream items finished
  // Part of memory_in_use_bytes: the executor's per-device scratch arena, reused by every step
  // (so it stays allocated between runs).
  int64_t scratch_bytes = 0;
};

struct HostStatus {
  HostId host;
  std::vector<DeviceStatus> devices;
  int64_t live_buffers = 0;     // shards held in the host's buffer store
  int64_t live_buffer_bytes = 0;  // bytes of their device buffers
  int64_t runs_received = 0;    // HostRun messages received
  int64_t dispatch_nanos = 0;   // host-side dispatch work (allocation, enqueue), summed
  int64_t transfer_bytes_sent = 0;  // shard bytes this host pushed to peer hosts
  // OK, or why the host's status could not be read (a remote host that did not answer in time:
  // UNAVAILABLE naming it; the other fields are then empty).
  absl::Status status;
};

// The outcome of one HostRun message on one host, reported once all its steps finished.
struct HostRunResult {
  HostId host;
  RunId run;
  int64_t stage = -1;  // as in the HostRun
  // Status of every shard this message produced that is a program output (value slot, shard):
  // the controller resolves client arrays from these. In sequential mode, also the stage's
  // compute outputs, so the controller learns when to send the next stage.
  struct ShardStatus {
    int32_t value = -1;
    int32_t shard = 0;
    absl::Status status;
  };
  std::vector<ShardStatus> outputs;
  // The first error of any step (OK when every step ran).
  absl::Status status;
  // Time the message's kernels held this host's devices, summed over the devices (modelled on
  // simulated devices): what a proportional-share scheduler charges the run's client.
  int64_t device_nanos = 0;
};

// Receives HostRunResults. Implemented by the controller; called on a worker thread, so it must
// be quick and must not call back into the worker synchronously.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void OnHostRunDone(HostRunResult result) = 0;
};

class WorkerService {
 public:
  virtual ~WorkerService() = default;

  virtual HostId host() const = 0;

  // Makes `function` runnable as `id` on this host. Idempotent for the same id and function;
  // INVALID_ARGUMENT if the function fails verification or `id` is bound to another function.
  // Callable from any thread.
  virtual absl::Status RegisterFunction(FunctionId id, const ir::Function& function) = 0;

  // Hands the host its part of a run. Returns at once: the host does its dispatch work (output
  // allocation, receive buffers, enqueueing every compute step on its device stream waiting on
  // input events) on its own dispatch thread, processing messages in arrival order — which is
  // what keeps the gang order of the controller's scheduler on every device. When every step of
  // the message has finished, `observer` (given at construction) receives a HostRunResult.
  // Step failures (OOM, a failed input, a collective error, a function with no registration)
  // never stop the host: they fail the step's outputs, whose errors propagate to dependents.
  virtual void Run(HostRun run) = 0;

  // Stores `data` as shard `shard` of `array` on `device` (ready at once). INVALID_ARGUMENT for a
  // device not on this host, RESOURCE_EXHAUSTED when the device is full, ALREADY_EXISTS if the
  // shard exists.
  virtual absl::Status PutShard(ArrayId array, int32_t shard, DeviceId device,
                                const ir::Literal& data) = 0;

  // The contents of a shard once it is ready (or its error). NOT_FOUND for an unknown shard.
  virtual AsyncValueRef<ir::Literal> FetchShard(ArrayId array, int32_t shard) = 0;

  // Checkpoints. SaveShard writes shard `shard` of `array`, once it is ready, to the shard file
  // `path` (absolute, on this host's filesystem; its directory must exist) and reports what it
  // wrote; the data never leaves the host. Ordered like FetchShard. Errors through the future:
  // NOT_FOUND for an unknown shard, the shard's own error, INVALID_ARGUMENT for a bad path, the
  // file system's errors naming the path.
  // The default implementation, for hosts whose shards live in this process, fetches the shard
  // and writes a copy of it on the process's checkpoint I/O thread (never on the thread that
  // completes the fetch: a device stream or a callback); remote stubs forward the call.
  virtual AsyncValueRef<checkpoint::ShardFile> SaveShard(ArrayId array, int32_t shard,
                                                         std::string path);
  // Reads the shard file `file` (written by SaveShard, on this host's filesystem) and stores it
  // as PutShard does. Errors as PutShard's, plus ReadShardFile's (NOT_FOUND, DATA_LOSS for a
  // changed file). The default implementation reads the file here and calls PutShard.
  virtual absl::Status LoadShard(ArrayId array, int32_t shard, DeviceId device,
                                 const checkpoint::ShardFile& file);

  // Drops the host's references to every shard of `arrays`; memory is freed once no in-flight
  // step still uses it. Unknown arrays are ignored (release is idempotent).
  virtual void Release(absl::Span<const ArrayId> arrays) = 0;

  // Host `peer` is gone (the controller removed it): the shards it was going to push here never
  // come. Every receive from `peer` in a run handed to Run before this call — dispatched and
  // pending, or still queued — fails with UNAVAILABLE naming `peer` and carrying `reason`'s
  // message, so the steps reading it fail (and their dependents, through the usual propagation)
  // and the device streams move on to later work. Receives from `peer` in runs handed over
  // later fail as soon as they are dispatched. A shard that already arrived stays valid; a push
  // from `peer` still under way fails. Returns at once; callable from any thread; calling it
  // again for the same peer has no further effect. In any order with Run: the loss is
  // permanent (host ids are never reused), so a run overtaken by the call still fails its
  // receives from `peer`.
  virtual void PeerLost(HostId peer, absl::Status reason) = 0;

  // Shards `shards` of `array` (held on this host) will never be produced: each completes with
  // `status` (an error) unless it completed already, so runs reading them fail with it instead
  // of waiting. What the controller tells the hosts of a data-dependent step's outputs when the
  // step fails before its result run. Returns at once; callable from any thread, in any order
  // with Run. Shard indices outside [0, kMaxShards) are ignored.
  virtual void FailShards(ArrayId array, absl::Span<const int32_t> shards, absl::Status status) = 0;

  // The controller cancelled `run` (ControllerService::CancelRun, or its deadline passed): the
  // host drops its work for the run — compute steps not yet started skip their kernels and
  // fail their outputs with `status` (breaking their gangs, so peer shards stop waiting), and
  // its pending receives fail with `status`; a kernel already running finishes. Applies to the
  // run's messages whether they arrive before or after this call. Returns at once; callable
  // from any thread; the first status given for a run sticks. An OK `status` means CANCELLED.
  virtual void CancelRun(RunId run, absl::Status status) = 0;

  virtual HostStatus Status() const = 0;
};

}  // namespace pw

#endif  // PATHWAYS_SERVICE_WORKER_SERVICE_H_
