// Worker-side transport test helpers.
#include "pathways/transport/worker_test_util.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pathways/base/logging.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/ir.pb.h"
#include "pathways/ir/serialization.h"
#include "pathways/transport/grpc_common.h"
#include "pathways/transport/wire_convert.h"

namespace pw::worker_testing {

namespace {
using grpc_transport::SetStatus;

std::chrono::system_clock::time_point In(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}
}  // namespace

// ---- FakeController --------------------------------------------------------------------------

FakeController::FakeController() {
  grpc::ServerBuilder builder;
  int port = 0;
  grpc_transport::ConfigureServer(builder, "127.0.0.1:0", &port);
  builder.RegisterService(this);
  builder.RegisterService(&rendezvous_);
  server_ = builder.BuildAndStart();
  PW_CHECK(server_ != nullptr && port != 0) << "fake controller could not listen";
  address_ = absl::StrCat("127.0.0.1:", port);
}

FakeController::~FakeController() { Stop(); }

void FakeController::Stop() {
  if (server_ == nullptr) return;
  UnblockReports();
  rendezvous_.Shutdown();
  server_->Shutdown(In(absl::Milliseconds(200)));
  server_->Wait();
  server_.reset();
}

void FakeController::Forget(HostId host) {
  absl::MutexLock lock(&mu_);
  forgotten_.insert(host);
}

void FakeController::RefuseJoins(absl::Status status) {
  absl::MutexLock lock(&mu_);
  refuse_joins_ = std::move(status);
}

void FakeController::BlockReports() {
  absl::MutexLock lock(&mu_);
  block_reports_ = true;
}

void FakeController::UnblockReports() {
  absl::MutexLock lock(&mu_);
  block_reports_ = false;
}

void FakeController::AwaitBlockedReport() {
  absl::MutexLock lock(&mu_);
  auto blocked = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return blocked_reports_ > 0; };
  mu_.AwaitWithTimeout(absl::Condition(&blocked), absl::Seconds(20));
}

std::vector<HostRunResult> FakeController::WaitForResults(size_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return results_.size() >= n; };
  mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  for (const absl::Status& s : bad_reports_) ADD_FAILURE() << "malformed RunDoneReport: " << s;
  return results_;
}

std::vector<int> FakeController::report_sizes() const {
  absl::MutexLock lock(&mu_);
  return report_sizes_;
}

int64_t FakeController::heartbeats() const {
  absl::MutexLock lock(&mu_);
  return heartbeats_;
}

grpc::Status FakeController::Join(grpc::ServerContext* context,
                                  const pathways::wire::JoinRequest* request,
                                  pathways::wire::JoinResponse* response) {
  absl::Status s = wire::CheckVersion(*request);
  absl::StatusOr<HostSpec> spec = wire::FromProto(request->spec());
  if (s.ok()) s = spec.status();
  absl::MutexLock lock(&mu_);
  if (s.ok()) s = refuse_joins_;
  SetStatus(*response, s);
  if (!s.ok()) return grpc::Status::OK;
  const HostId host(next_host_++);
  addresses_[host] = spec->address;
  data_plane_addresses_[host] = request->data_plane_address();
  response->set_host(host.value());
  for (int i = 0; i < spec->num_devices; ++i) response->add_devices(next_device_++);
  return grpc::Status::OK;
}

grpc::Status FakeController::Heartbeat(grpc::ServerContext* context,
                                       const pathways::wire::HeartbeatRequest* request,
                                       pathways::wire::HeartbeatResponse* response) {
  absl::MutexLock lock(&mu_);
  ++heartbeats_;
  const HostId host(request->host());
  SetStatus(*response, forgotten_.contains(host)
                           ? absl::FailedPreconditionError(
                                 absl::StrCat(host.DebugString(), " was declared lost"))
                           : wire::CheckVersion(*request));
  return grpc::Status::OK;
}

grpc::Status FakeController::ReportRunDone(grpc::ServerContext* context,
                                           const pathways::wire::RunDoneReport* request,
                                           pathways::wire::StatusResponse* response) {
  absl::StatusOr<std::vector<HostRunResult>> results = wire::FromProto(*request);
  absl::MutexLock lock(&mu_);
  ++blocked_reports_;
  auto unblocked = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !block_reports_; };
  mu_.Await(absl::Condition(&unblocked));
  --blocked_reports_;
  if (!results.ok()) {
    bad_reports_.push_back(results.status());
  } else {
    report_sizes_.push_back(static_cast<int>(results->size()));
    for (HostRunResult& r : *results) results_.push_back(std::move(r));
  }
  SetStatus(*response, results.status());
  return grpc::Status::OK;
}

grpc::Status FakeController::LookupHost(grpc::ServerContext* context,
                                        const pathways::wire::LookupHostRequest* request,
                                        pathways::wire::LookupHostResponse* response) {
  absl::MutexLock lock(&mu_);
  auto it = addresses_.find(HostId(request->host()));
  if (it == addresses_.end()) {
    SetStatus(*response, absl::NotFoundError(absl::StrCat("no host:", request->host())));
  } else {
    SetStatus(*response, absl::OkStatus());
    response->set_address(it->second);
    response->set_data_plane_address(data_plane_addresses_[it->first]);
  }
  return grpc::Status::OK;
}

// ---- WorkerClient ----------------------------------------------------------------------------

WorkerClient::WorkerClient(const std::string& address)
    : address_(address),
      stub_(pathways::wire::Worker::NewStub(grpc_transport::MakeChannel(address))) {}

namespace {
template <typename Request>
Request Versioned() {
  Request r;
  r.set_version(wire::kWireVersion);
  return r;
}
}  // namespace

absl::Status WorkerClient::RegisterFunction(FunctionId id, const ir::Function& function) {
  auto request = Versioned<pathways::wire::WorkerRegisterFunctionRequest>();
  request.set_id(id.value());
  *request.mutable_function() = ir::ToProto(function);
  pathways::wire::StatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(20)));
  return grpc_transport::CallStatus(stub_->RegisterFunction(&context, request, &response),
                                    response, "RegisterFunction", address_);
}

absl::Status WorkerClient::PutShard(ArrayId array, int32_t shard, DeviceId device,
                                    const ir::Literal& data) {
  auto request = Versioned<pathways::wire::PutShardRequest>();
  request.set_array(array.value());
  request.set_shard(shard);
  request.set_device(device.value());
  *request.mutable_data() = wire::ToProto(data);
  pathways::wire::StatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(20)));
  return grpc_transport::CallStatus(stub_->PutShard(&context, request, &response), response,
                                    "PutShard", address_);
}

absl::Status WorkerClient::Run(const pathways::wire::HostRunProto& run) {
  pathways::wire::StatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(20)));
  return grpc_transport::CallStatus(stub_->Run(&context, run, &response), response, "Run",
                                    address_);
}

absl::Status WorkerClient::Release(std::vector<ArrayId> arrays, uint64_t seq) {
  auto request = Versioned<pathways::wire::ReleaseRequest>();
  for (ArrayId a : arrays) request.add_arrays(a.value());
  request.set_seq(seq);
  pathways::wire::StatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(20)));
  return grpc_transport::CallStatus(stub_->Release(&context, request, &response), response,
                                    "Release", address_);
}

AsyncValueRef<ir::Literal> WorkerClient::FetchShard(ArrayId array, int32_t shard, uint64_t seq) {
  struct Call {
    grpc::ClientContext context;
    pathways::wire::FetchShardRequest request = Versioned<pathways::wire::FetchShardRequest>();
    pathways::wire::FetchShardResponse response;
  };
  auto call = std::make_shared<Call>();
  call->request.set_array(array.value());
  call->request.set_shard(shard);
  call->request.set_seq(seq);
  call->context.set_deadline(In(absl::Seconds(20)));
  AsyncValueRef<ir::Literal> result = MakeAsyncValue<ir::Literal>();
  stub_->async()->FetchShard(&call->context, &call->request, &call->response,
                             [call, result, address = address_](grpc::Status status) {
                               absl::Status s = grpc_transport::CallStatus(
                                   status, call->response, "FetchShard", address);
                               if (!s.ok()) {
                                 result->SetError(s);
                                 return;
                               }
                               absl::StatusOr<ir::Literal> lit =
                                   wire::FromProto(std::move(*call->response.mutable_data()));
                               if (lit.ok()) {
                                 result->SetValue(*std::move(lit));
                               } else {
                                 result->SetError(lit.status());
                               }
                             });
  return result;
}

absl::StatusOr<pathways::wire::HostStatusResponse> WorkerClient::Status() {
  auto request = Versioned<pathways::wire::HostStatusRequest>();
  pathways::wire::HostStatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(20)));
  grpc::Status status = stub_->Status(&context, request, &response);
  if (!status.ok()) return grpc_transport::FromGrpc(status, "Status", address_);
  return response;
}

absl::StatusOr<pathways::wire::TraceResponse> WorkerClient::Trace() {
  auto request = Versioned<pathways::wire::TraceRequest>();
  pathways::wire::TraceResponse response;
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(20)));
  absl::Status s = grpc_transport::CallStatus(stub_->Trace(&context, request, &response),
                                              response, "Trace", address_);
  if (!s.ok()) return s;
  return response;
}

absl::Status WorkerClient::Shutdown() {
  auto request = Versioned<pathways::wire::ShutdownRequest>();
  pathways::wire::StatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(20)));
  return grpc_transport::CallStatus(stub_->Shutdown(&context, request, &response), response,
                                    "Shutdown", address_);
}

// ---- Programs --------------------------------------------------------------------------------

namespace {
ir::TensorType F32x4() { return ir::TensorType{ir::DType::kF32, ir::Shape({4})}; }
}  // namespace

ir::Function TwiceFunction() {
  ir::FunctionBuilder b("twice", {.num_shards = 2});
  ir::Value x = b.Parameter(F32x4(), "x");
  auto f = b.Build({b.Add(x, x)});
  PW_CHECK(f.ok()) << f.status();
  return *std::move(f);
}

std::shared_ptr<const LoweredProgram> TwiceProgram(HostId host, DeviceId d0, DeviceId d1) {
  LoweringContext context;
  context.devices[d0] = DeviceLocation{host, IslandId(0)};
  context.devices[d1] = DeviceLocation{host, IslandId(0)};
  context.slices[SliceId(0)] = {d0, d1};
  context.functions[FunctionId(7)] =
      FunctionSignature{FunctionId(7), "twice", 2, {F32x4()}, {F32x4()}};
  ProgramDef program;
  program.name = "twice";
  program.inputs = {ArraySpec{F32x4(), SliceId(0)}};
  program.calls = {ProgramCall{"a", FunctionId(7), SliceId(0), {ValueRef{-1, 0}}}};
  program.outputs = {ValueRef{0, 0}};
  auto lowered = LowerProgram(program, context);
  PW_CHECK(lowered.ok()) << lowered.status();
  return *std::move(lowered);
}

pathways::wire::HostRunProto MakeRunProto(const std::shared_ptr<const LoweredProgram>& lowered,
                                          HostId host, RunId run, std::vector<ArrayId> arrays,
                                          uint64_t key, bool with_program, uint64_t seq) {
  HostRun r;
  r.run = run;
  r.client = ClientId(1);
  r.program = lowered->hosts.at(host);
  r.lowered = lowered;
  r.value_arrays = std::make_shared<std::vector<ArrayId>>(std::move(arrays));
  r.gang_base = 1000 * run.value();
  r.mode = DispatchMode::kParallel;
  r.stage = -1;
  auto proto = wire::ToProto(r, wire::HostRunWireOptions{
                                    key, with_program ? wire::ProgramPayload::kWithProgram
                                                      : wire::ProgramPayload::kKeyOnly});
  PW_CHECK(proto.ok()) << proto.status();
  proto->set_seq(seq);
  return *std::move(proto);
}

ir::Literal F32Vector(std::vector<float> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  auto lit = ir::Literal::Create<float>(ir::Shape({n}), absl::Span<const float>(values));
  PW_CHECK(lit.ok()) << lit.status();
  return *std::move(lit);
}

std::vector<float> Floats(const ir::Literal& literal) {
  auto data = literal.data<float>();
  return std::vector<float>(data.begin(), data.end());
}

}  // namespace pw::worker_testing
