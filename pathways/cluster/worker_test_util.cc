// Worker-side transport test helpers.
#include "pathways/cluster/worker_test_util.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pathways/base/logging.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/ir.pb.h"
#include "pathways/ir/serialization.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"

namespace pw::worker_testing {

namespace {
using grpc_transport::SetStatus;

std::chrono::system_clock::time_point In(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}
}  // namespace

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

absl::Status WorkerClient::Commands(const pathways::wire::WorkerCommandBatch& batch) {
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(20)));
  auto stream = stub_->Commands(&context);
  stream->Write(batch);
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  if (status.ok()) return absl::OkStatus();
  // gRPC's codes are absl's.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat("Commands to ", address_, ": ", status.error_message()));
}

absl::Status WorkerClient::Run(const pathways::wire::HostRunProto& run) {
  auto batch = Versioned<pathways::wire::WorkerCommandBatch>();
  *batch.add_runs() = run;
  return Commands(batch);
}

absl::Status WorkerClient::Release(std::vector<ArrayId> arrays, uint64_t seq) {
  auto batch = Versioned<pathways::wire::WorkerCommandBatch>();
  pathways::wire::ReleaseRequest& request = *batch.add_releases();
  request.set_version(wire::kWireVersion);
  for (ArrayId a : arrays) request.add_arrays(a.value());
  request.set_seq(seq);
  return Commands(batch);
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

pathways::wire::HostRunProto MakeRunProto(const std::shared_ptr<const LoweredProgram>& lowered,
                                          HostId host, RunId run, std::vector<ArrayId> arrays,
                                          uint64_t key, bool with_program, uint64_t seq) {
  const HostRun r = worker_service_testing::MakeHostRun(lowered, host, run, std::move(arrays));
  auto proto = wire::ToProto(r, wire::HostRunWireOptions{
                                    key, with_program ? wire::ProgramPayload::kWithProgram
                                                      : wire::ProgramPayload::kKeyOnly});
  PW_CHECK(proto.ok()) << proto.status();
  proto->set_seq(seq);
  return *std::move(proto);
}

std::vector<float> Floats(const ir::Literal& literal) {
  auto data = literal.data<float>();
  return std::vector<float>(data.begin(), data.end());
}

}  // namespace pw::worker_testing
