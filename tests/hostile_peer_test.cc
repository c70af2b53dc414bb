// Hostile peers over the real sockets: a controller and two workers in this process (gRPC and
// the TCP data plane on loopback), sent values no honest peer sends — shard indices of 2^31-1,
// huge types, unknown kinds, oversized counts — on every boundary (TCP data-plane frames, the
// gRPC data plane, the Worker service, the control streams; the client API in
// hostile_client_test.cc). Each is refused with
// INVALID_ARGUMENT naming the field, and afterwards the cluster still runs a program correctly
// (a crash would take this test process down with it).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <climits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/cluster/controller_server.h"
#include "pathways/cluster/worker_server.h"
#include "pathways/dataplane/tcp/tcp_frames.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/wire/wire_convert.h"
#include "tests/hostile_peer.h"
#include "tests/loopback_cluster.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::Unwrap;
namespace pwire = pathways::wire;
namespace tcp = tcp_transport;
using grpc_transport::MakeChannel;

constexpr int32_t kHugeShard = INT32_MAX;

// A blocking loopback connection with a receive timeout.
class RawConnection {
 public:
  explicit RawConnection(const std::string& address) {
    const size_t colon = address.rfind(':');
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConnection() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& bytes) {
    ASSERT_EQ(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // Exactly n bytes, or what came before the peer closed or the timeout.
  std::string Receive(size_t n) {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      const ssize_t r = recv(fd_, out.data() + got, n - got, 0);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    out.resize(got);
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// Sends one frame of `kind` whose meta is `push` (and `payload`), and returns the verdict.
// The next verdict the receiver sends on `conn`.
absl::Status ReadVerdict(RawConnection& conn) {
  const std::string prefix_bytes = conn.Receive(tcp::kPrefixBytes);
  if (prefix_bytes.size() != tcp::kPrefixBytes) {
    return absl::UnavailableError("the receiver closed the connection without a verdict");
  }
  absl::StatusOr<tcp::Prefix> prefix = tcp::DecodePrefix(prefix_bytes.data(), "receiver");
  if (!prefix.ok()) return prefix.status();
  EXPECT_EQ(prefix->kind, tcp::FrameKind::kVerdict);
  pwire::StatusProto verdict;
  EXPECT_TRUE(verdict.ParseFromString(conn.Receive(prefix->meta_bytes)));
  absl::StatusOr<wire::PeerStatus> status = wire::FromProto(verdict);
  return status.ok() ? status->status : status.status();
}

absl::Status SendFrame(RawConnection& conn, tcp::FrameKind kind, const pwire::ShardPushProto& push,
                       const std::string& payload, uint64_t push_id) {
  std::string frame;
  const std::string meta = push.SerializeAsString();
  tcp::AppendPrefix({kind, static_cast<uint32_t>(meta.size()), push_id, payload.size()}, &frame);
  frame += meta;
  frame += payload;
  conn.Send(frame);
  return ReadVerdict(conn);
}

pwire::ShardPushProto Push(int64_t array, int32_t shard, int64_t device,
                           std::vector<int64_t> dims) {
  pwire::ShardPushProto push;
  push.set_version(wire::kWireVersion);
  push.set_array(array);
  push.set_shard(shard);
  push.set_device(device);
  push.mutable_type()->set_dtype(static_cast<uint32_t>(ir::DType::kF32));
  for (int64_t d : dims) push.mutable_type()->add_dims(d);
  return push;
}

TEST_F(HostilePeerTest, TcpDataPlaneFramesWithHostileValuesAreRefused) {
  const WorkerServer& target = *workers_[0];
  ASSERT_FALSE(target.data_plane_address().empty());
  // Without the cluster's credential the handshake itself is refused.
  {
    RawConnection stranger(target.data_plane_address());
    ASSERT_TRUE(stranger.connected());
    stranger.Send(tcp::EncodeHello(tcp::Hello{.credential = "guessed"}));
    ASSERT_EQ(stranger.Receive(tcp::kHelloBytes).size(), tcp::kHelloBytes);
    EXPECT_THAT(ReadVerdict(stranger), StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("credential")));
  }
  // A peer with it (a compromised host of the cluster) still cannot hurt the receiver.
  RawConnection conn(target.data_plane_address());
  ASSERT_TRUE(conn.connected());
  conn.Send(tcp::EncodeHello(tcp::Hello{.credential = grpc_transport::ProcessOperatorToken()}));
  ASSERT_EQ(conn.Receive(tcp::kHelloBytes).size(), tcp::kHelloBytes);
  const int64_t device = target.device_ids()[0].value();
  // A push naming shard 2^31-1: refused, no allocation of 2^31 entries.
  EXPECT_THAT(SendFrame(conn, tcp::FrameKind::kPush, Push(900, kHugeShard, device, {4}),
                        std::string(16, '\0'), 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shard")));
  // A producer's error frame naming it too.
  pwire::ShardPushProto error = Push(901, kHugeShard, device, {4});
  *error.mutable_error() = wire::ToProto(absl::InternalError("the producer failed"));
  EXPECT_THAT(SendFrame(conn, tcp::FrameKind::kError, error, "", 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shard")));
  // A type of 2^40 elements with a 16-byte payload, a negative shard and another host's device.
  EXPECT_THAT(SendFrame(conn, tcp::FrameKind::kPush, Push(902, 0, device, {int64_t{1} << 40}),
                        std::string(16, '\0'), 3),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      SendFrame(conn, tcp::FrameKind::kPush, Push(903, -1, device, {4}), std::string(16, '\0'), 4),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shard")));
  EXPECT_THAT(
      SendFrame(conn, tcp::FrameKind::kPush,
                Push(904, 0, workers_[1]->device_ids()[0].value(), {4}), std::string(16, '\0'), 5),
      StatusIs(absl::StatusCode::kInvalidArgument));
  ExpectTheClusterStillWorks();
}

TEST_F(HostilePeerTest, GrpcDataPlanePushesWithHostileValuesAreRefused) {
  const WorkerServer& target = *workers_[1];
  auto stub = pwire::DataPlane::NewStub(MakeChannel(target.address()));
  for (int32_t shard : {kHugeShard, -7}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pwire::StatusResponse response;
    auto writer = stub->Push(&context, &response);
    pwire::ShardPushProto push = Push(910, shard, target.device_ids()[0].value(), {4});
    push.set_chunk(std::string(16, '\0'));
    writer->Write(push);
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    absl::Status answer = status.ok()
                              ? wire::ResponseStatus(response)
                              : absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                             status.error_message());
    EXPECT_THAT(answer, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shard"))) << shard;
  }
  ExpectTheClusterStillWorks();
}

TEST_F(HostilePeerTest, WorkerServiceRequestsWithHostileValuesAreRefused) {
  auto stub = pwire::Worker::NewStub(MakeChannel(workers_[0]->address()));
  auto call = [](auto method) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return method(&context);
  };
  {
    pwire::FetchShardRequest request;
    request.set_version(wire::kWireVersion);
    request.set_array(1);
    request.set_shard(kHugeShard);
    pwire::FetchShardResponse response;
    grpc::Status s =
        call([&](grpc::ClientContext* c) { return stub->FetchShard(c, request, &response); });
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_THAT(wire::ResponseStatus(response),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shard")));
  }
  {
    pwire::FailShardsRequest request;
    request.set_version(wire::kWireVersion);
    request.set_array(2);
    request.add_shards(kHugeShard);
    *request.mutable_status() = wire::ToProto(absl::AbortedError("no"));
    pwire::StatusResponse response;
    grpc::Status s =
        call([&](grpc::ClientContext* c) { return stub->FailShards(c, request, &response); });
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_THAT(wire::ResponseStatus(response),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shards[0]")));
  }
  {
    pwire::PutShardRequest request;
    request.set_version(wire::kWireVersion);
    request.set_array(3);
    request.set_shard(kHugeShard);
    request.set_device(workers_[0]->device_ids()[0].value());
    request.mutable_data()->mutable_type()->set_dtype(static_cast<uint32_t>(ir::DType::kF32));
    pwire::StatusResponse response;
    grpc::Status s =
        call([&](grpc::ClientContext* c) { return stub->PutShard(c, request, &response); });
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_THAT(wire::ResponseStatus(response), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  {
    pwire::WorkerCancelRunRequest request;
    request.set_version(wire::kWireVersion);
    request.set_run(-7);
    pwire::StatusResponse response;
    grpc::Status s =
        call([&](grpc::ClientContext* c) { return stub->CancelRun(c, request, &response); });
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_THAT(wire::ResponseStatus(response),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("run")));
  }
  ExpectTheClusterStillWorks();
}

// The two persistent streams of the control plane: whatever a peer holding the operator token
// sends on them, the receiver ends that stream with INVALID_ARGUMENT naming the culprit, never
// crashes, and keeps serving its own controller's stream.
TEST_F(HostilePeerTest, HostileMessagesOnTheControlStreamsEndThemNamingTheCulprit) {
  // One batch on a stream of its own; the stream's final status.
  auto send = [](auto& stub, auto start, const auto& message) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = start(*stub, &context);
    stream->Write(message);  // may fail: the receiver may have ended the stream already
    stream->WritesDone();
    return stream->Finish();
  };
  auto worker = pwire::Worker::NewStub(MakeChannel(workers_[0]->address()));
  auto commands = [](pwire::Worker::Stub& stub, grpc::ClientContext* context) {
    return stub.Commands(context);
  };
  auto expect_refused = [](const grpc::Status& s, const std::string& culprit,
                           grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(culprit));
  };
  {
    pwire::WorkerCommandBatch batch;  // one command more than a batch may hold
    batch.set_version(wire::kWireVersion);
    for (int i = 0; i <= grpc_transport::kMaxCommandsPerBatch; ++i) {
      batch.add_releases()->set_version(wire::kWireVersion);
    }
    expect_refused(send(worker, commands, batch), "at most 4096");
  }
  {
    pwire::WorkerCommandBatch batch;
    batch.set_version(wire::kWireVersion);
    pwire::ReleaseRequest* release = batch.add_releases();
    release->set_version(wire::kWireVersion);
    release->add_arrays(-9);
    expect_refused(send(worker, commands, batch), "WorkerCommandBatch.releases[0]");
  }
  {
    pwire::WorkerCommandBatch batch;
    batch.set_version(wire::kWireVersion);
    pwire::HostRunProto* run = batch.add_runs();
    run->set_version(wire::kWireVersion);
    run->set_run(1);
    run->set_program_key(5);
    run->mutable_program()->set_program_key(6);  // not the run's key, and empty
    expect_refused(send(worker, commands, batch), "WorkerCommandBatch.runs[0]");
  }
  {
    pwire::WorkerCommandBatch batch;
    batch.set_version(wire::kWireVersion + 7);  // another wire version, as everywhere
    expect_refused(send(worker, commands, batch), "version", grpc::StatusCode::FAILED_PRECONDITION);
  }
  // A worker's report of a result no host could have sent, of another host than the stream's,
  // and streams that do not say which host they report for.
  auto controller = pwire::ControllerWorkers::NewStub(MakeChannel(server_->address()));
  // A host id no worker has: a refused report loses its stream's host, and these hosts must
  // stay to run the program at the end.
  const HostId reporter(999);
  auto reports_as = [](std::string host) {
    return [host](pwire::ControllerWorkers::Stub& stub, grpc::ClientContext* context) {
      if (!host.empty()) context->AddMetadata(grpc_transport::kReportHostMetadata, host);
      return stub.ReportRuns(context);
    };
  };
  auto reports = reports_as(absl::StrCat(reporter.value()));
  pwire::RunDoneReport report;
  report.set_version(wire::kWireVersion);
  pwire::HostRunResultProto* result = report.add_results();
  result->set_run(1);
  result->set_host(-3);
  expect_refused(send(controller, reports, report), "RunDoneReport");
  result->set_host(workers_[0]->host().value());
  expect_refused(send(controller, reports, report), "on the report stream of " + reporter.DebugString());
  expect_refused(send(controller, reports_as(""), report), "pw-report-host");
  expect_refused(send(controller, reports_as("12abc"), report), "is not a host id");
  expect_refused(send(controller, reports_as("-4"), report), "is not a host id");
  ExpectTheClusterStillWorks();
}

// A report stream the worker closes is over; one that breaks may have lost results the worker
// wrote, so the controller loses that host (its runs fail instead of waiting for them).
TEST_F(HostilePeerTest, AReportStreamThatBreaksLosesItsHost) {
  auto controller = pwire::ControllerWorkers::NewStub(MakeChannel(server_->address()));
  pwire::RunDoneReport empty;
  empty.set_version(wire::kWireVersion);
  const HostId kept = workers_[0]->host(), broken = workers_[1]->host();
  {
    grpc::ClientContext context;
    context.AddMetadata(grpc_transport::kReportHostMetadata, absl::StrCat(kept.value()));
    auto stream = controller->ReportRuns(&context);
    ASSERT_TRUE(stream->Write(empty));
    ASSERT_TRUE(stream->WritesDone());
    ASSERT_TRUE(stream->Finish().ok());
  }
  // A cancel that overtakes the call's start never reaches the controller's reader: try again
  // until one does.
  absl::Status lost = absl::DeadlineExceededError("never cancelled");
  for (int attempt = 0; attempt < 20 && !lost.ok(); ++attempt) {
    grpc::ClientContext context;
    context.AddMetadata(grpc_transport::kReportHostMetadata, absl::StrCat(broken.value()));
    auto stream = controller->ReportRuns(&context);
    ASSERT_TRUE(stream->Write(empty));
    context.TryCancel();
    EXPECT_FALSE(stream->Finish().ok());
    lost = server_->WaitForHostLost(broken, absl::Seconds(1));
  }
  ASSERT_THAT(lost, IsOk());
  std::vector<int64_t> live;
  for (const HostStatus& h : stub_->Status().hosts) live.push_back(h.host.value());
  EXPECT_THAT(live, ::testing::ElementsAre(kept.value()));
}

// A process without the cluster's operator token can neither command a worker nor push to it,
// whatever it sends: the worker answers PERMISSION_DENIED and keeps serving its cluster.
TEST_F(HostilePeerTest, AStrangerCannotCommandAWorkerOrPushToIt) {
  for (const std::string& token : {std::string(), std::string("a guess"), std::string(32, 'a')}) {
    // A bare channel: MakeChannel would present this test process's token.
    auto worker = pwire::Worker::NewStub(
        grpc::CreateChannel(workers_[0]->address(), grpc::InsecureChannelCredentials()));
    auto with_token = [&](grpc::ClientContext& context) {
      if (!token.empty()) context.AddMetadata(grpc_transport::kOperatorMetadata, token);
    };
    pwire::WorkerCommandBatch release;
    release.set_version(wire::kWireVersion);
    release.add_releases()->add_arrays(1);
    grpc::ClientContext c1;
    with_token(c1);
    auto commands = worker->Commands(&c1);
    commands->Write(release);  // may fail: the worker ends the stream at once
    commands->WritesDone();
    const grpc::Status refused = commands->Finish();
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
    EXPECT_THAT(refused.error_message(), HasSubstr("operator"));
    pwire::ShutdownRequest shutdown;
    shutdown.set_version(wire::kWireVersion);
    pwire::StatusResponse stopped;
    grpc::ClientContext c2;
    with_token(c2);
    ASSERT_TRUE(worker->Shutdown(&c2, shutdown, &stopped).ok());
    EXPECT_THAT(wire::ResponseStatus(stopped), StatusIs(absl::StatusCode::kPermissionDenied));
  }
  ExpectTheClusterStillWorks();
}

}  // namespace
}  // namespace pw
