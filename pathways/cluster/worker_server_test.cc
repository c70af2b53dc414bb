// Tests for WorkerServer against a fake controller over loopback gRPC: joining (ids the controller
// assigned, refusals, an absent controller), commands applied in seq order whatever order they
// arrive in, host programs cached by key (an unknown key reported, never a crash), fetches that
// wait for a queued run, batched run reports, heartbeats that stop a forgotten or orphaned worker,
// the Shutdown RPC, traces, and two workers running a program with transfers and a Gloo
// collective between them.
#include "pathways/cluster/worker_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <numeric>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/status_matchers.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/ir/builder.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/grpc_worker_client.h"
#include "pathways/wire/wire_test_util.h"
#include "pathways/cluster/worker_test_util.h"

namespace pw {
namespace {

using ::pw::worker_testing::F32Vector;
using ::pw::worker_testing::FakeController;
using ::pw::worker_testing::Floats;
using ::pw::worker_testing::MakeRunProto;
using ::pw::worker_testing::TwiceFunction;
using ::pw::worker_testing::TwiceProgram;
using ::pw::worker_testing::WorkerClient;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kKey = 0xabc123;

WorkerServerOptions Options(const FakeController& controller) {
  return WorkerServerOptions{.controller_address = controller.address(),
                             .heartbeat_interval = absl::Milliseconds(20),
                             .controller_lost_after = absl::Milliseconds(400)};
}

// An address nobody listens on: a port the kernel handed out and we gave back.
std::string DeadAddress() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  PW_CHECK(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  PW_CHECK(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  return absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
}

class OneWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto worker = WorkerServer::Start(Options(controller_));
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
    client_ = std::make_unique<WorkerClient>(worker_->address());
    program_ = TwiceProgram(worker_->host(), DeviceId(0), DeviceId(1));
    ASSERT_TRUE(client_->RegisterFunction(FunctionId(7), TwiceFunction()).ok());
  }
  void PutX(ArrayId x) {
    ASSERT_TRUE(client_->PutShard(x, 0, DeviceId(0), F32Vector({1, 2, 3, 4})).ok());
    ASSERT_TRUE(client_->PutShard(x, 1, DeviceId(1), F32Vector({5, 6, 7, 8})).ok());
  }
  pathways::wire::HostRunProto RunProto(int64_t run, ArrayId in, ArrayId out, bool with_program,
                                        uint64_t seq) {
    return MakeRunProto(program_, worker_->host(), RunId(run), {in, out}, kKey, with_program, seq);
  }

  FakeController controller_;
  std::unique_ptr<WorkerServer> worker_;
  std::unique_ptr<WorkerClient> client_;
  std::shared_ptr<const LoweredProgram> program_;
};

TEST_F(OneWorkerTest, JoinsWithTheDevicesTheControllerAssigned) {
  EXPECT_EQ(worker_->host(), HostId(0));
  EXPECT_THAT(worker_->device_ids(), ElementsAre(DeviceId(0), DeviceId(1)));
  absl::StatusOr<pathways::wire::HostStatusResponse> status = client_->Status();
  ASSERT_TRUE(status.ok()) << status.status();
  absl::StatusOr<HostStatus> host = wire::FromProto(status->status());
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(host->host, HostId(0));
  ASSERT_EQ(host->devices.size(), 2u);
  EXPECT_EQ(host->devices[1].id, DeviceId(1));
  EXPECT_EQ(host->devices[1].memory_capacity_bytes, int64_t{1} << 30);
  EXPECT_THAT(worker_->DebugString(), HasSubstr(worker_->address()));
}

// Seq 5, 4, 3, 2 arrive before seq 1; nothing may happen until seq 1 does. Any other order fails:
// the key-only run 4 before run 1 would not find its program, the release 2 before run 1 would
// take its input, the fetches 3 and 5 before their runs would find no shard.
TEST_F(OneWorkerTest, CommandsApplyInSeqOrderWhateverOrderTheyArriveIn) {
  PutX(ArrayId(100));
  AsyncValueRef<ir::Literal> fetch5 = client_->FetchShard(ArrayId(102), 1, 5);
  ASSERT_TRUE(client_->Run(RunProto(2, ArrayId(101), ArrayId(102), false, 4)).ok());
  AsyncValueRef<ir::Literal> fetch3 = client_->FetchShard(ArrayId(101), 0, 3);
  ASSERT_TRUE(client_->Release({ArrayId(100)}, 2).ok());
  EXPECT_FALSE(fetch3->IsAvailable());
  EXPECT_FALSE(fetch5->IsAvailable());
  EXPECT_TRUE(controller_.report_sizes().empty());
  ASSERT_TRUE(client_->Run(RunProto(1, ArrayId(100), ArrayId(101), true, 1)).ok());

  absl::StatusOr<ir::Literal> a = fetch3->AwaitValue();
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(Floats(*a), ElementsAre(2, 4, 6, 8));
  absl::StatusOr<ir::Literal> b = fetch5->AwaitValue();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(Floats(*b), ElementsAre(20, 24, 28, 32));
  for (const HostRunResult& r : controller_.WaitForResults(2)) EXPECT_TRUE(r.status.ok()) << r.status;
  // The release took effect (in its turn): the input is gone.
  EXPECT_THAT(client_->FetchShard(ArrayId(100), 0, 6)->Await(),
              StatusIs(absl::StatusCode::kNotFound));
  // A seq already applied is refused.
  EXPECT_THAT(client_->Release({ArrayId(101)}, 3), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Many runs and releases sent at once from several threads in a shuffled order: a chain
// a(i) = twice(a(i-1)), each input released right after the run that reads it.
TEST_F(OneWorkerTest, ShuffledConcurrentArrivalsKeepTheChainIntact) {
  constexpr int kRuns = 24;
  PutX(ArrayId(200));
  std::vector<std::function<void()>> sends;
  for (int i = 1; i <= kRuns; ++i) {
    const uint64_t run_seq = 2 * i - 1;
    const ArrayId in(200 + i - 1), out(200 + i);
    sends.push_back([this, i, run_seq, in, out] {
      EXPECT_TRUE(client_->Run(RunProto(i, in, out, i == 1, run_seq)).ok());
    });
    sends.push_back([this, run_seq, in] { EXPECT_TRUE(client_->Release({in}, run_seq + 1).ok()); });
  }
  std::shuffle(sends.begin(), sends.end(), std::mt19937(3));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < sends.size(); i += 4) sends[i]();
    });
  }
  for (std::thread& t : threads) t.join();
  absl::StatusOr<ir::Literal> last = client_->FetchShard(ArrayId(200 + kRuns), 0, 2 * kRuns + 1)->AwaitValue();
  ASSERT_TRUE(last.ok()) << last.status();
  const float scale = static_cast<float>(1 << kRuns);
  EXPECT_THAT(Floats(*last), ElementsAre(scale, 2 * scale, 3 * scale, 4 * scale));
  for (const HostRunResult& r : controller_.WaitForResults(kRuns)) {
    EXPECT_TRUE(r.status.ok()) << r.run << ": " << r.status;
  }
}

TEST_F(OneWorkerTest, UnknownProgramKeyIsReportedAndTheKeyWorksOnceSent) {
  PutX(ArrayId(300));
  ASSERT_TRUE(client_->Run(RunProto(1, ArrayId(300), ArrayId(301), false, 1)).ok());
  std::vector<HostRunResult> results = controller_.WaitForResults(1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].run, RunId(1));
  EXPECT_THAT(results[0].status, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(results[0].status.message()), HasSubstr(absl::StrCat(kKey)));

  ASSERT_TRUE(client_->Run(RunProto(2, ArrayId(300), ArrayId(302), true, 2)).ok());
  ASSERT_TRUE(client_->Run(RunProto(3, ArrayId(302), ArrayId(303), false, 3)).ok());
  absl::StatusOr<ir::Literal> got = client_->FetchShard(ArrayId(303), 1, 4)->AwaitValue();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(Floats(*got), ElementsAre(20, 24, 28, 32));
  results = controller_.WaitForResults(3);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[1].status.ok() && results[2].status.ok());

  // Malformed runs are answered, and their seq still counts.
  pathways::wire::HostRunProto bad = RunProto(4, ArrayId(303), ArrayId(304), false, 5);
  bad.set_version(wire::kWireVersion + 1);
  EXPECT_THAT(client_->Run(bad), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_TRUE(client_->Run(RunProto(5, ArrayId(303), ArrayId(305), false, 6)).ok());
  EXPECT_TRUE(client_->FetchShard(ArrayId(305), 0, 7)->Await().ok());
}

TEST_F(OneWorkerTest, ForgottenProgramKeysAreDroppedAfterTheRunCarryingThem) {
  PutX(ArrayId(310));
  ASSERT_TRUE(client_->Run(RunProto(1, ArrayId(310), ArrayId(311), true, 1)).ok());
  // The run that says to forget the key still runs under it; the drop comes after.
  pathways::wire::HostRunProto forgetting = RunProto(2, ArrayId(311), ArrayId(312), false, 2);
  forgetting.add_forget_program_keys(kKey);
  forgetting.add_forget_program_keys(kKey + 1);  // never sent: dropping it is a no-op
  ASSERT_TRUE(client_->Run(forgetting).ok());
  ASSERT_TRUE(client_->Run(RunProto(3, ArrayId(312), ArrayId(313), false, 3)).ok());
  std::vector<HostRunResult> results = controller_.WaitForResults(3);
  ASSERT_EQ(results.size(), 3u);
  // Reports come as runs finish: the refused run 3 may overtake run 2.
  std::sort(results.begin(), results.end(),
            [](const HostRunResult& a, const HostRunResult& b) { return a.run < b.run; });
  EXPECT_TRUE(results[0].status.ok()) << results[0].status;
  EXPECT_TRUE(results[1].status.ok()) << results[1].status;
  EXPECT_THAT(results[2].status, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(results[2].status.message()), HasSubstr(absl::StrCat(kKey)));
  absl::StatusOr<ir::Literal> got = client_->FetchShard(ArrayId(312), 1, 4)->AwaitValue();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(Floats(*got), ElementsAre(20, 24, 28, 32));
}

TEST_F(OneWorkerTest, FetchWaitsForTheShardAQueuedRunProduces) {
  // The run is queued before its input exists; the fetch after it waits, holding no thread.
  ASSERT_TRUE(client_->Run(RunProto(1, ArrayId(400), ArrayId(401), true, 1)).ok());
  AsyncValueRef<ir::Literal> fetch = client_->FetchShard(ArrayId(401), 1, 2);
  EXPECT_FALSE(fetch->IsAvailable());
  PutX(ArrayId(400));
  absl::StatusOr<ir::Literal> got = fetch->AwaitValue();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(Floats(*got), ElementsAre(10, 12, 14, 16));
  EXPECT_THAT(client_->FetchShard(ArrayId(999), 0, 0)->Await(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(OneWorkerTest, ShutdownAnswersWaitingFetchesAndStops) {
  ASSERT_TRUE(client_->Run(RunProto(1, ArrayId(500), ArrayId(501), true, 1)).ok());
  AsyncValueRef<ir::Literal> waiting = client_->FetchShard(ArrayId(501), 0, 2);  // input never comes
  AsyncValueRef<ir::Literal> parked = client_->FetchShard(ArrayId(501), 0, 9);   // seq never comes
  ASSERT_TRUE(client_->Shutdown().ok());
  EXPECT_TRUE(worker_->Wait().ok());
  worker_->Shutdown();
  EXPECT_THAT(waiting->Await(), StatusIs(absl::StatusCode::kUnavailable)) << waiting->status();
  EXPECT_THAT(parked->Await(), StatusIs(absl::StatusCode::kUnavailable)) << parked->status();
}

// Results leave on one persistent stream, each in exactly one report, in the order they finished.
TEST_F(OneWorkerTest, RunResultsLeaveOnOneStreamEachInOneReport) {
  PutX(ArrayId(600));
  ASSERT_TRUE(client_->Run(RunProto(1, ArrayId(600), ArrayId(601), true, 1)).ok());
  for (int i = 2; i <= 4; ++i) {
    ASSERT_TRUE(client_->Run(RunProto(i, ArrayId(600), ArrayId(600 + i), false, i)).ok());
  }
  std::vector<HostRunResult> results = controller_.WaitForResults(4);
  ASSERT_EQ(results.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(results[i].run, RunId(i + 1));  // one device stream: they finish in order
    EXPECT_TRUE(results[i].status.ok()) << results[i].status;
  }
  const std::vector<int> sizes = controller_.report_sizes();
  EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), 0), 4);
  // The worker counts a report once its write completes, which may be after the controller
  // read it.
  const int64_t deadline = MonotonicNanos() + 10'000'000'000;
  while (worker_->report_stats().reports < static_cast<int64_t>(sizes.size()) &&
         MonotonicNanos() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(worker_->report_stats().results, 4);
  EXPECT_EQ(worker_->report_stats().reports, static_cast<int64_t>(sizes.size()));
  EXPECT_EQ(worker_->report_stats().streams, 1);
}

TEST_F(OneWorkerTest, TraceNamesTheHostAndCarriesItsEvents) {
  PutX(ArrayId(700));
  ASSERT_TRUE(client_->Run(RunProto(1, ArrayId(700), ArrayId(701), true, 1)).ok());
  ASSERT_TRUE(client_->FetchShard(ArrayId(701), 0, 2)->Await().ok());
  absl::StatusOr<pathways::wire::TraceResponse> trace = client_->Trace();
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_GT(trace->events_size(), 0);
  for (const auto& e : trace->events()) EXPECT_EQ(e.pid(), 0);
  bool named = false;
  for (const auto& l : trace->lane_names()) {
    named |= l.name() == "process_name" && l.pid() == 0 && l.arg_values_size() == 1 &&
             l.arg_values(0) == "host 0 (island 0)";
  }
  EXPECT_TRUE(named);
}

class IgnoringObserver final : public RunObserver {
 public:
  void OnHostRunDone(HostRunResult) override {}
};

// y = twice(twice(x)) with the first call on host 5 (devices 10, 11) and the second on `host`
// (devices 0, 1): `host` receives both shards of the first call's output from host 5.
std::shared_ptr<const LoweredProgram> FedByHost5(HostId host) {
  const ir::TensorType f32x4{ir::DType::kF32, ir::Shape({4})};
  LoweringContext context;
  for (int64_t d : {0, 1}) context.devices[DeviceId(d)] = DeviceLocation{host, IslandId(0)};
  for (int64_t d : {10, 11}) context.devices[DeviceId(d)] = DeviceLocation{HostId(5), IslandId(0)};
  context.slices[SliceId(0)] = {DeviceId(0), DeviceId(1)};
  context.slices[SliceId(1)] = {DeviceId(10), DeviceId(11)};
  context.functions[FunctionId(7)] = FunctionSignature{FunctionId(7), "twice", 2, {f32x4}, {f32x4}};
  ProgramDef program;
  program.name = "fed_by_host5";
  program.inputs = {ArraySpec{f32x4, SliceId(1)}};
  program.calls = {ProgramCall{"a", FunctionId(7), SliceId(1), {ValueRef{-1, 0}}},
                   ProgramCall{"b", FunctionId(7), SliceId(0), {ValueRef{0, 0}}}};
  program.outputs = {ValueRef{1, 0}};
  auto lowered = LowerProgram(program, context);
  PW_CHECK(lowered.ok()) << lowered.status();
  return *std::move(lowered);
}

// The controller's PeerLost (through GrpcWorkerClient) reaches the executor: receives from the
// lost host fail naming it, the devices run later work, and malformed requests are answered
// with errors naming the field.
TEST_F(OneWorkerTest, PeerLostFailsReceivesFromThatHostAndTheDevicesMoveOn) {
  const auto fed = FedByHost5(worker_->host());
  std::vector<ArrayId> arrays;
  for (size_t v = 0; v < fed->values.size(); ++v) arrays.push_back(ArrayId(800 + v));
  ASSERT_TRUE(client_->Run(MakeRunProto(fed, worker_->host(), RunId(1), arrays, kKey + 1, true, 1)).ok());
  const ArrayId y = arrays[fed->output_values[0]];
  AsyncValueRef<ir::Literal> waiting = client_->FetchShard(y, 1, 2);  // host 5 never pushes

  IgnoringObserver observer;
  GrpcWorkerClient controller_side(GrpcWorkerClientOptions{
      .host = worker_->host(), .address = worker_->address(), .observer = &observer});
  controller_side.PeerLost(HostId(5), absl::UnavailableError("power cut"));
  const absl::Status failed = waiting->Await();
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(failed.message()), HasSubstr("its sender host:5 was lost: power cut"));
  std::vector<HostRunResult> results = controller_.WaitForResults(1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_THAT(results[0].status, StatusIs(absl::StatusCode::kUnavailable));

  // The same devices run new work (the step that read the lost shard no longer blocks them).
  PutX(ArrayId(900));
  ASSERT_TRUE(client_->Run(RunProto(2, ArrayId(900), ArrayId(901), true, 3)).ok());
  absl::StatusOr<ir::Literal> got = client_->FetchShard(ArrayId(901), 1, 4)->AwaitValue();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(Floats(*got), ElementsAre(10, 12, 14, 16));

  auto stub = pathways::wire::Worker::NewStub(grpc_transport::MakeChannel(worker_->address()));
  auto peer_lost = [&](int64_t peer, uint32_t version) {
    pathways::wire::PeerLostRequest request;
    request.set_version(version);
    request.set_peer(peer);
    pathways::wire::StatusResponse response;
    grpc::ClientContext context;
    context.set_deadline(grpc_transport::DeadlineIn(absl::Seconds(20)));
    return grpc_transport::CallStatus(stub->PeerLost(&context, request, &response), response,
                                      "PeerLost", worker_->address());
  };
  EXPECT_TRUE(peer_lost(5, wire::kWireVersion).ok());  // again: no further effect
  EXPECT_THAT(peer_lost(5, wire::kWireVersion + 1),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(wire::testing::IsInvalidWith(peer_lost(-1, wire::kWireVersion), "PeerLostRequest.peer"));
  EXPECT_TRUE(wire::testing::IsInvalidWith(peer_lost(worker_->host().value(), wire::kWireVersion),
                                           "its own loss"));
}

TEST(WorkerServerTest, SimDevicesJoinAsSimAndBadOptionsAreRefusedBeforeJoining) {
  FakeController controller;
  WorkerServerOptions options = Options(controller);
  options.sim.model.kernel_nanos = 1000;  // sim options without sim devices
  absl::StatusOr<std::unique_ptr<WorkerServer>> bad = WorkerServer::Start(options);
  EXPECT_THAT(bad.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("WorkerServerOptions.sim"));

  options.device_kind = DeviceKind::kSim;
  options.gloo_loop_nice = 20;  // refused before joining: the controller never sees the host
  bad = WorkerServer::Start(options);
  EXPECT_THAT(bad.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("gloo_loop_nice"));

  options.gloo_loop_nice = 19;
  options.sim.model.kernel_nanos = 1'000'000;
  std::unique_ptr<WorkerServer> worker = *WorkerServer::Start(options);
  EXPECT_EQ(worker->host(), HostId(0)) << "a refused worker joined the controller first";
  WorkerClient client(worker->address());
  absl::StatusOr<pathways::wire::HostStatusResponse> status = client.Status();
  ASSERT_TRUE(status.ok()) << status.status();
  absl::StatusOr<HostStatus> host = wire::FromProto(status->status());
  ASSERT_TRUE(host.ok()) << host.status();
  ASSERT_EQ(host->devices.size(), 2u);
  for (const DeviceStatus& d : host->devices) EXPECT_EQ(d.kind, "sim");
}

TEST(WorkerServerTest, AbsentControllerIsUnavailableNamingItsAddress) {
  const std::string dead = DeadAddress();
  auto worker = WorkerServer::Start(
      WorkerServerOptions{.controller_address = dead, .join_timeout = absl::Milliseconds(300)});
  EXPECT_THAT(worker.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(worker.status().message()), HasSubstr(dead));
  EXPECT_THAT(WorkerServer::Start(WorkerServerOptions{}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(WorkerServer::Start(WorkerServerOptions{.controller_address = dead,
                                                                  .num_devices = 0})
                              .status()
                              .message()),
              HasSubstr("num_devices"));
}

TEST(WorkerServerTest, RefusedJoinCarriesTheControllersReason) {
  FakeController controller;
  controller.RefuseJoins(absl::InvalidArgumentError("island 9 does not exist"));
  auto worker = WorkerServer::Start(Options(controller));
  EXPECT_THAT(worker.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(worker.status().message()), HasSubstr("island 9 does not exist"));
  EXPECT_THAT(std::string(worker.status().message()), HasSubstr(controller.address()));
}

TEST(WorkerServerTest, StopsWhenTheControllerForgetsItOrGoesAway) {
  FakeController controller;
  auto forgotten = WorkerServer::Start(Options(controller));
  ASSERT_TRUE(forgotten.ok()) << forgotten.status();
  auto orphan = WorkerServer::Start(Options(controller));
  ASSERT_TRUE(orphan.ok()) << orphan.status();
  controller.Forget((*forgotten)->host());
  absl::Status why = (*forgotten)->Wait();
  EXPECT_THAT(why, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(why.message()), HasSubstr("host:0"));
  EXPECT_GT(controller.heartbeats(), 0);

  controller.Stop();
  why = (*orphan)->Wait();
  EXPECT_THAT(why, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(why.message()), HasSubstr(controller.address()));
}

// fa on host 0 and fb on host 1 with transfers both ways (wire_test_util.h's program), and an
// all_reduce gang with one shard on each worker (Gloo, meeting through the controller's store).
TEST(WorkerServerTest, TwoWorkersRunAProgramWithTransfersAndACollective) {
  FakeController controller;
  std::vector<std::unique_ptr<WorkerServer>> workers;
  std::vector<std::unique_ptr<WorkerClient>> clients;
  for (int i = 0; i < 2; ++i) {
    auto worker = WorkerServer::Start(Options(controller));
    ASSERT_TRUE(worker.ok()) << worker.status();
    clients.push_back(std::make_unique<WorkerClient>((*worker)->address()));
    workers.push_back(*std::move(worker));
  }
  const ir::TensorType f32x4{ir::DType::kF32, ir::Shape({4})};
  ir::FunctionBuilder fa("fa", {.num_shards = 2});
  ir::Value x = fa.Parameter(f32x4, "x");
  ir::FunctionBuilder fb("fb", {.num_shards = 2});
  ir::Value a = fb.Parameter(f32x4, "a");
  ir::Value y = fb.Parameter(f32x4, "x");
  ir::FunctionBuilder fc("sum", {.num_shards = 2});
  ir::Value z = fc.Parameter(f32x4, "z");
  auto fa_f = fa.Build({fa.Add(x, x), fa.Add(x, fa.ConstantScalar(1.0f))});
  auto fb_f = fb.Build({fb.Add(a, y)});
  auto fc_f = fc.Build({fc.AllReduce(z, ir::ReduceKind::kSum)});
  ASSERT_TRUE(fa_f.ok() && fb_f.ok() && fc_f.ok());
  for (auto& c : clients) {
    ASSERT_TRUE(c->RegisterFunction(FunctionId(7), *fa_f).ok());
    ASSERT_TRUE(c->RegisterFunction(FunctionId(8), *fb_f).ok());
    ASSERT_TRUE(c->RegisterFunction(FunctionId(9), *fc_f).ok());
  }

  // Transfers: the lowering of wire_test_util.h (x on host 1, a on host 0, b on host 1).
  struct Lowering : wire::testing::WireHostRunTest {
    void TestBody() override {}
    using WireHostRunTest::lowered_;
  } lowering;
  const auto& lowered = lowering.lowered_;
  std::vector<ArrayId> arrays;
  for (size_t v = 0; v < lowered->values.size(); ++v) arrays.push_back(ArrayId(1000 + v));
  for (int32_t s = 0; s < 2; ++s) {
    ASSERT_TRUE(clients[1]->PutShard(ArrayId(1000), s, DeviceId(2 + s),
                                     F32Vector({1.f + s, 2, 3, 4})).ok());
  }
  for (int h = 0; h < 2; ++h) {
    ASSERT_TRUE(clients[h]->Run(MakeRunProto(lowered, HostId(h), RunId(41), arrays, 77, true, 1)).ok());
  }
  const ArrayId b(1000 + lowered->output_values[0]);
  absl::StatusOr<ir::Literal> b1 = clients[1]->FetchShard(b, 1, 2)->AwaitValue();
  ASSERT_TRUE(b1.ok()) << b1.status();
  EXPECT_THAT(Floats(*b1), ElementsAre(6, 6, 9, 12));  // 2x + x with x = (2, 2, 3, 4)
  for (const HostRunResult& r : controller.WaitForResults(2)) EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_GT(workers[0]->data_plane_stats().payload_bytes, 0);
  EXPECT_EQ(workers[0]->data_plane_stats().copied_bytes, 0);
  EXPECT_EQ(workers[1]->received_stats().received_bytes,
            workers[0]->data_plane_stats().payload_bytes);

  // A gang across the two workers: device 1 (host 0) and device 2 (host 1).
  LoweringContext context;
  for (int64_t d = 0; d < 4; ++d) context.devices[DeviceId(d)] = DeviceLocation{HostId(d / 2), IslandId(0)};
  context.slices[SliceId(0)] = {DeviceId(1), DeviceId(2)};
  context.functions[FunctionId(9)] = FunctionSignature{FunctionId(9), "sum", 2, {f32x4}, {f32x4}};
  ProgramDef program{.name = "psum",
                     .inputs = {ArraySpec{f32x4, SliceId(0)}},
                     .calls = {ProgramCall{"s", FunctionId(9), SliceId(0), {ValueRef{-1, 0}}}},
                     .outputs = {ValueRef{0, 0}}};
  auto psum = LowerProgram(program, context);
  ASSERT_TRUE(psum.ok()) << psum.status();
  ASSERT_TRUE(clients[0]->PutShard(ArrayId(2000), 0, DeviceId(1), F32Vector({1, 2, 3, 4})).ok());
  ASSERT_TRUE(clients[1]->PutShard(ArrayId(2000), 1, DeviceId(2), F32Vector({10, 20, 30, 40})).ok());
  for (int h = 0; h < 2; ++h) {
    ASSERT_TRUE(clients[h]->Run(MakeRunProto(*psum, HostId(h), RunId(42), {ArrayId(2000), ArrayId(2001)},
                                             88, true, h == 0 ? 2 : 3)).ok());
  }
  for (int h = 0; h < 2; ++h) {
    absl::StatusOr<ir::Literal> sum = clients[h]->FetchShard(ArrayId(2001), h, 0)->AwaitValue();
    ASSERT_TRUE(sum.ok()) << sum.status();
    EXPECT_THAT(Floats(*sum), ElementsAre(11, 22, 33, 44));
  }
}

}  // namespace
}  // namespace pw
