// LocalCluster wiring.
#include "pathways/cluster/local_cluster.h"

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/cluster/make_device.h"
#include "pathways/scheduler/scheduling_policy.h"

namespace pw {

absl::Status LocalClusterOptions::Validate() const {
  auto check = [](int64_t v, const char* name) -> absl::Status {
    if (v >= 1) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("LocalClusterOptions.", name, " must be >= 1, got ", v));
  };
  PW_RETURN_IF_ERROR(check(islands, "islands"));
  PW_RETURN_IF_ERROR(check(hosts_per_island, "hosts_per_island"));
  PW_RETURN_IF_ERROR(check(devices_per_host, "devices_per_host"));
  PW_RETURN_IF_ERROR(check(memory_per_device_bytes, "memory_per_device_bytes"));
  if (scheduler_window < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LocalClusterOptions.scheduler_window must be >= 0 (0: the policy's default), got ",
        scheduler_window));
  }
  if (shared_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LocalClusterOptions.shared_threads must be >= 0 (0: a thread per host and device), got ",
        shared_threads));
  }
  if (shared_threads > 0 && device_kind == DeviceKind::kSim && sim.execute) {
    return absl::InvalidArgumentError(
        "LocalClusterOptions.shared_threads needs sim.execute = false: simulated devices that "
        "run their kernels for real may block in a collective on a shared thread");
  }
  if (absl::Status s = MakeSchedulingPolicy(scheduler).status(); !s.ok()) {
    return Annotate(s, "LocalClusterOptions.scheduler");
  }
  return network.Validate();
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(LocalClusterOptions options) {
  PW_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<LocalCluster> cluster(new LocalCluster(std::move(options)));
  PW_RETURN_IF_ERROR(cluster->Init());
  return cluster;
}

absl::Status LocalCluster::Init() {
  if (options_.trace) trace_.Start();
  if (options_.shared_threads > 0) {
    shared_loop_ = std::make_unique<EventLoop>(
        EventLoopOptions{.threads = options_.shared_threads, .name = "pw-cluster"});
  }
  controller_ = std::make_unique<Controller>(ControllerOptions{.resources = &resources_,
                                                                .trace = &trace_,
                                                                .scheduler = options_.scheduler,
                                                                .scheduler_window = options_.scheduler_window,
                                                                .quota = options_.quota});
  membership_ = std::make_unique<HostMembership>(HostMembershipOptions{
      .controller = controller_.get(),
      .resources = &resources_,
      .abort_gang =
          [this](GangId gang, int64_t size, const absl::Status& reason) {
            collectives_.Abort(gang, size, reason);
          },
      .name = "the local cluster"});
  if (options_.network.models_control() || options_.network.models_transfers()) {
    network_ = std::make_unique<SimulatedNetwork>();
  }
  for (int64_t island = 0; island < options_.islands; ++island) {
    for (int64_t h = 0; h < options_.hosts_per_island; ++h) {
      HostSpec spec;
      spec.island = IslandId(island);
      spec.address = absl::StrCat("in-process:island", island, "/host", h);
      spec.num_devices = static_cast<int>(options_.devices_per_host);
      spec.memory_bytes_per_device = options_.memory_per_device_bytes;
      PW_RETURN_IF_ERROR(
          membership_->Join(spec, [this](const HostInfo& info) { return MakeHost(info); })
              .status());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<HostMembership::Member> LocalCluster::MakeHost(const HostInfo& info) {
  const HostId host_id = info.id;
  Host host;
  host.id = host_id;
  host.island = info.island;
  std::vector<Device*> devices;
  SimDeviceOptions sim = options_.sim;
  sim.loop = shared_loop_.get();
  for (DeviceId d : info.devices) {
    host.devices.push_back(MakeDevice(options_.device_kind, d, host_id,
                                      options_.memory_per_device_bytes, &trace_, sim));
    devices.push_back(host.devices.back().get());
  }
  trace_.NameProcess(host_id.value(),
                     absl::StrCat("host ", host_id.value(), " (island ", info.island.value(), ")"));
  // Without a network model the executor calls the data plane and the controller directly.
  DataPlane* data_plane = &data_plane_;
  RunObserver* observer = controller_.get();
  if (network_ != nullptr && options_.network.models_transfers()) {
    delayed_data_planes_.push_back(std::make_unique<DelayedDataPlane>(
        &data_plane_, network_.get(), host_id, options_.network, [this](HostId h) {
          absl::StatusOr<HostInfo> info = resources_.GetHost(h);
          return info.ok() ? info->island : IslandId();
        }));
    data_plane = delayed_data_planes_.back().get();
  }
  if (network_ != nullptr && options_.network.models_control()) {
    delayed_observers_.push_back(std::make_unique<DelayedRunObserver>(
        controller_.get(), network_.get(), host_id, options_.network.control_latency_nanos));
    observer = delayed_observers_.back().get();
  }
  HostExecutorOptions executor{.host = host_id, .devices = devices, .data_plane = data_plane,
                               .collectives = &collectives_, .observer = observer,
                               .trace = &trace_, .dispatch_loop = shared_loop_.get()};
  // On a shared loop an allocation must not wait: the memory it would wait for is freed by
  // device tasks of the same loop, which its blocked thread would hold up.
  if (shared_loop_ != nullptr) executor.allocation_wait = absl::ZeroDuration();
  host.executor = std::make_unique<HostExecutor>(std::move(executor));
  PW_RETURN_IF_ERROR(data_plane_.Register(host_id, host.executor.get()));
  WorkerService* worker = host.executor.get();
  if (network_ != nullptr && options_.network.models_control()) {
    delayed_workers_.push_back(std::make_unique<DelayedWorkerService>(
        worker, network_.get(), options_.network.control_latency_nanos));
    worker = delayed_workers_.back().get();
  }
  hosts_.push_back(std::move(host));
  // A lost host's peers can no longer push to it.
  return HostMembership::Member{
      .worker = worker,
      .on_lost = [this, host_id](const absl::Status&) { data_plane_.Unregister(host_id); }};
}

LocalCluster::~LocalCluster() {
  // Orderly shutdown: deferred releases go out, then the controller lets go of every worker
  // (its work thread stops calling them) before the executors and devices are destroyed.
  membership_->RemoveAll(absl::CancelledError("local cluster shutting down"));
  // Messages still in flight are dropped (a push fails UNAVAILABLE); from here on executors
  // report and push into a closed network.
  if (network_ != nullptr) network_->Shutdown();
  for (Host& h : hosts_) data_plane_.Unregister(h.id);
  hosts_.clear();  // executors stop (joining their threads), then their devices
  membership_.reset();
  controller_.reset();
}

std::vector<Device*> LocalCluster::devices() const {
  std::vector<Device*> out;
  for (const Host& h : hosts_) {
    for (const auto& d : h.devices) out.push_back(d.get());
  }
  return out;
}

absl::Status LocalCluster::RemoveHost(HostId host, absl::Status reason) {
  if (!membership_->Lose(host, std::string(reason.message()))) {
    return absl::NotFoundError(
        absl::StrCat("LocalCluster has no ", host.DebugString(), " (or it was lost already)"));
  }
  return absl::OkStatus();
}

int64_t LocalCluster::total_busy_nanos() const {
  int64_t busy = 0;
  for (const Host& h : hosts_) {
    for (const auto& d : h.devices) busy += d->busy_nanos();
  }
  return busy;
}

std::string LocalCluster::DebugString() const {
  return absl::StrCat("LocalCluster(", options_.islands, " island(s) x ", options_.hosts_per_island,
                      " host(s) x ", options_.devices_per_host, " device(s))\n", resources_.DebugString());
}

}  // namespace pw
