// Tests for HostExecutor with real CPU devices, real compiled functions and hand-built lowered
// programs on two in-process hosts: gangs across hosts, parallel
// dispatch before inputs exist, OOM propagation, memory accounting, fetch/put, observer reports,
// many runs back to back and shutdown with unfinished work.
#include "pathways/worker/host_executor.h"

#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/clock.h"
#include "pathways/base/status_matchers.h"
#include "pathways/ir/builder.h"
#include "pathways/worker/host_executor_test_util.h"

namespace pw::worker_testing {
namespace {

using ::testing::HasSubstr;

// (a) One compute node over 4 devices on 2 hosts, using all_reduce.
TEST(HostExecutorTest, AllReduceGangAcrossTwoHosts) {
  Cluster cluster;
  const FunctionId fn(1);
  cluster.Register(fn, AllReduceSum(4));
  LoweredProgramBuilder b;
  const int32_t x = b.AddValue("x", kF32x4, Devices({0, 1, 2, 3}), /*is_input=*/true);
  const int32_t y = b.AddValue("a:0", kF32x4, Devices({0, 1, 2, 3}), false, /*is_output=*/true);
  const int32_t a = b.AddNode("a", NodeKind::kCompute, fn, 4, {x}, {y});
  for (int32_t s = 0; s < 4; ++s) b.Compute(Cluster::HostOf(s), a, fn, 4, s, DeviceId(s), {x}, {y});
  auto program = b.Build();

  const ArrayId in(100), out(101);
  for (int32_t s = 0; s < 4; ++s) {
    ASSERT_TRUE(cluster.host_of_device(s)
                    .PutShard(in, s, DeviceId(s), Vec({1.0f * s, 2.0f * s, 3.0f, 4.0f}))
                    .ok());
  }
  RunOnAllHosts(cluster, program, RunId(1), {in, out}, /*gang_base=*/10);
  auto results = cluster.observer().WaitFor(2);
  ASSERT_EQ(results.size(), 2u);
  for (int64_t h = 0; h < 2; ++h) {
    const HostRunResult* r = ResultOf(results, HostId(h), RunId(1));
    ASSERT_NE(r, nullptr);
    EXPECT_TRUE(r->status.ok()) << r->status;
    ASSERT_EQ(r->outputs.size(), 2u);  // this host's two shards of the program output
    for (const auto& o : r->outputs) {
      EXPECT_EQ(o.value, y);
      EXPECT_EQ(o.shard / 2, h);
      EXPECT_TRUE(o.status.ok()) << o.status;
    }
  }
  for (int32_t s = 0; s < 4; ++s) {
    EXPECT_THAT(Fetch(cluster.host_of_device(s), out, s),
                ::testing::ElementsAre(6.0f, 12.0f, 12.0f, 16.0f))
        << "shard " << s;
  }
  EXPECT_EQ(cluster.groups().num_pending_gangs(), 0);
}

// (e) Every buffer is returned once outputs (and inputs) are released.
TEST(HostExecutorTest, MemoryReturnsToZeroAfterReleasingOutputsAndTemporaries) {
  Cluster cluster;
  const FunctionId twice(1), plus_one(2);
  cluster.Register(twice, Scale(2, 0));
  cluster.Register(plus_one, Scale(1, 1));
  int32_t b_out = -1;
  auto program = CrossHostChain(twice, plus_one, &b_out);
  for (int run = 0; run < 3; ++run) {
    const std::vector<ArrayId> arrays = {ArrayId(10 * run + 1), ArrayId(10 * run + 2),
                                         ArrayId(10 * run + 3), ArrayId(10 * run + 4)};
    ASSERT_TRUE(cluster.host(0).PutShard(arrays[0], 0, DeviceId(0), Vec({1, 2, 3, 4})).ok());
    RunOnAllHosts(cluster, program, RunId(run), arrays, 100 * run);
    ASSERT_EQ(cluster.observer().WaitFor(2 * (run + 1)).size(), 2u * (run + 1));
    EXPECT_GT(ArrayBytes(cluster.host(1).Status(), DeviceId(2)), 0);
    cluster.host(0).Release({arrays[0]});
    cluster.host(1).Release({arrays[3]});
  }
  for (int64_t h = 0; h < 2; ++h) {
    AwaitLiveBuffers(cluster.host(h), 0);
    // The store drops its last references just after unlisting the entries: poll briefly.
    auto array_bytes = [&] {
      int64_t bytes = 0;
      for (const DeviceStatus& d : cluster.host(h).Status().devices) {
        bytes += d.memory_in_use_bytes - d.scratch_bytes;
      }
      return bytes;
    };
    const int64_t deadline = MonotonicNanos() + 10'000'000'000;
    while (array_bytes() != 0 && MonotonicNanos() < deadline) std::this_thread::yield();
    EXPECT_EQ(array_bytes(), 0) << "host " << h;
    EXPECT_EQ(cluster.host(h).Status().live_buffer_bytes, 0);
  }
}

// (c) The whole message is dispatched before its input exists: every output is allocated and
// every shard enqueued, nothing runs; once the input arrives the devices run with no further
// host work.
TEST(HostExecutorTest, ParallelDispatchAllocatesAndEnqueuesBeforeInputsExist) {
  Cluster cluster;
  const FunctionId twice(1), plus_one(2);
  cluster.Register(twice, Scale(2, 0));
  cluster.Register(plus_one, Scale(1, 1));
  LoweredProgramBuilder b("parallel");
  const int32_t x = b.AddValue("x", kF32x4, Devices({0}), true);
  const int32_t a_out = b.AddValue("a:0", kF32x4, Devices({0}));
  const int32_t moved = b.AddValue("a:0@b", kF32x4, Devices({2}));
  const int32_t b_out = b.AddValue("b:0", kF32x4, Devices({2}));
  const int32_t c_out = b.AddValue("c:0", kF32x4, Devices({2}), false, true);
  const int32_t copied = b.AddValue("c:0@d", kF32x4, Devices({3}));
  const int32_t d_out = b.AddValue("d:0", kF32x4, Devices({3}), false, true);
  const int32_t a = b.AddNode("a", NodeKind::kCompute, twice, 1, {x}, {a_out});
  const int32_t t = b.AddNode("a:0->b", NodeKind::kTransfer, FunctionId(), 1, {a_out}, {moved});
  const int32_t bn = b.AddNode("b", NodeKind::kCompute, plus_one, 1, {moved}, {b_out});
  const int32_t cn = b.AddNode("c", NodeKind::kCompute, twice, 1, {b_out}, {c_out});
  const int32_t t2 = b.AddNode("c:0->d", NodeKind::kTransfer, FunctionId(), 1, {c_out}, {copied});
  const int32_t dn = b.AddNode("d", NodeKind::kCompute, plus_one, 1, {copied}, {d_out});
  b.Compute(HostId(0), a, twice, 1, 0, DeviceId(0), {x}, {a_out});
  b.Send(HostId(0), t, 0, DeviceId(0), a_out, moved, HostId(1), DeviceId(2));
  b.Recv(HostId(1), t, 0, DeviceId(2), moved, HostId(0), DeviceId(0));
  b.Compute(HostId(1), bn, plus_one, 1, 0, DeviceId(2), {moved}, {b_out});
  b.Compute(HostId(1), cn, twice, 1, 0, DeviceId(2), {b_out}, {c_out});
  b.Copy(HostId(1), t2, 0, DeviceId(2), DeviceId(3), c_out, copied);
  b.Compute(HostId(1), dn, plus_one, 1, 0, DeviceId(3), {copied}, {d_out});
  b.Temporary(HostId(0), a_out);
  b.Temporary(HostId(1), moved);
  b.Temporary(HostId(1), b_out);
  b.Temporary(HostId(1), copied);
  auto program = b.Build();
  std::vector<ArrayId> arrays;
  for (int i = 0; i < 7; ++i) arrays.push_back(ArrayId(50 + i));

  // Host 1 first: its input comes from host 0, which has not even received its part.
  cluster.host(1).Run(MakeRun(program, HostId(1), RunId(3), arrays, 0));
  const int64_t deadline = MonotonicNanos() + 10'000'000'000;
  // recv + b + c buffers on device 2; copy + d buffers on device 3.
  while ((ArrayBytes(cluster.host(1).Status(), DeviceId(2)) < 3 * 16 ||
          ArrayBytes(cluster.host(1).Status(), DeviceId(3)) < 2 * 16) &&
         MonotonicNanos() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(ArrayBytes(cluster.host(1).Status(), DeviceId(2)), 3 * 16);
  EXPECT_EQ(ArrayBytes(cluster.host(1).Status(), DeviceId(3)), 2 * 16);
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(cluster.device(2).completed(), 0);
  EXPECT_EQ(cluster.device(3).completed(), 0);
  auto fetched = cluster.host(1).FetchShard(arrays[c_out], 0);
  EXPECT_FALSE(fetched->IsAvailable());
  EXPECT_EQ(cluster.observer().count(), 0u);

  // Now the input appears and host 0 gets its part; host 1 does no more dispatch work.
  ASSERT_TRUE(cluster.host(0).PutShard(arrays[x], 0, DeviceId(0), Vec({1, 2, 3, 4})).ok());
  cluster.host(0).Run(MakeRun(program, HostId(0), RunId(3), arrays, 0));
  auto results = cluster.observer().WaitFor(2);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) EXPECT_TRUE(r.status.ok()) << r.status;
  // c = 2 * (2x + 1); d = c + 1.
  absl::StatusOr<ir::Literal> c = fetched->AwaitValue();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->data<float>(), ::testing::ElementsAre(6, 10, 14, 18));
  EXPECT_THAT(Fetch(cluster.host(1), arrays[d_out], 0), ::testing::ElementsAre(7, 11, 15, 19));
  EXPECT_EQ(cluster.device(2).completed(), 2);
  EXPECT_EQ(cluster.device(3).completed(), 1);
  const HostRunResult* r1 = ResultOf(results, HostId(1), RunId(3));
  ASSERT_NE(r1, nullptr);
  EXPECT_EQ(r1->outputs.size(), 2u);  // c and d
}

// (d) OOM in one shard of a gang: that node's outputs and its dependents fail with the
// RESOURCE_EXHAUSTED naming the node, the gang's peers are aborted instead of hanging, and an
// unrelated node is fine.
TEST(HostExecutorTest, OomFailsTheNodeAndItsDependentsAndAbortsTheGang) {
  // Device 3 holds the input and small outputs, but not b's 1 KiB output.
  Cluster cluster({0, 0, 0, 512});
  ir::Function spread = [&] {
    ir::FunctionBuilder fb("spread", {.num_shards = 4});
    ir::Value x = fb.Parameter(kF32x4, "x");
    auto f = fb.Build({fb.AllReduce(fb.BroadcastInDim(x, {64, 4}, {1}), ir::ReduceKind::kSum)});
    PW_CHECK(f.ok()) << f.status();
    return *f;
  }();
  ir::Function sum = [&] {
    ir::FunctionBuilder fb("sum", {.num_shards = 4});
    ir::Value x = fb.Parameter({ir::DType::kF32, {64, 4}}, "x");
    auto f = fb.Build({fb.Reduce(x, {0}, ir::ReduceKind::kSum)});
    PW_CHECK(f.ok()) << f.status();
    return *f;
  }();
  const FunctionId spread_fn(1), sum_fn(2), twice_fn(3);
  cluster.Register(spread_fn, spread);
  cluster.Register(sum_fn, sum);
  cluster.Register(twice_fn, Scale(2, 0, 4));
  const ir::TensorType wide{ir::DType::kF32, {64, 4}};

  LoweredProgramBuilder b("oom");
  const auto all = Devices({0, 1, 2, 3});
  const int32_t x = b.AddValue("x", kF32x4, all, true);
  const int32_t b_out = b.AddValue("b:0", wide, all, false, true);
  const int32_t c_out = b.AddValue("c:0", kF32x4, all, false, true);
  const int32_t u_out = b.AddValue("u:0", kF32x4, all, false, true);
  const int32_t bn = b.AddNode("b", NodeKind::kCompute, spread_fn, 4, {x}, {b_out});
  const int32_t cn = b.AddNode("c", NodeKind::kCompute, sum_fn, 4, {b_out}, {c_out});
  const int32_t un = b.AddNode("u", NodeKind::kCompute, twice_fn, 4, {x}, {u_out});
  for (int32_t s = 0; s < 4; ++s) {
    b.Compute(Cluster::HostOf(s), bn, spread_fn, 4, s, DeviceId(s), {x}, {b_out});
  }
  // c and u have no collectives: their shards run independently.
  for (int32_t s = 0; s < 4; ++s) {
    b.Compute(Cluster::HostOf(s), cn, sum_fn, 4, s, DeviceId(s), {b_out}, {c_out});
    b.Compute(Cluster::HostOf(s), un, twice_fn, 4, s, DeviceId(s), {x}, {u_out});
  }
  auto program = b.Build();
  const std::vector<ArrayId> arrays = {ArrayId(1), ArrayId(2), ArrayId(3), ArrayId(4)};
  for (int32_t s = 0; s < 4; ++s) {
    ASSERT_TRUE(cluster.host_of_device(s).PutShard(arrays[x], s, DeviceId(s), Vec({1, 1, 1, 1})).ok());
  }
  RunOnAllHosts(cluster, program, RunId(9), arrays, 0);
  auto results = cluster.observer().WaitFor(2);
  ASSERT_EQ(results.size(), 2u) << "a gang peer hung";

  const absl::Status oom = FetchStatus(cluster.host(1), arrays[b_out], 3);
  EXPECT_THAT(oom, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(oom.message()), HasSubstr("node 'b' shard 3 on device:3"));
  // The dependent carries the original error unchanged.
  EXPECT_EQ(FetchStatus(cluster.host(1), arrays[c_out], 3), oom);
  for (int32_t s = 0; s < 3; ++s) {
    const absl::Status peer = FetchStatus(cluster.host_of_device(s), arrays[b_out], s);
    EXPECT_THAT(peer, StatusIs(absl::StatusCode::kAborted));
    EXPECT_THAT(std::string(peer.message()), HasSubstr(absl::StrCat("node 'b' shard ", s)));
    EXPECT_THAT(std::string(peer.message()), HasSubstr("node 'b' shard 3 on device:3"));
    EXPECT_EQ(FetchStatus(cluster.host_of_device(s), arrays[c_out], s), peer);
  }
  for (int32_t s = 0; s < 4; ++s) {
    EXPECT_THAT(Fetch(cluster.host_of_device(s), arrays[u_out], s),
                ::testing::ElementsAre(2, 2, 2, 2));
  }
  // (g) Reports: each host's b, c, u shards with the right statuses, and the first error.
  const HostRunResult* r1 = ResultOf(results, HostId(1), RunId(9));
  ASSERT_NE(r1, nullptr);
  EXPECT_FALSE(r1->status.ok());
  ASSERT_EQ(r1->outputs.size(), 6u);
  for (const auto& o : r1->outputs) {
    if (o.value == u_out) {
      EXPECT_TRUE(o.status.ok()) << o.status;
    } else if (o.shard == 3) {
      EXPECT_EQ(o.status, oom) << "value " << o.value;
    } else {
      EXPECT_THAT(o.status, StatusIs(absl::StatusCode::kAborted)) << "value " << o.value;
    }
  }
  EXPECT_EQ(cluster.groups().num_pending_gangs(), 0);
}

// (f) FetchShard waits for readiness; PutShard rejects bad requests.
TEST(HostExecutorTest, FetchWaitsForReadinessAndPutShardReportsErrors) {
  Cluster cluster({0, 1024});
  HostExecutor& host = cluster.host(0);
  EXPECT_THAT(FetchStatus(host, ArrayId(5), 0), StatusIs(absl::StatusCode::kNotFound));

  // A shard mentioned by a pending push becomes fetchable when the push arrives.
  ASSERT_TRUE(host.PutShard(ArrayId(1), 0, DeviceId(0), Vec({1, 2, 3, 4})).ok());
  absl::Status dup = host.PutShard(ArrayId(1), 0, DeviceId(0), Vec({1, 2, 3, 4}));
  EXPECT_THAT(dup, StatusIs(absl::StatusCode::kAlreadyExists));
  absl::Status foreign = host.PutShard(ArrayId(2), 0, DeviceId(2), Vec({1, 2, 3, 4}));
  EXPECT_THAT(foreign, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(foreign.message()), HasSubstr("device:2"));
  absl::Status full = host.PutShard(ArrayId(3), 0, DeviceId(1), Vec(std::vector<float>(512)));
  EXPECT_THAT(full, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(full.message()), HasSubstr("array:3"));
  EXPECT_THAT(FetchStatus(host, ArrayId(3), 0), StatusIs(absl::StatusCode::kNotFound));

  // Fetch waits on a shard that a push fills later (the receiving side of the data plane).
  host.FailShard(ArrayId(8), 0, kF32x4, absl::InternalError("producer died"));
  EXPECT_THAT(std::string(FetchStatus(host, ArrayId(8), 0).message()), HasSubstr("producer died"));
  ASSERT_TRUE(host.ReceiveShard(ArrayId(9), 1, DeviceId(1), kF32x4, Vec({5, 6, 7, 8}).untyped_data(), 16).ok());
  EXPECT_THAT(Fetch(host, ArrayId(9), 1), ::testing::ElementsAre(5, 6, 7, 8));
  EXPECT_THAT(host.ReceiveShard(ArrayId(9), 1, DeviceId(1), kF32x4, Vec({5, 6, 7, 8}).untyped_data(), 16),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(host.ReceiveShard(ArrayId(10), 0, DeviceId(1), kF32x4, nullptr, 8),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A peer naming shard 2^31 - 1 gets an error; nothing is allocated for it.
  const absl::Status huge = host.ReceiveShard(ArrayId(11), std::numeric_limits<int32_t>::max(),
                                              DeviceId(1), kF32x4, Vec({1, 2, 3, 4}).untyped_data(), 16);
  EXPECT_THAT(huge, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(huge.message()), HasSubstr("shard index out of range"));
  EXPECT_THAT(host.PutShard(ArrayId(11), std::numeric_limits<int32_t>::max(), DeviceId(1), Vec({1, 2, 3, 4})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  host.FailShard(ArrayId(11), std::numeric_limits<int32_t>::max(), kF32x4, absl::InternalError("x"));

  // Waiting: a compute step whose input arrives later; the fetch resolves only after.
  const FunctionId twice(1);
  cluster.Register(twice, Scale(2, 0));
  LoweredProgramBuilder b;
  const int32_t in = b.AddValue("in", kF32x4, Devices({0}), true);
  const int32_t out = b.AddValue("a:0", kF32x4, Devices({0}), false, true);
  const int32_t a = b.AddNode("a", NodeKind::kCompute, twice, 1, {in}, {out});
  b.Compute(HostId(0), a, twice, 1, 0, DeviceId(0), {in}, {out});
  auto program = b.Build();
  host.Run(MakeRun(program, HostId(0), RunId(1), {ArrayId(20), ArrayId(21)}, 0));
  // Right after Run: the fetch is ordered behind the run, so it waits instead of NOT_FOUND.
  AsyncValueRef<ir::Literal> pending = host.FetchShard(ArrayId(21), 0);
  absl::SleepFor(absl::Milliseconds(10));
  EXPECT_FALSE(pending->IsAvailable());
  ASSERT_TRUE(host.ReceiveShard(ArrayId(20), 0, DeviceId(0), kF32x4, Vec({1, 2, 3, 4}).untyped_data(), 16).ok());
  absl::StatusOr<ir::Literal> value = pending->AwaitValue();
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_THAT(value->data<float>(), ::testing::ElementsAre(2, 4, 6, 8));
}

// (g) One report per message, in parallel and sequential modes; a function that is not
// registered fails its step (and dependents) without stopping the host; a message without its
// program is reported, not dropped.
TEST(HostExecutorTest, ObserverGetsExactlyOneResultPerMessage) {
  Cluster cluster;
  const FunctionId twice(1), missing(99);
  cluster.Register(twice, Scale(2, 0));
  LoweredProgramBuilder b;
  const int32_t in = b.AddValue("in", kF32x4, Devices({0}), true);
  const int32_t mid = b.AddValue("a:0", kF32x4, Devices({0}));
  const int32_t out = b.AddValue("b:0", kF32x4, Devices({0}), false, true);
  const int32_t a = b.AddNode("a", NodeKind::kCompute, twice, 1, {in}, {mid});
  const int32_t bn = b.AddNode("b", NodeKind::kCompute, twice, 1, {mid}, {out});
  b.Compute(HostId(0), a, twice, 1, 0, DeviceId(0), {in}, {mid});
  b.Compute(HostId(0), bn, twice, 1, 0, DeviceId(0), {mid}, {out});
  b.Temporary(HostId(0), mid);
  auto good = b.Build();
  LoweredProgramBuilder bad_builder;
  const int32_t bin = bad_builder.AddValue("in", kF32x4, Devices({1}), true);
  const int32_t bout = bad_builder.AddValue("m:0", kF32x4, Devices({1}), false, true);
  const int32_t m = bad_builder.AddNode("m", NodeKind::kCompute, missing, 1, {bin}, {bout});
  bad_builder.Compute(HostId(0), m, missing, 1, 0, DeviceId(1), {bin}, {bout});
  auto bad = bad_builder.Build();

  ASSERT_TRUE(cluster.host(0).PutShard(ArrayId(1), 0, DeviceId(0), Vec({1, 1, 1, 1})).ok());
  ASSERT_TRUE(cluster.host(0).PutShard(ArrayId(5), 0, DeviceId(1), Vec({1, 1, 1, 1})).ok());
  HostExecutor& host = cluster.host(0);
  host.Run(MakeRun(good, HostId(0), RunId(1), {ArrayId(1), ArrayId(2), ArrayId(3)}, 0));
  host.Run(MakeRun(bad, HostId(0), RunId(2), {ArrayId(5), ArrayId(6)}, 10));
  host.Run(MakeRun(good, HostId(0), RunId(3), {ArrayId(3), ArrayId(7), ArrayId(8)}, 20,
                   DispatchMode::kSequential, /*stage=*/4));
  HostRun empty;
  empty.run = RunId(4);
  host.Run(std::move(empty));
  auto results = cluster.observer().WaitFor(4);
  absl::SleepFor(absl::Milliseconds(20));
  ASSERT_EQ(cluster.observer().count(), 4u);
  const HostRunResult* r1 = ResultOf(results, HostId(0), RunId(1));
  const HostRunResult* r2 = ResultOf(results, HostId(0), RunId(2));
  const HostRunResult* r3 = ResultOf(results, HostId(0), RunId(3));
  const HostRunResult* r4 = ResultOf(results, HostId(0), RunId(4));
  ASSERT_TRUE(r1 && r2 && r3 && r4);
  EXPECT_TRUE(r1->status.ok());
  ASSERT_EQ(r1->outputs.size(), 1u);  // only the program output
  EXPECT_EQ(r1->outputs[0].value, out);
  EXPECT_THAT(r2->status, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(r2->status.message()), HasSubstr("node 'm' shard 0 on device:1"));
  EXPECT_THAT(std::string(r2->status.message()), HasSubstr("function:99"));
  ASSERT_EQ(r2->outputs.size(), 1u);
  EXPECT_EQ(r2->outputs[0].status, r2->status);
  EXPECT_EQ(r3->stage, 4);
  EXPECT_TRUE(r3->status.ok());
  EXPECT_EQ(r3->outputs.size(), 2u);  // sequential: every compute output of the stage
  EXPECT_THAT(r4->status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Fetch(host, ArrayId(8), 0), ::testing::ElementsAre(16, 16, 16, 16));
}

// (h) Many runs back to back keep the gang order consistent on every device and all complete.
TEST(HostExecutorTest, TwoHundredRunsBackToBackStayInGangOrder) {
  Cluster cluster;
  const FunctionId step_fn(1);
  ir::FunctionBuilder fb("max_plus_one", {.num_shards = 4});
  ir::Value v = fb.Parameter(kF32x4, "x");
  auto f = fb.Build({fb.Add(fb.AllReduce(v, ir::ReduceKind::kMax), fb.ConstantScalar(1.0f))});
  ASSERT_TRUE(f.ok()) << f.status();
  cluster.Register(step_fn, *f);
  LoweredProgramBuilder b;
  const auto all = Devices({0, 1, 2, 3});
  const int32_t x = b.AddValue("x", kF32x4, all, true);
  const int32_t y = b.AddValue("s:0", kF32x4, all, false, true);
  const int32_t n = b.AddNode("s", NodeKind::kCompute, step_fn, 4, {x}, {y});
  for (int32_t s = 0; s < 4; ++s) b.Compute(Cluster::HostOf(s), n, step_fn, 4, s, DeviceId(s), {x}, {y});
  auto program = b.Build();
  for (int32_t s = 0; s < 4; ++s) {
    ASSERT_TRUE(cluster.host_of_device(s).PutShard(ArrayId(0), s, DeviceId(s), Vec({1.0f * s, 0, 0, 0})).ok());
  }
  constexpr int kRuns = 200;
  // Host 1 receives everything first: order across hosts does not matter, order within does.
  for (int64_t h : {1, 0}) {
    for (int run = 0; run < kRuns; ++run) {
      cluster.host(h).Run(MakeRun(program, HostId(h), RunId(run), {ArrayId(run), ArrayId(run + 1)},
                                  /*gang_base=*/run));
    }
  }
  auto results = cluster.observer().WaitFor(2 * kRuns, absl::Seconds(30));
  ASSERT_EQ(results.size(), 2u * kRuns);
  for (const auto& r : results) ASSERT_TRUE(r.status.ok()) << r.run << ": " << r.status;
  for (int32_t s = 0; s < 4; ++s) {
    EXPECT_THAT(Fetch(cluster.host_of_device(s), ArrayId(kRuns), s),
                ::testing::ElementsAre(3 + kRuns, kRuns, kRuns, kRuns));
  }
  for (int run = 0; run < kRuns; ++run) {
    cluster.host(0).Release({ArrayId(run)});
    cluster.host(1).Release({ArrayId(run)});
  }
  AwaitLiveBuffers(cluster.host(0), 2);
  AwaitLiveBuffers(cluster.host(1), 2);
  EXPECT_EQ(cluster.host(0).Status().runs_received, kRuns);
  EXPECT_GT(cluster.host(0).Status().dispatch_nanos, 0);
  EXPECT_EQ(cluster.groups().num_pending_gangs(), 0);
}

// Destroying a host with work waiting on a transfer that never comes and a gang whose peer
// never dispatched: no hang, and the message is still reported.
TEST(HostExecutorTest, DestructionWithUnfinishedWorkDoesNotHang) {
  Cluster cluster;
  const FunctionId twice(1), reduce(2);
  cluster.Register(twice, Scale(2, 0));
  cluster.Register(reduce, AllReduceSum(4));
  int32_t b_out = -1;
  auto chain = CrossHostChain(twice, twice, &b_out);
  cluster.host(1).Run(MakeRun(chain, HostId(1), RunId(1), {ArrayId(1), ArrayId(2), ArrayId(3), ArrayId(4)}, 0));
  LoweredProgramBuilder b;
  const auto all = Devices({0, 1, 2, 3});
  const int32_t x = b.AddValue("x", kF32x4, all, true);
  const int32_t y = b.AddValue("r:0", kF32x4, all, false, true);
  const int32_t n = b.AddNode("r", NodeKind::kCompute, reduce, 4, {x}, {y});
  for (int32_t s = 0; s < 4; ++s) b.Compute(Cluster::HostOf(s), n, reduce, 4, s, DeviceId(s), {x}, {y});
  auto program = b.Build();
  for (int32_t s = 2; s < 4; ++s) {
    ASSERT_TRUE(cluster.host(1).PutShard(ArrayId(10), s, DeviceId(s), Vec({1, 1, 1, 1})).ok());
  }
  cluster.host(1).Run(MakeRun(program, HostId(1), RunId(2), {ArrayId(10), ArrayId(11)}, 100));
  absl::SleepFor(absl::Milliseconds(20));  // shards 2 and 3 now wait in the all_reduce
  const int64_t start = MonotonicNanos();
  cluster.DestroyHost(1);
  EXPECT_LT(MonotonicNanos() - start, 5'000'000'000);
  auto results = cluster.observer().WaitFor(2);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kAborted));
  }
}

}  // namespace
}  // namespace pw::worker_testing
