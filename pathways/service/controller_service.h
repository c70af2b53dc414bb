// ControllerService: what a client asks of the Pathways controller. Implemented by Controller
// in-process and by a gRPC stub in pathways/rpc; the client sees only this interface.
#ifndef PATHWAYS_SERVICE_CONTROLLER_SERVICE_H_
#define PATHWAYS_SERVICE_CONTROLLER_SERVICE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/base/logging.h"
#include "pathways/service/topology.h"
#include "absl/time/time.h"
#include "pathways/service/virtual_slice.h"
#include "pathways/dataflow/host_run.h"
#include "pathways/dataflow/program.h"
#include "pathways/ir/function.h"
#include "pathways/ir/literal.h"
#include "pathways/service/worker_service.h"

namespace pw {

// A sharded array as the controller describes it to its owner.
struct ArrayInfo {
  ArrayId id;
  ArraySpec spec;                 // shard type, slice and sharding
  std::vector<DeviceId> devices;  // physical device of each shard
  std::vector<int64_t> mesh;      // the slice's mesh, which `spec.sharding` refers to
};

struct RunOptions {
  DispatchMode mode = DispatchMode::kParallel;
  // When the run must be done by: once it passes, the run is cancelled (ControllerService::
  // CancelRun) with DEADLINE_EXCEEDED naming the run and its program. Over the wire it travels
  // as the time left, so the client's and the controller's clocks need not agree.
  absl::Time deadline = absl::InfiniteFuture();
};

struct RunResult {
  RunId run;
  std::vector<ArrayInfo> outputs;  // handles exist at once; the data is a future (AwaitArray)
};

// A data-dependent step of a program: which program runs next, or how many times, depends on a
// value computed on the devices. The controller reads that value when it is ready and then
// dispatches what it selects; until then the islands involved dispatch nothing else, in order
// (the fallback to sequential dispatch, at this edge only). Everything before and after the
// step is dispatched in parallel as usual, and the step's outputs are futures at once.
// The most programs a data-dependent step names (case branches).
inline constexpr int64_t kMaxControlPrograms = 4096;

struct ControlRequest {
  enum class Kind : uint8_t { kCase = 0, kWhile = 1 };
  Kind kind = Kind::kCase;
  // kCase: the branches. inputs[0] is the branch index, one i32 or bool element per shard and
  //   the same on every shard (false/true select branches 0/1; an index out of range runs the
  //   last branch); every branch takes inputs[1..] and returns outputs of the same specs, the
  //   step's outputs.
  // kWhile: {cond, body}. The inputs are the carried values; cond takes them and returns one
  //   predicate (one bool or i32 element per shard, the same on every shard); body takes them
  //   and returns new carried values of the same specs. The body runs while the predicate
  //   holds, at most max_iterations times; the outputs are the final carried values.
  std::vector<ProgramId> programs;
  int64_t max_iterations = 0;  // kWhile: at least 1
  friend bool operator==(const ControlRequest&, const ControlRequest&) = default;
};

// A checkpoint to write: each array under a name unique in the checkpoint (any string of 1 to
// 1,024 bytes, e.g. a parameter's path "params/blocks/0/wq"), and metadata stored as is.
struct SaveCheckpointRequest {
  std::string directory;  // absolute; created if missing; must not hold a checkpoint already
  struct Entry {
    std::string name;
    ArrayId array;
  };
  std::vector<Entry> arrays;
  std::string metadata;  // at most 1 MiB, opaque to the runtime (e.g. the step, as JSON)
};

// Arrays to read back from a checkpoint: each named array is placed on `slice`, which must have
// as many devices as the array has shards; with `expected_type` set, the saved shard type must
// equal it.
struct RestoreCheckpointRequest {
  std::string directory;
  struct Entry {
    std::string name;
    SliceId slice;
    std::optional<ir::TensorType> expected_type;
  };
  std::vector<Entry> arrays;
};

struct RestoredCheckpoint {
  std::vector<ArrayInfo> arrays;  // in the order asked for; ready at once
  std::string metadata;
};

// How a client asks to be scheduled; the island's policy (ControllerOptions::scheduler) decides
// which of these it reads.
struct ConnectOptions {
  // Share of device time under the proportional-share policy: busy clients of weights 1 and 4
  // get device time 1:4. In [1, kMaxClientWeight].
  int64_t weight = 1;
  // Under the priority policy, larger goes first. In [-kMaxClientPriority, kMaxClientPriority].
  int64_t priority = 0;
};
inline constexpr int64_t kMaxClientWeight = 1'000'000;
inline constexpr int64_t kMaxClientPriority = 1'000'000;
// INVALID_ARGUMENT naming the field and its bounds.
absl::Status ValidateConnectOptions(const ConnectOptions& options);

// Per-client limits on the arrays it holds, set by the operator (0: none): bytes of its arrays'
// shards on any one device, and live arrays.
struct ArrayQuota {
  int64_t memory_per_device_bytes = 0;
  int64_t live_arrays = 0;
};

struct ClientStatus {
  ClientId id;
  std::string name;
  int64_t live_arrays = 0;
  int64_t runs = 0;
  int64_t weight = 1;
  int64_t priority = 0;
  // Device time its runs held the devices, summed over devices and islands.
  int64_t device_nanos = 0;
  // Since its session's lease was last renewed; -1 for a client without a lease (in-process).
  int64_t lease_age_millis = -1;
  // Bytes of its live arrays, summed over devices.
  int64_t memory_bytes = 0;
};

// One island's gang scheduler.
struct SchedulerStatus {
  IslandId island;
  std::string policy;
  int64_t window = 0;     // runs admitted ahead of the devices at most
  int64_t queued = 0;     // waiting behind the window now
  int64_t in_flight = 0;  // admitted, unfinished now
  int64_t device_nanos = 0;
};

struct ClusterStatus {
  std::vector<IslandInfo> islands;
  std::vector<HostStatus> hosts;
  std::vector<ClientStatus> clients;
  std::vector<VirtualSlice> slices;
  std::vector<SchedulerStatus> schedulers;  // by island
  int64_t programs = 0;
  int64_t runs = 0;
  int64_t lowering_cache_hits = 0;
  int64_t lowering_cache_misses = 0;
};

// Every method is thread-safe and callable from any client thread. Calls naming objects of
// another client get NOT_FOUND (clients cannot see each other's arrays, slices or programs).
class ControllerService {
 public:
  virtual ~ControllerService() = default;

  // INVALID_ARGUMENT for options out of their bounds (ValidateConnectOptions).
  virtual absl::StatusOr<ClientId> Connect(std::string client_name, ConnectOptions options) = 0;
  absl::StatusOr<ClientId> Connect(std::string client_name) {
    return Connect(std::move(client_name), ConnectOptions{});
  }
  // Cancels the client's unfinished runs (CANCELLED naming the client) and frees everything it
  // owns: arrays (device memory), programs, slices. Idempotent.
  virtual void Disconnect(ClientId client) = 0;

  virtual absl::StatusOr<VirtualSlice> AllocateSlice(ClientId client, SliceRequest request) = 0;
  virtual absl::Status ReleaseSlice(ClientId client, SliceId slice) = 0;
  // After host loss: a slice that could not be remapped (its island had too few devices left)
  // is mapped again, with the same id and request, on the devices there are now — survivors in
  // another island, or a worker that joined in the lost host's place. A live slice is returned
  // as it is. RESOURCE_EXHAUSTED, naming what is missing, while nothing fits (retry once a host
  // joins: Client::RepairSlice does). Arrays that lived on lost devices stay failed; the client
  // puts its values again or restores a checkpoint, and its programs run on the new mapping.
  virtual absl::StatusOr<VirtualSlice> RepairSlice(ClientId client, SliceId slice) = 0;

  // Verifies and registers a compiled function; the same function registered twice gets the
  // same id (keyed by fingerprint). INVALID_ARGUMENT naming the op for a malformed function.
  virtual absl::StatusOr<FunctionId> RegisterFunction(ClientId client, ir::Function function) = 0;

  // Validates a program against its functions and slices (INVALID_ARGUMENT naming the call and
  // argument); it is lowered on first run and the lowering cached until a slice's mapping
  // changes.
  virtual absl::StatusOr<ProgramId> RegisterProgram(ClientId client, ProgramDef program) = 0;

  // Creates an array on `slice` from host data, one literal per shard (all of one type), laid
  // out over the slice's mesh by `sharding` (INVALID_ARGUMENT when it does not fit the mesh
  // or the shards' rank).
  virtual absl::StatusOr<ArrayInfo> PutArray(ClientId client, SliceId slice,
                                             std::vector<ir::Literal> shards,
                                             Sharding sharding = Sharding::Stacked()) = 0;

  // Submits one run. Returns the output handles at once (before anything executed); their
  // contents and errors arrive through AwaitArray / FetchArray. Errors returned here are about
  // the request itself: unknown program or arrays, inputs not matching the program's specs.
  virtual absl::StatusOr<RunResult> Run(ClientId client, ProgramId program,
                                        absl::Span<const ArrayId> inputs, RunOptions options) = 0;

  // Becomes available when every shard of the array is ready, or fails with the error that
  // reached it (the original message, naming the node that failed).
  // A data-dependent step (ControlRequest). The outputs are new arrays, copies of what the
  // selected programs computed; RunResult::run names the step. INVALID_ARGUMENT naming the
  // culprit for programs whose inputs or outputs do not fit, a predicate that is not one
  // element per shard, or a loop without a bound. A predicate that differs across its shards,
  // or cannot be computed, fails the outputs with that error.
  virtual absl::StatusOr<RunResult> RunControl(ClientId client, ControlRequest request,
                                               absl::Span<const ArrayId> inputs) = 0;
  // Cancels a run of this client that has not finished: its outputs not yet available fail
  // with CANCELLED naming the run, and every host of the run drops its work for it
  // (WorkerService::CancelRun: queued kernels are skipped, receives fail, gangs are broken so
  // no peer waits); a kernel already running finishes. Data-dependent steps are not runs.
  // NOT_FOUND for a run that is unknown, finished or another client's.
  virtual absl::Status CancelRun(ClientId client, RunId run) = 0;
  virtual EventRef AwaitArray(ClientId client, ArrayId array) = 0;
  // The array's shards copied to host memory, once ready.
  virtual AsyncValueRef<std::vector<ir::Literal>> FetchArray(ClientId client, ArrayId array) = 0;
  // Drops the client's reference; device memory is freed when no run still uses it.
  virtual absl::Status ReleaseArray(ClientId client, ArrayId array) = 0;
  // ReleaseArray for a caller that does not wait for the answer (an array handle going away):
  // a transport may return before the controller applied it; a failure is logged. Here: the
  // call itself.
  virtual void ReleaseArrayNoWait(ClientId client, ArrayId array) {
    if (absl::Status s = ReleaseArray(client, array); !s.ok()) {
      PW_LOG(WARNING) << "releasing " << array << ": " << s;
    }
  }

  // Writes a checkpoint of the client's arrays: every shard is written by the host holding it,
  // into `directory` on its own filesystem (a directory shared by every host, for a cluster
  // spread over machines), once the array is ready; the controller writes the index file last,
  // so a directory without one is an unfinished save. No shard passes through the controller or
  // the client. Returns at once; the event is available once the index is written, or fails with
  // the first error (an array that failed, a host that is gone, the file system's error), naming
  // the array. Errors about the request itself (an unknown array, a repeated or empty name, a
  // relative directory, a directory that holds a checkpoint already) fail the event at once.
  virtual EventRef SaveCheckpoint(ClientId client, SaveCheckpointRequest request) = 0;
  // Reads arrays back: each host reads its own shards' files. NOT_FOUND for a directory with no
  // index or a name the checkpoint does not hold; INVALID_ARGUMENT naming the array for a slice
  // of another size or a type that differs; DATA_LOSS for a shard file that changed since it was
  // written. On error no array is created.
  virtual absl::StatusOr<RestoredCheckpoint> RestoreCheckpoint(ClientId client,
                                                               RestoreCheckpointRequest request) = 0;

  virtual ClusterStatus Status() const = 0;
};

}  // namespace pw

#endif  // PATHWAYS_SERVICE_CONTROLLER_SERVICE_H_
