// Controller: the in-process ControllerService — clients, programs, lowering cache, per-island
// gang schedulers, parallel/sequential dispatch to hosts, and array futures.
#ifndef PATHWAYS_CONTROLLER_CONTROLLER_H_
#define PATHWAYS_CONTROLLER_CONTROLLER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/ids.h"
#include "pathways/base/trace.h"
#include "pathways/controller/array_store.h"
#include "pathways/controller/controller_metrics.h"
#include "pathways/controller/deadline_timer.h"
#include "pathways/service/controller_service.h"
#include "pathways/scheduler/gang_scheduler.h"
#include "pathways/controller/resource_manager.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/service/worker_service.h"

namespace pw {

struct ControllerOptions {
  ResourceManager* resources = nullptr;  // required; must outlive the controller
  TraceRecorder* trace = nullptr;        // nullable
  // Each island's scheduling policy: a name MakeSchedulingPolicy accepts ("fifo", "priority",
  // "share"); callers check operator input with it first.
  std::string scheduler = "fifo";
  // Runs admitted ahead of each island's devices (GangSchedulerOptions::max_runs_in_flight);
  // 0: the policy's default.
  int64_t scheduler_window = 0;
  // Every client's limits on the arrays it holds (the operator's `pw up --client-memory-quota`):
  // an allocation over them fails with RESOURCE_EXHAUSTED naming the quota.
  ArrayQuota quota;
};

// Trace lane (pid) of the controller's "dispatch" events.
inline constexpr int64_t kControllerTracePid = 1000000;

// The single controller of the paper: every client request comes here; every host message goes
// out from here, through the island's GangScheduler so that all hosts of an island receive
// runs in one order.
//
// Threads: client calls run on the client's thread (Run dispatches inline when the island's
// scheduler is idle). Workers report on their own threads through OnHostRunDone, which only
// updates metadata and futures; anything that must talk to a worker as a consequence (the next
// stage of a sequential run, runs released from a scheduler queue, freeing device memory,
// fetching shards) goes to the controller's own work thread, so a worker is never called
// back from its reporting thread.
//
// Sequential dispatch: stage k+1 is sent once every host of stage k reported. A failed stage
// does not stop the run: the later stages are still sent, so the error reaches every dependent
// through the hosts' own propagation (with its original message) and each host frees the
// temporaries of every stage.
class Controller final : public ControllerService, public RunObserver {
 public:
  explicit Controller(ControllerOptions options);
  ~Controller() override;
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Connects the executor of `host` (which must be registered in the ResourceManager). The
  // worker must report to this controller (as its RunObserver) and outlive it. NOT_FOUND for a
  // host the ResourceManager does not know, ALREADY_EXISTS for a second worker.
  absl::Status AddWorker(HostId host, WorkerService* worker);
  // The host is gone: every unfinished array with a shard on it, and every run waiting for it,
  // fails with UNAVAILABLE naming the host (and `reason`); the host is removed from the
  // ResourceManager if still there, which remaps or fails its slices (so the next run lowers
  // again). Every remaining worker is told (WorkerService::PeerLost, from the work thread,
  // before this returns), so receives waiting for shards the host would have pushed fail naming
  // it instead of stalling those hosts' device streams. When it returns, the controller's own
  // thread no longer calls the worker, so the worker may be destroyed once no client call that
  // could reach it (Run, PutArray) is in progress. This is also the orderly shutdown of a
  // worker. NOT_FOUND for an unknown host.
  absl::Status RemoveWorker(HostId host, absl::Status reason);

  // ControllerService.
  using ControllerService::Connect;
  absl::StatusOr<ClientId> Connect(std::string client_name, ConnectOptions options) override;
  void Disconnect(ClientId client) override;
  absl::StatusOr<VirtualSlice> AllocateSlice(ClientId client, SliceRequest request) override;
  absl::StatusOr<VirtualSlice> RepairSlice(ClientId client, SliceId slice) override;
  absl::Status ReleaseSlice(ClientId client, SliceId slice) override;
  absl::StatusOr<FunctionId> RegisterFunction(ClientId client, ir::Function function) override;
  absl::StatusOr<ProgramId> RegisterProgram(ClientId client, ProgramDef program) override;
  absl::StatusOr<ArrayInfo> PutArray(ClientId client, SliceId slice,
                                     std::vector<ir::Literal> shards,
                                     Sharding sharding = Sharding::Stacked()) override;
  absl::StatusOr<RunResult> Run(ClientId client, ProgramId program,
                                absl::Span<const ArrayId> inputs, RunOptions options) override;
  absl::StatusOr<RunResult> RunControl(ClientId client, ControlRequest request,
                                       absl::Span<const ArrayId> inputs) override;  // controller_control.cc
  absl::Status CancelRun(ClientId client, RunId run) override;  // controller_cancel.cc
  EventRef AwaitArray(ClientId client, ArrayId array) override;
  AsyncValueRef<std::vector<ir::Literal>> FetchArray(ClientId client, ArrayId array) override;
  absl::Status ReleaseArray(ClientId client, ArrayId array) override;
  EventRef SaveCheckpoint(ClientId client, SaveCheckpointRequest request) override;  // controller_checkpoint.cc
  absl::StatusOr<RestoredCheckpoint> RestoreCheckpoint(ClientId client,
                                                       RestoreCheckpointRequest request) override;
  ClusterStatus Status() const override;

  // A gang of a collective computation and its number of ranks (shards).
  struct InFlightGang {
    GangId gang;
    int64_t size = 0;
    friend bool operator==(const InFlightGang&, const InFlightGang&) = default;
  };
  // The gangs of collective computations that `host` has a shard in, over every run not yet
  // finished (queued or dispatched): compute node n of a run is gang gang_base + n. When a host
  // is lost they are aborted, so the other ranks stop waiting for it. Sorted by gang.
  std::vector<InFlightGang> InFlightGangs(HostId host) const;

  // RunObserver: called by workers on their threads.
  void OnHostRunDone(HostRunResult result) override;

  // What the controller counted (runs, computations, latencies, bytes, recent failures).
  const ControllerMetrics& metrics() const { return metrics_; }
  // The runs admitted and not yet finished, by run id.
  std::vector<RunningRun> RunningRuns() const;

  // Every island scheduler's DebugString, for logs.
  std::string SchedulerDebugString() const;
  // Counts of clients, programs, runs in flight and arrays, then the schedulers.
  std::string DebugString() const;
  // Blocks until the work thread has nothing queued (tests: deferred releases went out).
  void Quiesce();

 private:
  struct WorkerRecord {
    WorkerService* worker = nullptr;
    IslandId island;
    absl::flat_hash_set<FunctionId> functions;  // registered on that host
  };
  struct ClientRecord {
    std::string name;
    ConnectOptions options;
    int64_t runs = 0;
    absl::flat_hash_set<ProgramId> programs;
  };
  struct FunctionRecord {
    std::shared_ptr<const ir::Function> function;
    FunctionSignature signature;
  };
  struct ProgramRecord {
    ClientId owner;
    ProgramDef def;
    std::vector<SliceId> slices;        // every slice it uses, sorted, distinct
    std::vector<ArraySpec> output_specs;
    std::vector<std::vector<int64_t>> output_meshes;  // the mesh of each output's slice
  };
  struct HostTarget {
    HostId host;
    WorkerService* worker = nullptr;  // null if the host has no worker (fails at dispatch)
    IslandId island;
  };
  struct RunState;      // controller_run.cc
  struct SaveState;     // controller_checkpoint.cc
  struct ControlState;  // controller_control.cc

  // A data-dependent step holding its islands' order: runs it starts go out as its follow-ups.
  struct Holder {
    RunId id;
    std::vector<IslandId> islands;
    std::vector<GangScheduler*> schedulers;  // islands[i]'s
  };

  // A single thread for work that must not run on a worker's reporting thread.
  class WorkQueue {
   public:
    WorkQueue();
    ~WorkQueue();
    void Post(absl::AnyInvocable<void()> task);
    // Waits until nothing is queued or running. Returns at once on the work thread itself.
    void Quiesce();

   private:
    void Loop();
    absl::Mutex mu_;
    std::deque<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);
    bool busy_ ABSL_GUARDED_BY(mu_) = false;
    bool stop_ ABSL_GUARDED_BY(mu_) = false;
    std::thread thread_;  // last: starts once the fields above exist
  };

  absl::Status CheckClientLocked(ClientId client) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The slice, if it is live and `client`'s (NOT_FOUND otherwise).
  absl::StatusOr<VirtualSlice> OwnedSlice(ClientId client, SliceId slice) const;
  // The worker of each host, in order. UNAVAILABLE naming `where` and the host for one with no
  // worker.
  absl::StatusOr<std::vector<WorkerService*>> WorkersOf(absl::Span<const HostId> hosts,
                                                        const std::string& where) const;
  // The hosts of `devices`, in order.
  absl::StatusOr<std::vector<HostId>> HostsOf(absl::Span<const DeviceId> devices) const;
  // SaveCheckpoint's steps: the shards of array `i` once it is ready (on the work thread), and
  // the index once every shard is written.
  void SaveArrayShards(const std::shared_ptr<SaveState>& save, size_t i);
  void FinishSave(const std::shared_ptr<SaveState>& save);
  // Snapshot of functions, the program's slices and every device, for LowerProgram.
  absl::StatusOr<LoweringContext> MakeLoweringContext(const ProgramRecord& program) const;
  // Cached or fresh lowering of `program` for the current slice mappings.
  absl::StatusOr<std::shared_ptr<const LoweredProgram>> Lower(ProgramId id,
                                                              const ProgramRecord& program);
  GangScheduler* SchedulerLocked(IslandId island) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Run, or a run a data-dependent step starts: then it is dispatched as `holder`'s follow-up
  // (its islands must be among the holder's) and, with `preassigned` (one per output, pending,
  // made by the step), writes its outputs into those arrays.
  absl::StatusOr<RunResult> StartRun(ClientId client, ProgramId program_id,
                                     absl::Span<const ArrayId> inputs, RunOptions options,
                                     const Holder* holder,
                                     const std::vector<std::shared_ptr<ArrayRecord>>& preassigned);
  // RunControl's steps (controller_control.cc).
  absl::Status CheckControl(const ControlRequest& request,
                            const std::vector<std::shared_ptr<const ProgramRecord>>& programs,
                            const std::vector<std::shared_ptr<ArrayRecord>>& inputs,
                            const std::string& where) const;
  absl::StatusOr<ProgramId> LandingProgram(ClientId client, const std::vector<ArraySpec>& specs);
  // The step's output arrays, one per output of its landing program (pending, one reference
  // each: the step's, until the landing run takes its own).
  void MakeLandingOutputs(ControlState& control, const ProgramRecord& landing,
                          const LoweredProgram& lowered);
  absl::StatusOr<std::vector<IslandId>> IslandsOf(
      const std::vector<std::pair<ProgramId, std::shared_ptr<const ProgramRecord>>>& programs);
  void BeginControl(const std::shared_ptr<ControlState>& control);
  // Runs `program` as a follow-up of the step; its output handles (added to the step's list
  // of arrays to release).
  absl::StatusOr<std::vector<ArrayId>> ControlRun(ControlState& control, ProgramId program,
                                                  const std::vector<ArrayId>& inputs);
  // Calls `next` on the work thread with the value of the scalar predicate `array`.
  void AwaitPredicate(const std::shared_ptr<ControlState>& control, ArrayId array,
                      absl::AnyInvocable<void(int64_t)> next);
  void LoopStep(const std::shared_ptr<ControlState>& control, std::vector<ArrayId> carried);
  void ReleaseInternal(ControlState& control, const std::vector<ArrayId>& ids);
  void Land(const std::shared_ptr<ControlState>& control, const std::vector<ArrayId>& values);
  void FinishControl(const std::shared_ptr<ControlState>& control, absl::Status status);

  // Run's steps, in the order it takes them; `where` prefixes their errors ("Run('name')").
  absl::StatusOr<std::shared_ptr<const ProgramRecord>> FindRunProgram(ClientId client,
                                                                      ProgramId program_id) const;
  // Takes a reference to each input array, checked against the program's input specs.
  absl::Status BindRunInputs(RunState& run, const ProgramRecord& program,
                             absl::Span<const ArrayId> inputs, const std::string& where);
  // An input placed before its slice was remapped no longer lives where the lowering puts it.
  absl::Status LowerRun(RunState& run, ProgramId program_id, const ProgramRecord& program,
                        absl::Span<const ArrayId> inputs, const std::string& where);
  // Value slots: the inputs' arrays, then fresh ids; `preassigned` outputs use theirs.
  absl::Status BindValueArrays(RunState& run, absl::Span<const ArrayId> inputs,
                               const std::vector<std::shared_ptr<ArrayRecord>>& preassigned,
                               const std::string& where);
  // Appends each output's info to `result`; returns the client's handles, added to the store
  // only once the run is admitted.
  std::vector<std::shared_ptr<ArrayRecord>> MakeRunOutputs(
      RunState& run, const ProgramRecord& program, size_t num_inputs,
      const std::vector<std::shared_ptr<ArrayRecord>>& preassigned, RunResult& result);
  // The island of `host`: its worker's, else the resource manager's, else (a host just lost)
  // the lowering's first. AdmitRun and a data-dependent step must agree on it.
  IslandId IslandOfHostLocked(HostId host, const LoweredProgram& lowered) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives the run its id, gangs and targets, and makes it live; fails if the client left.
  absl::Status AdmitRun(const std::shared_ptr<RunState>& run, const std::string& where);
  // Registers with each target host the functions its part runs and it lacks.
  void EnsureFunctions(const std::vector<HostTarget>& targets, const LoweredProgram& lowered);
  // Drops a reference; the last one tells the shards' hosts to free them (on the work thread).
  void DropArrayRef(const std::shared_ptr<ArrayRecord>& record, int64_t n = 1);
  // Sends one wave of messages (the whole parts, or stage `stage`) to the targets in `island`.
  void SendWave(const std::shared_ptr<RunState>& run, IslandId island, int64_t stage);
  // Submits wave 0 of a run to its islands' schedulers.
  void SubmitRun(const std::shared_ptr<RunState>& run);
  // Records one host's report for the current wave; sends the next wave or finishes the run.
  void HandleReport(const std::shared_ptr<RunState>& run, HostRunResult result);
  void FinishRun(const std::shared_ptr<RunState>& run);
  // Counts a finished run in metrics_ (a failed one in its recent failures too).
  void CountFinishedRun(const RunState& run, const absl::Status& error);
  // Fails the run's outputs not yet available with `status` and tells its hosts to drop its
  // work (controller_cancel.cc). Also what a passed deadline does.
  void CancelRunWith(const std::shared_ptr<RunState>& run, absl::Status status);
  // Arms the run's deadline, if it has one (before the run is submitted).
  void ArmDeadline(const std::shared_ptr<RunState>& run, absl::Time deadline,
                   const std::string& program);

  const ControllerOptions options_;
  ResourceManager* const resources_;
  LoweringCache lowering_cache_;
  ArrayStore arrays_;
  ControllerMetrics metrics_;

  mutable absl::Mutex mu_;
  absl::btree_map<HostId, WorkerRecord> workers_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<ClientId, ClientRecord> clients_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<FunctionId, FunctionRecord> functions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::vector<FunctionId>> functions_by_fingerprint_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<ProgramId, std::shared_ptr<const ProgramRecord>> programs_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<RunId, std::shared_ptr<RunState>> runs_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<IslandId, std::unique_ptr<GangScheduler>> schedulers_ ABSL_GUARDED_BY(mu_);
  int64_t next_client_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_function_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_program_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_run_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_gang_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t total_runs_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_set<std::string> saving_ ABSL_GUARDED_BY(mu_);  // checkpoint directories being written
  // The copy program ending data-dependent steps, per client and output specs.
  absl::flat_hash_map<std::pair<ClientId, std::string>, ProgramId> landing_programs_
      ABSL_GUARDED_BY(mu_);

  // Its callbacks post to work_; work_'s tasks call Cancel (FinishRun). ~Controller stops it
  // first, so neither outlives the other.
  DeadlineTimer deadlines_;
  // Last member: destroyed (joined) first, while everything its tasks touch is still alive.
  WorkQueue work_;
};

}  // namespace pw

#endif  // PATHWAYS_CONTROLLER_CONTROLLER_H_
