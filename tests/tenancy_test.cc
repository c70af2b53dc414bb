// Tenants of one cluster attacking each other through the controller's gRPC API, as a
// hand-written peer would (raw stubs, forged ids, guessed handles, stolen or stale sessions), and
// clients that vanish: every attempt is refused with the right status, the victim's data is
// intact, and a client that stops renewing its lease is disconnected and its memory freed.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/cluster/process_cluster.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/wire/wire_convert.h"
#include "tests/test_util.h"

namespace pw {
namespace {

namespace pwire = pathways::wire;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::Unwrap;

class TenancyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ProcessClusterOptions o;
    o.hosts_per_island = 1;
    o.devices_per_host = 2;
    o.memory_per_device_bytes = int64_t{64} << 20;
    o.client_lease = absl::Seconds(1);
    cluster_ = Unwrap(ProcessCluster::Start(o)).release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    stub_ = pwire::ControllerApi::NewStub(grpc_transport::MakeChannel(cluster_->address()));
    victim_ = Unwrap(Client::ConnectTo(cluster_->address(), "victim"));
    victim_slice_ = Unwrap(victim_->GetDevices(2));
    victim_array_ = Unwrap(victim_->PutGlobal(victim_slice_, ir::Literal::Create<float>({2, 2}, {1, 2, 3, 4})));
  }

  // A raw session: (client id, token), or the Connect's status.
  absl::StatusOr<std::pair<int64_t, std::string>> RawConnect(const std::string& cluster_token) {
    pwire::ConnectRequest request;
    request.set_version(wire::kWireVersion);
    request.set_client_name("attacker");
    request.set_cluster_token(cluster_token);
    pwire::ConnectResponse response;
    grpc::ClientContext context;
    const grpc::Status g = stub_->Connect(&context, request, &response);
    if (!g.ok()) return absl::UnavailableError(g.error_message());
    PW_RETURN_IF_ERROR(wire::ResponseStatus(response));
    return std::make_pair(response.client(), response.session());
  }

  // A call of `method` carrying `session` (none when empty); the controller's answer.
  template <typename Method, typename Request, typename Response>
  absl::Status Call(Method method, const Request& request, Response& response, const std::string& session,
                    const std::string& operator_token = "") {
    grpc::ClientContext context;
    if (!session.empty()) context.AddMetadata(grpc_transport::kSessionMetadata, session);
    if (!operator_token.empty()) context.AddMetadata(grpc_transport::kOperatorMetadata, operator_token);
    const grpc::Status g = ((*stub_).*method)(&context, request, &response);
    if (!g.ok()) return absl::UnavailableError(g.error_message());
    return wire::ResponseStatus(response);
  }

  absl::Status Fetch(int64_t client, int64_t array, const std::string& session) {
    pwire::ArrayRequest request;
    request.set_version(wire::kWireVersion);
    request.set_client(client);
    request.set_array(array);
    pwire::FetchArrayResponse response;
    return Call(&pwire::ControllerApi::Stub::FetchArray, request, response, session);
  }

  void ExpectVictimIntact() {
    EXPECT_THAT(Unwrap(victim_array_.ToLiteral()).data<float>(), ElementsAre(1, 2, 3, 4));
  }

  static ProcessCluster* cluster_;
  std::unique_ptr<pwire::ControllerApi::Stub> stub_;
  std::unique_ptr<Client> victim_;
  VirtualSlice victim_slice_;
  Array victim_array_;
};

ProcessCluster* TenancyTest::cluster_ = nullptr;

TEST_F(TenancyTest, ConnectingNeedsTheClusterToken) {
  EXPECT_THAT(RawConnect("").status(), StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("cluster token")));
  EXPECT_THAT(RawConnect(std::string(32, '0')).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  std::string almost = cluster_->credentials().cluster_token;
  almost.back() = almost.back() == 'a' ? 'b' : 'a';
  EXPECT_THAT(RawConnect(almost).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  // A C++ client without it cannot connect either.
  GrpcControllerClient::Options wrong;
  wrong.credentials.cluster_token = "not-the-token";
  auto stub = Unwrap(GrpcControllerClient::Connect(cluster_->address(), absl::Seconds(5), wrong));
  EXPECT_THAT(static_cast<ControllerService&>(*stub).Connect("nobody").status(),
              StatusIs(absl::StatusCode::kUnauthenticated));
  ExpectVictimIntact();
}

TEST_F(TenancyTest, AnotherClientsIdOrHandlesAreNotFoundLikeOnesThatNeverExisted) {
  auto [me, session] = Unwrap(RawConnect(cluster_->credentials().cluster_token));
  const int64_t victim = victim_->id().value();
  const int64_t array = victim_array_.id().value();
  // Forging the victim's client id with the attacker's own session...
  absl::Status forged = Fetch(victim, array, session);
  // ...reads exactly as naming a client that never existed.
  absl::Status never = Fetch(victim + 1000, array, session);
  EXPECT_THAT(forged, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(never, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(std::string(forged.message()),
            absl::StrCat("unknown client:", victim));
  // The victim's array handle under the attacker's own id, and a handle that never existed.
  absl::Status theirs = Fetch(me, array, session);
  absl::Status none = Fetch(me, array + 100000, session);
  EXPECT_THAT(theirs, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(none, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(std::string(theirs.message()),
            absl::StrReplaceAll(std::string(none.message()),
                                {{absl::StrCat("array:", array + 100000), absl::StrCat("array:", array)}}));
  // Guessing: every handle from 0 to 300 is NOT_FOUND for the attacker.
  for (int64_t guess = 0; guess <= 300; ++guess) {
    ASSERT_THAT(Fetch(me, guess, session), StatusIs(absl::StatusCode::kNotFound)) << "array " << guess;
  }
  // Releasing the victim's array or slice, running on it: NOT_FOUND, and nothing changes.
  pwire::ArrayRequest release;
  release.set_version(wire::kWireVersion);
  release.set_client(me);
  release.set_array(array);
  pwire::StatusResponse released;
  EXPECT_THAT(Call(&pwire::ControllerApi::Stub::ReleaseArray, release, released, session),
              StatusIs(absl::StatusCode::kNotFound));
  pwire::ReleaseSliceRequest slice;
  slice.set_version(wire::kWireVersion);
  slice.set_client(me);
  slice.set_slice(victim_slice_.id.value());
  pwire::StatusResponse slice_released;
  EXPECT_THAT(Call(&pwire::ControllerApi::Stub::ReleaseSlice, slice, slice_released, session),
              StatusIs(absl::StatusCode::kNotFound));
  // Without any session, or with a made-up one: UNAUTHENTICATED, whatever the id.
  EXPECT_THAT(Fetch(victim, array, ""), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Fetch(victim, array, std::string(32, 'f')), StatusIs(absl::StatusCode::kUnauthenticated));
  ExpectVictimIntact();
}

TEST_F(TenancyTest, AClosedSessionIsRefused) {
  auto [me, session] = Unwrap(RawConnect(cluster_->credentials().cluster_token));
  pwire::DisconnectRequest bye;
  bye.set_version(wire::kWireVersion);
  bye.set_client(me);
  pwire::StatusResponse response;
  ASSERT_THAT(Call(&pwire::ControllerApi::Stub::Disconnect, bye, response, session), IsOk());
  pwire::AllocateSliceRequest allocate;
  allocate.set_version(wire::kWireVersion);
  allocate.set_client(me);
  *allocate.mutable_request() = wire::ToProto(SliceRequest{.num_devices = 1});
  pwire::AllocateSliceResponse allocated;
  EXPECT_THAT(Call(&pwire::ControllerApi::Stub::AllocateSlice, allocate, allocated, session),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("no such session")));
  ExpectVictimIntact();
}

TEST_F(TenancyTest, ATenantCannotShutDownTraceOrSeeOtherClients) {
  auto [me, session] = Unwrap(RawConnect(cluster_->credentials().cluster_token));
  pwire::ShutdownRequest shutdown;
  shutdown.set_version(wire::kWireVersion);
  pwire::StatusResponse response;
  EXPECT_THAT(Call(&pwire::ControllerApi::Stub::Shutdown, shutdown, response, session),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("operator")));
  EXPECT_THAT(Call(&pwire::ControllerApi::Stub::Shutdown, shutdown, response, session, "guess"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  pwire::TraceRequest trace;
  trace.set_version(wire::kWireVersion);
  pwire::TraceResponse traced;
  EXPECT_THAT(Call(&pwire::ControllerApi::Stub::Trace, trace, traced, session),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // Status: the tenant sees itself only; the operator sees everyone.
  pwire::ClusterStatusRequest status;
  status.set_version(wire::kWireVersion);
  pwire::ClusterStatusResponse mine;
  grpc::ClientContext context;
  context.AddMetadata(grpc_transport::kSessionMetadata, session);
  ASSERT_TRUE(stub_->Status(&context, status, &mine).ok());
  ASSERT_EQ(mine.status().clients_size(), 1);
  EXPECT_EQ(mine.status().clients(0).id(), me);
  EXPECT_EQ(mine.status().slices_size(), 0);
  EXPECT_EQ(mine.status().hosts_size(), 1);
  pwire::ClusterStatusResponse all;
  grpc::ClientContext op;
  op.AddMetadata(grpc_transport::kOperatorMetadata, cluster_->credentials().operator_token);
  ASSERT_TRUE(stub_->Status(&op, status, &all).ok());
  EXPECT_GE(all.status().clients_size(), 2);
  ExpectVictimIntact();
}

// What the cluster's own processes say to the controller — joining as a host, reporting runs,
// writing the rendezvous store that coordinates gangs — needs the operator's credential, which a
// tenant does not have (its cluster token opens a session, nothing more).
TEST_F(TenancyTest, ATenantCannotJoinReportRunsOrWriteTheRendezvousStore) {
  auto [me, session] = Unwrap(RawConnect(cluster_->credentials().cluster_token));
  auto channel = grpc_transport::MakeChannel(cluster_->address());
  auto workers = pwire::ControllerWorkers::NewStub(channel);
  auto store = pwire::Rendezvous::NewStub(channel);
  auto expect_denied = [&](auto call) {
    for (const std::string& token : {std::string(), session, cluster_->credentials().cluster_token}) {
      grpc::ClientContext context;
      if (!token.empty()) context.AddMetadata(grpc_transport::kOperatorMetadata, token);
      EXPECT_THAT(call(context), StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("operator")));
    }
  };
  expect_denied([&](grpc::ClientContext& context) {
    pwire::JoinRequest join;
    join.set_version(wire::kWireVersion);
    join.mutable_spec()->set_num_devices(1);
    pwire::JoinResponse joined;
    const grpc::Status g = workers->Join(&context, join, &joined);
    return g.ok() ? wire::ResponseStatus(joined) : absl::UnavailableError(g.error_message());
  });
  expect_denied([&](grpc::ClientContext& context) {
    pwire::RunDoneReport report;
    report.set_version(wire::kWireVersion);
    auto reports = workers->ReportRuns(&context);
    reports->Write(report);  // may fail: the controller ends the stream at once
    reports->WritesDone();
    const grpc::Status g = reports->Finish();
    return absl::Status(static_cast<absl::StatusCode>(g.error_code()), g.error_message());
  });
  expect_denied([&](grpc::ClientContext& context) {
    pwire::StoreSetRequest set;
    set.set_version(wire::kWireVersion);
    set.set_key("gloo/gang:1/abort");
    set.set_value("broken by a tenant");
    pwire::StoreValueResponse response;
    const grpc::Status g = store->Set(&context, set, &response);
    return g.ok() ? wire::ResponseStatus(response) : absl::UnavailableError(g.error_message());
  });
  // The cluster's hosts are still the one it started with, and they still run programs.
  auto op = Unwrap(GrpcControllerClient::Connect(cluster_->address(), absl::Seconds(5)));
  EXPECT_EQ(op->Status().hosts.size(), 1u);
  PmapFunction twice = victim_->Pmap("twice", victim_slice_, [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
    return std::vector<ir::Value>{b.Add(x[0], x[0])};
  });
  EXPECT_THAT(Unwrap(Unwrap(twice({victim_array_}))[0].ToLiteral()).data<float>(), ElementsAre(2, 4, 6, 8));
}

TEST_F(TenancyTest, AClientThatStopsRenewingIsDisconnectedAndItsMemoryFreed) {
  auto [me, session] = Unwrap(RawConnect(cluster_->credentials().cluster_token));
  pwire::AllocateSliceRequest allocate;
  allocate.set_version(wire::kWireVersion);
  allocate.set_client(me);
  *allocate.mutable_request() = wire::ToProto(SliceRequest{.num_devices = 1});
  pwire::AllocateSliceResponse allocated;
  ASSERT_THAT(Call(&pwire::ControllerApi::Stub::AllocateSlice, allocate, allocated, session), IsOk());
  pwire::PutArrayRequest put;
  put.set_version(wire::kWireVersion);
  put.set_client(me);
  put.set_slice(allocated.slice().id());
  *put.add_shards() = wire::ToProto(Unwrap(ir::Literal::Create<float>({1 << 20}, std::vector<float>(1 << 20, 1.f))));
  pwire::ArrayInfoResponse put_response;
  ASSERT_THAT(Call(&pwire::ControllerApi::Stub::PutArray, put, put_response, session), IsOk());
  auto op = Unwrap(GrpcControllerClient::Connect(cluster_->address(), absl::Seconds(5)));
  auto in_use = [&] {
    int64_t bytes = 0;
    for (const HostStatus& h : op->Status().hosts) {
      for (const DeviceStatus& d : h.devices) bytes += d.memory_in_use_bytes - d.scratch_bytes;
    }
    return bytes;
  };
  auto listed = [&] {
    for (const ClientStatus& c : op->Status().clients) {
      if (c.id == ClientId(me)) return true;
    }
    return false;
  };
  ASSERT_TRUE(listed());
  ASSERT_GE(in_use(), 4 << 20);
  // The attacker's process "dies": nothing renews its lease (1 s here). The victim's client
  // library keeps renewing in the background, though it makes no call meanwhile.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);  // a hang guard, not a bound
  while (listed() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(listed());
  while (in_use() >= 4 << 20 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_LT(in_use(), 4 << 20);
  EXPECT_THAT(Fetch(me, put_response.array().id(), session), StatusIs(absl::StatusCode::kUnauthenticated));
  ExpectVictimIntact();
  // The victim outlived several leases without a call of its own, and still works.
  EXPECT_THAT(victim_->GetDevices(1).status(), IsOk());
}

}  // namespace
}  // namespace pw
