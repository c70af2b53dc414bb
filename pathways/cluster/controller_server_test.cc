// ControllerServer through GrpcControllerClient and raw stubs: requests validated (version,
// fields, unknown ids), shutdown, and hosts lost by missed heartbeats or failed calls — with
// fake workers that join over gRPC, accept everything and never finish a run.
#include "pathways/cluster/controller_server.h"

#include <atomic>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/ir/builder.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/grpc_controller_client.h"

namespace pw {
namespace {

namespace pwire = pathways::wire;
using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

ControllerServerOptions FastOptions() {
  ControllerServerOptions options;
  options.heartbeat_timeout = absl::Milliseconds(300);
  options.worker_status_timeout = absl::Milliseconds(200);
  return options;
}

std::unique_ptr<ControllerServer> StartServer(ControllerServerOptions options = FastOptions()) {
  absl::StatusOr<std::unique_ptr<ControllerServer>> server = ControllerServer::Start(options);
  PW_CHECK(server.ok()) << server.status();
  return *std::move(server);
}

std::unique_ptr<GrpcControllerClient> ConnectTo(const ControllerServer& server) {
  absl::StatusOr<std::unique_ptr<GrpcControllerClient>> client =
      GrpcControllerClient::Connect(server.address(), absl::Seconds(5));
  PW_CHECK(client.ok()) << client.status();
  return *std::move(client);
}

// A worker process stand-in: serves Worker (accepting every call, never reporting a run done),
// joins the controller and heartbeats until told to stop.
class FakeRemoteWorker final : public pwire::Worker::Service {
 public:
  FakeRemoteWorker() {
    grpc::ServerBuilder builder;
    int port = 0;
    grpc_transport::ConfigureServer(builder, "127.0.0.1:0", &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    PW_CHECK(server_ != nullptr && port != 0);
    address_ = grpc_transport::WithPort("127.0.0.1:0", port);
  }
  ~FakeRemoteWorker() override {
    StopHeartbeats();
    release_status_.Notify();
    Die();
  }

  // Joins with `devices` devices and starts heartbeating every `interval`.
  pwire::JoinResponse Join(const std::string& controller, int64_t devices,
                           absl::Duration interval = absl::Milliseconds(50)) {
    controller_ = pwire::ControllerWorkers::NewStub(grpc_transport::MakeChannel(controller));
    pwire::JoinRequest request;
    request.set_version(wire::kWireVersion);
    HostSpec spec;
    spec.island = IslandId(0);
    spec.address = address_;
    spec.num_devices = static_cast<int>(devices);
    spec.memory_bytes_per_device = int64_t{1} << 20;
    *request.mutable_spec() = wire::ToProto(spec);
    pwire::JoinResponse response;
    grpc::ClientContext context;
    grpc::Status s = controller_->Join(&context, request, &response);
    PW_CHECK(s.ok()) << s.error_message();
    host_ = HostId(response.host());
    StopHeartbeats();
    stop_ = std::make_unique<absl::Notification>();
    heartbeats_ = std::thread([this, stop = stop_.get(), interval] {
      while (!stop->WaitForNotificationWithTimeout(interval)) (void)Heartbeat();
    });
    return response;
  }
  absl::Status Heartbeat() {
    pwire::HeartbeatRequest request;
    request.set_version(wire::kWireVersion);
    request.set_host(host_.value());
    pwire::HeartbeatResponse response;
    grpc::ClientContext context;
    return grpc_transport::CallStatus(controller_->Heartbeat(&context, request, &response),
                                      response, "Heartbeat", "controller");
  }
  void StopHeartbeats() {
    if (stop_ != nullptr && !stop_->HasBeenNotified()) stop_->Notify();
    if (heartbeats_.joinable()) heartbeats_.join();
  }
  // The process vanishes: its server stops answering, and its calls (the controller's command
  // stream) end.
  void Die() {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }
  void HangStatus() { hang_status_ = true; }

  HostId host() const { return host_; }
  const std::string& address() const { return address_; }
  int64_t runs() const { return runs_.load(); }

  grpc::Status RegisterFunction(grpc::ServerContext*, const pwire::WorkerRegisterFunctionRequest*,
                                pwire::StatusResponse* response) override {
    grpc_transport::SetStatus(*response, absl::OkStatus());
    return grpc::Status::OK;
  }
  grpc::Status Commands(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<pwire::StatusResponse, pwire::WorkerCommandBatch>* stream) override {
    pwire::WorkerCommandBatch batch;
    while (stream->Read(&batch)) runs_ += batch.runs_size();
    return grpc::Status::OK;
  }
  grpc::Status PutShard(grpc::ServerContext*, const pwire::PutShardRequest*,
                        pwire::StatusResponse* response) override {
    grpc_transport::SetStatus(*response, absl::OkStatus());
    return grpc::Status::OK;
  }
  grpc::Status Status(grpc::ServerContext*, const pwire::HostStatusRequest*,
                      pwire::HostStatusResponse* response) override {
    if (hang_status_) release_status_.WaitForNotification();
    response->set_version(wire::kWireVersion);
    HostStatus status;
    status.host = host_;
    *response->mutable_status() = wire::ToProto(status);
    return grpc::Status::OK;
  }
  grpc::Status Trace(grpc::ServerContext*, const pwire::TraceRequest*,
                     pwire::TraceResponse* response) override {
    TraceRecorder recorder;
    recorder.Start();
    recorder.NameProcess(host_.value(), "fake host");
    recorder.Record(TraceEvent{"fake step", "execute", host_.value(), 0, 1, 2, {}});
    grpc_transport::ToProto(recorder, *response);
    return grpc::Status::OK;
  }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::unique_ptr<pwire::ControllerWorkers::Stub> controller_;
  HostId host_;
  std::thread heartbeats_;
  std::unique_ptr<absl::Notification> stop_;
  std::atomic<int64_t> runs_{0};
  std::atomic<bool> hang_status_{false};
  absl::Notification release_status_;
};

// f(x) = x + 1 on f32[2] shards, for a gang of `shards`.
ir::Function AddOne(int64_t shards) {
  ir::FunctionBuilder b("add_one", ir::FunctionOptions{shards});
  ir::Value x = b.Parameter(ir::TensorType{ir::DType::kF32, ir::Shape({2})}, "x");
  absl::StatusOr<ir::Function> f = b.Build({b.Add(x, b.ScalarLike(ir::DType::kF32, 1.0))});
  PW_CHECK(f.ok()) << f.status();
  return *std::move(f);
}

struct Submitted {
  ProgramId program;
  ArrayId input;
  ArrayInfo output;  // pending on fake workers
};
// Runs add_one on a 2-device slice of the cluster.
Submitted SubmitRun(ControllerService& controller, ClientId client) {
  absl::StatusOr<VirtualSlice> slice = controller.AllocateSlice(client, SliceRequest{.num_devices = 2});
  PW_CHECK(slice.ok()) << slice.status();
  absl::StatusOr<FunctionId> f = controller.RegisterFunction(client, AddOne(2));
  PW_CHECK(f.ok()) << f.status();
  const ArraySpec spec{ir::TensorType{ir::DType::kF32, ir::Shape({2})}, slice->id};
  ProgramDef def;
  def.name = "p";
  def.inputs = {spec};
  def.calls = {ProgramCall{"add", *f, slice->id, {ValueRef{ValueRef::kProgramInput, 0}}}};
  def.outputs = {ValueRef{0, 0}};
  absl::StatusOr<ProgramId> program = controller.RegisterProgram(client, def);
  PW_CHECK(program.ok()) << program.status();
  std::vector<ir::Literal> shards;
  for (int i = 0; i < 2; ++i) shards.push_back(ir::Literal::Create<float>(ir::Shape{2}, {1.f, 2.f}));
  absl::StatusOr<ArrayInfo> input = controller.PutArray(client, slice->id, std::move(shards));
  PW_CHECK(input.ok()) << input.status();
  absl::StatusOr<RunResult> run = controller.Run(client, *program, {input->id}, RunOptions{});
  PW_CHECK(run.ok()) << run.status();
  return Submitted{*program, input->id, run->outputs[0]};
}

TEST(ControllerServerTest, ServesClientsWithNoWorkers) {
  std::unique_ptr<ControllerServer> server = StartServer();
  std::unique_ptr<GrpcControllerClient> stub = ConnectTo(*server);
  EXPECT_EQ(stub->address(), server->address());
  ControllerService& controller = *stub;
  absl::StatusOr<ClientId> client = controller.Connect("trainer");
  ASSERT_TRUE(client.ok()) << client.status();

  absl::StatusOr<ClusterStatus> status = stub->StatusOrError();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->hosts.empty());
  ASSERT_EQ(status->clients.size(), 1u);
  EXPECT_EQ(status->clients[0].name, "trainer");

  // No devices anywhere.
  EXPECT_THAT(controller.AllocateSlice(*client, SliceRequest{.num_devices = 1}).status(),
              StatusIs(absl::StatusCode::kResourceExhausted));
  // Unknown ids are NOT_FOUND, through the blocking and the callback methods alike.
  EXPECT_THAT(controller.ReleaseArray(*client, ArrayId(12345)),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(controller.AwaitArray(*client, ArrayId(12345))->Await(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(controller.FetchArray(*client, ArrayId(12345))->Await(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(controller.Run(*client, ProgramId(4), {}, RunOptions{}).status(),
              StatusIs(absl::StatusCode::kNotFound));
  // A client this connection holds no session for: the controller cannot tell who asks.
  EXPECT_THAT(controller.AllocateSlice(ClientId(77), SliceRequest{.num_devices = 1}).status(),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(controller.RegisterFunction(ClientId(77), AddOne(1)).status(),
              StatusIs(absl::StatusCode::kUnauthenticated));
  controller.Disconnect(*client);
  EXPECT_TRUE(stub->StatusOrError()->clients.empty());
  absl::Status none = server->WaitForHosts(1, absl::Milliseconds(20));
  EXPECT_THAT(none, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(Msg(none), HasSubstr("only 0 of 1"));
}

TEST(ControllerServerTest, ConnectingToNothingIsUnavailableNamingTheAddress) {
  std::string address;
  {
    std::unique_ptr<ControllerServer> gone = StartServer();
    address = gone->address();
  }
  absl::StatusOr<std::unique_ptr<GrpcControllerClient>> client =
      GrpcControllerClient::Connect(address, absl::Milliseconds(300));
  EXPECT_THAT(client.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Msg(client.status()), HasSubstr(address));
}

TEST(ControllerServerTest, AnotherWireVersionIsFailedPrecondition) {
  std::unique_ptr<ControllerServer> server = StartServer();
  auto api = pwire::ControllerApi::NewStub(grpc_transport::MakeChannel(server->address()));
  pwire::ConnectRequest request;
  request.set_version(wire::kWireVersion + 1);
  pwire::ConnectResponse response;
  grpc::ClientContext context;
  absl::Status s = grpc_transport::CallStatus(api->Connect(&context, request, &response),
                                              response, "Connect", "controller");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Msg(s), HasSubstr("ConnectRequest"));

  pwire::ClusterStatusRequest status_request;
  status_request.set_version(0);
  pwire::ClusterStatusResponse status_response;
  grpc::ClientContext status_context;
  grpc::Status g = api->Status(&status_context, status_request, &status_response);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  auto workers = pwire::ControllerWorkers::NewStub(grpc_transport::MakeChannel(server->address()));
  pwire::JoinRequest join;
  join.set_version(7);
  pwire::JoinResponse joined;
  grpc::ClientContext join_context;
  s = grpc_transport::CallStatus(workers->Join(&join_context, join, &joined), joined, "Join", "c");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(server->num_hosts(), 0);
}

TEST(ControllerServerTest, MalformedRequestsAreInvalidArgumentNamingTheField) {
  std::unique_ptr<ControllerServer> server = StartServer();
  auto api = pwire::ControllerApi::NewStub(grpc_transport::MakeChannel(server->address()));
  // A session of its own, so the requests below get as far as their fields.
  pwire::ConnectRequest hello;
  hello.set_version(wire::kWireVersion);
  hello.set_cluster_token(server->cluster_token());
  pwire::ConnectResponse session;
  grpc::ClientContext hello_context;
  ASSERT_TRUE(api->Connect(&hello_context, hello, &session).ok());
  ASSERT_EQ(session.status().code(), 0) << session.status().message();
  const int64_t me = session.client();
  auto call = [&](auto method, const auto& request, auto response) {
    grpc::ClientContext context;
    context.AddMetadata(grpc_transport::kSessionMetadata, session.session());
    grpc::Status g = ((*api).*method)(&context, request, &response);
    return grpc_transport::CallStatus(g, response, "call", "controller");
  };
  auto expect_invalid = [](const absl::Status& s, const std::string& field) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(Msg(s), HasSubstr(field));
  };

  pwire::AllocateSliceRequest allocate;
  allocate.set_version(wire::kWireVersion);
  allocate.set_client(-1);
  expect_invalid(call(&pwire::ControllerApi::Stub::AllocateSlice, allocate,
                      pwire::AllocateSliceResponse{}),
                 "AllocateSliceRequest.client");

  pwire::RunRequest run;
  run.set_version(wire::kWireVersion);
  run.set_client(me);
  run.add_inputs(4);
  run.add_inputs(-3);
  expect_invalid(call(&pwire::ControllerApi::Stub::Run, run, pwire::RunResponse{}),
                 "RunRequest.inputs[1]");
  run.clear_inputs();
  run.set_mode(9);
  expect_invalid(call(&pwire::ControllerApi::Stub::Run, run, pwire::RunResponse{}),
                 "RunRequest.mode");

  pwire::PutArrayRequest put;
  put.set_version(wire::kWireVersion);
  put.set_client(me);
  put.set_slice(0);
  put.add_shards()->mutable_type()->set_dtype(999);
  expect_invalid(call(&pwire::ControllerApi::Stub::PutArray, put, pwire::ArrayInfoResponse{}),
                 "PutArrayRequest.shards[0]");

  pwire::RegisterProgramRequest program;
  program.set_version(wire::kWireVersion);
  program.set_client(me);
  program.mutable_program()->add_calls()->set_function(-2);
  expect_invalid(call(&pwire::ControllerApi::Stub::RegisterProgram, program,
                      pwire::RegisterProgramResponse{}),
                 "RegisterProgramRequest.program");

  // The callback methods validate the same way.
  pwire::ArrayRequest array;
  array.set_version(wire::kWireVersion);
  array.set_client(me);
  array.set_array(-5);
  expect_invalid(call(&pwire::ControllerApi::Stub::AwaitArray, array, pwire::StatusResponse{}),
                 "ArrayRequest.array");
  expect_invalid(call(&pwire::ControllerApi::Stub::FetchArray, array,
                      pwire::FetchArrayResponse{}),
                 "ArrayRequest.array");

  auto workers = pwire::ControllerWorkers::NewStub(grpc_transport::MakeChannel(server->address()));
  pwire::JoinRequest join;
  join.set_version(wire::kWireVersion);
  join.mutable_spec()->set_num_devices(-1);
  pwire::JoinResponse joined;
  grpc::ClientContext join_context;
  expect_invalid(grpc_transport::CallStatus(workers->Join(&join_context, join, &joined), joined,
                                            "Join", "c"),
                 "JoinRequest.spec");
  EXPECT_EQ(server->num_hosts(), 0);
}

TEST(ControllerServerTest, ShutdownRpcEndsWaitAndLaterCallsFailUnavailable) {
  std::unique_ptr<ControllerServer> server = StartServer();
  std::unique_ptr<GrpcControllerClient> stub = ConnectTo(*server);
  ASSERT_TRUE(stub->Shutdown().ok());
  EXPECT_TRUE(server->Wait().ok());
  const std::string address = server->address();
  server.reset();
  absl::StatusOr<ClientId> client = static_cast<ControllerService&>(*stub).Connect("late");
  EXPECT_THAT(client.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Msg(client.status()), HasSubstr(address));
  EXPECT_THAT(stub->AwaitArray(ClientId(0), ArrayId(0))->Await(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(ControllerServerTest, AHostThatStopsHeartbeatingIsRemovedAndItsArraysFail) {
  std::unique_ptr<ControllerServer> server = StartServer();
  FakeRemoteWorker worker;
  pwire::JoinResponse joined = worker.Join(server->address(), 2);
  ASSERT_TRUE(wire::ResponseStatus(joined).ok()) << wire::ResponseStatus(joined);
  EXPECT_EQ(joined.devices_size(), 2);
  EXPECT_GT(joined.heartbeat_interval_ms(), 0);
  ASSERT_TRUE(server->WaitForHosts(1, absl::Seconds(5)).ok());
  std::unique_ptr<GrpcControllerClient> stub = ConnectTo(*server);
  ControllerService& controller = *stub;
  ClientId client = *controller.Connect("c");

  Submitted run = SubmitRun(controller, client);
  EventRef ready = controller.AwaitArray(client, run.output.id);
  // The resource manager's view changes last: its slice failure marks the end of the removal.
  absl::Notification slice_failed;
  const int listener = server->resources().AddMappingListener([&](const SliceEvent& event) {
    if (!slice_failed.HasBeenNotified()) slice_failed.Notify();
  });
  worker.StopHeartbeats();
  // The fake never finishes the run: only the host's loss can fail the array.
  const absl::Status& failed = ready->Await();
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Msg(failed), HasSubstr(worker.host().DebugString()));
  EXPECT_THAT(Msg(failed), HasSubstr(worker.address()));
  EXPECT_THAT(Msg(failed), HasSubstr("no heartbeat"));

  slice_failed.WaitForNotification();
  server->resources().RemoveMappingListener(listener);
  EXPECT_EQ(server->num_hosts(), 0);
  EXPECT_TRUE(server->resources().Hosts().empty());
  EXPECT_THAT(worker.Heartbeat(), StatusIs(absl::StatusCode::kFailedPrecondition));
  // The run's gang of two had a shard there: its abort key is in the rendezvous store, under the
  // controller's random prefix (no key of the store can be guessed).
  EXPECT_TRUE(std::regex_match(server->options().gang_key_prefix, std::regex("gloo/[0-9a-f]{32}/")))
      << server->options().gang_key_prefix;
  int aborted = 0;
  for (int64_t gang = 0; gang < 8; ++gang) {
    absl::StatusOr<std::string> reason =
        server->rendezvous_store().Get(absl::StrCat(server->options().gang_key_prefix, "gang:", gang, "/abort"));
    if (!reason.ok()) continue;
    ++aborted;
    EXPECT_THAT(*reason, HasSubstr("lost"));
  }
  EXPECT_EQ(aborted, 1);
}

// The controller's command stream to a worker ends when the worker's process goes: that alone
// reveals the loss (no heartbeat needed), fails the runs it had, and removes the host.
TEST(ControllerServerTest, AWorkerWhoseCommandStreamEndsIsRemovedAtOnce) {
  ControllerServerOptions options = FastOptions();
  options.heartbeat_timeout = absl::Seconds(60);  // only the stream's end can reveal the loss
  std::unique_ptr<ControllerServer> server = StartServer(options);
  FakeRemoteWorker worker;
  worker.Join(server->address(), 2);
  std::unique_ptr<GrpcControllerClient> stub = ConnectTo(*server);
  ControllerService& controller = *stub;
  ClientId client = *controller.Connect("c");
  Submitted first = SubmitRun(controller, client);
  worker.Die();
  // The fake never finishes the run: only the host's loss can fail the array.
  EventRef ready = controller.AwaitArray(client, first.output.id);
  const absl::Status& failed = ready->Await();
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Msg(failed), HasSubstr(worker.host().DebugString()));
  EXPECT_THAT(Msg(failed), HasSubstr(worker.address()));
  EXPECT_THAT(server->WaitForHostLost(worker.host(), absl::Seconds(10)), IsOk());
  EXPECT_THAT(worker.Heartbeat(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(server->num_hosts(), 0);
  // A later run of the program has no devices left and says why.
  absl::StatusOr<RunResult> again =
      controller.Run(client, first.program, {first.input}, RunOptions{});
  EXPECT_THAT(again.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Msg(again.status()), HasSubstr(worker.address()));
}

TEST(ControllerServerTest, StatusShowsAHostThatDoesNotAnswerAsUnreachable) {
  std::unique_ptr<ControllerServer> server = StartServer();
  FakeRemoteWorker worker;
  worker.Join(server->address(), 1);
  std::unique_ptr<GrpcControllerClient> stub = ConnectTo(*server);
  absl::StatusOr<ClusterStatus> fine = stub->StatusOrError();
  ASSERT_TRUE(fine.ok()) << fine.status();
  ASSERT_EQ(fine->hosts.size(), 1u);
  EXPECT_TRUE(fine->hosts[0].status.ok()) << fine->hosts[0].status;

  worker.HangStatus();
  absl::StatusOr<ClusterStatus> hung = stub->StatusOrError();
  ASSERT_TRUE(hung.ok()) << hung.status();
  ASSERT_EQ(hung->hosts.size(), 1u);
  EXPECT_EQ(hung->hosts[0].host, worker.host());
  EXPECT_THAT(hung->hosts[0].status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Msg(hung->hosts[0].status), HasSubstr(worker.address()));
  EXPECT_EQ(server->num_hosts(), 1) << "heartbeats still arrive: the host is slow, not lost";
}

TEST(ControllerServerTest, TraceMergesTheControllerAndEveryHost) {
  std::unique_ptr<ControllerServer> server = StartServer();
  FakeRemoteWorker worker;
  worker.Join(server->address(), 1);
  std::unique_ptr<GrpcControllerClient> stub = ConnectTo(*server);
  ControllerService& controller = *stub;
  ClientId client = *controller.Connect("c");
  ASSERT_TRUE(controller.AllocateSlice(client, SliceRequest{.num_devices = 1}).ok());
  server->trace().Record(TraceEvent{"controller step", "dispatch", kControllerTracePid, 0, 5, 1, {}});
  TraceRecorder into;
  ASSERT_TRUE(stub->FetchTrace(into).ok());
  std::vector<std::string> names;
  for (const TraceEvent& e : into.Events()) names.push_back(e.name);
  EXPECT_THAT(names, ::testing::IsSupersetOf({"controller step", "fake step"}));
  EXPECT_THAT(into.ToJson(), HasSubstr("fake host"));
}

TEST(ControllerServerTest, ANewWorkerAtALiveHostsAddressReplacesIt) {
  std::unique_ptr<ControllerServer> server = StartServer();
  FakeRemoteWorker worker;
  worker.Join(server->address(), 1);
  const HostId first = worker.host();
  // The same address joins again, as a restarted process would.
  worker.Join(server->address(), 1);
  EXPECT_NE(worker.host(), first);
  std::vector<HostId> hosts = server->hosts();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0], worker.host());
  EXPECT_EQ(server->resources().Hosts().size(), 1u);
}

}  // namespace
}  // namespace pw
