// Session lifecycle.
#include "python/src/session.h"

#include <atomic>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/device/device_kind.h"

namespace pw::python {

namespace {
std::atomic<int64_t> next_generation{1};
// The interconnect of the embedded cluster: the given figures over the defaults of the
// device kind (TPU-v4-class for sim devices, none for CPU devices).
absl::StatusOr<InterconnectModel> MakeInterconnect(const SessionOptions& options, DeviceKind kind) {
  InterconnectModel m = kind == DeviceKind::kSim ? InterconnectModel::TpuV4Class() : InterconnectModel{};
  auto set = [](double value, const char* name, auto apply) -> absl::Status {
    if (std::isnan(value) || std::isinf(value)) {
      return absl::InvalidArgumentError(absl::StrCat(name, " must be a finite number, got ", value));
    }
    if (value >= 0) apply(value);
    return absl::OkStatus();
  };
  PW_RETURN_IF_ERROR(set(options.ici_latency_us, "ici_latency_us",
                         [&](double v) { m.ici.latency_nanos = std::llround(v * 1000); }));
  PW_RETURN_IF_ERROR(set(options.ici_gbps, "ici_gbps", [&](double v) { m.ici.bytes_per_second = v * 1e9 / 8; }));
  PW_RETURN_IF_ERROR(set(options.dcn_latency_us, "dcn_latency_us",
                         [&](double v) { m.dcn.latency_nanos = std::llround(v * 1000); }));
  PW_RETURN_IF_ERROR(set(options.dcn_gbps, "dcn_gbps", [&](double v) { m.dcn.bytes_per_second = v * 1e9 / 8; }));
  if (!options.collective_algorithm.empty()) {
    PW_ASSIGN_OR_RETURN(m.algorithm, ParseCollectiveAlgorithm(options.collective_algorithm));
  }
  PW_RETURN_IF_ERROR(m.Validate());
  return m;
}

}  // namespace

Session::Session(SessionOptions options)
    : options_(std::move(options)), generation_(next_generation.fetch_add(1)) {}

absl::StatusOr<std::shared_ptr<Session>> Session::Start(SessionOptions options) {
  std::shared_ptr<Session> session(new Session(options));
  if (!options.address.empty()) {
    PW_ASSIGN_OR_RETURN(session->client_, Client::ConnectTo(options.address, "python",
                                                            absl::Seconds(options.connect_timeout_seconds),
                                                            {.weight = options.weight, .priority = options.priority}));
    return session;
  }
  LocalClusterOptions cluster_options;
  cluster_options.islands = options.islands;
  cluster_options.hosts_per_island = options.hosts_per_island;
  cluster_options.devices_per_host = options.devices_per_host;
  cluster_options.memory_per_device_bytes = options.memory_per_device_bytes;
  PW_ASSIGN_OR_RETURN(cluster_options.device_kind, ParseDeviceKind(options.device_kind));
  if (options.sim_peak_flops < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sim_peak_flops must be >= 0, got ",
                                                   options.sim_peak_flops));
  }
  if (options.sim_peak_flops > 0) cluster_options.sim.model.peak_flops_per_second = options.sim_peak_flops;
  cluster_options.sim.execute = options.sim_compute;
  PW_ASSIGN_OR_RETURN(InterconnectModel interconnect, MakeInterconnect(options, cluster_options.device_kind));
  cluster_options.sim.model.interconnect = interconnect;
  cluster_options.network.interconnect = interconnect;
  PW_ASSIGN_OR_RETURN(session->cluster_, LocalCluster::Start(cluster_options));
  PW_ASSIGN_OR_RETURN(session->client_, Client::Connect(session->cluster_->controller(), "python",
                                                        {.weight = options.weight, .priority = options.priority}));
  return session;
}

Session::~Session() { Shutdown(); }

void Session::NoteRun(EventRef done) {
  absl::MutexLock lock(&pending_mu_);
  // Amortized pruning keeps the list bounded by the work actually in flight.
  if (pending_.size() >= 1024) {
    std::erase_if(pending_, [](const EventRef& e) { return e->IsAvailable(); });
  }
  pending_.push_back(std::move(done));
}

void Session::Shutdown() {
  absl::MutexLock lock(&mu_);
  std::vector<EventRef> pending;
  {
    absl::MutexLock pending_lock(&pending_mu_);
    pending.swap(pending_);
  }
  // Failed runs count as finished; their errors belong to their arrays, not to shutdown.
  for (const EventRef& e : pending) e->Await().IgnoreError();
  client_.reset();
  cluster_.reset();
}

absl::Status Session::CheckAlive(const std::string& what) const {
  if (alive()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      what, " belongs to Pathways session ", generation_,
      ", which was shut down (pw.shutdown() or interpreter exit); its cluster is gone"));
}

absl::Status Session::StartTrace() {
  if (cluster_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pw.trace: this session is connected to the cluster at ", options_.address,
        ", whose processes record all the time; collect their events with `pw trace`"));
  }
  cluster_->trace().TakeEvents();  // only what happens from now on
  cluster_->trace().Start();
  return absl::OkStatus();
}

absl::Status Session::StopTrace(const std::string& path) {
  if (cluster_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pw.trace: this session is connected to the cluster at ", options_.address,
        "; collect its events with `pw trace`"));
  }
  cluster_->trace().Stop();
  absl::Status written = cluster_->trace().WriteJson(path);
  cluster_->trace().TakeEvents();
  return written;
}

std::string Session::DebugString() const {
  if (!alive()) return absl::StrCat("Session(", generation_, ", shut down)");
  if (!options_.address.empty()) return absl::StrCat("Session(", generation_, ", cluster at ", options_.address, ")");
  return absl::StrCat("Session(", generation_, ", ", options_.islands, " island(s) x ",
                      options_.hosts_per_island, " hosts x ", options_.devices_per_host, " devices)");
}

}  // namespace pw::python
