// HostExecutor's host-to-host transfers on two in-process hosts: send/recv, chunked receives
// into the pre-allocated buffer, and a lost peer failing the receives that wait on it.
#include "pathways/worker/host_executor.h"

#include <cstring>
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

// (b) Data moves host to host through the data plane.
TEST(HostExecutorTest, SendRecvMovesAShardBetweenHosts) {
  Cluster cluster;
  const FunctionId twice(1), plus_one(2);
  cluster.Register(twice, Scale(2, 0));
  cluster.Register(plus_one, Scale(1, 1));
  int32_t b_out = -1;
  auto program = CrossHostChain(twice, plus_one, &b_out);
  const std::vector<ArrayId> arrays = {ArrayId(1), ArrayId(2), ArrayId(3), ArrayId(4)};
  ASSERT_TRUE(cluster.host(0).PutShard(arrays[0], 0, DeviceId(0), Vec({1, 2, 3, 4})).ok());
  RunOnAllHosts(cluster, program, RunId(7), arrays, 0);
  cluster.host(0).Release({arrays[0]});  // at once: the queued run still reads it
  auto results = cluster.observer().WaitFor(2);
  ASSERT_EQ(results.size(), 2u);
  const HostRunResult* r0 = ResultOf(results, HostId(0), RunId(7));
  const HostRunResult* r1 = ResultOf(results, HostId(1), RunId(7));
  ASSERT_TRUE(r0 && r1);
  EXPECT_TRUE(r0->status.ok()) << r0->status;
  EXPECT_TRUE(r0->outputs.empty());  // host 0 produced no program output
  ASSERT_EQ(r1->outputs.size(), 1u);
  EXPECT_EQ(r1->outputs[0].value, b_out);
  EXPECT_TRUE(r1->outputs[0].status.ok());
  EXPECT_THAT(Fetch(cluster.host(1), arrays[3], 0), ::testing::ElementsAre(3, 5, 7, 9));
  EXPECT_EQ(cluster.data_plane().pushes(), 1);
  EXPECT_EQ(cluster.host(0).Status().transfer_bytes_sent, 4 * sizeof(float));  // the one push
  EXPECT_EQ(cluster.host(1).Status().transfer_bytes_sent, 0);
  // Temporaries are gone (and the released input): host 1 keeps only the output.
  AwaitLiveBuffers(cluster.host(0), 0);
  EXPECT_EQ(cluster.host(1).Status().live_buffers, 1);
  EXPECT_THAT(FetchStatus(cluster.host(0), arrays[1], 0), StatusIs(absl::StatusCode::kNotFound));
}

// A temporary is freed once the last step touching it is done, not when the run ends: here
// the run waits on a receive while the chain before it has already given its memory back.
TEST(HostExecutorTest, TemporariesAreFreedAtTheirLastUseWhileTheRunGoesOn) {
  Cluster cluster;
  const FunctionId twice(1), plus_one(2);
  cluster.Register(twice, Scale(2, 0));
  cluster.Register(plus_one, Scale(1, 1));
  LoweredProgramBuilder b("early_free");
  const int32_t x = b.AddValue("x", kF32x4, Devices({0}), /*is_input=*/true);
  const int32_t t1 = b.AddValue("a:0", kF32x4, Devices({0}));
  const int32_t t2 = b.AddValue("b:0", kF32x4, Devices({0}));
  const int32_t r = b.AddValue("r", kF32x4, Devices({0}), false, /*is_output=*/true);
  const int32_t a = b.AddNode("a", NodeKind::kCompute, twice, 1, {x}, {t1});
  const int32_t bn = b.AddNode("b", NodeKind::kCompute, plus_one, 1, {t1}, {t2});
  const int32_t rn = b.AddNode("r", NodeKind::kTransfer, FunctionId(), 1, {}, {r});
  b.Compute(HostId(0), a, twice, 1, 0, DeviceId(0), {x}, {t1});
  b.Compute(HostId(0), bn, plus_one, 1, 0, DeviceId(0), {t1}, {t2});
  b.Recv(HostId(0), rn, 0, DeviceId(0), r, HostId(1), DeviceId(2));
  b.Temporary(HostId(0), t1);
  b.Temporary(HostId(0), t2);
  auto program = b.Build();
  const std::vector<ArrayId> arrays = {ArrayId(1), ArrayId(2), ArrayId(3), ArrayId(4)};
  HostExecutor& host = cluster.host(0);
  ASSERT_TRUE(host.PutShard(arrays[0], 0, DeviceId(0), Vec({1, 2, 3, 4})).ok());
  host.Run(MakeRun(program, HostId(0), RunId(8), arrays, 0));
  // The host counts its dispatch time once the message is dispatched: from then on every entry
  // of the run exists, and the count of live buffers only goes down (mid-dispatch it can pass
  // through 2 on its way up: x and a's output before b's and the receive's exist).
  const int64_t deadline = MonotonicNanos() + 10'000'000'000;
  while (host.Status().dispatch_nanos == 0 && MonotonicNanos() < deadline) std::this_thread::yield();
  ASSERT_GT(host.Status().dispatch_nanos, 0);
  // x and the receive buffer stay; both temporaries went as soon as b was done.
  AwaitLiveBuffers(host, 2);
  EXPECT_EQ(cluster.observer().count(), 0u);  // the run still waits on r
  ASSERT_TRUE(host.ReceiveShard(arrays[3], 0, DeviceId(0), kF32x4, Vec({5, 6, 7, 8}).untyped_data(), 16).ok());
  auto results = cluster.observer().WaitFor(1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status;
  EXPECT_EQ(host.Status().live_buffers, 2);
  EXPECT_THAT(FetchStatus(host, arrays[1], 0), StatusIs(absl::StatusCode::kNotFound));
}

// A chunked push writes into the shard's device buffer in pieces; an unfinished one fails the
// shard instead of leaving its readers waiting; a bad device is refused before any bytes move.
TEST(HostExecutorTest, BeginReceiveShardTakesChunksInPlaceAndFailsWhenAbandoned) {
  Cluster cluster;
  HostExecutor& host = cluster.host(0);
  const ir::Literal v = Vec({1, 2, 3, 4});
  absl::StatusOr<std::unique_ptr<IncomingShard>> in =
      host.BeginReceiveShard(ArrayId(30), 0, DeviceId(1), kF32x4);
  ASSERT_TRUE(in.ok()) << in.status();
  AsyncValueRef<ir::Literal> pending = host.FetchShard(ArrayId(30), 0);
  std::memcpy((*in)->data() + 8, static_cast<const char*>(v.untyped_data()) + 8, 8);
  std::memcpy((*in)->data(), v.untyped_data(), 8);
  EXPECT_FALSE(pending->IsAvailable());
  EXPECT_TRUE((*in)->Finish(absl::OkStatus()).ok());
  absl::StatusOr<ir::Literal> got = pending->AwaitValue();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(got->data<float>(), ::testing::ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(host.BeginReceiveShard(ArrayId(30), 0, DeviceId(1), kF32x4).status(),
              StatusIs(absl::StatusCode::kAlreadyExists));

  absl::StatusOr<std::unique_ptr<IncomingShard>> abandoned =
      host.BeginReceiveShard(ArrayId(31), 0, DeviceId(0), kF32x4);
  ASSERT_TRUE(abandoned.ok()) << abandoned.status();
  abandoned->reset();
  EXPECT_THAT(FetchStatus(host, ArrayId(31), 0), StatusIs(absl::StatusCode::kCancelled));

  absl::Status foreign = host.BeginReceiveShard(ArrayId(32), 0, DeviceId(2), kF32x4).status();
  EXPECT_THAT(foreign, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(foreign.message()), HasSubstr("device:2"));
}

// A receive whose sender is lost: PeerLost fails it naming the sender, the step reading it
// fails with that error, and the device stream, which would otherwise wait forever behind that
// step, runs later work. Later runs naming the lost sender fail their receives at once.
TEST(HostExecutorTest, PeerLostFailsPendingReceivesAndTheDeviceMovesOn) {
  Cluster cluster;
  const FunctionId twice(1), plus_one(2);
  cluster.Register(twice, Scale(2, 0));
  cluster.Register(plus_one, Scale(1, 1));
  int32_t b_out = -1;
  auto chain = CrossHostChain(twice, plus_one, &b_out);
  // Only host 1 gets its part: host 0, the sender, never pushes.
  const std::vector<ArrayId> arrays = {ArrayId(1), ArrayId(2), ArrayId(3), ArrayId(4)};
  cluster.host(1).Run(MakeRun(chain, HostId(1), RunId(1), arrays, 0));
  // An independent step on the same device, enqueued behind the one reading the receive.
  LoweredProgramBuilder lb("independent");
  const int32_t x = lb.AddValue("x", kF32x4, Devices({2}), /*is_input=*/true);
  const int32_t y = lb.AddValue("c:0", kF32x4, Devices({2}), false, /*is_output=*/true);
  const int32_t c = lb.AddNode("c", NodeKind::kCompute, twice, 1, {x}, {y});
  lb.Compute(HostId(1), c, twice, 1, 0, DeviceId(2), {x}, {y});
  auto independent = lb.Build();
  const ArrayId in(10), out(11);
  ASSERT_TRUE(cluster.host(1).PutShard(in, 0, DeviceId(2), Vec({1, 2, 3, 4})).ok());
  cluster.host(1).Run(MakeRun(independent, HostId(1), RunId(2), {in, out}, 100));
  // Both runs dispatched (receive buffer, b's output, c's input and output): c is stuck behind
  // b on the in-order stream.
  const int64_t deadline = MonotonicNanos() + 10'000'000'000;
  while (cluster.host(1).Status().live_buffers < 4 && MonotonicNanos() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(cluster.host(1).Status().live_buffers, 4);
  AsyncValueRef<ir::Literal> later = cluster.host(1).FetchShard(out, 0);
  EXPECT_FALSE(later->IsAvailable());
  EXPECT_EQ(cluster.observer().count(), 0u);

  cluster.host(1).PeerLost(HostId(0), absl::UnavailableError("power cut"));
  auto results = cluster.observer().WaitFor(2);
  ASSERT_EQ(results.size(), 2u);
  const HostRunResult* r1 = ResultOf(results, HostId(1), RunId(1));
  ASSERT_NE(r1, nullptr);
  EXPECT_THAT(r1->status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(r1->status.message()), HasSubstr("its sender host:0 was lost: power cut"));
  ASSERT_EQ(r1->outputs.size(), 1u);
  EXPECT_EQ(r1->outputs[0].status, r1->status);  // b did not run: it passed its input's error on
  const absl::Status b_status = FetchStatus(cluster.host(1), arrays[b_out], 0);
  EXPECT_THAT(b_status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(b_status.message()), HasSubstr("host:0"));
  const HostRunResult* r2 = ResultOf(results, HostId(1), RunId(2));
  ASSERT_NE(r2, nullptr);
  EXPECT_TRUE(r2->status.ok()) << r2->status;
  absl::StatusOr<ir::Literal> c_value = later->AwaitValue();
  ASSERT_TRUE(c_value.ok()) << c_value.status();
  EXPECT_THAT(c_value->data<float>(), ::testing::ElementsAre(2, 4, 6, 8));

  // A run naming the lost host as a sender after the loss: its receive fails at once.
  cluster.host(1).Run(MakeRun(chain, HostId(1), RunId(3),
                              {ArrayId(21), ArrayId(22), ArrayId(23), ArrayId(24)}, 200));
  results = cluster.observer().WaitFor(3);
  ASSERT_EQ(results.size(), 3u);
  const HostRunResult* r3 = ResultOf(results, HostId(1), RunId(3));
  ASSERT_NE(r3, nullptr);
  EXPECT_THAT(r3->status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(r3->status.message()), HasSubstr("its sender host:0 was lost: power cut"));
  EXPECT_EQ(cluster.data_plane().pushes(), 0);
}

}  // namespace
}  // namespace pw::worker_testing
