// ControllerServer's ControllerWorkers service: joins, heartbeats and host lookups on the sync
// server's threads; each worker's ReportRuns stream on the callback API.
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/cluster/controller_server_internal.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"
#include "pathways/wire/wire_convert_internal.h"

namespace pw {

namespace pwire = pathways::wire;
using grpc_transport::SetStatus;

// Every ControllerWorkers call must carry the operator's credential: joining, beating and
// reporting runs are for the cluster's own workers, never a tenant.
grpc::Status ControllerServer::WorkersService::Join(grpc::ServerContext* context,
                                                    const pwire::JoinRequest* request,
                                                    pwire::JoinResponse* response) {
  if (absl::Status s = wire::CheckVersion(*request); !s.ok()) {
    SetStatus(*response, s);
    return grpc::Status::OK;
  }
  if (absl::Status s = grpc_transport::NeedOperatorToken(context, server_->operator_token(), "Join");
      !s.ok()) {
    SetStatus(*response, s);
    return grpc::Status::OK;
  }
  absl::StatusOr<HostSpec> spec = wire::FromProto(request->spec());
  if (!spec.ok()) {
    SetStatus(*response, wire::internal::Nested(spec.status(), "JoinRequest", "spec"));
    return grpc::Status::OK;
  }
  absl::StatusOr<std::pair<HostId, std::vector<DeviceId>>> joined =
      server_->Join(*std::move(spec), request->data_plane_address());
  if (joined.ok()) {
    response->set_host(joined->first.value());
    for (DeviceId d : joined->second) response->add_devices(d.value());
    response->set_heartbeat_interval_ms(std::max<int64_t>(
        1, absl::ToInt64Milliseconds(server_->options_.heartbeat_timeout / 5)));
    response->set_gang_key_prefix(server_->options_.gang_key_prefix);
  }
  SetStatus(*response, joined.status());
  return grpc::Status::OK;
}

grpc::Status ControllerServer::WorkersService::Heartbeat(grpc::ServerContext* context,
                                                         const pwire::HeartbeatRequest* request,
                                                         pwire::HeartbeatResponse* response) {
  absl::Status s = wire::CheckVersion(*request);
  if (s.ok()) s = grpc_transport::NeedOperatorToken(context, server_->operator_token(), "Heartbeat");
  if (s.ok()) {
    absl::StatusOr<HostId> host = wire::IdFromProto<HostId>(request->host(), "HeartbeatRequest", "host");
    s = host.ok() ? server_->Heartbeat(*host) : host.status();
  }
  SetStatus(*response, s);
  return grpc::Status::OK;
}

// One worker's ReportRuns stream: reads reports until the worker closes it, the call breaks,
// or the controller stops (StopReports). Lives until OnDone (self_ holds it; the service's set
// too while it is open). The stream names its host (kReportHostMetadata) and carries only that
// host's results. A stream that breaks (cancelled: the worker's process or connection went) may
// have taken results the worker had already written with it, so the host is reported failed,
// as when its command stream breaks, and its runs fail rather than wait for those results.
class ControllerServer::WorkersService::ReportReader final
    : public grpc::ServerBidiReactor<pwire::RunDoneReport, pwire::StatusResponse>,
      public std::enable_shared_from_this<ReportReader> {
 public:
  explicit ReportReader(WorkersService* service) : service_(service) {}

  void Begin(const grpc::CallbackServerContext* context) {
    self_ = shared_from_this();
    absl::Status refused = grpc_transport::NeedOperatorToken(
        context, service_->server_->operator_token(), "ReportRuns");
    if (refused.ok()) refused = ReadHost(*context);
    {
      absl::MutexLock lock(&service_->mu_);
      if (refused.ok() && service_->stopped_) {
        refused = absl::UnavailableError("the controller is shutting down");
      }
      if (refused.ok()) service_->readers_.insert(self_);
    }
    if (!refused.ok()) {
      End(refused);
      return;
    }
    StartRead(&report_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {  // the worker closed its side, or the call broke
      End(absl::OkStatus());
      return;
    }
    absl::StatusOr<std::vector<HostRunResult>> results = wire::FromProto(report_);
    if (!results.ok()) {
      PW_LOG(WARNING) << "pw-controller: unreadable RunDoneReport: " << results.status();
      Refuse(Annotate(results.status(), "RunDoneReport"));
      return;
    }
    // A late report of a host already removed is ignored by the controller (its runs were
    // failed for it when it was removed).
    for (const HostRunResult& result : *results) {
      if (result.host != host_) {
        Refuse(absl::InvalidArgumentError(absl::StrCat(
            "RunDoneReport: a result of ", result.host.DebugString(), " on the report stream of ",
            host_.DebugString())));
        return;
      }
    }
    const int64_t n = static_cast<int64_t>(results->size());
    for (HostRunResult& result : *results) {
      service_->server_->controller().OnHostRunDone(std::move(result));
    }
    if (client_ != nullptr) client_->RunsDone(n);
    StartRead(&report_);
  }
  void OnCancel() override {
    HostFailed("its ReportRuns stream broke (run results it sent may be lost with it)");
  }
  // Ends the call with `status` unless it ended already.
  void End(const absl::Status& status) {
    if (ended_.exchange(true, std::memory_order_acq_rel)) return;
    Finish(grpc_transport::ToGrpc(status));
  }
  void OnDone() override {
    std::shared_ptr<ReportReader> keep = std::move(self_);  // released last: may free this
    absl::MutexLock lock(&service_->mu_);
    service_->readers_.erase(keep);
  }

 private:
  // Ends the stream refusing a report: the results in it are lost, so is the host.
  void Refuse(const absl::Status& why) {
    End(why);
    HostFailed(absl::StrCat("its report was refused (the run results in it are lost): ",
                            why.message()));
  }
  // Reports the stream's host failed (a no-op once the controller stops, or for a host it no
  // longer knows).
  void HostFailed(const std::string& why) {
    {
      absl::MutexLock lock(&service_->mu_);
      if (service_->stopped_ || !host_known_) return;  // the controller is going: nothing waits
    }
    service_->server_->membership_->ReportFailure(host_, absl::UnavailableError(why));
  }

  // The host the stream reports for, from its metadata: INVALID_ARGUMENT naming the metadata
  // when it is missing or not a host id.
  absl::Status ReadHost(const grpc::CallbackServerContext& context) {
    const auto& metadata = context.client_metadata();
    const auto it = metadata.find(grpc_transport::kReportHostMetadata);
    if (it == metadata.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ReportRuns: metadata ", grpc_transport::kReportHostMetadata, " (the reporting host) missing"));
    }
    const absl::string_view text(it->second.data(), it->second.size());
    int64_t id = -1;
    if (!absl::SimpleAtoi(text, &id) || id < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ReportRuns: metadata ", grpc_transport::kReportHostMetadata, " '",
          absl::CHexEscape(text.substr(0, 32)), "' is not a host id"));
    }
    host_ = HostId(id);
    host_known_ = true;
    // Looked up once per stream: clients outlive every handler (they go only after the server
    // stopped), and a removed host's client just has nothing left to send.
    client_ = service_->server_->ClientOf(host_);
    return absl::OkStatus();
  }

  WorkersService* const service_;
  HostId host_;
  bool host_known_ = false;  // written by Begin, before any other callback
  GrpcWorkerClient* client_ = nullptr;  // the host's, when it is a member
  pwire::RunDoneReport report_;
  std::atomic<bool> ended_{false};
  std::shared_ptr<ReportReader> self_;
};

grpc::ServerBidiReactor<pwire::RunDoneReport, pwire::StatusResponse>*
ControllerServer::WorkersService::ReportRuns(grpc::CallbackServerContext* context) {
  auto reader = std::make_shared<ReportReader>(this);
  reader->Begin(context);
  return reader.get();
}

void ControllerServer::WorkersService::StopReports(const absl::Status& reason) {
  absl::flat_hash_set<std::shared_ptr<ReportReader>> readers;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    readers.swap(readers_);
  }
  for (const auto& reader : readers) reader->End(reason);
}

grpc::Status ControllerServer::WorkersService::LookupHost(grpc::ServerContext* context,
                                                          const pwire::LookupHostRequest* request,
                                                          pwire::LookupHostResponse* response) {
  absl::Status s = wire::CheckVersion(*request);
  if (s.ok()) s = grpc_transport::NeedOperatorToken(context, server_->operator_token(), "LookupHost");
  if (s.ok()) {
    absl::StatusOr<HostId> host =
        wire::IdFromProto<HostId>(request->host(), "LookupHostRequest", "host");
    absl::StatusOr<std::pair<std::string, std::string>> addresses =
        host.ok() ? server_->LookupHost(*host)
                  : absl::StatusOr<std::pair<std::string, std::string>>(host.status());
    if (addresses.ok()) {
      response->set_address(addresses->first);
      response->set_data_plane_address(addresses->second);
      if (absl::StatusOr<HostInfo> info = server_->resources_.GetHost(*host); info.ok()) {
        response->set_island(info->island.value());
      }
    }
    s = addresses.status();
  }
  SetStatus(*response, s);
  return grpc::Status::OK;
}

}  // namespace pw
