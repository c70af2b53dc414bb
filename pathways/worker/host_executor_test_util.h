// Test helpers for the host executor: a two-host in-process cluster and hand-built lowered
// programs (independent of LowerProgram, so executor tests do not depend on the lowering).
#ifndef PATHWAYS_WORKER_HOST_EXECUTOR_TEST_UTIL_H_
#define PATHWAYS_WORKER_HOST_EXECUTOR_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/collectives/in_process_collective_groups.h"
#include "pathways/dataflow/host_run.h"
#include "pathways/dataflow/lowered_program.h"
#include "pathways/device/cpu_device.h"
#include "pathways/worker/host_executor.h"
#include "pathways/worker/in_process_data_plane.h"
#include "pathways/worker/worker_service.h"

namespace pw::worker_testing {

// Collects HostRunResults.
class RecordingObserver final : public RunObserver {
 public:
  void OnHostRunDone(HostRunResult result) override;
  // Waits (up to `timeout`) until at least `n` results arrived; returns all of them.
  std::vector<HostRunResult> WaitFor(size_t n, absl::Duration timeout = absl::Seconds(20));
  size_t count() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<HostRunResult> results_ ABSL_GUARDED_BY(mu_);
};

// Two hosts with two CPU devices each (device d on host d / 2), one data plane, one registry of
// collective groups, one observer.
class Cluster {
 public:
  explicit Cluster(std::vector<int64_t> device_capacities = {}, TraceRecorder* trace = nullptr);
  ~Cluster();

  static constexpr int kHosts = 2;
  static constexpr int kDevices = 4;
  static HostId HostOf(int64_t device) { return HostId(device / 2); }

  HostExecutor& host(int64_t h) { return *hosts_[h]; }
  HostExecutor& host_of_device(int64_t d) { return *hosts_[d / 2]; }
  CpuDevice& device(int64_t d) { return *devices_[d]; }
  RecordingObserver& observer() { return observer_; }
  InProcessDataPlane& data_plane() { return data_plane_; }
  InProcessCollectiveGroups& groups() { return groups_; }
  // Registers `function` as `id` on both hosts.
  void Register(FunctionId id, const ir::Function& function);
  // Destroys host `h` (unregistering it from the data plane first).
  void DestroyHost(int64_t h);

 private:
  RecordingObserver observer_;
  InProcessDataPlane data_plane_;
  InProcessCollectiveGroups groups_;
  std::vector<std::unique_ptr<CpuDevice>> devices_;
  std::vector<std::unique_ptr<HostExecutor>> hosts_;
};

// Builds a LoweredProgram and its host parts by hand.
class LoweredProgramBuilder {
 public:
  explicit LoweredProgramBuilder(std::string name = "test program");

  // A value slot with shard i on devices[i].
  int32_t AddValue(std::string name, ir::TensorType shard_type, std::vector<DeviceId> devices,
                   bool is_input = false, bool is_output = false);
  int32_t AddNode(std::string name, NodeKind kind, FunctionId function, int64_t num_shards,
                  std::vector<int32_t> inputs, std::vector<int32_t> outputs);
  // Appends to `host`'s steps (in call order).
  void Compute(HostId host, int32_t node, FunctionId function, int64_t num_shards, int32_t shard,
               DeviceId device, std::vector<int32_t> inputs, std::vector<int32_t> outputs);
  void Send(HostId host, int32_t node, int32_t shard, DeviceId device, int32_t src_value,
            int32_t dst_value, HostId peer_host, DeviceId peer_device);
  void Recv(HostId host, int32_t node, int32_t shard, DeviceId device, int32_t dst_value,
            HostId peer_host, DeviceId peer_device);
  void Copy(HostId host, int32_t node, int32_t shard, DeviceId src_device, DeviceId device,
            int32_t src_value, int32_t dst_value);
  void Temporary(HostId host, int32_t value);

  std::shared_ptr<const LoweredProgram> Build();

 private:
  LoweredProgram program_;
  std::map<HostId, LoweredHostProgram> hosts_;
};

// The HostRun of `host` for `program` with value slot i bound to arrays[i].
HostRun MakeRun(const std::shared_ptr<const LoweredProgram>& program, HostId host, RunId run,
                std::vector<ArrayId> arrays, int64_t gang_base,
                DispatchMode mode = DispatchMode::kParallel, int64_t stage = -1);

// Runs `program` on both hosts that take part (all host parts are sent host 0 first).
void RunOnAllHosts(Cluster& cluster, const std::shared_ptr<const LoweredProgram>& program,
                   RunId run, const std::vector<ArrayId>& arrays, int64_t gang_base);

}  // namespace pw::worker_testing

#endif  // PATHWAYS_WORKER_HOST_EXECUTOR_TEST_UTIL_H_
