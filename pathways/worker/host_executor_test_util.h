// Test helpers for the host executor: a two-host in-process cluster and hand-built lowered
// programs (independent of LowerProgram, so executor tests do not depend on the lowering).
#ifndef PATHWAYS_WORKER_HOST_EXECUTOR_TEST_UTIL_H_
#define PATHWAYS_WORKER_HOST_EXECUTOR_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/ir/builder.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/collectives/in_process/in_process_collective_groups.h"
#include "pathways/dataflow/host_run.h"
#include "pathways/dataflow/lowered_program.h"
#include "pathways/device/cpu/cpu_device.h"
#include "pathways/worker/host_executor.h"
#include "pathways/dataplane/in_process/in_process_data_plane.h"
#include "pathways/service/worker_service.h"

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

// ---- small helpers the executor tests share ----

inline const ir::TensorType kF32x4{ir::DType::kF32, {4}};

inline std::vector<DeviceId> Devices(std::initializer_list<int64_t> ids) {
  std::vector<DeviceId> out;
  for (int64_t d : ids) out.push_back(DeviceId(d));
  return out;
}

inline ir::Function AllReduceSum(int64_t shards) {
  ir::FunctionBuilder b("all_reduce_sum", {.num_shards = shards});
  ir::Value x = b.Parameter(kF32x4, "x");
  auto f = b.Build({b.AllReduce(x, ir::ReduceKind::kSum)});
  PW_CHECK(f.ok()) << f.status();
  return *f;
}

inline ir::Function Scale(float factor, float offset, int64_t shards = 1) {
  ir::FunctionBuilder b(absl::StrCat("scale_", factor, "_", offset), {.num_shards = shards});
  ir::Value x = b.Parameter(kF32x4, "x");
  auto f = b.Build({b.Add(b.Multiply(x, b.ConstantScalar(factor)), b.ConstantScalar(offset))});
  PW_CHECK(f.ok()) << f.status();
  return *f;
}

inline ir::Literal Vec(std::vector<float> v) {
  return *ir::Literal::Create<float>(ir::Shape{static_cast<int64_t>(v.size())}, v);
}

inline std::vector<float> Fetch(HostExecutor& host, ArrayId array, int32_t shard) {
  absl::StatusOr<ir::Literal> lit = host.FetchShard(array, shard)->AwaitValue();
  EXPECT_TRUE(lit.ok()) << lit.status();
  if (!lit.ok()) return {};
  auto data = lit->data<float>();
  return std::vector<float>(data.begin(), data.end());
}

inline absl::Status FetchStatus(HostExecutor& host, ArrayId array, int32_t shard) {
  return host.FetchShard(array, shard)->Await();
}

inline const HostRunResult* ResultOf(const std::vector<HostRunResult>& results, HostId host, RunId run) {
  for (const HostRunResult& r : results) {
    if (r.host == host && r.run == run) return &r;
  }
  return nullptr;
}

// Release is ordered behind queued runs, so its effect is observed by polling.
inline void AwaitLiveBuffers(HostExecutor& host, int64_t n) {
  const int64_t deadline = MonotonicNanos() + 10'000'000'000;
  while (host.Status().live_buffers != n && MonotonicNanos() < deadline) std::this_thread::yield();
  EXPECT_EQ(host.Status().live_buffers, n) << host.host();
}

// Device memory minus the executor's scratch arena: what buffers of arrays hold.
inline int64_t ArrayBytes(const HostStatus& status, DeviceId device) {
  for (const DeviceStatus& d : status.devices) {
    if (d.id == device) return d.memory_in_use_bytes - d.scratch_bytes;
  }
  return -1;
}

// A (x*2 on device 0, host 0) -> send/recv -> B (+1 on device 2, host 1).
inline std::shared_ptr<const LoweredProgram> CrossHostChain(FunctionId twice, FunctionId plus_one,
                                                     int32_t* out_value) {
  LoweredProgramBuilder b("chain");
  const int32_t x = b.AddValue("x", kF32x4, Devices({0}), /*is_input=*/true);
  const int32_t a_out = b.AddValue("a:0", kF32x4, Devices({0}));
  const int32_t moved = b.AddValue("a:0@b", kF32x4, Devices({2}));
  const int32_t b_out = b.AddValue("b:0", kF32x4, Devices({2}), false, /*is_output=*/true);
  const int32_t a = b.AddNode("a", NodeKind::kCompute, twice, 1, {x}, {a_out});
  const int32_t t = b.AddNode("a:0->b", NodeKind::kTransfer, FunctionId(), 1, {a_out}, {moved});
  const int32_t bn = b.AddNode("b", NodeKind::kCompute, plus_one, 1, {moved}, {b_out});
  b.Compute(HostId(0), a, twice, 1, 0, DeviceId(0), {x}, {a_out});
  b.Send(HostId(0), t, 0, DeviceId(0), a_out, moved, HostId(1), DeviceId(2));
  b.Recv(HostId(1), t, 0, DeviceId(2), moved, HostId(0), DeviceId(0));
  b.Compute(HostId(1), bn, plus_one, 1, 0, DeviceId(2), {moved}, {b_out});
  b.Temporary(HostId(0), a_out);
  b.Temporary(HostId(1), moved);
  *out_value = b_out;
  return b.Build();
}

}  // namespace pw::worker_testing

#endif  // PATHWAYS_WORKER_HOST_EXECUTOR_TEST_UTIL_H_
