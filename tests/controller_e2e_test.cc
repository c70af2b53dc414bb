// End-to-end tests of the controller with real HostExecutors, CPU devices, the in-process data
// plane and collective groups: the paper's Figure 2 program, dispatch modes, errors, memory.
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/collectives/in_process/in_process_collective_groups.h"
#include "pathways/controller/controller.h"
#include "pathways/controller/controller_test_util.h"
#include "pathways/device/cpu/cpu_device.h"
#include "pathways/ir/builder.h"
#include "pathways/worker/host_executor.h"
#include "pathways/dataplane/in_process/in_process_data_plane.h"

namespace pw {
namespace {

using ::pw::controller_testing::Arith;
using ::pw::controller_testing::ElementwiseFunction;
using ::pw::controller_testing::F32;
using ::pw::controller_testing::Values;
using ::pw::controller_testing::Vec;
using ::pw::controller_testing::WaitUntil;

class ControllerE2ETest : public ::testing::Test {
 protected:
  void Start(int hosts, int per_host, int64_t capacity = 16 << 20) {
    ControllerOptions options;
    options.resources = &rm_;
    controller_ = std::make_unique<Controller>(options);
    for (int h = 0; h < hosts; ++h) {
      HostSpec spec;
      spec.island = IslandId(0);
      spec.address = absl::StrCat("127.0.0.1:", 7000 + h);
      spec.num_devices = per_host;
      spec.memory_bytes_per_device = capacity;
      const HostId host = *rm_.AddHost(spec);
      HostExecutorOptions executor;
      executor.host = host;
      const HostInfo info = *rm_.GetHost(host);
      for (DeviceId id : info.devices) {
        devices_.push_back(std::make_unique<CpuDevice>(
            CpuDeviceOptions{.id = id, .host = host, .memory_capacity_bytes = capacity}));
        executor.devices.push_back(devices_.back().get());
      }
      executor.data_plane = &plane_;
      executor.collectives = &groups_;
      executor.observer = controller_.get();
      executors_.push_back(std::make_unique<HostExecutor>(std::move(executor)));
      ASSERT_TRUE(plane_.Register(host, executors_.back().get()).ok());
      ASSERT_TRUE(controller_->AddWorker(host, executors_.back().get()).ok());
    }
    client_ = *controller_->Connect("e2e");
  }
  void TearDown() override {
    if (controller_ == nullptr) return;
    // The orderly shutdown of each host: the controller lets go of it, then it goes.
    for (auto& e : executors_) {
      ASSERT_TRUE(controller_->RemoveWorker(e->host(), absl::OkStatus()).ok());
      plane_.Unregister(e->host());
      e.reset();
    }
    executors_.clear();
    devices_.clear();
    controller_.reset();
  }

  VirtualSlice Slice(int64_t n) {
    SliceRequest request;
    request.num_devices = n;
    absl::StatusOr<VirtualSlice> s = controller_->AllocateSlice(client_, request);
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  FunctionId Register(ir::Function f) {
    absl::StatusOr<FunctionId> id = controller_->RegisterFunction(client_, std::move(f));
    EXPECT_TRUE(id.ok()) << id.status();
    return *id;
  }
  // Per-shard values of an array, once ready.
  std::vector<std::vector<float>> Fetch(ArrayId array) {
    absl::StatusOr<std::vector<ir::Literal>> shards =
        controller_->FetchArray(client_, array)->AwaitValue();
    EXPECT_TRUE(shards.ok()) << shards.status();
    std::vector<std::vector<float>> out;
    if (shards.ok()) {
      for (const ir::Literal& l : *shards) out.push_back(Values(l));
    }
    return out;
  }
  // Device memory held by arrays (the executors' scratch arenas excluded).
  int64_t ArrayBytesInUse() {
    int64_t bytes = 0;
    for (const HostStatus& host : controller_->Status().hosts) {
      for (const DeviceStatus& d : host.devices) bytes += d.memory_in_use_bytes - d.scratch_bytes;
    }
    return bytes;
  }

  ResourceManager rm_;
  InProcessDataPlane plane_;
  InProcessCollectiveGroups groups_{{.group = {.timeout = absl::Seconds(20)}}};
  std::unique_ptr<Controller> controller_;
  std::vector<std::unique_ptr<CpuDevice>> devices_;
  std::vector<std::unique_ptr<HostExecutor>> executors_;
  ClientId client_;
};

// Figure 2 of the paper: a, b, c on their own slices of 2 devices (transfers between them),
// f(v) = (b(a(v)), a(c(a(v)))).
TEST_F(ControllerE2ETest, Figure2GivesTheSameResultsInParallelAndSequentialDispatch) {
  Start(2, 2);
  const VirtualSlice sa = Slice(2), sb = Slice(2), sc = Slice(2);
  ASSERT_NE(sa.devices, sb.devices);  // so b's input moves between devices
  const FunctionId a = Register(ElementwiseFunction("a", Arith::kMul, 2, 2, 1));
  const FunctionId b = Register(ElementwiseFunction("b", Arith::kAdd, 1, 2, 1));
  const FunctionId c = Register(ElementwiseFunction("c", Arith::kDiv, 2, 2, 1));
  ProgramDef f;
  f.name = "figure2";
  f.inputs.push_back(ArraySpec{F32({1}), sa.id});
  const ValueRef v{ValueRef::kProgramInput, 0};
  f.calls.push_back(ProgramCall{"a", a, sa.id, {v}});              // 0
  f.calls.push_back(ProgramCall{"b", b, sb.id, {ValueRef{0, 0}}});  // 1
  f.calls.push_back(ProgramCall{"c", c, sc.id, {ValueRef{0, 0}}});  // 2
  f.calls.push_back(ProgramCall{"a2", a, sa.id, {ValueRef{2, 0}}}); // 3
  f.outputs = {ValueRef{1, 0}, ValueRef{3, 0}};
  absl::StatusOr<ProgramId> p = controller_->RegisterProgram(client_, f);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<ArrayInfo> x = controller_->PutArray(client_, sa.id, {Vec({1}), Vec({2})});
  ASSERT_TRUE(x.ok()) << x.status();

  for (DispatchMode mode : {DispatchMode::kParallel, DispatchMode::kSequential}) {
    absl::StatusOr<RunResult> r = controller_->Run(client_, *p, {x->id}, RunOptions{mode});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->outputs.size(), 2);
    EXPECT_EQ(Fetch(r->outputs[0].id), (std::vector<std::vector<float>>{{3}, {5}}))
        << DispatchModeName(mode);
    EXPECT_EQ(Fetch(r->outputs[1].id), (std::vector<std::vector<float>>{{2}, {4}}))
        << DispatchModeName(mode);
    for (const ArrayInfo& out : r->outputs) {
      ASSERT_TRUE(controller_->ReleaseArray(client_, out.id).ok());
    }
  }
  ASSERT_TRUE(controller_->ReleaseArray(client_, x->id).ok());
  controller_->Quiesce();
  EXPECT_TRUE(WaitUntil([&] { return ArrayBytesInUse() == 0; })) << ArrayBytesInUse();
}

// An out-of-memory node fails itself and exactly its dependents, with the original error;
// independent outputs of the same run are fine; memory returns to zero.
TEST_F(ControllerE2ETest, OutOfMemoryFailsExactlyItsDependents) {
  constexpr int64_t kCapacity = 1 << 20;
  constexpr int64_t kBig = 1 << 20;  // f32[kBig] is 4 MiB: never fits
  Start(2, 1, kCapacity);
  const VirtualSlice s = Slice(2);
  const FunctionId a = Register(ElementwiseFunction("a", Arith::kMul, 2, 2, 1));
  const FunctionId b = Register(ElementwiseFunction("b", Arith::kAdd, 1, 2, 1));
  ir::FunctionBuilder bb("big", ir::FunctionOptions{2});
  ir::Value bx = bb.Parameter(F32({1}), "x");
  absl::StatusOr<ir::Function> big_fn = bb.Build({bb.Add(bb.Iota(F32({kBig}), 0), bx)});
  ASSERT_TRUE(big_fn.ok()) << big_fn.status();
  const FunctionId big = Register(*big_fn);
  ir::FunctionBuilder sb("sum", ir::FunctionOptions{2});
  ir::Value sy = sb.Parameter(F32({kBig}), "y");
  absl::StatusOr<ir::Function> sum_fn = sb.Build({sb.Reduce(sy, {0}, ir::ReduceKind::kSum)});
  ASSERT_TRUE(sum_fn.ok()) << sum_fn.status();
  const FunctionId sum = Register(*sum_fn);

  ProgramDef def;
  def.name = "oom";
  def.inputs.push_back(ArraySpec{F32({1}), s.id});
  const ValueRef v{ValueRef::kProgramInput, 0};
  def.calls.push_back(ProgramCall{"a", a, s.id, {v}});                  // 0: fine
  def.calls.push_back(ProgramCall{"big", big, s.id, {v}});              // 1: OOM
  def.calls.push_back(ProgramCall{"sum", sum, s.id, {ValueRef{1, 0}}}); // 2: depends on 1
  def.calls.push_back(ProgramCall{"b", b, s.id, {ValueRef{0, 0}}});     // 3: depends on 0
  def.outputs = {ValueRef{0, 0}, ValueRef{1, 0}, ValueRef{2, 0}, ValueRef{3, 0}};
  absl::StatusOr<ProgramId> p = controller_->RegisterProgram(client_, def);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<ArrayInfo> x = controller_->PutArray(client_, s.id, {Vec({1}), Vec({2})});
  ASSERT_TRUE(x.ok());

  for (DispatchMode mode : {DispatchMode::kParallel, DispatchMode::kSequential}) {
    absl::StatusOr<RunResult> r = controller_->Run(client_, *p, {x->id}, RunOptions{mode});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(Fetch(r->outputs[0].id), (std::vector<std::vector<float>>{{2}, {4}}));
    EXPECT_EQ(Fetch(r->outputs[3].id), (std::vector<std::vector<float>>{{3}, {5}}));
    const absl::Status oom = controller_->AwaitArray(client_, r->outputs[1].id)->Await();
    EXPECT_THAT(oom, StatusIs(absl::StatusCode::kResourceExhausted));
    EXPECT_THAT(std::string(oom.message()), ::testing::StartsWith("node 'big' shard "));
    // The dependent carries the original error of one of big's shards (whichever reached it
    // first), not an error of its own.
    const absl::Status dependent = controller_->AwaitArray(client_, r->outputs[2].id)->Await();
    EXPECT_THAT(dependent, StatusIs(absl::StatusCode::kResourceExhausted));
    EXPECT_THAT(std::string(dependent.message()), ::testing::StartsWith("node 'big' shard "));
    EXPECT_THAT(dependent.message(), ::testing::HasSubstr("cannot allocate 4194304 bytes"));
    for (const ArrayInfo& out : r->outputs) {
      ASSERT_TRUE(controller_->ReleaseArray(client_, out.id).ok());
    }
  }
  ASSERT_TRUE(controller_->ReleaseArray(client_, x->id).ok());
  controller_->Quiesce();
  EXPECT_TRUE(WaitUntil([&] { return ArrayBytesInUse() == 0; })) << ArrayBytesInUse();
}

// Two clients run all-reduce gangs over the same 4 devices on 2 hosts at once: the island's
// single order keeps every collective matched, so nothing deadlocks and every sum is right.
TEST_F(ControllerE2ETest, ConcurrentClientsAllReduceWithoutDeadlock) {
  Start(2, 2);
  constexpr int kRuns = 20;
  auto client_loop = [&](DispatchMode mode, float scale) {
    const ClientId client = *controller_->Connect(DispatchModeName(mode));
    SliceRequest request;
    request.num_devices = 4;
    const VirtualSlice s = *controller_->AllocateSlice(client, request);
    ir::FunctionBuilder fb("allreduce", ir::FunctionOptions{4});
    ir::Value x = fb.Parameter(F32({1}), "x");
    const FunctionId f = *controller_->RegisterFunction(
        client, *fb.Build({fb.AllReduce(x, ir::ReduceKind::kSum)}));
    ProgramDef def;
    def.name = "sum";
    def.inputs.push_back(ArraySpec{F32({1}), s.id});
    def.calls.push_back(ProgramCall{"sum", f, s.id, {ValueRef{ValueRef::kProgramInput, 0}}});
    def.calls.push_back(ProgramCall{"sum2", f, s.id, {ValueRef{0, 0}}});
    def.outputs = {ValueRef{1, 0}};
    const ProgramId p = *controller_->RegisterProgram(client, def);
    const ArrayInfo in = *controller_->PutArray(
        client, s.id, {Vec({1 * scale}), Vec({2 * scale}), Vec({3 * scale}), Vec({4 * scale})});
    std::vector<ArrayId> outs;
    for (int i = 0; i < kRuns; ++i) {
      absl::StatusOr<RunResult> r = controller_->Run(client, p, {in.id}, RunOptions{mode});
      ASSERT_TRUE(r.ok()) << r.status();
      outs.push_back(r->outputs[0].id);
    }
    for (ArrayId out : outs) {
      absl::StatusOr<std::vector<ir::Literal>> v = controller_->FetchArray(client, out)->AwaitValue();
      ASSERT_TRUE(v.ok()) << v.status();
      for (const ir::Literal& shard : *v) EXPECT_EQ(Values(shard), std::vector<float>{40 * scale});
    }
    controller_->Disconnect(client);
  };
  std::thread t1(client_loop, DispatchMode::kParallel, 1.0f);
  std::thread t2(client_loop, DispatchMode::kSequential, 10.0f);
  t1.join();
  t2.join();
  controller_->Quiesce();
  EXPECT_TRUE(WaitUntil([&] { return ArrayBytesInUse() == 0; })) << ArrayBytesInUse();
  EXPECT_THAT(controller_->SchedulerDebugString(), ::testing::HasSubstr("in_flight=0"));
}

}  // namespace
}  // namespace pw
