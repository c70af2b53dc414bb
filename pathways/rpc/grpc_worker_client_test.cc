// GrpcWorkerClient against a fake Worker service that records what arrives: seq stamping in call
// order, host programs sent once per lowering then named by key, failures reported.
#include "pathways/rpc/grpc_worker_client.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <new>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_test_util.h"

namespace pw {
namespace {

namespace pwire = pathways::wire;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What the fake worker saw, in arrival order.
struct Arrival {
  enum Kind { kRun, kRelease, kFetch, kPeerLost } kind;
  uint64_t seq = 0;
  uint64_t program_key = 0;
  bool with_program = false;
  int64_t run = -1;
  int64_t peer = -1;            // kPeerLost
  std::string reason;           // kPeerLost: the reason's message
  std::vector<uint64_t> forget;  // kRun: forget_program_keys
};

class FakeWorkerService final : public pwire::Worker::Service {
 public:
  // Records every command of every batch, in stream order; a rejection ends the stream.
  grpc::Status Commands(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<pwire::StatusResponse, pwire::WorkerCommandBatch>* stream) override {
    pwire::WorkerCommandBatch batch;
    while (stream->Read(&batch)) {
      {
        absl::MutexLock lock(&mu_);
        batch_sizes_.push_back(batch.runs_size() + batch.releases_size());
      }
      for (const pwire::HostRunProto& run : batch.runs()) {
        Arrival a{Arrival::kRun, run.seq(), run.program_key(), run.has_program(), run.run()};
        a.forget.assign(run.forget_program_keys().begin(), run.forget_program_keys().end());
        Record(std::move(a));
      }
      for (const pwire::ReleaseRequest& release : batch.releases()) {
        Record({Arrival::kRelease, release.seq()});
      }
      absl::MutexLock lock(&mu_);
      if (!reject_runs_.ok()) return grpc_transport::ToGrpc(reject_runs_);
    }
    return grpc::Status::OK;
  }
  grpc::Status PeerLost(grpc::ServerContext*, const pwire::PeerLostRequest* request,
                        pwire::StatusResponse* response) override {
    Arrival a{Arrival::kPeerLost};
    a.peer = request->peer();
    a.reason = request->reason().message();
    Record(std::move(a));
    grpc_transport::SetStatus(*response, absl::OkStatus());
    return grpc::Status::OK;
  }
  grpc::Status FetchShard(grpc::ServerContext*, const pwire::FetchShardRequest* request,
                          pwire::FetchShardResponse* response) override {
    Record({Arrival::kFetch, request->seq()});
    if (request->array() == 404) {
      grpc_transport::SetStatus(*response, absl::NotFoundError("no shard 404/0 here"));
      return grpc::Status::OK;
    }
    *response->mutable_data() =
        wire::ToProto(ir::Literal::Create<float>(ir::Shape{2}, {1.5f, float(request->shard())}));
    grpc_transport::SetStatus(*response, absl::OkStatus());
    return grpc::Status::OK;
  }
  grpc::Status RegisterFunction(grpc::ServerContext*,
                                const pwire::WorkerRegisterFunctionRequest* request,
                                pwire::StatusResponse* response) override {
    grpc_transport::SetStatus(*response, request->id() == 13
                                             ? absl::InvalidArgumentError("id 13 is taken")
                                             : absl::OkStatus());
    return grpc::Status::OK;
  }
  grpc::Status Status(grpc::ServerContext*, const pwire::HostStatusRequest*,
                      pwire::HostStatusResponse* response) override {
    if (hang_status_) release_status_.WaitForNotification();
    response->set_version(wire::kWireVersion);
    HostStatus status;
    status.host = HostId(5);
    status.runs_received = 7;
    *response->mutable_status() = wire::ToProto(status);
    return grpc::Status::OK;
  }

  void RejectRuns(absl::Status status) {
    absl::MutexLock lock(&mu_);
    reject_runs_ = std::move(status);
  }
  // Status calls block until the test ends.
  void HangStatus() { hang_status_ = true; }
  void ReleaseStatus() {
    if (!release_status_.HasBeenNotified()) release_status_.Notify();
  }

  std::vector<int> batch_sizes() {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }
  // The first `n` arrivals, once they are there.
  std::vector<Arrival> AwaitArrivals(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() { return arrivals_.size() >= n; };
    mu_.Await(absl::Condition(&enough));
    return std::vector<Arrival>(arrivals_.begin(), arrivals_.begin() + n);
  }

 private:
  void Record(Arrival a) {
    absl::MutexLock lock(&mu_);
    arrivals_.push_back(a);
  }

  absl::Mutex mu_;
  std::vector<Arrival> arrivals_ ABSL_GUARDED_BY(mu_);
  absl::Status reject_runs_ ABSL_GUARDED_BY(mu_);
  std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> hang_status_{false};
  absl::Notification release_status_;
};

// Collects the HostRunResults the client reports for runs it could not deliver.
class RecordingObserver final : public RunObserver {
 public:
  void OnHostRunDone(HostRunResult result) override {
    absl::MutexLock lock(&mu_);
    results_.push_back(std::move(result));
  }
  HostRunResult AwaitResult(size_t index) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, index]() { return results_.size() > index; };
    mu_.Await(absl::Condition(&enough));
    return results_[index];
  }
  size_t count() {
    absl::MutexLock lock(&mu_);
    return results_.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<HostRunResult> results_ ABSL_GUARDED_BY(mu_);
};

class GrpcWorkerClientTest : public wire::testing::WireHostRunTest {
 protected:
  GrpcWorkerClientTest() {
    grpc::ServerBuilder builder;
    int port = 0;
    grpc_transport::ConfigureServer(builder, "127.0.0.1:0", &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    PW_CHECK(server_ != nullptr && port != 0);
    address_ = grpc_transport::WithPort("127.0.0.1:0", port);
  }
  ~GrpcWorkerClientTest() override {
    service_.ReleaseStatus();
    client_.reset();
    server_->Shutdown();
  }

  GrpcWorkerClient& Client(std::string address = "", bool defer_releases = false) {
    GrpcWorkerClientOptions options;
    options.defer_releases_while_running = defer_releases;
    options.host = HostId(0);
    options.address = address.empty() ? address_ : address;
    options.observer = &observer_;
    options.on_failure = [this](HostId host, absl::Status status) {
      absl::MutexLock lock(&failures_mu_);
      failures_.push_back(std::move(status));
    };
    options.status_timeout = absl::Milliseconds(200);
    client_ = std::make_unique<GrpcWorkerClient>(std::move(options));
    return *client_;
  }
  std::vector<absl::Status> failures() {
    absl::MutexLock lock(&failures_mu_);
    return failures_;
  }

  // A run of host 0's part of `lowered` (same bindings as MakeRun).
  HostRun RunOf(std::shared_ptr<const LoweredProgram> lowered, int64_t run_id) const {
    HostRun run = MakeRun(HostId(0), DispatchMode::kParallel, -1);
    run.program = lowered->hosts.at(HostId(0));
    run.lowered = std::move(lowered);
    run.run = RunId(run_id);
    return run;
  }

  FakeWorkerService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  RecordingObserver observer_;
  absl::Mutex failures_mu_;
  std::vector<absl::Status> failures_ ABSL_GUARDED_BY(failures_mu_);
  std::unique_ptr<GrpcWorkerClient> client_;
};

TEST_F(GrpcWorkerClientTest, StampsSeqInCallOrderAndSendsEachProgramOnce) {
  GrpcWorkerClient& client = Client();
  // A second lowering of the same program: a different object, so a different key.
  std::shared_ptr<const LoweredProgram> other = *LowerProgram(program_, context_);
  const ArrayId arrays[] = {ArrayId(1), ArrayId(2)};

  client.Run(RunOf(lowered_, 1));         // seq 1, with program
  client.Release(arrays);                 // seq 2
  client.Run(RunOf(lowered_, 2));         // seq 3, key only
  AsyncValueRef<ir::Literal> fetched = client.FetchShard(ArrayId(9), 1);  // seq 4
  client.Run(RunOf(other, 3));            // seq 5, with the other program
  client.Run(RunOf(lowered_, 4));         // seq 6, key only
  client.Run(RunOf(other, 5));            // seq 7, key only
  EXPECT_EQ(client.last_seq(), 7u);
  EXPECT_EQ(client.programs_sent(), 2);

  std::vector<Arrival> got = service_.AwaitArrivals(7);
  std::sort(got.begin(), got.end(), [](const Arrival& a, const Arrival& b) { return a.seq < b.seq; });
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].seq, i + 1);
  const Arrival::Kind kinds[] = {Arrival::kRun, Arrival::kRelease, Arrival::kRun, Arrival::kFetch,
                                 Arrival::kRun, Arrival::kRun, Arrival::kRun};
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(got[i].kind, kinds[i]) << "seq " << i + 1;
  EXPECT_EQ(got[0].run, 1);
  EXPECT_EQ(got[2].run, 2);
  EXPECT_EQ(got[4].run, 3);
  // First run of each lowering carries the program; later runs only its key.
  EXPECT_TRUE(got[0].with_program);
  EXPECT_FALSE(got[2].with_program);
  EXPECT_TRUE(got[4].with_program);
  EXPECT_FALSE(got[5].with_program);
  EXPECT_FALSE(got[6].with_program);
  EXPECT_NE(got[0].program_key, 0u);
  EXPECT_EQ(got[2].program_key, got[0].program_key);
  EXPECT_EQ(got[5].program_key, got[0].program_key);
  EXPECT_NE(got[4].program_key, got[0].program_key);
  EXPECT_EQ(got[6].program_key, got[4].program_key);

  absl::StatusOr<ir::Literal> shard = fetched->AwaitValue();
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_EQ(shard->data<float>()[1], 1.0f);
  EXPECT_EQ(observer_.count(), 0u);  // every run was accepted
  EXPECT_TRUE(failures().empty());
}

TEST_F(GrpcWorkerClientTest, ALoweringFreedAndReplacedAtTheSameAddressGetsANewKey) {
  GrpcWorkerClient& client = Client();
  // Both lowerings live in one buffer, so the second has the first one's address.
  alignas(LoweredProgram) static unsigned char buffer[sizeof(LoweredProgram)];
  auto place = [&]() {
    auto* p = new (buffer) LoweredProgram(*lowered_);
    return std::shared_ptr<const LoweredProgram>(p, [](const LoweredProgram* q) { q->~LoweredProgram(); });
  };
  std::shared_ptr<const LoweredProgram> first = place();
  client.Run(RunOf(first, 1));
  client.Run(RunOf(first, 2));
  first.reset();
  std::shared_ptr<const LoweredProgram> second = place();
  ASSERT_EQ(static_cast<const void*>(second.get()), static_cast<const void*>(buffer));
  client.Run(RunOf(second, 3));
  std::vector<Arrival> got = service_.AwaitArrivals(3);
  std::sort(got.begin(), got.end(), [](const Arrival& a, const Arrival& b) { return a.seq < b.seq; });
  EXPECT_TRUE(got[0].with_program);
  EXPECT_FALSE(got[1].with_program);
  EXPECT_TRUE(got[2].with_program);
  EXPECT_NE(got[2].program_key, got[0].program_key);
  second.reset();
}

// A worker that refuses a command ends the stream naming it: the host is reported failed (the
// controller then removes it and fails its runs), and every later run fails at once.
TEST_F(GrpcWorkerClientTest, ARefusedCommandEndsTheStreamAndReportsTheHostFailed) {
  GrpcWorkerClient& client = Client();
  service_.RejectRuns(absl::InvalidArgumentError("WorkerCommandBatch.runs[0]: too few"));
  client.Run(RunOf(lowered_, 1));
  service_.AwaitArrivals(1);
  absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (failures().empty() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  std::vector<absl::Status> reported = failures();
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_THAT(reported[0], StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(reported[0].message()), HasSubstr("too few"));
  EXPECT_THAT(std::string(reported[0].message()), HasSubstr(address_));
  client.Run(RunOf(lowered_, 2));
  HostRunResult result = observer_.AwaitResult(0);
  EXPECT_EQ(result.run, RunId(2));
  EXPECT_EQ(result.host, HostId(0));
  EXPECT_THAT(result.status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("too few"));
}

// Commands issued while a batch is being written leave together, in seq order, on the one
// stream.
TEST_F(GrpcWorkerClientTest, CommandsIssuedTogetherLeaveInBatchesInSeqOrder) {
  GrpcWorkerClient& client = Client();
  constexpr int kRuns = 200;
  for (int i = 1; i <= kRuns; ++i) client.Run(RunOf(lowered_, i));
  std::vector<Arrival> got = service_.AwaitArrivals(kRuns);
  for (int i = 0; i < kRuns; ++i) {
    EXPECT_EQ(got[i].seq, static_cast<uint64_t>(i + 1)) << "arrival " << i;
    EXPECT_EQ(got[i].run, i + 1);
  }
  std::vector<int> sizes = service_.batch_sizes();
  EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), 0), kRuns);
  EXPECT_EQ(client.batches_written(), static_cast<int64_t>(sizes.size()));
  // Issued back to back, later runs find the first batch still being written and wait for the
  // next one together (a write takes a gRPC round through the callback threads; a Run call
  // takes microseconds), so fewer batches than runs left.
  EXPECT_LT(sizes.size(), static_cast<size_t>(kRuns));
  EXPECT_GT(*std::max_element(sizes.begin(), sizes.end()), 1);
  EXPECT_TRUE(failures().empty());
}

// With defer_releases_while_running, a release waits while the host has runs in flight: it
// leaves with the next run, once RunsDone says no run is left, or ahead of a fetch (which the
// worker applies after every lower seq) — never in a message of its own while runs go on.
TEST_F(GrpcWorkerClientTest, ReleasesWaitForTheNextRunWhileRunsAreInFlight) {
  GrpcWorkerClient& client = Client("", /*defer_releases=*/true);
  const ArrayId a[] = {ArrayId(1)}, b[] = {ArrayId(2)}, c[] = {ArrayId(3)};
  client.Run(RunOf(lowered_, 1));  // seq 1
  service_.AwaitArrivals(1);
  const int64_t n0 = client.batches_written();
  client.Release(a);  // seq 2: run 1 is in flight
  EXPECT_EQ(client.batches_written(), n0);
  client.Run(RunOf(lowered_, 2));  // seq 3, leaving with the release
  // (the fake records a batch's runs before its releases: look at them in seq order)
  auto by_seq = [](std::vector<Arrival> got) {
    std::sort(got.begin(), got.end(), [](const Arrival& x, const Arrival& y) { return x.seq < y.seq; });
    return got;
  };
  std::vector<Arrival> got = by_seq(service_.AwaitArrivals(3));
  EXPECT_EQ(got[1].kind, Arrival::kRelease);
  EXPECT_EQ(got[1].seq, 2u);
  EXPECT_EQ(got[2].run, 2);
  EXPECT_EQ(service_.batch_sizes().back(), 2);

  const int64_t n1 = client.batches_written();
  client.Release(b);  // seq 4: runs 1 and 2 in flight
  client.RunsDone(1);
  EXPECT_EQ(client.batches_written(), n1);  // run 2 still in flight
  client.RunsDone(1);  // none left: the release goes now (or once the write in flight is done)
  got = by_seq(service_.AwaitArrivals(4));
  EXPECT_EQ(got[3].kind, Arrival::kRelease);
  EXPECT_EQ(got[3].seq, 4u);

  client.Run(RunOf(lowered_, 3));  // seq 5
  service_.AwaitArrivals(5);
  client.Release(c);  // seq 6, waiting for run 3
  AsyncValueRef<ir::Literal> fetched = client.FetchShard(ArrayId(9), 0);  // seq 7
  got = by_seq(service_.AwaitArrivals(7));
  EXPECT_EQ(got[5].kind, Arrival::kRelease);
  EXPECT_EQ(got[6].kind, Arrival::kFetch);
  EXPECT_THAT(fetched->Await(), IsOk());
  EXPECT_TRUE(failures().empty());
}

// The worker going away ends the stream: the host is reported failed with UNAVAILABLE naming
// it, though nothing was being written.
TEST_F(GrpcWorkerClientTest, AWorkerGoingAwayMidStreamReportsTheHostUnavailable) {
  GrpcWorkerClient& client = Client();
  client.Run(RunOf(lowered_, 1));
  service_.AwaitArrivals(1);
  server_->Shutdown(grpc_transport::DeadlineIn(absl::Milliseconds(100)));
  absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (failures().empty() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  std::vector<absl::Status> reported = failures();
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_THAT(reported[0], StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(reported[0].message()), HasSubstr("host:0"));
  EXPECT_THAT(std::string(reported[0].message()), HasSubstr(address_));
  client.Run(RunOf(lowered_, 2));
  EXPECT_THAT(observer_.AwaitResult(0).status, StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(GrpcWorkerClientTest, AProgramWhoseLoweringIsGoneIsForgottenWithALaterRun) {
  GrpcWorkerClient& client = Client();
  std::shared_ptr<const LoweredProgram> gone = *LowerProgram(program_, context_);
  client.Run(RunOf(gone, 1));
  const uint64_t gone_key = service_.AwaitArrivals(1)[0].program_key;
  gone.reset();
  // Gone lowerings are noticed while new ones are added (a sweep every 64 new programs).
  std::vector<std::shared_ptr<const LoweredProgram>> kept;
  constexpr int kNew = 64;
  for (int i = 0; i < kNew; ++i) {
    kept.push_back(*LowerProgram(program_, context_));
    client.Run(RunOf(kept.back(), 2 + i));
  }
  std::vector<Arrival> got = service_.AwaitArrivals(1 + kNew);
  int carried = 0;
  for (const Arrival& a : got) {
    for (uint64_t key : a.forget) {
      EXPECT_EQ(key, gone_key) << "run " << a.run << " forgot a program still in use";
      ++carried;
    }
    if (a.program_key == gone_key) EXPECT_EQ(a.run, 1) << "a later run named the gone program";
  }
  EXPECT_EQ(carried, 1);
}

TEST_F(GrpcWorkerClientTest, FetchShardPassesTheWorkersErrorOn) {
  GrpcWorkerClient& client = Client();
  absl::StatusOr<ir::Literal> shard = client.FetchShard(ArrayId(404), 0)->AwaitValue();
  EXPECT_THAT(shard.status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(shard.status().message()), HasSubstr("no shard 404/0 here"));
  EXPECT_THAT(client.RegisterFunction(FunctionId(13), ir::Function{}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(GrpcWorkerClientTest, AnUnreachableWorkerFailsEveryCallNamingHostAndAddress) {
  // A port nobody listens on: bind one, then let it go.
  std::string dead;
  {
    FakeWorkerService gone;
    grpc::ServerBuilder builder;
    int port = 0;
    grpc_transport::ConfigureServer(builder, "127.0.0.1:0", &port);
    builder.RegisterService(&gone);
    std::unique_ptr<grpc::Server> s = builder.BuildAndStart();
    ASSERT_NE(s, nullptr);
    dead = grpc_transport::WithPort("127.0.0.1:0", port);
    s->Shutdown();
  }
  GrpcWorkerClient& client = Client(dead);
  client.Run(RunOf(lowered_, 8));
  HostRunResult result = observer_.AwaitResult(0);
  EXPECT_EQ(result.run, RunId(8));
  EXPECT_THAT(result.status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("host:0"));
  EXPECT_THAT(std::string(result.status.message()), HasSubstr(dead));

  absl::StatusOr<ir::Literal> shard = client.FetchShard(ArrayId(1), 0)->AwaitValue();
  EXPECT_THAT(shard.status(), StatusIs(absl::StatusCode::kUnavailable));
  HostStatus status = client.Status();
  EXPECT_EQ(status.host, HostId(0));
  EXPECT_THAT(status.status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(status.status.message()), HasSubstr(dead));

  std::vector<absl::Status> reported = failures();
  ASSERT_EQ(reported.size(), 1u) << "on_failure is called once";
  EXPECT_THAT(reported[0], StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(GrpcWorkerClientTest, StatusOfAWorkerThatDoesNotAnswerShowsItUnreachable) {
  GrpcWorkerClient& client = Client();
  HostStatus fine = client.Status();
  EXPECT_TRUE(fine.status.ok()) << fine.status;
  EXPECT_EQ(fine.runs_received, 7);
  service_.HangStatus();
  HostStatus hung = client.Status();
  EXPECT_EQ(hung.host, HostId(0));
  EXPECT_THAT(hung.status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(hung.status.message()), HasSubstr("did not answer Status"));
  EXPECT_TRUE(hung.devices.empty());
  EXPECT_TRUE(failures().empty()) << "a slow answer alone does not declare the host lost";
}

// PeerLost is not one of the ordered commands: it takes no seq (a Run overtaken by it still
// fails its receives on the worker), and it carries the peer and the reason.
TEST_F(GrpcWorkerClientTest, PeerLostCarriesPeerAndReasonAndTakesNoSeq) {
  GrpcWorkerClient& client = Client();
  client.PeerLost(HostId(4), absl::UnavailableError("host:4 (10.0.0.4:7000) lost: no heartbeat"));
  std::vector<Arrival> got = service_.AwaitArrivals(1);
  EXPECT_EQ(got[0].kind, Arrival::kPeerLost);
  EXPECT_EQ(got[0].seq, 0u);
  EXPECT_EQ(got[0].peer, 4);
  EXPECT_EQ(got[0].reason, "host:4 (10.0.0.4:7000) lost: no heartbeat");
  EXPECT_EQ(client.last_seq(), 0u);
  client.Release({ArrayId(1)});
  got = service_.AwaitArrivals(2);
  EXPECT_EQ(got[1].kind, Arrival::kRelease);
  EXPECT_EQ(got[1].seq, 1u);
  EXPECT_TRUE(failures().empty());
}

TEST_F(GrpcWorkerClientTest, AfterMarkLostEveryCallFailsAtOnceWithTheReason) {
  GrpcWorkerClient& client = Client();
  client.MarkLost(absl::UnavailableError("host:0 (x) lost: no heartbeat"));
  client.Run(RunOf(lowered_, 3));
  HostRunResult result = observer_.AwaitResult(0);
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("no heartbeat"));
  EXPECT_THAT(std::string(client.FetchShard(ArrayId(1), 0)->Await().message()),
              HasSubstr("no heartbeat"));
  EXPECT_THAT(std::string(client.PutShard(ArrayId(1), 0, DeviceId(0),
                                          ir::Literal::Scalar<float>(1.f)).message()),
              HasSubstr("no heartbeat"));
  EXPECT_EQ(client.last_seq(), 0u) << "nothing was sent";
}

}  // namespace
}  // namespace pw
