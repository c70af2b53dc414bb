// Tests for Controller with fake workers: messages per host, sequential stages, lowering
// cache, client isolation, releases, errors, host removal, window, trace, status.
#include "pathways/controller/controller.h"

#include <algorithm>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/controller/controller_test_util.h"

namespace pw {
namespace {

using ::pw::controller_testing::Arith;
using ::pw::controller_testing::ElementwiseFunction;
using ::pw::controller_testing::F32;
using ::pw::controller_testing::FakeWorker;
using ::pw::controller_testing::Vec;
using ::pw::controller_testing::WaitUntil;
using ::testing::HasSubstr;

constexpr int64_t kGiB = int64_t{1} << 30;

class ControllerTest : public ::testing::Test {
 protected:
  void MakeController(int64_t window = 1024) {
    ControllerOptions options;
    options.resources = &rm_;
    options.trace = &trace_;
    options.scheduler_window = window;
    controller_ = std::make_unique<Controller>(options);
  }
  void SetUp() override { MakeController(); }
  void TearDown() override {
    // No reports after this, then no controller work that could still call a worker.
    for (auto& [host, worker] : workers_) worker->StopReplying();
    controller_->Quiesce();
    workers_.clear();
    controller_.reset();
  }

  std::vector<HostId> AddHosts(int64_t island, int hosts, int per_host,
                               FakeWorker::Reply reply = FakeWorker::Reply::kManual) {
    std::vector<HostId> out;
    for (int h = 0; h < hosts; ++h) {
      HostSpec spec;
      spec.island = IslandId(island);
      spec.address = absl::StrCat("10.0.", island, ".", next_address_++, ":7000");
      spec.num_devices = per_host;
      spec.memory_bytes_per_device = kGiB;
      absl::StatusOr<HostId> id = rm_.AddHost(spec);
      EXPECT_TRUE(id.ok()) << id.status();
      workers_[*id] = std::make_unique<FakeWorker>(*id, controller_.get(), reply);
      EXPECT_TRUE(controller_->AddWorker(*id, workers_[*id].get()).ok());
      out.push_back(*id);
    }
    return out;
  }

  ClientId Connect(std::string name = "client") {
    absl::StatusOr<ClientId> c = controller_->Connect(std::move(name));
    EXPECT_TRUE(c.ok());
    return *c;
  }
  VirtualSlice Slice(ClientId client, int64_t n) {
    SliceRequest request;
    request.num_devices = n;
    absl::StatusOr<VirtualSlice> s = controller_->AllocateSlice(client, request);
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  FunctionId Function(ClientId client, std::string name, Arith op, float c, int64_t shards) {
    absl::StatusOr<FunctionId> f =
        controller_->RegisterFunction(client, ElementwiseFunction(name, op, c, shards));
    EXPECT_TRUE(f.ok()) << f.status();
    return *f;
  }
  ArrayId Put(ClientId client, const VirtualSlice& slice) {
    std::vector<ir::Literal> shards;
    for (size_t i = 0; i < slice.devices.size(); ++i) shards.push_back(Vec({float(i), 1}));
    absl::StatusOr<ArrayInfo> a = controller_->PutArray(client, slice.id, std::move(shards));
    EXPECT_TRUE(a.ok()) << a.status();
    return a->id;
  }
  // A program of calls applied in a chain to its one input: calls[k](calls[k-1](x)); outputs
  // the listed call outputs (default: the last).
  ProgramId Chain(ClientId client, SliceId slice, std::vector<FunctionId> fns,
                  std::vector<int64_t> outputs = {}) {
    ProgramDef def;
    def.name = "chain";
    def.inputs.push_back(ArraySpec{F32({2}), slice});
    for (size_t k = 0; k < fns.size(); ++k) {
      ValueRef arg = k == 0 ? ValueRef{ValueRef::kProgramInput, 0} : ValueRef{int64_t(k) - 1, 0};
      def.calls.push_back(ProgramCall{absl::StrCat("f", k), fns[k], slice, {arg}});
    }
    if (outputs.empty()) outputs.push_back(int64_t(fns.size()) - 1);
    for (int64_t o : outputs) def.outputs.push_back(ValueRef{o, 0});
    absl::StatusOr<ProgramId> p = controller_->RegisterProgram(client, def);
    EXPECT_TRUE(p.ok()) << p.status();
    return *p;
  }
  RunResult MustRun(ClientId client, ProgramId program, std::vector<ArrayId> inputs,
                    DispatchMode mode = DispatchMode::kParallel) {
    absl::StatusOr<RunResult> r = controller_->Run(client, program, inputs, RunOptions{mode});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RunResult{};
  }
  FakeWorker& W(HostId host) { return *workers_.at(host); }
  int64_t ReplyAll() {
    int64_t n = 0;
    for (auto& [host, w] : workers_) n += w->ReplyAll();
    return n;
  }

  ResourceManager rm_;
  TraceRecorder trace_;
  std::unique_ptr<Controller> controller_;
  std::map<HostId, std::unique_ptr<FakeWorker>> workers_;
  int next_address_ = 0;
};

TEST_F(ControllerTest, ParallelDispatchSendsOneHostRunPerInvolvedHost) {
  const std::vector<HostId> hosts = AddHosts(0, 3, 2);
  const ClientId client = Connect();
  const VirtualSlice slice = Slice(client, 4);
  const FunctionId a = Function(client, "a", Arith::kMul, 2, 4);
  const ProgramId p = Chain(client, slice.id, {a});
  const ArrayId x = Put(client, slice);
  const RunResult r1 = MustRun(client, p, {x});
  ASSERT_EQ(r1.outputs.size(), 1);
  EXPECT_EQ(r1.outputs[0].devices, slice.devices);
  EXPECT_EQ(r1.outputs[0].spec, (ArraySpec{F32({2}), slice.id}));
  EXPECT_FALSE(controller_->AwaitArray(client, r1.outputs[0].id)->IsAvailable());

  std::set<HostId> involved;
  for (DeviceId d : slice.devices) involved.insert(rm_.GetDevice(d)->host);
  ASSERT_EQ(involved.size(), 2);  // 4 devices over hosts of 2
  const std::vector<ArrayId>* bindings = nullptr;
  for (HostId host : hosts) {
    const std::vector<HostRun> runs = W(host).runs();
    if (!involved.count(host)) {
      EXPECT_TRUE(runs.empty());
      EXPECT_TRUE(W(host).registered().empty());
      continue;
    }
    ASSERT_EQ(runs.size(), 1) << host;
    EXPECT_EQ(runs[0].run, r1.run);
    EXPECT_EQ(runs[0].client, client);
    EXPECT_EQ(runs[0].mode, DispatchMode::kParallel);
    EXPECT_EQ(runs[0].stage, -1);
    EXPECT_EQ(runs[0].program->host, host);
    EXPECT_EQ((*runs[0].value_arrays)[0], x);
    // One bindings vector shared by every host's message.
    if (bindings == nullptr) bindings = runs[0].value_arrays.get();
    EXPECT_EQ(runs[0].value_arrays.get(), bindings);
    EXPECT_THAT(W(host).registered(), ::testing::ElementsAre(a));
  }
  EXPECT_EQ(ReplyAll(), 2);
  EXPECT_TRUE(controller_->AwaitArray(client, r1.outputs[0].id)->Await().ok());

  // A second run: new gangs, new arrays, no second function registration.
  const RunResult r2 = MustRun(client, p, {x});
  EXPECT_NE(r2.outputs[0].id, r1.outputs[0].id);
  for (HostId host : involved) {
    const std::vector<HostRun> runs = W(host).runs();
    ASSERT_EQ(runs.size(), 2);
    EXPECT_EQ(runs[1].gang_base, runs[0].gang_base + int64_t(runs[0].lowered->nodes.size()));
    EXPECT_EQ(W(host).registered().size(), 1);
  }
  ReplyAll();
}

TEST_F(ControllerTest, SequentialDispatchSendsStagesOneByOne) {
  const std::vector<HostId> hosts = AddHosts(0, 2, 1);
  const ClientId client = Connect();
  const VirtualSlice slice = Slice(client, 2);
  const FunctionId a = Function(client, "a", Arith::kMul, 2, 2);
  const FunctionId b = Function(client, "b", Arith::kAdd, 1, 2);
  const ProgramId p = Chain(client, slice.id, {a, b});
  const RunResult r = MustRun(client, p, {Put(client, slice)}, DispatchMode::kSequential);
  const EventRef out = controller_->AwaitArray(client, r.outputs[0].id);
  for (HostId host : hosts) {
    ASSERT_EQ(W(host).runs().size(), 1);
    EXPECT_EQ(W(host).runs()[0].stage, 0);
    EXPECT_EQ(W(host).runs()[0].mode, DispatchMode::kSequential);
  }
  // Stage 1 waits for every host of stage 0.
  EXPECT_TRUE(W(hosts[0]).ReplyOne());
  controller_->Quiesce();
  EXPECT_EQ(W(hosts[1]).runs().size(), 1);
  EXPECT_EQ(W(hosts[0]).runs().size(), 1);
  EXPECT_TRUE(W(hosts[1]).ReplyOne());
  for (HostId host : hosts) {
    ASSERT_TRUE(WaitUntil([&] { return W(host).runs().size() == 2; }));
    EXPECT_EQ(W(host).runs()[1].stage, 1);
  }
  EXPECT_FALSE(out->IsAvailable());
  EXPECT_EQ(ReplyAll(), 2);
  EXPECT_TRUE(out->Await().ok());
}

TEST_F(ControllerTest, LoweringCacheHitsUntilAHostRemovalRemapsTheSlice) {
  const std::vector<HostId> hosts = AddHosts(0, 3, 1, FakeWorker::Reply::kAuto);
  const ClientId client = Connect();
  const VirtualSlice slice = Slice(client, 2);
  const ProgramId p = Chain(client, slice.id, {Function(client, "a", Arith::kMul, 2, 2)});
  const ArrayId x = Put(client, slice);
  const ClusterStatus before = controller_->Status();
  for (int i = 0; i < 2; ++i) {
    const RunResult r = MustRun(client, p, {x});
    EXPECT_TRUE(controller_->AwaitArray(client, r.outputs[0].id)->Await().ok());
  }
  ClusterStatus after = controller_->Status();
  EXPECT_EQ(after.lowering_cache_hits, before.lowering_cache_hits + 2);
  EXPECT_EQ(after.lowering_cache_misses, before.lowering_cache_misses);

  const HostId lost = rm_.GetDevice(slice.devices[0])->host;
  ASSERT_TRUE(controller_->RemoveWorker(lost, absl::UnavailableError("power cut")).ok());
  const VirtualSlice remapped = *rm_.GetSlice(slice.id);
  EXPECT_GT(remapped.mapping_version, slice.mapping_version);
  // The old input's shard 0 lived on the lost host.
  absl::StatusOr<RunResult> stale = controller_->Run(client, p, {x}, {});
  EXPECT_THAT(stale.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  after = controller_->Status();
  EXPECT_EQ(after.lowering_cache_misses, before.lowering_cache_misses + 1);

  const RunResult r = MustRun(client, p, {Put(client, remapped)});
  EXPECT_TRUE(controller_->AwaitArray(client, r.outputs[0].id)->Await().ok());
  const HostId replacement = rm_.GetDevice(remapped.devices[0])->host;
  EXPECT_NE(replacement, lost);
  ASSERT_FALSE(W(replacement).runs().empty());
  EXPECT_EQ(W(replacement).runs().back().run, r.run);
  EXPECT_EQ(controller_->Status().lowering_cache_misses, before.lowering_cache_misses + 1);
}

TEST_F(ControllerTest, ObjectsOfAnotherClientAreNotFound) {
  AddHosts(0, 1, 2, FakeWorker::Reply::kAuto);
  const ClientId alice = Connect("alice");
  const ClientId bob = Connect("bob");
  const VirtualSlice slice = Slice(alice, 2);
  const FunctionId a = Function(alice, "a", Arith::kMul, 2, 2);
  const ProgramId p = Chain(alice, slice.id, {a});
  const ArrayId x = Put(alice, slice);
  EXPECT_THAT(controller_->Run(bob, p, {x}, {}).status(), StatusIs(absl::StatusCode::kNotFound));
  const VirtualSlice bob_slice = Slice(bob, 2);
  const ProgramId bob_p = Chain(bob, bob_slice.id, {a});  // functions are shared by content
  const absl::StatusOr<RunResult> r = controller_->Run(bob, bob_p, {x}, {});
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(r.status().message(), HasSubstr("input 0"));
  EXPECT_THAT(controller_->AwaitArray(bob, x)->status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(controller_->FetchArray(bob, x)->status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(controller_->ReleaseArray(bob, x), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(controller_->ReleaseSlice(bob, slice.id), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(controller_->PutArray(bob, slice.id, {Vec({1, 2}), Vec({3, 4})}).status(),
              StatusIs(absl::StatusCode::kNotFound));
  ProgramDef def;
  def.name = "steal";
  def.inputs.push_back(ArraySpec{F32({2}), slice.id});
  def.calls.push_back(ProgramCall{"a", a, slice.id, {ValueRef{ValueRef::kProgramInput, 0}}});
  def.outputs.push_back(ValueRef{0, 0});
  EXPECT_THAT(controller_->RegisterProgram(bob, def).status(),
              StatusIs(absl::StatusCode::kNotFound));
  // Alice still has everything.
  EXPECT_TRUE(controller_->AwaitArray(alice, x)->Await().ok());
  EXPECT_TRUE(controller_->Run(alice, p, {x}, {}).ok());
}

TEST_F(ControllerTest, DisconnectReleasesArraysProgramsAndSlices) {
  const std::vector<HostId> hosts = AddHosts(0, 2, 1, FakeWorker::Reply::kAuto);
  const ClientId client = Connect();
  const ClientId other = Connect("other");
  const VirtualSlice slice = Slice(client, 2);
  const VirtualSlice kept = Slice(other, 1);
  const ProgramId p = Chain(client, slice.id, {Function(client, "a", Arith::kMul, 2, 2)});
  const ArrayId x = Put(client, slice);
  const RunResult r = MustRun(client, p, {x});
  ASSERT_TRUE(controller_->AwaitArray(client, r.outputs[0].id)->Await().ok());
  EXPECT_EQ(controller_->Status().programs, 1);

  controller_->Disconnect(client);
  // The output is ready a moment before its run let go of it (same report), hence the wait.
  for (HostId host : hosts) {
    EXPECT_TRUE(WaitUntil([&] {
      return W(host).WasReleased(x) && W(host).WasReleased(r.outputs[0].id);
    })) << host;
    EXPECT_EQ(W(host).stored_shards(), 0);
  }
  const std::vector<VirtualSlice> slices = rm_.Slices();
  ASSERT_EQ(slices.size(), 1);
  EXPECT_EQ(slices[0].id, kept.id);
  const ClusterStatus status = controller_->Status();
  EXPECT_EQ(status.programs, 0);
  ASSERT_EQ(status.clients.size(), 1);
  EXPECT_EQ(status.clients[0].id, other);
  EXPECT_THAT(controller_->Run(client, p, {x}, {}).status(), StatusIs(absl::StatusCode::kNotFound));
  controller_->Disconnect(client);  // idempotent
}

TEST_F(ControllerTest, InputAndOutputArraysStayAliveUntilTheRunFinished) {
  const std::vector<HostId> hosts = AddHosts(0, 1, 2);
  const ClientId client = Connect();
  const VirtualSlice slice = Slice(client, 2);
  const ProgramId p = Chain(client, slice.id, {Function(client, "a", Arith::kMul, 2, 2)});
  const ArrayId x = Put(client, slice);
  const RunResult r = MustRun(client, p, {x});
  ASSERT_TRUE(controller_->ReleaseArray(client, x).ok());
  ASSERT_TRUE(controller_->ReleaseArray(client, r.outputs[0].id).ok());
  EXPECT_THAT(controller_->ReleaseArray(client, x), StatusIs(absl::StatusCode::kNotFound));
  controller_->Quiesce();
  EXPECT_TRUE(W(hosts[0]).released().empty());
  EXPECT_EQ(W(hosts[0]).stored_shards(), 2);
  EXPECT_EQ(ReplyAll(), 1);
  controller_->Quiesce();
  EXPECT_TRUE(W(hosts[0]).WasReleased(x));
  EXPECT_TRUE(W(hosts[0]).WasReleased(r.outputs[0].id));
  EXPECT_EQ(W(hosts[0]).released().size(), 2);  // one message per array per host
}

TEST_F(ControllerTest, RequestErrorsNameTheCulprit) {
  AddHosts(0, 1, 2, FakeWorker::Reply::kAuto);
  const ClientId client = Connect();
  const VirtualSlice slice = Slice(client, 2);
  const VirtualSlice other_slice = Slice(client, 2);
  const FunctionId a = Function(client, "a", Arith::kMul, 2, 2);
  const ProgramId p = Chain(client, slice.id, {a});
  const ArrayId x = Put(client, slice);

  EXPECT_THAT(controller_->Run(client, ProgramId(99), {x}, {}).status(),
              StatusIs(absl::StatusCode::kNotFound));
  absl::Status s = controller_->Run(client, p, {ArrayId(12345)}, {}).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(s.message(), HasSubstr("array:12345"));
  s = controller_->Run(client, p, {x, x}, {}).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.message(), HasSubstr("2 inputs"));
  // Same shape on another slice, then another shape on the right slice.
  s = controller_->Run(client, p, {Put(client, other_slice)}, {}).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.message(), HasSubstr("input 0"));
  absl::StatusOr<ArrayInfo> wide =
      controller_->PutArray(client, slice.id, {Vec({1, 2, 3}), Vec({4, 5, 6})});
  ASSERT_TRUE(wide.ok());
  s = controller_->Run(client, p, {wide->id}, {}).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.message(), HasSubstr("f32[3]"));

  // PutArray: shard count and mixed types.
  EXPECT_THAT(controller_->PutArray(client, slice.id, {Vec({1, 2})}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(controller_->PutArray(client, slice.id, {Vec({1, 2}), Vec({1})}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // RegisterProgram validates early and names the call.
  ProgramDef def;
  def.name = "bad";
  def.inputs.push_back(ArraySpec{F32({3}), slice.id});
  def.calls.push_back(ProgramCall{"scale", a, slice.id, {ValueRef{ValueRef::kProgramInput, 0}}});
  def.outputs.push_back(ValueRef{0, 0});
  s = controller_->RegisterProgram(client, def).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.message(), HasSubstr("RegisterProgram('bad')"));
  EXPECT_THAT(s.message(), HasSubstr("scale"));
  def.inputs[0].slice = SliceId(777);
  EXPECT_THAT(controller_->RegisterProgram(client, def).status(),
              StatusIs(absl::StatusCode::kNotFound));

  // A malformed function.
  ir::Function broken = ElementwiseFunction("broken", Arith::kAdd, 1, 2);
  broken.outputs = {42};
  EXPECT_THAT(controller_->RegisterFunction(client, broken).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // The same function twice: one id.
  EXPECT_EQ(Function(client, "a", Arith::kMul, 2, 2), a);
  EXPECT_NE(Function(client, "a", Arith::kMul, 3, 2), a);
}

TEST_F(ControllerTest, AFailedShardFailsItsArrayWithTheHostsError) {
  const std::vector<HostId> hosts = AddHosts(0, 1, 2);
  const ClientId client = Connect();
  const VirtualSlice slice = Slice(client, 2);
  const FunctionId a = Function(client, "a", Arith::kMul, 2, 2);
  const FunctionId b = Function(client, "b", Arith::kAdd, 1, 2);
  // Outputs: a(x) and b(a(x)) with b's shards failing on the host.
  const ProgramId p = Chain(client, slice.id, {a, b}, {0, 1});
  const RunResult r = MustRun(client, p, {Put(client, slice)});
  const int32_t b_slot = W(hosts[0]).runs()[0].lowered->output_values[1];
  const absl::Status oom = absl::ResourceExhaustedError("node 'f1' shard 1 on device:1: out of memory");
  W(hosts[0]).FailValue(b_slot, oom);
  ReplyAll();
  EXPECT_TRUE(controller_->AwaitArray(client, r.outputs[0].id)->Await().ok());
  EXPECT_EQ(controller_->AwaitArray(client, r.outputs[1].id)->Await(), oom);
  EXPECT_EQ(controller_->FetchArray(client, r.outputs[1].id)->AwaitValue().status(), oom);
}

TEST_F(ControllerTest, MetricsCountRunsComputationsBytesAndTheFailedRunsError) {
  const std::vector<HostId> hosts = AddHosts(0, 1, 2);
  const ClientId client = Connect();
  const VirtualSlice slice = Slice(client, 2);
  const ProgramId p = Chain(client, slice.id, {Function(client, "a", Arith::kMul, 2, 2),
                                               Function(client, "b", Arith::kAdd, 1, 2)});
  const RunResult r = MustRun(client, p, {Put(client, slice)});
  const ControllerMetrics& m = controller_->metrics();
  EXPECT_EQ(m.put_bytes.value(), 2 * 2 * 4);  // two f32[2] shards
  EXPECT_EQ(m.runs_started.value(), 1);
  EXPECT_EQ(m.dispatch_latency.Read().count, 1);
  EXPECT_EQ(m.queue_time.Read().count, 1);  // sent at once: the window was empty
  const std::vector<RunningRun> running = controller_->RunningRuns();
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].run, r.run);
  EXPECT_EQ(running[0].program, "chain");
  const absl::Status oom = absl::ResourceExhaustedError("node 'f1' shard 1 on device:1: out of memory");
  W(hosts[0]).FailValue(W(hosts[0]).runs()[0].lowered->output_values[0], oom);
  ReplyAll();
  EXPECT_TRUE(WaitUntil([&] { return controller_->RunningRuns().empty(); }));
  EXPECT_EQ(m.runs_finished.value(), 1);
  EXPECT_EQ(m.runs_failed.value(), 1);
  EXPECT_EQ(m.computations.value(), 2);
  EXPECT_EQ(m.run_duration.Read().count, 1);
  const std::vector<RunFailure> failures = m.RecentFailures();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].run, r.run);
  EXPECT_EQ(failures[0].program, "chain");
  EXPECT_EQ(failures[0].error, oom);
  // A cancelled run ends failed even when its hosts finish it anyway.
  const RunResult cancelled = MustRun(client, p, {Put(client, slice)});
  ASSERT_TRUE(controller_->CancelRun(client, cancelled.run).ok());
  ReplyAll();
  EXPECT_TRUE(WaitUntil([&] { return m.runs_failed.value() == 2; }));
  EXPECT_THAT(m.RecentFailures()[0].error, StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(ControllerTest, RemovingAHostFailsItsPendingArraysAndFinishesTheRun) {
  const std::vector<HostId> hosts = AddHosts(0, 2, 1);
  const ClientId client = Connect();
  const VirtualSlice slice = Slice(client, 2);
  const ProgramId p = Chain(client, slice.id, {Function(client, "a", Arith::kMul, 2, 2)});
  const ArrayId x = Put(client, slice);
  const RunResult r = MustRun(client, p, {x});
  ASSERT_TRUE(controller_->RemoveWorker(hosts[1], absl::InternalError("kernel panic")).ok());
  const absl::Status& s = controller_->AwaitArray(client, r.outputs[0].id)->Await();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(s.message(), HasSubstr(hosts[1].DebugString()));
  EXPECT_THAT(s.message(), HasSubstr("kernel panic"));
  EXPECT_THAT(controller_->RemoveWorker(hosts[1], absl::OkStatus()),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(controller_->SchedulerDebugString(), HasSubstr("in_flight=1"));
  W(hosts[0]).ReplyAll();
  EXPECT_THAT(controller_->SchedulerDebugString(), HasSubstr("in_flight=0"));
  // The fetched data is gone with the host.
  EXPECT_THAT(controller_->FetchArray(client, x)->AwaitValue().status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ControllerTest, RemovingAHostTellsEveryOtherWorkerOnce) {
  const std::vector<HostId> hosts = AddHosts(0, 3, 1);
  ASSERT_TRUE(controller_->RemoveWorker(hosts[1], absl::InternalError("kernel panic")).ok());
  // Told before RemoveWorker returns (on the controller's work thread).
  for (HostId survivor : {hosts[0], hosts[2]}) {
    const auto told = W(survivor).peers_lost();
    ASSERT_EQ(told.size(), 1u) << survivor;
    EXPECT_EQ(told[0].first, hosts[1]);
    EXPECT_THAT(told[0].second.message(), HasSubstr("kernel panic"));
  }
  EXPECT_TRUE(W(hosts[1]).peers_lost().empty());  // not told of its own loss
  // A survivor hears of each loss once; a removed worker hears of none after it left.
  ASSERT_TRUE(controller_->RemoveWorker(hosts[2], absl::OkStatus()).ok());
  EXPECT_EQ(W(hosts[0]).peers_lost().size(), 2u);
  EXPECT_EQ(W(hosts[0]).peers_lost()[1].first, hosts[2]);
  EXPECT_EQ(W(hosts[1]).peers_lost().size(), 0u);
  EXPECT_EQ(W(hosts[2]).peers_lost().size(), 1u);
}

TEST_F(ControllerTest, SchedulerWindowQueuesRunsUntilEarlierOnesFinish) {
  MakeController(/*window=*/1);
  const std::vector<HostId> hosts = AddHosts(0, 1, 1);
  const ClientId client = Connect();
  const VirtualSlice slice = Slice(client, 1);
  const ProgramId p = Chain(client, slice.id, {Function(client, "a", Arith::kMul, 2, 1)});
  const ArrayId x = Put(client, slice);
  const RunResult r1 = MustRun(client, p, {x});
  const RunResult r2 = MustRun(client, p, {x});
  EXPECT_EQ(W(hosts[0]).runs().size(), 1);
  EXPECT_TRUE(W(hosts[0]).ReplyOne());
  ASSERT_TRUE(WaitUntil([&] { return W(hosts[0]).runs().size() == 2; }));
  EXPECT_EQ(W(hosts[0]).runs()[1].run, r2.run);
  EXPECT_TRUE(W(hosts[0]).ReplyOne());
  EXPECT_TRUE(controller_->AwaitArray(client, r2.outputs[0].id)->Await().ok());
  EXPECT_TRUE(controller_->AwaitArray(client, r1.outputs[0].id)->Await().ok());
}

TEST_F(ControllerTest, RemovingAHostCancelsRunsStillQueuedInTheScheduler) {
  MakeController(/*window=*/1);
  const std::vector<HostId> hosts = AddHosts(0, 1, 1);
  const ClientId client = Connect();
  const VirtualSlice slice = Slice(client, 1);
  const ProgramId p = Chain(client, slice.id, {Function(client, "a", Arith::kMul, 2, 1),
                                               Function(client, "b", Arith::kAdd, 1, 1)});
  const ArrayId x = Put(client, slice);
  const RunResult in_flight = MustRun(client, p, {x});
  const RunResult queued = MustRun(client, p, {x});
  const RunResult queued_seq = MustRun(client, p, {x}, DispatchMode::kSequential);
  EXPECT_EQ(W(hosts[0]).runs().size(), 1);
  ASSERT_TRUE(controller_->RemoveWorker(hosts[0], absl::InternalError("power loss")).ok());
  for (const RunResult* r : {&in_flight, &queued, &queued_seq}) {
    const absl::Status& s = controller_->AwaitArray(client, r->outputs[0].id)->Await();
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(s.message(), HasSubstr("power loss"));
  }
  controller_->Quiesce();
  // Nothing queued was ever sent, and the window is free again.
  EXPECT_EQ(W(hosts[0]).runs().size(), 1);
  EXPECT_THAT(controller_->SchedulerDebugString(), HasSubstr("in_flight=0"));
}

TEST_F(ControllerTest, TwoClientsGetTheSameRunOrderOnEveryHost) {
  const std::vector<HostId> hosts = AddHosts(0, 2, 1, FakeWorker::Reply::kAuto);
  constexpr int kRuns = 100;
  auto client_loop = [&](std::string name) {
    const ClientId client = Connect(name);
    const VirtualSlice slice = Slice(client, 2);
    const ProgramId p = Chain(client, slice.id, {Function(client, "a", Arith::kMul, 2, 2)});
    const ArrayId x = Put(client, slice);
    for (int i = 0; i < kRuns; ++i) {
      const RunResult r = MustRun(client, p, {x});
      ASSERT_TRUE(controller_->ReleaseArray(client, r.outputs[0].id).ok());
    }
  };
  std::thread a(client_loop, "a"), b(client_loop, "b");
  a.join();
  b.join();
  std::vector<std::vector<int64_t>> orders;
  for (HostId host : hosts) {
    std::vector<int64_t> order;
    for (const HostRun& run : W(host).runs()) order.push_back(run.run.value());
    orders.push_back(order);
  }
  ASSERT_EQ(orders[0].size(), 2 * kRuns);
  EXPECT_EQ(orders[0], orders[1]);
  ASSERT_TRUE(WaitUntil([&] { return controller_->SchedulerDebugString().find("in_flight=0") != std::string::npos; }));
}

TEST_F(ControllerTest, StatusTraceAndFetch) {
  const std::vector<HostId> hosts = AddHosts(0, 2, 1, FakeWorker::Reply::kAuto);
  const ClientId client = Connect("trainer");
  const VirtualSlice slice = Slice(client, 2);
  const ProgramId p = Chain(client, slice.id, {Function(client, "a", Arith::kMul, 2, 2)});
  absl::StatusOr<ArrayInfo> x = controller_->PutArray(client, slice.id, {Vec({1, 2}), Vec({3, 4})});
  ASSERT_TRUE(x.ok());
  absl::StatusOr<std::vector<ir::Literal>> fetched = controller_->FetchArray(client, x->id)->AwaitValue();
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ASSERT_EQ(fetched->size(), 2);
  EXPECT_EQ(controller_testing::Values((*fetched)[1]), (std::vector<float>{3, 4}));

  trace_.Start();
  const RunResult r = MustRun(client, p, {x->id});
  trace_.Stop();
  ASSERT_TRUE(controller_->AwaitArray(client, r.outputs[0].id)->Await().ok());
  std::vector<TraceEvent> events = trace_.TakeEvents();
  // The run's dispatch, and inside it one "send part" per host given its part (both hosts).
  ASSERT_EQ(events.size(), 3);
  std::sort(events.begin(), events.end(),
            [](const TraceEvent& a, const TraceEvent& b) { return a.start_ns < b.start_ns; });
  EXPECT_EQ(events[0].category, "dispatch");
  for (const TraceEvent& e : events) EXPECT_EQ(e.pid, kControllerTracePid);
  std::vector<std::string> sent;
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].category, "send part");
    EXPECT_GE(events[i].start_ns, events[0].start_ns);
    EXPECT_LE(events[i].start_ns + events[i].dur_ns, events[0].start_ns + events[0].dur_ns);
    sent.push_back(events[i].name);
  }
  EXPECT_THAT(sent, ::testing::UnorderedElementsAre(hosts[0].DebugString(), hosts[1].DebugString()));

  const ClusterStatus status = controller_->Status();
  ASSERT_EQ(status.islands.size(), 1);
  ASSERT_EQ(status.hosts.size(), 2);
  EXPECT_EQ(status.hosts[0].runs_received, 1);
  ASSERT_EQ(status.clients.size(), 1);
  EXPECT_EQ(status.clients[0].name, "trainer");
  EXPECT_EQ(status.clients[0].runs, 1);
  EXPECT_EQ(status.clients[0].live_arrays, 2);
  EXPECT_EQ(status.slices.size(), 1);
  EXPECT_EQ(status.programs, 1);
  EXPECT_EQ(status.runs, 1);
  EXPECT_THAT(controller_->DebugString(), HasSubstr("clients=1"));
  EXPECT_TRUE(WaitUntil(
      [&] { return controller_->DebugString().find("runs_in_flight=0") != std::string::npos; }));
}

}  // namespace
}  // namespace pw
