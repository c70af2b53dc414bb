// The dashboard's JSON documents.
#include "pathways/dashboard/dashboard_json.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace pw {
namespace {

using nlohmann::json;

int64_t Millis(absl::Time t) { return absl::ToUnixMillis(t); }

json DeviceJson(const ClusterSnapshot& s, const DeviceStatus& d) {
  json points = json::array();
  if (auto it = s.utilization.find(d.id); it != s.utilization.end()) {
    for (const UtilizationPoint& p : it->second) points.push_back({Millis(p.at), p.utilization});
  }
  return {{"id", d.id.value()},
          {"kind", d.kind},
          {"memory_in_use_bytes", d.memory_in_use_bytes},
          {"memory_capacity_bytes", d.memory_capacity_bytes},
          {"peak_memory_in_use_bytes", d.peak_memory_in_use_bytes},
          {"busy_seconds", d.busy_nanos / 1e9},
          {"completed_items", d.completed_items},
          {"utilization", points.empty() ? 0.0 : points.back()[1].get<double>()},
          {"utilization_history", std::move(points)}};
}

json HostStatusJson(const ClusterSnapshot& s, const HostStatus& h, IslandId island) {
  json devices = json::array();
  for (const DeviceStatus& d : h.devices) devices.push_back(DeviceJson(s, d));
  return {{"id", h.host.value()},
          {"island", island.value()},
          {"answering", h.status.ok()},
          {"error", h.status.ok() ? "" : std::string(h.status.message())},
          {"live_buffers", h.live_buffers},
          {"live_buffer_bytes", h.live_buffer_bytes},
          {"runs_received", h.runs_received},
          {"transfer_bytes_sent", h.transfer_bytes_sent},
          {"devices", std::move(devices)}};
}

const HostStatus* FindHost(const ClusterSnapshot& s, HostId host) {
  for (const HostStatus& h : s.status.hosts) {
    if (h.host == host) return &h;
  }
  return nullptr;
}

json IslandInfoJson(const ClusterSnapshot& s, const IslandInfo& island) {
  json hosts = json::array();
  for (HostId host : island.hosts) {
    if (const HostStatus* h = FindHost(s, host)) hosts.push_back(HostStatusJson(s, *h, island.id));
  }
  json scheduler = nullptr;
  for (const SchedulerStatus& sc : s.status.schedulers) {
    if (sc.island != island.id) continue;
    scheduler = {{"policy", sc.policy},
                 {"window", sc.window},
                 {"queued", sc.queued},
                 {"in_flight", sc.in_flight},
                 {"device_seconds", sc.device_nanos / 1e9}};
  }
  return {{"id", island.id.value()},
          {"devices", island.devices.size()},
          {"scheduler", std::move(scheduler)},
          {"hosts", std::move(hosts)}};
}

json OneClientJson(const ClusterSnapshot& s, const ClientStatus& c) {
  json slices = json::array();
  for (const VirtualSlice& slice : s.status.slices) {
    if (slice.client != c.id) continue;
    json devices = json::array();
    for (DeviceId d : slice.devices) devices.push_back(d.value());
    slices.push_back({{"id", slice.id.value()}, {"devices", std::move(devices)}});
  }
  return {{"id", c.id.value()},
          {"name", c.name},
          {"weight", c.weight},
          {"priority", c.priority},
          {"runs", c.runs},
          {"device_seconds", c.device_nanos / 1e9},
          {"memory_bytes", c.memory_bytes},
          {"live_arrays", c.live_arrays},
          {"lease_age_seconds", c.lease_age_millis < 0 ? json(nullptr) : json(c.lease_age_millis / 1e3)},
          {"slices", std::move(slices)}};
}

}  // namespace

json ClusterJson(const ClusterSnapshot& s) {
  json islands = json::array();
  for (const IslandInfo& island : s.status.islands) islands.push_back(IslandInfoJson(s, island));
  int64_t devices = 0;
  for (const HostStatus& h : s.status.hosts) devices += static_cast<int64_t>(h.devices.size());
  return {{"taken_ms", Millis(s.taken)},
          {"hosts", s.status.hosts.size()},
          {"devices", devices},
          {"clients", s.status.clients.size()},
          {"programs", s.status.programs},
          {"runs", s.status.runs},
          {"running", s.running.size()},
          {"lost_hosts", s.lost_hosts.size()},
          {"islands", std::move(islands)}};
}

absl::StatusOr<json> IslandJson(const ClusterSnapshot& s, int64_t island) {
  for (const IslandInfo& i : s.status.islands) {
    if (i.id.value() == island) return IslandInfoJson(s, i);
  }
  return absl::NotFoundError(absl::StrCat("no island ", island, " in the cluster"));
}

absl::StatusOr<json> HostJson(const ClusterSnapshot& s, int64_t host) {
  for (const IslandInfo& i : s.status.islands) {
    for (HostId h : i.hosts) {
      if (h.value() != host) continue;
      if (const HostStatus* status = FindHost(s, h)) return HostStatusJson(s, *status, i.id);
    }
  }
  for (const LostHost& l : s.lost_hosts) {
    if (l.host.value() == host) {
      return absl::NotFoundError(absl::StrCat("host ", host, " was lost: ", l.reason.message()));
    }
  }
  return absl::NotFoundError(absl::StrCat("no host ", host, " in the cluster"));
}

json ClientsJson(const ClusterSnapshot& s) {
  json clients = json::array();
  for (const ClientStatus& c : s.status.clients) clients.push_back(OneClientJson(s, c));
  return {{"taken_ms", Millis(s.taken)}, {"clients", std::move(clients)}};
}

absl::StatusOr<json> ClientJson(const ClusterSnapshot& s, int64_t client) {
  for (const ClientStatus& c : s.status.clients) {
    if (c.id.value() == client) return OneClientJson(s, c);
  }
  return absl::NotFoundError(absl::StrCat("no client ", client, " is connected"));
}

json ProgramsJson(const ClusterSnapshot& s) {
  json running = json::array();
  for (const RunningRun& r : s.running) {
    running.push_back({{"run", r.run.value()},
                       {"client", r.client.value()},
                       {"program", r.program},
                       {"started_ms", Millis(r.started)},
                       {"stage", r.stage}});
  }
  json failed = json::array();
  for (const RunFailure& f : s.failures) {
    failed.push_back({{"run", f.run.value()},
                      {"client", f.client.value()},
                      {"program", f.program},
                      {"code", absl::StatusCodeToString(f.error.code())},
                      {"error", std::string(f.error.message())},
                      {"finished_ms", Millis(f.finished)}});
  }
  return {{"taken_ms", Millis(s.taken)},
          {"programs", s.status.programs},
          {"runs", s.status.runs},
          {"running", std::move(running)},
          {"failed", std::move(failed)}};
}

json LostHostsJson(const ClusterSnapshot& s) {
  json lost = json::array();
  for (const LostHost& l : s.lost_hosts) {
    lost.push_back({{"id", l.host.value()},
                    {"address", l.address},
                    {"reason", std::string(l.reason.message())},
                    {"lost_ms", Millis(l.when)}});
  }
  return {{"taken_ms", Millis(s.taken)}, {"lost_hosts", std::move(lost)}};
}

}  // namespace pw
