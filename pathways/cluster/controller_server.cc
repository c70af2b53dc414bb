// ControllerServer: start and shutdown, the ControllerWorkers service (join, heartbeats, run
// reports, peer lookup) and host loss.
#include "pathways/cluster/controller_server.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <vector>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/cluster/controller_server_internal.h"
#include "pathways/rpc/cluster_credentials.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/rendezvous_service.h"
#include "pathways/scheduler/scheduling_policy.h"
#include "pathways/wire/wire_convert.h"
#include "pathways/wire/wire_convert_internal.h"

namespace pw {
namespace {

namespace pwire = pathways::wire;
using grpc_transport::SetStatus;

// How long a worker asked to stop at shutdown gets to answer.
constexpr absl::Duration kStopWorkerTimeout = absl::Milliseconds(500);
// How many workers are asked to stop at once at shutdown.
constexpr size_t kStopWorkerThreads = 16;
// How long a host gets to send its trace.
constexpr absl::Duration kTraceTimeout = absl::Seconds(5);

// How long requests in progress get once the server stops, before they are cancelled.
constexpr absl::Duration kDrainTimeout = absl::Seconds(1);

// Runs fn(0) ... fn(n - 1) on up to `threads` threads (the caller's among them); returns when
// all have returned.
void ForEachConcurrently(size_t n, size_t threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < std::min(n, threads); ++t) helpers.emplace_back(work);
  work();
  for (std::thread& helper : helpers) helper.join();
}

}  // namespace

ControllerServer::ControllerServer(ControllerServerOptions options)
    : options_(std::move(options)) {}

absl::Status ControllerServerOptions::Validate() const {
  if (heartbeat_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ControllerServerOptions.heartbeat_timeout must be positive, got ",
                     absl::FormatDuration(heartbeat_timeout)));
  }
  if (scheduler_window < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ControllerServerOptions.scheduler_window must be >= 0 (0: the policy's default), got ",
        scheduler_window));
  }
  if (absl::Status s = MakeSchedulingPolicy(scheduler).status(); !s.ok()) {
    return Annotate(s, "ControllerServerOptions.scheduler");
  }
  if (worker_status_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ControllerServerOptions.worker_status_timeout must be positive, got ",
                     absl::FormatDuration(worker_status_timeout)));
  }
  if (listen_address.empty()) {
    return absl::InvalidArgumentError("ControllerServerOptions.listen_address: required");
  }
  if (quota.memory_per_device_bytes < 0 || quota.live_arrays < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ControllerServerOptions.quota: limits must be >= 0 (0: none), got ",
        quota.memory_per_device_bytes, " bytes per device and ", quota.live_arrays, " arrays"));
  }
  if (client_lease <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ControllerServerOptions.client_lease must be positive, got ",
                     absl::FormatDuration(client_lease)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ControllerServer>> ControllerServer::Start(
    ControllerServerOptions options) {
  PW_RETURN_IF_ERROR(options.Validate());
  PW_RETURN_IF_ERROR(grpc_transport::CheckProcessTls());
  std::unique_ptr<ControllerServer> server(new ControllerServer(std::move(options)));
  PW_RETURN_IF_ERROR(server->Init());
  return server;
}

absl::Status ControllerServer::Init() {
  if (options_.trace) {
    trace_.set_max_events(options_.max_trace_events);
    trace_.Start();
  }
  // One operator token per process: the workers of an in-process cluster present it through
  // their channels (MakeChannel), like pw-worker presents the one of its environment.
  if (options_.operator_token.empty()) options_.operator_token = grpc_transport::ProcessOperatorToken();
  for (std::string* token : {&options_.cluster_token, &options_.operator_token}) {
    if (token->empty()) {
      PW_ASSIGN_OR_RETURN(*token, RandomToken());
    }
  }
  if (grpc_transport::ProcessOperatorToken().empty()) {
    grpc_transport::SetProcessOperatorToken(options_.operator_token);
  }
  if (options_.gang_key_prefix.empty()) {
    PW_ASSIGN_OR_RETURN(std::string random, RandomToken());
    options_.gang_key_prefix = absl::StrCat("gloo/", random, "/");
  }
  sessions_ = std::make_unique<ClientSessions>(options_.client_lease);
  controller_ = std::make_unique<Controller>(ControllerOptions{.resources = &resources_,
                                                                .trace = &trace_,
                                                                .scheduler = options_.scheduler,
                                                                .scheduler_window = options_.scheduler_window,
                                                                .quota = options_.quota});
  membership_ = std::make_unique<HostMembership>(HostMembershipOptions{
      .controller = controller_.get(),
      .resources = &resources_,
      .heartbeat_timeout = options_.heartbeat_timeout,
      // What GlooCollectiveGroups::Abort writes: ranks still connecting, or joining later, stop
      // with ABORTED carrying the reason instead of waiting for the lost rank until their
      // timeout.
      .abort_gang =
          [this](GangId gang, int64_t, const absl::Status& reason) {
            absl::StatusOr<std::string> s = store_.SetIfAbsent(
                absl::StrCat(options_.gang_key_prefix, gang.DebugString(), "/abort"),
                reason.ToString());
            if (!s.ok()) PW_LOG(WARNING) << "aborting " << gang << ": " << s.status();
          },
      .name = "pw-controller"});
  pending_ = std::make_shared<PendingReactors>();
  api_service_ = std::make_unique<ApiService>(this);
  workers_service_ = std::make_unique<WorkersService>(this);
  rendezvous_service_ = std::make_unique<RendezvousServiceImpl>(&store_, options_.operator_token);

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
  // Clients and tools of this process find the credentials by the address.
  RememberClusterCredentials(address_, {options_.cluster_token, options_.operator_token});
  membership_->set_name(absl::StrCat("the controller at ", address_));
  membership_->StartMonitor();
  reaper_ = std::thread([this] { ReapSessions(); });
  return absl::OkStatus();
}

void ControllerServer::ReapSessions() {
  while (!stop_reaper_.WaitForNotificationWithTimeout(options_.client_lease / 16)) {
    for (ClientId client : sessions_->TakeExpired(absl::Now())) {
      PW_LOG(WARNING) << client << " renewed no lease for "
                      << absl::FormatDuration(options_.client_lease)
                      << ": disconnecting it (its runs cancelled, its arrays and slices freed)";
      api_service_->EndSessionsOf(client, absl::UnauthenticatedError(absl::StrCat(
                                              client.DebugString(), " renewed no lease")));
      controller_->Disconnect(client);
    }
  }
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
    shutdown_requested_ = true;
  }
  if (reaper_.joinable()) {
    stop_reaper_.Notify();
    reaper_.join();
  }
  if (membership_ != nullptr) membership_->Stop();  // Join refuses from now on; no more losses
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
    // A few at a time, not one after the other: 512 hosts at up to kStopWorkerTimeout each
    // would hold the shutdown for minutes.
    ForEachConcurrently(live.size(), kStopWorkerThreads, [&](size_t i) {
      GrpcWorkerClient* client = live[i].second;
      absl::Status s = client->Shutdown(kStopWorkerTimeout);
      if (!s.ok()) PW_LOG(INFO) << "stopping " << client->DebugString() << ": " << s;
    });
  }
  if (membership_ != nullptr) {
    // Deferred releases go out, then the controller lets go of every worker.
    membership_->RemoveAll(
        absl::CancelledError(absl::StrCat("the controller at ", address_, " shut down")));
  }
  if (server_ != nullptr) {
    rendezvous_service_->Shutdown();  // blocked Waits answer instead of holding the server
    // Workers' report streams end now instead of holding the server until the drain deadline.
    workers_service_->StopReports(absl::UnavailableError(
        absl::StrCat("the controller at ", address_, " is shutting down")));
    // Likewise clients' session streams.
    api_service_->StopSessions(absl::UnavailableError(
        absl::StrCat("the controller at ", address_, " is shutting down")));
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
  const std::string address = spec.address;
  std::optional<HostId> made;  // the host a client was made for
  auto make_member = [&](const HostInfo& info) -> absl::StatusOr<HostMembership::Member> {
    GrpcWorkerClientOptions client_options;
    client_options.host = info.id;
    client_options.address = address;
    client_options.observer = controller_.get();
    client_options.on_failure = [this](HostId h, absl::Status s) {
      membership_->ReportFailure(h, std::move(s));
    };
    client_options.status_timeout = options_.worker_status_timeout;
    // The report stream's reader tells the client of every result (ReportReader, RunsDone).
    client_options.defer_releases_while_running = true;
    auto client = std::make_unique<GrpcWorkerClient>(std::move(client_options));
    GrpcWorkerClient* raw = client.get();
    absl::MutexLock lock(&mu_);
    hosts_[info.id] = HostEntry{std::move(data_plane_address), std::move(client)};
    made = info.id;
    return HostMembership::Member{
        .worker = raw,
        .on_lost = [this, host = info.id](const absl::Status& reason) { RetireClient(host, reason); }};
  };
  absl::StatusOr<HostInfo> info = membership_->Join(std::move(spec), make_member);
  if (!info.ok()) {
    // A client made for a host that then failed to join goes with it.
    if (made.has_value()) RetireClient(*made, info.status());
    return info.status();
  }
  PW_LOG(INFO) << "pw-controller: " << info->id << " joined from " << address << " with "
               << info->devices.size() << " device(s)";
  return std::make_pair(info->id, info->devices);
}

void ControllerServer::RetireClient(HostId host, const absl::Status& reason) {
  absl::MutexLock lock(&mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;
  // Calls in flight to the host end now (its runs are reported failed with the reason).
  it->second.client->MarkLost(reason);
  retired_.push_back(std::move(it->second.client));
  hosts_.erase(it);
}

absl::Status ControllerServer::Heartbeat(HostId host) { return membership_->Heartbeat(host); }

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
  return membership_->WaitForHosts(n, timeout);
}

absl::Status ControllerServer::WaitForHostLost(HostId host, absl::Duration timeout) {
  return membership_->WaitForHostLost(host, timeout);
}

int64_t ControllerServer::num_hosts() const { return membership_->num_hosts(); }

std::vector<HostId> ControllerServer::hosts() const { return membership_->hosts(); }

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

GrpcWorkerClient* ControllerServer::ClientOf(HostId host) {
  absl::MutexLock lock(&mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? nullptr : it->second.client.get();
}

absl::Status ControllerServer::DeclareLost(HostId host, std::string why) {
  if (!membership_->Lose(host, why)) {
    return absl::NotFoundError(
        absl::StrCat("DeclareLost: unknown ", host.DebugString(), " (or already lost)"));
  }
  return absl::OkStatus();
}

std::string ControllerServer::DebugString() const {
  std::string out = absl::StrCat("ControllerServer{", address_, " hosts=[");
  {
    absl::MutexLock lock(&mu_);
    bool first = true;
    for (const auto& [host, entry] : hosts_) {
      absl::StrAppend(&out, first ? "" : ", ", entry.client->DebugString());
      first = false;
    }
    absl::StrAppend(&out, "] retired=", retired_.size(), " pending_waits=",
                    pending_ != nullptr ? pending_->size() : 0, "}\n");
  }
  if (controller_ != nullptr) absl::StrAppend(&out, controller_->DebugString());
  return out;
}

}  // namespace pw
