// ControllerServer: start and shutdown, the ControllerWorkers service (join, heartbeats, run
// reports, peer lookup) and host loss.
#include "pathways/transport/controller_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/transport/controller_server_internal.h"
#include "pathways/transport/grpc_common.h"
#include "pathways/transport/rendezvous_service.h"
#include "pathways/transport/wire_convert.h"
#include "pathways/transport/wire_convert_internal.h"

namespace pw {
namespace {

namespace pwire = pathways::wire;
using grpc_transport::SetStatus;

// How long a worker asked to stop at shutdown gets to answer.
constexpr absl::Duration kStopWorkerTimeout = absl::Milliseconds(500);
// How long a host gets to send its trace.
constexpr absl::Duration kTraceTimeout = absl::Seconds(5);
// How long requests in progress get once the server stops, before they are cancelled.
constexpr absl::Duration kDrainTimeout = absl::Seconds(1);

std::string Millis(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

}  // namespace

ControllerServer::ControllerServer(ControllerServerOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ControllerServer>> ControllerServer::Start(
    ControllerServerOptions options) {
  if (options.heartbeat_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ControllerServerOptions.heartbeat_timeout must be positive, got ",
                     absl::FormatDuration(options.heartbeat_timeout)));
  }
  if (options.scheduler_window < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ControllerServerOptions.scheduler_window must be >= 1, got ",
                     options.scheduler_window));
  }
  std::unique_ptr<ControllerServer> server(new ControllerServer(std::move(options)));
  PW_RETURN_IF_ERROR(server->Init());
  return server;
}

absl::Status ControllerServer::Init() {
  if (options_.trace) {
    trace_.set_max_events(options_.max_trace_events);
    trace_.Start();
  }
  controller_ = std::make_unique<Controller>(ControllerOptions{
      .resources = &resources_, .trace = &trace_, .scheduler_window = options_.scheduler_window});
  pending_ = std::make_shared<PendingReactors>();
  api_service_ = std::make_unique<ApiService>(this);
  workers_service_ = std::make_unique<WorkersService>(this);
  rendezvous_service_ = std::make_unique<RendezvousServiceImpl>(&store_);

  grpc::ServerBuilder builder;
  int port = 0;
  grpc_transport::ConfigureServer(builder, options_.listen_address, &port);
  builder.RegisterService(api_service_.get());
  builder.RegisterService(workers_service_.get());
  builder.RegisterService(rendezvous_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("pw-controller: cannot listen on ", options_.listen_address,
                     " (address in use or not local?)"));
  }
  address_ = grpc_transport::WithPort(options_.listen_address, port);
  monitor_ = std::thread([this] { MonitorLoop(); });
  return absl::OkStatus();
}

ControllerServer::~ControllerServer() { Shutdown(); }

void ControllerServer::RequestShutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_requested_ = true;
}

absl::Status ControllerServer::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](ControllerServer* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
        return s->shutdown_requested_ || s->stopped_;
      },
      this));
  return absl::OkStatus();
}

void ControllerServer::Shutdown() {
  absl::MutexLock serial(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopping_ = true;  // Join refuses from now on; the monitor stops
    shutdown_requested_ = true;
  }
  if (monitor_.joinable()) monitor_.join();
  if (pending_ != nullptr) {
    pending_->CloseAll(absl::UnavailableError(
        absl::StrCat("the controller at ", address_, " is shutting down")));
  }
  std::vector<std::pair<HostId, GrpcWorkerClient*>> live;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [host, entry] : hosts_) live.emplace_back(host, entry.client.get());
  }
  if (options_.stop_workers_on_shutdown) {
    for (auto& [host, client] : live) {
      absl::Status s = client->Shutdown(kStopWorkerTimeout);
      if (!s.ok()) PW_LOG(INFO) << "stopping " << client->DebugString() << ": " << s;
    }
  }
  if (controller_ != nullptr) {
    // Deferred releases go out, then the controller lets go of every worker.
    controller_->Quiesce();
    for (auto& [host, client] : live) {
      absl::Status s = controller_->RemoveWorker(
          host, absl::CancelledError(absl::StrCat("the controller at ", address_, " shut down")));
      if (!s.ok() && !absl::IsNotFound(s)) PW_LOG(WARNING) << "removing " << host << ": " << s;
    }
  }
  if (server_ != nullptr) {
    rendezvous_service_->Shutdown();  // blocked Waits answer instead of holding the server
    server_->Shutdown(absl::ToChronoTime(absl::Now() + kDrainTimeout));
    server_->Wait();
  }
  // No handler runs any more: the clients can go (cancelling what they still have in flight).
  absl::btree_map<HostId, HostEntry> hosts;
  std::vector<std::unique_ptr<GrpcWorkerClient>> retired;
  {
    absl::MutexLock lock(&mu_);
    hosts.swap(hosts_);
    retired.swap(retired_);
  }
  hosts.clear();
  retired.clear();
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

// ---- hosts -------------------------------------------------------------------------------

absl::StatusOr<std::pair<HostId, std::vector<DeviceId>>> ControllerServer::Join(
    HostSpec spec, std::string data_plane_address) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::UnavailableError(
          absl::StrCat("the controller at ", address_, " is shutting down"));
    }
  }
  // A worker joining from the address of a live host means that host's process is gone (its
  // port was free to bind again): it is lost, and the newcomer takes its place.
  for (const HostInfo& info : resources_.Hosts()) {
    if (info.address == spec.address) {
      LoseHost(info.id, absl::StrCat("a new worker joined from ", spec.address));
    }
  }
  const std::string address = spec.address;
  PW_ASSIGN_OR_RETURN(HostId host, resources_.AddHost(std::move(spec)));
  absl::StatusOr<HostInfo> info = resources_.GetHost(host);
  if (!info.ok()) return info.status();  // removed again at once: cannot happen but by a race
  GrpcWorkerClientOptions client_options;
  client_options.host = host;
  client_options.address = address;
  client_options.observer = controller_.get();
  client_options.on_failure = [this](HostId h, absl::Status s) { OnWorkerFailure(h, std::move(s)); };
  client_options.status_timeout = options_.worker_status_timeout;
  auto client = std::make_unique<GrpcWorkerClient>(std::move(client_options));
  GrpcWorkerClient* raw = client.get();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      (void)resources_.RemoveHost(host, absl::CancelledError("the controller is shutting down"));
      return absl::UnavailableError(
          absl::StrCat("the controller at ", address_, " is shutting down"));
    }
    hosts_[host] =
        HostEntry{address, std::move(data_plane_address), std::move(client), absl::Now()};
  }
  if (absl::Status added = controller_->AddWorker(host, raw); !added.ok()) {
    {
      absl::MutexLock lock(&mu_);
      auto it = hosts_.find(host);
      if (it != hosts_.end()) {
        retired_.push_back(std::move(it->second.client));
        hosts_.erase(it);
      }
    }
    (void)resources_.RemoveHost(host, added);
    return added;
  }
  PW_LOG(INFO) << "pw-controller: " << host << " joined from " << address << " with "
               << info->devices.size() << " device(s)";
  return std::make_pair(host, info->devices);
}

absl::Status ControllerServer::Heartbeat(HostId host) {
  absl::MutexLock lock(&mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        host.DebugString(), " is not part of the cluster of the controller at ", address_,
        " (it was declared lost, or never joined)"));
  }
  it->second.last_heartbeat = absl::Now();
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, std::string>> ControllerServer::LookupHost(
    HostId host) const {
  absl::StatusOr<HostInfo> info = resources_.GetHost(host);
  if (!info.ok()) {
    return absl::NotFoundError(absl::StrCat("LookupHost: ", host.DebugString(),
                                            " is not part of the cluster (lost, or never joined)"));
  }
  std::string data_plane_address;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = hosts_.find(host); it != hosts_.end()) {
      data_plane_address = it->second.data_plane_address;
    }
  }
  return std::make_pair(info->address, std::move(data_plane_address));
}

absl::Status ControllerServer::WaitForHosts(int64_t n, absl::Duration timeout) {
  struct Args {
    ControllerServer* server;
    int64_t n;
  } args{this, n};
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(
                           +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                             return static_cast<int64_t>(a->server->hosts_.size()) >= a->n ||
                                    a->server->stopping_;
                           },
                           &args),
                       timeout);
  const int64_t joined = static_cast<int64_t>(hosts_.size());
  if (joined >= n) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("only ", joined, " of ", n,
                                                  " host(s) joined the controller at ", address_,
                                                  " within ", absl::FormatDuration(timeout)));
}

absl::Status ControllerServer::WaitForHostLost(HostId host, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto gone = [this, host]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return lost_.contains(host); };
  if (mu_.AwaitWithTimeout(absl::Condition(&gone), timeout)) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(host.DebugString(), " was not declared lost within ",
                                                  absl::FormatDuration(timeout)));
}

int64_t ControllerServer::num_hosts() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(hosts_.size());
}

std::vector<HostId> ControllerServer::hosts() const {
  absl::MutexLock lock(&mu_);
  std::vector<HostId> out;
  for (const auto& [host, entry] : hosts_) out.push_back(host);
  return out;
}

void ControllerServer::CollectTrace(TraceRecorder& into) {
  for (TraceEvent& name : trace_.LaneNames()) into.AddLaneName(std::move(name));
  for (TraceEvent& event : trace_.Events()) into.Record(std::move(event));
  // Clients stay alive until shutdown, which waits for this handler: the pointers stay valid.
  std::vector<GrpcWorkerClient*> clients;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [host, entry] : hosts_) clients.push_back(entry.client.get());
  }
  for (GrpcWorkerClient* client : clients) {
    absl::Status s = client->FetchTrace(into, kTraceTimeout);
    if (s.ok()) continue;
    PW_LOG(WARNING) << "trace of " << client->DebugString() << ": " << s;
    TraceEvent missing;
    missing.name = absl::StrCat("no trace from ", client->host().DebugString(), ": ", s.message());
    missing.category = "trace";
    missing.pid = kControllerTracePid;
    missing.start_ns = MonotonicNanos();
    missing.dur_ns = -1;
    into.Record(std::move(missing));
  }
}

// ---- host loss ---------------------------------------------------------------------------

void ControllerServer::OnWorkerFailure(HostId host, absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;  // shutting down: every worker goes anyway
  failures_.emplace_back(host, std::move(status));
}

absl::Status ControllerServer::DeclareLost(HostId host, std::string why) {
  {
    absl::MutexLock lock(&mu_);
    if (!hosts_.contains(host)) {
      return absl::NotFoundError(absl::StrCat("DeclareLost: unknown ", host.DebugString()));
    }
  }
  LoseHost(host, why);
  return absl::OkStatus();
}

void ControllerServer::MonitorLoop() {
  const absl::Duration tick = std::clamp(options_.heartbeat_timeout / 10, absl::Milliseconds(10),
                                         absl::Milliseconds(250));
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](ControllerServer* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
                               return s->stopping_ || !s->failures_.empty();
                             },
                             this),
                         tick);
    if (stopping_) return;
    std::vector<std::pair<HostId, std::string>> lost;
    for (auto& [host, status] : failures_) lost.emplace_back(host, std::string(status.message()));
    failures_.clear();
    const absl::Time now = absl::Now();
    for (const auto& [host, entry] : hosts_) {
      const absl::Duration silent = now - entry.last_heartbeat;
      if (silent > options_.heartbeat_timeout) {
        lost.emplace_back(host, absl::StrCat("no heartbeat for ", Millis(silent), " (timeout ",
                                             Millis(options_.heartbeat_timeout), ")"));
      }
    }
    if (lost.empty()) continue;
    mu_.Unlock();
    for (const auto& [host, why] : lost) LoseHost(host, why);
    mu_.Lock();
  }
}

void ControllerServer::AbortGangsOf(HostId host, const absl::Status& reason) {
  for (GangId gang : controller_->InFlightGangs(host)) {
    // What GlooCollectiveGroups::Abort writes: ranks still connecting, or joining later, stop
    // with ABORTED carrying the reason instead of waiting for the lost rank until their timeout.
    absl::StatusOr<std::string> s = store_.SetIfAbsent(
        absl::StrCat(options_.gang_key_prefix, gang.DebugString(), "/abort"), reason.ToString());
    if (!s.ok()) PW_LOG(WARNING) << "aborting " << gang << ": " << s.status();
  }
}

void ControllerServer::LoseHost(HostId host, const std::string& why) {
  HostEntry entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = hosts_.find(host);
    if (it == hosts_.end()) return;  // already lost (or never joined)
    entry = std::move(it->second);
    hosts_.erase(it);
  }
  const absl::Status reason = absl::UnavailableError(
      absl::StrCat(host.DebugString(), " (", entry.address, ") lost: ", why));
  PW_LOG(WARNING) << "pw-controller: " << reason.message();
  // Calls in flight to the host end now (its runs are reported failed with the reason).
  entry.client->MarkLost(reason);
  AbortGangsOf(host, reason);
  absl::Status removed = controller_->RemoveWorker(host, reason);
  if (!removed.ok() && !absl::IsNotFound(removed)) {
    PW_LOG(WARNING) << "removing " << host << ": " << removed;
  }
  // Runs dispatched while the host was being removed.
  AbortGangsOf(host, reason);
  absl::MutexLock lock(&mu_);
  retired_.push_back(std::move(entry.client));
  lost_.insert(host);
}

std::string ControllerServer::DebugString() const {
  std::string out = absl::StrCat("ControllerServer{", address_, " hosts=[");
  {
    absl::MutexLock lock(&mu_);
    bool first = true;
    for (const auto& [host, entry] : hosts_) {
      absl::StrAppend(&out, first ? "" : ", ", host.DebugString(), "@", entry.address);
      first = false;
    }
    absl::StrAppend(&out, "] retired=", retired_.size(), " pending_waits=",
                    pending_ != nullptr ? pending_->size() : 0, "}\n");
  }
  if (controller_ != nullptr) absl::StrAppend(&out, controller_->DebugString());
  return out;
}

// ---- ControllerWorkers -------------------------------------------------------------------

grpc::Status ControllerServer::WorkersService::Join(grpc::ServerContext*,
                                                    const pwire::JoinRequest* request,
                                                    pwire::JoinResponse* response) {
  if (absl::Status s = wire::CheckVersion(*request); !s.ok()) {
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
  }
  SetStatus(*response, joined.status());
  return grpc::Status::OK;
}

grpc::Status ControllerServer::WorkersService::Heartbeat(grpc::ServerContext*,
                                                         const pwire::HeartbeatRequest* request,
                                                         pwire::HeartbeatResponse* response) {
  absl::Status s = wire::CheckVersion(*request);
  if (s.ok()) {
    absl::StatusOr<HostId> host = wire::IdFromProto<HostId>(request->host(), "HeartbeatRequest", "host");
    s = host.ok() ? server_->Heartbeat(*host) : host.status();
  }
  SetStatus(*response, s);
  return grpc::Status::OK;
}

grpc::Status ControllerServer::WorkersService::ReportRunDone(grpc::ServerContext*,
                                                             const pwire::RunDoneReport* request,
                                                             pwire::StatusResponse* response) {
  absl::StatusOr<std::vector<HostRunResult>> results = wire::FromProto(*request);
  if (!results.ok()) {
    PW_LOG(WARNING) << "pw-controller: unreadable RunDoneReport: " << results.status();
    SetStatus(*response, results.status());
    return grpc::Status::OK;
  }
  // A late report of a host already removed is ignored by the controller (its runs were
  // failed for it when it was removed).
  for (HostRunResult& result : *results) server_->controller().OnHostRunDone(std::move(result));
  SetStatus(*response, absl::OkStatus());
  return grpc::Status::OK;
}

grpc::Status ControllerServer::WorkersService::LookupHost(grpc::ServerContext*,
                                                          const pwire::LookupHostRequest* request,
                                                          pwire::LookupHostResponse* response) {
  absl::Status s = wire::CheckVersion(*request);
  if (s.ok()) {
    absl::StatusOr<HostId> host =
        wire::IdFromProto<HostId>(request->host(), "LookupHostRequest", "host");
    absl::StatusOr<std::pair<std::string, std::string>> addresses =
        host.ok() ? server_->LookupHost(*host)
                  : absl::StatusOr<std::pair<std::string, std::string>>(host.status());
    if (addresses.ok()) {
      response->set_address(addresses->first);
      response->set_data_plane_address(addresses->second);
    }
    s = addresses.status();
  }
  SetStatus(*response, s);
  return grpc::Status::OK;
}

}  // namespace pw
