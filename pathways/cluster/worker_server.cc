// WorkerServer: a worker process's services, executor and conversations with the controller.
#include "pathways/cluster/worker_server.h"


#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/base/thread_name.h"
#include "pathways/cluster/make_device.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"

namespace pw {

namespace {
std::chrono::system_clock::time_point Deadline(absl::Duration from_now) {
  return absl::ToChronoTime(absl::Now() + from_now);
}
constexpr absl::Duration kLookupTimeout = absl::Seconds(5);
// How long Shutdown lets calls in flight finish before the server cancels them.
constexpr absl::Duration kServerDrain = absl::Seconds(1);
}  // namespace

absl::StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(WorkerServerOptions options) {
  PW_RETURN_IF_ERROR(grpc_transport::CheckProcessTls());
  std::unique_ptr<WorkerServer> server(new WorkerServer(std::move(options)));
  absl::Status s = server->Init();
  if (!s.ok()) {
    server->Shutdown();
    return s;
  }
  return server;
}

WorkerServer::WorkerServer(WorkerServerOptions options)
    : options_(std::move(options)), heartbeat_interval_(options_.heartbeat_interval) {}

WorkerServer::~WorkerServer() { Shutdown(); }

absl::Status WorkerServerOptions::Validate() const {
  const auto invalid = [](const char* option, const auto& value) {
    return absl::InvalidArgumentError(
        absl::StrCat("WorkerServerOptions.", option, ": invalid value ", value));
  };
  if (controller_address.empty()) {
    return absl::InvalidArgumentError("WorkerServerOptions.controller_address: required");
  }
  if (listen_address.empty()) return invalid("listen_address", "''");
  // GlooCollectiveGroups::Create would refuse it too, but only after this host joined.
  if (gloo_loop_nice < 0 || gloo_loop_nice > 19) {
    return invalid("gloo_loop_nice", absl::StrCat(gloo_loop_nice, " (0 to 19)"));
  }
  if (island < 0) return invalid("island", island);
  if (dcn_latency_us < 0) return invalid("dcn_latency_us", dcn_latency_us);
  if (!(dcn_gbps >= 0) || std::isinf(dcn_gbps)) return invalid("dcn_gbps", dcn_gbps);
  if (num_devices < 1) return invalid("num_devices", num_devices);
  if (memory_per_device_bytes < 1) {
    return invalid("memory_per_device_bytes", memory_per_device_bytes);
  }
  if (heartbeat_interval <= absl::ZeroDuration()) {
    return invalid("heartbeat_interval", absl::FormatDuration(heartbeat_interval));
  }
  if (join_timeout <= absl::ZeroDuration()) {
    return invalid("join_timeout", absl::FormatDuration(join_timeout));
  }
  if (controller_lost_after <= absl::ZeroDuration()) {
    return invalid("controller_lost_after", absl::FormatDuration(controller_lost_after));
  }
  if (sim.model.kernel_nanos < 0) return invalid("sim.model.kernel_nanos", sim.model.kernel_nanos);
  if (device_kind != DeviceKind::kSim && (sim.model.kernel_nanos > 0 || !sim.execute)) {
    return absl::InvalidArgumentError(
        "WorkerServerOptions.sim: applies to device_kind sim only (kernel_nanos, execute)");
  }
  if (loop != nullptr && (device_kind != DeviceKind::kSim || sim.execute)) {
    return absl::InvalidArgumentError(
        "WorkerServerOptions.loop: a shared loop needs simulated devices that skip their kernels "
        "(device_kind sim, sim.execute false): a kernel blocked in a collective would hold a "
        "thread the other hosts on the loop need");
  }
  return absl::OkStatus();
}

absl::Status WorkerServer::Init() {
  PW_RETURN_IF_ERROR(options_.Validate());
  if (options_.trace) {
    trace_.set_max_events(options_.max_trace_events);
    trace_.Start();
  }
  PW_RETURN_IF_ERROR(Listen());
  controller_channel_ = grpc_transport::MakeChannel(options_.controller_address);
  controller_ = pathways::wire::ControllerWorkers::NewStub(controller_channel_);
  PW_RETURN_IF_ERROR(Join());
  reporter_ = std::make_unique<RunReporter>(controller_channel_, options_.controller_address, host_);
  PW_RETURN_IF_ERROR(Build());
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
  return absl::OkStatus();
}

absl::Status WorkerServer::Listen() {
  const std::string name = absl::StrCat("worker at ", options_.listen_address);
  // Commands and pushes only from the cluster's own processes, which present the operator token
  // (this process's too: MakeChannel adds it to every call).
  const std::string token = options_.operator_token.empty() ? grpc_transport::ProcessOperatorToken()
                                                            : options_.operator_token;
  worker_service_ = std::make_unique<WorkerServiceImpl>(WorkerServiceImplOptions{
      .name = name, .on_shutdown = [this] { RequestStop(absl::OkStatus()); }, .operator_token = token});
  data_plane_service_ = std::make_unique<DataPlaneServiceImpl>(name, token);
  grpc::ServerBuilder builder;
  int port = 0;
  grpc_transport::ConfigureServer(builder, options_.listen_address, &port);
  builder.RegisterService(worker_service_.get());
  builder.RegisterService(data_plane_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "WorkerServerOptions.listen_address: cannot listen on '", options_.listen_address, "'"));
  }
  address_ = grpc_transport::WithPort(options_.listen_address, port);
  std::string tcp_address = options_.data_plane_listen_address;
  if (tcp_address.empty()) {
    const size_t colon = options_.listen_address.rfind(':');
    tcp_address = absl::StrCat(options_.listen_address.substr(0, colon), ":0");
  }
  absl::StatusOr<std::unique_ptr<TcpShardListener>> listener =
      TcpShardListener::Start({.name = name, .listen_address = tcp_address, .operator_token = token});
  if (!listener.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("WorkerServerOptions.data_plane_listen_address: ",
                                                   listener.status().message()));
  }
  tcp_listener_ = *std::move(listener);
  // Published like address_: a wildcard host becomes loopback.
  const std::string& bound = tcp_listener_->address();
  data_plane_address_ = grpc_transport::WithPort(
      bound, std::atoi(bound.substr(bound.rfind(':') + 1).c_str()));
  return absl::OkStatus();
}

absl::Status WorkerServer::Join() {
  const std::string& controller = options_.controller_address;
  pathways::wire::JoinRequest request;
  request.set_version(wire::kWireVersion);
  HostSpec spec;
  spec.island = IslandId(options_.island);
  spec.address = address_;
  spec.num_devices = static_cast<int>(options_.num_devices);
  // The kind clients place slices on. Simulated devices stand in for the same kind (as in
  // LocalCluster), so programs run on them unchanged; each device reports "sim" in its status.
  spec.device_kind = "cpu";
  spec.memory_bytes_per_device = options_.memory_per_device_bytes;
  *request.mutable_spec() = wire::ToProto(spec);
  request.set_data_plane_address(data_plane_address_);
  pathways::wire::JoinResponse response;
  grpc::ClientContext context;
  // Waits for a controller that is still starting, up to the join timeout.
  context.set_wait_for_ready(true);
  context.set_deadline(Deadline(options_.join_timeout));
  const grpc::Status status = controller_->Join(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "pw-worker at ", address_, ": the controller at ", controller,
        " did not answer Join within ", absl::FormatDuration(options_.join_timeout), ": ",
        status.error_message()));
  }
  PW_RETURN_IF_ERROR(Annotate(wire::ResponseStatus(response),
                              absl::StrCat("joining the controller at ", controller)));
  PW_ASSIGN_OR_RETURN(host_, wire::IdFromProto<HostId>(response.host(), "JoinResponse", "host"));
  if (response.devices_size() != options_.num_devices) {
    return absl::FailedPreconditionError(absl::StrCat(
        "JoinResponse.devices: the controller at ", controller, " gave ", host_.DebugString(), " ",
        response.devices_size(), " device id(s) for ", options_.num_devices, " devices"));
  }
  for (int i = 0; i < response.devices_size(); ++i) {
    PW_ASSIGN_OR_RETURN(DeviceId id, wire::IdFromProto<DeviceId>(response.devices(i), "JoinResponse",
                                                                  absl::StrCat("devices[", i, "]")));
    device_ids_.push_back(id);
  }
  if (response.heartbeat_interval_ms() > 0) {
    heartbeat_interval_ = absl::Milliseconds(response.heartbeat_interval_ms());
  }
  if (response.gang_key_prefix().size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat("JoinResponse.gang_key_prefix from ", controller,
                                                   ": ", response.gang_key_prefix().size(),
                                                   " bytes (at most 256)"));
  }
  gang_key_prefix_ = response.gang_key_prefix().empty() ? "gloo/" : response.gang_key_prefix();
  return absl::OkStatus();
}

std::string WorkerServer::GlooHostname() const {
  if (!options_.gloo_hostname.empty()) return options_.gloo_hostname;
  std::string host = grpc_transport::ReachableHost(options_.listen_address);
  if (host == "127.0.0.1" && options_.listen_address.rfind("127.0.0.1:", 0) != 0) {
    PW_LOG(WARNING) << "listening on every interface (" << options_.listen_address
                    << "): collectives meet peers on 127.0.0.1 only; give --listen this "
                       "host's address for peers on other machines";
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // Gloo takes a bare IPv6 address
  }
  return host;
}

absl::Status WorkerServer::Build() {
  trace_.NameProcess(host_.value(), absl::StrCat("host ", host_.value(), " (island ",
                                                 options_.island, ")"));
  std::vector<Device*> devices;
  SimDeviceOptions sim = options_.sim;
  sim.loop = options_.loop;
  for (DeviceId id : device_ids_) {
    devices_.push_back(MakeDevice(options_.device_kind, id, host_,
                                  options_.memory_per_device_bytes, &trace_, sim));
    devices.push_back(devices_.back().get());
  }
  PW_ASSIGN_OR_RETURN(store_, GrpcRendezvousStore::Create(options_.controller_address));
  PW_ASSIGN_OR_RETURN(gloo_, GlooCollectiveGroups::Create(
                                 store_.get(), GlooCollectiveGroupsOptions{
                                                   .name = absl::StrCat("gloo ", host_.DebugString()),
                                                   .hostname = GlooHostname(),
                                                   .key_prefix = gang_key_prefix_,
                                                   .loop_thread_nice = static_cast<int>(
                                                       options_.gloo_loop_nice)}));
  DataPlane* data_plane = nullptr;
  if (options_.data_plane == DataPlaneKind::kGrpc) {
    grpc_data_plane_ = std::make_unique<GrpcDataPlane>(GrpcDataPlaneOptions{
        .name = host_.DebugString(),
        .resolve = [this](HostId host) -> absl::StatusOr<std::string> {
          PW_ASSIGN_OR_RETURN(auto addresses, LookupHost(host));
          return addresses.first;
        }});
    data_plane = grpc_data_plane_.get();
  } else {
    tcp_data_plane_ = std::make_unique<TcpDataPlane>(TcpDataPlaneOptions{
        .name = host_.DebugString(),
        .host = host_,
        .resolve = [this](HostId host) -> absl::StatusOr<std::string> {
          PW_ASSIGN_OR_RETURN(auto addresses, LookupHost(host));
          if (addresses.second.empty()) {
            return absl::NotFoundError(absl::StrCat(
                host.DebugString(), " at ", addresses.first,
                " published no TCP data plane address (a worker of an older build?)"));
          }
          return addresses.second;
        },
        .operator_token = options_.operator_token.empty() ? grpc_transport::ProcessOperatorToken()
                                                          : options_.operator_token});
    data_plane = tcp_data_plane_.get();
  }
  if (options_.dcn_latency_us > 0 || options_.dcn_gbps > 0) {
    const NetworkModel dcn{.interconnect = {.dcn = {.latency_nanos = options_.dcn_latency_us * 1000,
                                                    .bytes_per_second = options_.dcn_gbps * 1e9 / 8}}};
    dcn_network_ = std::make_unique<SimulatedNetwork>();
    dcn_paced_ = std::make_unique<DelayedDataPlane>(data_plane, dcn_network_.get(), host_, dcn,
                                                    [this](HostId h) { return IslandOf(h); });
    data_plane = dcn_paced_.get();
  }
  HostExecutorOptions executor{.host = host_, .devices = devices, .data_plane = data_plane,
                               .collectives = gloo_.get(), .observer = reporter_.get(),
                               .trace = &trace_};
  if (options_.loop != nullptr) {
    executor.dispatch_loop = options_.loop;
    // A host waiting for memory would hold a thread of the loop the others share.
    executor.allocation_wait = absl::ZeroDuration();
  }
  executor_ = std::make_unique<HostExecutor>(std::move(executor));
  worker_service_->SetBackend(WorkerBackend{
      .host = host_, .worker = executor_.get(), .observer = reporter_.get(), .trace = &trace_});
  data_plane_service_->SetReceiver(executor_.get(), host_.DebugString());
  tcp_listener_->SetReceiver(executor_.get(), host_.DebugString(), host_);
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, std::string>> WorkerServer::LookupHost(HostId host) {
  if (host == host_) return std::make_pair(address_, data_plane_address_);
  pathways::wire::LookupHostRequest request;
  request.set_version(wire::kWireVersion);
  request.set_host(host.value());
  pathways::wire::LookupHostResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(kLookupTimeout));
  const grpc::Status status = controller_->LookupHost(&context, request, &response);
  PW_RETURN_IF_ERROR(grpc_transport::CallStatus(status, response, "LookupHost",
                                                options_.controller_address));
  if (response.address().empty()) {
    return absl::NotFoundError(absl::StrCat("the controller at ", options_.controller_address,
                                            " has no address for ", host.DebugString()));
  }
  {
    absl::MutexLock lock(&islands_mu_);
    islands_[host] = IslandId(response.island());
  }
  return std::make_pair(response.address(), response.data_plane_address());
}

IslandId WorkerServer::IslandOf(HostId host) {
  if (host == host_) return IslandId(options_.island);
  {
    absl::MutexLock lock(&islands_mu_);
    if (auto it = islands_.find(host); it != islands_.end()) return it->second;
  }
  if (!LookupHost(host).ok()) {
    // Unknown (gone, or the controller does not answer): paced, as if across islands, and
    // remembered so later pushes do not ask again.
    absl::MutexLock lock(&islands_mu_);
    return islands_.try_emplace(host, IslandId()).first->second;
  }
  absl::MutexLock lock(&islands_mu_);
  auto it = islands_.find(host);
  return it == islands_.end() ? IslandId() : it->second;
}

void WorkerServer::HeartbeatLoop() {
  SetCurrentThreadName("pw-heartbeat");
  const std::string& controller = options_.controller_address;
  // A heartbeat must not wait longer than the controller may stay silent.
  const absl::Duration call_timeout =
      std::clamp(options_.controller_lost_after / 2, absl::Milliseconds(100), absl::Seconds(2));
  absl::Time last_answer = absl::Now();
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_reason_.has_value();
      };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), heartbeat_interval_)) return;
    }
    pathways::wire::HeartbeatRequest request;
    request.set_version(wire::kWireVersion);
    request.set_host(host_.value());
    pathways::wire::HeartbeatResponse response;
    grpc::ClientContext context;
    context.set_deadline(Deadline(call_timeout));
    const grpc::Status status = controller_->Heartbeat(&context, request, &response);
    const absl::Time now = absl::Now();
    if (status.ok()) {
      last_answer = now;
      const absl::Status verdict = wire::ResponseStatus(response);
      if (absl::IsFailedPrecondition(verdict)) {
        RequestStop(absl::FailedPreconditionError(
            absl::StrCat("the controller at ", controller, " no longer knows ",
                         host_.DebugString(), ": ", verdict.message())));
        return;
      }
      if (!verdict.ok()) PW_LOG(WARNING) << host_ << ": heartbeat answered " << verdict;
    } else if (now - last_answer >= options_.controller_lost_after) {
      RequestStop(absl::UnavailableError(absl::StrCat(
          "the controller at ", controller, " has not answered ", host_.DebugString(), " for ",
          absl::FormatDuration(now - last_answer), ": ", status.error_message())));
      return;
    }
    reporter_->Flush();
  }
}

void WorkerServer::RequestStop(absl::Status reason) {
  absl::MutexLock lock(&mu_);
  if (!stop_reason_.has_value()) stop_reason_ = std::move(reason);
}

absl::Status WorkerServer::Wait() {
  absl::MutexLock lock(&mu_);
  auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_reason_.has_value(); };
  mu_.Await(absl::Condition(&stopped));
  return *stop_reason_;
}

void WorkerServer::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (torn_down_) return;
  torn_down_ = true;
  RequestStop(absl::OkStatus());
  TearDown();
}

void WorkerServer::TearDown() {
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  const std::string who = host_.valid() ? host_.DebugString() : absl::StrCat("worker at ", address_);
  const absl::Status going = absl::UnavailableError(absl::StrCat(who, " is shutting down"));
  // Calls waiting on this worker are answered first, so the server can drain.
  if (worker_service_ != nullptr) worker_service_->Stop(going);
  if (data_plane_service_ != nullptr) data_plane_service_->Close(going);
  if (tcp_listener_ != nullptr) {
    tcp_listener_->Close(going);
    tcp_listener_->Shutdown();  // the executor is no longer called from here on
  }
  if (server_ != nullptr) {
    server_->Shutdown(Deadline(kServerDrain));
    server_->Wait();
    server_.reset();
  }
  // Pushes in flight are cancelled so the executor's sends finish.
  if (grpc_data_plane_ != nullptr) grpc_data_plane_->Shutdown();
  if (tcp_data_plane_ != nullptr) tcp_data_plane_->Shutdown();
  if (dcn_network_ != nullptr) dcn_network_->Shutdown();  // paced pushes waiting fail at once
  executor_.reset();
  dcn_paced_.reset();
  dcn_network_.reset();
  if (reporter_ != nullptr) reporter_->Stop();
  gloo_.reset();
  store_.reset();
  devices_.clear();
  grpc_data_plane_.reset();
  tcp_data_plane_.reset();
}

WorkerServer::SentStats WorkerServer::data_plane_stats() const {
  SentStats s;
  if (grpc_data_plane_ != nullptr) {
    const GrpcDataPlane::Stats g = grpc_data_plane_->stats();
    s = {g.pushes, g.payload_bytes, g.copied_bytes};
  } else if (tcp_data_plane_ != nullptr) {
    const TcpDataPlane::Stats t = tcp_data_plane_->stats();
    s = {t.pushes, t.payload_bytes, t.copied_bytes};
  }
  return s;
}

WorkerServer::ReceivedStats WorkerServer::received_stats() const {
  ReceivedStats s;
  if (data_plane_service_ != nullptr) {
    const DataPlaneServiceImpl::Stats g = data_plane_service_->stats();
    s.received_bytes += g.received_bytes;
    s.copied_bytes += g.copied_bytes;
  }
  if (tcp_listener_ != nullptr) {
    const TcpShardListener::Stats t = tcp_listener_->stats();
    s.received_bytes += t.received_bytes;
    s.copied_bytes += t.copied_bytes;
  }
  return s;
}

std::string WorkerServer::DebugString() const {
  return absl::StrCat("pw-worker ", host_.DebugString(), " at ", address_, " (",
                      device_ids_.size(), " devices, controller ", options_.controller_address,
                      ")");
}

}  // namespace pw
