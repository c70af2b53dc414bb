// FakeControllerWorkers: joins, heartbeats, reports and lookups as a test wants them.
#include "pathways/rpc/fake_controller_workers.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"

namespace pw {
namespace {

using grpc_transport::SetStatus;

std::chrono::system_clock::time_point In(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

}  // namespace

FakeControllerWorkers::FakeControllerWorkers() {
  grpc::ServerBuilder builder;
  int port = 0;
  grpc_transport::ConfigureServer(builder, "127.0.0.1:0", &port);
  builder.RegisterService(this);
  builder.RegisterService(&rendezvous_);
  server_ = builder.BuildAndStart();
  PW_CHECK(server_ != nullptr && port != 0) << "fake controller could not listen";
  address_ = absl::StrCat("127.0.0.1:", port);
}

FakeControllerWorkers::~FakeControllerWorkers() { Stop(); }

void FakeControllerWorkers::Stop() {
  if (server_ == nullptr) return;
  rendezvous_.Shutdown();
  server_->Shutdown(In(absl::Milliseconds(200)));
  server_->Wait();
  server_.reset();
}

void FakeControllerWorkers::Forget(HostId host) {
  absl::MutexLock lock(&mu_);
  forgotten_.insert(host);
}

void FakeControllerWorkers::RefuseJoins(absl::Status status) {
  absl::MutexLock lock(&mu_);
  refuse_joins_ = std::move(status);
}

std::vector<HostRunResult> FakeControllerWorkers::WaitForResults(size_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return results_.size() >= n; };
  mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  for (const absl::Status& s : bad_reports_) ADD_FAILURE() << "malformed RunDoneReport: " << s;
  return results_;
}

std::vector<int> FakeControllerWorkers::report_sizes() const {
  absl::MutexLock lock(&mu_);
  return report_sizes_;
}

int64_t FakeControllerWorkers::heartbeats() const {
  absl::MutexLock lock(&mu_);
  return heartbeats_;
}

grpc::Status FakeControllerWorkers::Join(grpc::ServerContext* context,
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

grpc::Status FakeControllerWorkers::Heartbeat(grpc::ServerContext* context,
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

grpc::Status FakeControllerWorkers::ReportRuns(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<pathways::wire::StatusResponse, pathways::wire::RunDoneReport>*
        stream) {
  pathways::wire::RunDoneReport report;
  while (stream->Read(&report)) {
    absl::StatusOr<std::vector<HostRunResult>> results = wire::FromProto(report);
    absl::MutexLock lock(&mu_);
    if (!results.ok()) {
      bad_reports_.push_back(results.status());
      return grpc_transport::ToGrpc(Annotate(results.status(), "RunDoneReport"));
    }
    report_sizes_.push_back(static_cast<int>(results->size()));
    for (HostRunResult& r : *results) {
      if (forward_to_ != nullptr) forward_to_->OnHostRunDone(r);
      results_.push_back(std::move(r));
    }
  }
  return grpc::Status::OK;
}

void FakeControllerWorkers::ForwardResultsTo(RunObserver* observer) {
  absl::MutexLock lock(&mu_);
  forward_to_ = observer;
}

grpc::Status FakeControllerWorkers::LookupHost(grpc::ServerContext* context,
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

}  // namespace pw
