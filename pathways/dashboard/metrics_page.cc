// RenderMetrics: which metric comes from where.
#include "pathways/dashboard/metrics_page.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "pathways/dashboard/prometheus_text.h"

namespace pw {
namespace {

// A family of one unlabelled sample.
void Single(PrometheusText& out, const char* name, MetricType type, const char* help, int64_t value) {
  out.Family(name, type, help);
  out.Sample(name, {}, value);
}

void Latency(PrometheusText& out, const char* name, const char* help, const LatencyHistogram& h) {
  out.Family(name, MetricType::kHistogram, help);
  out.Histogram(name, {}, h.Read());
}

void RenderControllerMetrics(const ControllerMetrics& m, const ClusterSnapshot& s, PrometheusText& out) {
  Single(out, "pathways_program_runs_total", MetricType::kCounter, "Program runs admitted by the controller.",
         m.runs_started.value());
  Single(out, "pathways_program_runs_finished_total", MetricType::kCounter,
         "Program runs finished, with or without an error.", m.runs_finished.value());
  Single(out, "pathways_program_run_failures_total", MetricType::kCounter,
         "Program runs finished with an error (cancelled ones included).", m.runs_failed.value());
  Single(out, "pathways_programs_running", MetricType::kGauge, "Program runs admitted and not finished.",
         static_cast<int64_t>(s.running.size()));
  Single(out, "pathways_computations_total", MetricType::kCounter,
         "Compute nodes (compiled functions) of finished program runs.", m.computations.value());
  Latency(out, "pathways_dispatch_latency_seconds",
          "Time the controller spends dispatching one run (Run called to submitted).", m.dispatch_latency);
  Latency(out, "pathways_queue_time_seconds",
          "Time a run waits in its islands' schedulers before its first part goes to the hosts.", m.queue_time);
  Latency(out, "pathways_run_duration_seconds", "Time from a run's admission to its end.", m.run_duration);
  out.Family("pathways_transfer_bytes_total", MetricType::kCounter,
             "Array shard bytes moved between clients and hosts through the controller.");
  out.Sample("pathways_transfer_bytes_total", {{"direction", "put"}}, m.put_bytes.value());
  out.Sample("pathways_transfer_bytes_total", {{"direction", "fetch"}}, m.fetch_bytes.value());
  Single(out, "pathways_lowering_cache_hits_total", MetricType::kCounter,
         "Runs whose program lowering came from the cache.", s.status.lowering_cache_hits);
  Single(out, "pathways_lowering_cache_misses_total", MetricType::kCounter, "Runs whose program had to be lowered.",
         s.status.lowering_cache_misses);
}

// One family per row, one sample per device.
struct DeviceFamily {
  const char* name;
  MetricType type;
  const char* help;
  double (*value)(const ClusterSnapshot& s, const DeviceStatus& d);
};

double LatestUtilization(const ClusterSnapshot& s, const DeviceStatus& d) {
  auto it = s.utilization.find(d.id);
  return it == s.utilization.end() || it->second.empty() ? 0.0 : it->second.back().utilization;
}

constexpr DeviceFamily kDeviceFamilies[] = {
    {"pathways_device_utilization_ratio", MetricType::kGauge,
     "Share of the last sampling interval the device was busy running work (0 to 1).", LatestUtilization},
    {"pathways_device_busy_seconds_total", MetricType::kCounter, "Time the device spent running work.",
     [](const ClusterSnapshot&, const DeviceStatus& d) { return d.busy_nanos / 1e9; }},
    {"pathways_device_memory_used_bytes", MetricType::kGauge, "Device memory in use.",
     [](const ClusterSnapshot&, const DeviceStatus& d) { return double(d.memory_in_use_bytes); }},
    {"pathways_device_memory_capacity_bytes", MetricType::kGauge, "Device memory in all.",
     [](const ClusterSnapshot&, const DeviceStatus& d) { return double(d.memory_capacity_bytes); }},
    {"pathways_device_memory_peak_bytes", MetricType::kGauge, "Most device memory ever in use.",
     [](const ClusterSnapshot&, const DeviceStatus& d) { return double(d.peak_memory_in_use_bytes); }},
    {"pathways_device_items_completed_total", MetricType::kCounter, "Stream items the device finished.",
     [](const ClusterSnapshot&, const DeviceStatus& d) { return double(d.completed_items); }},
};

void RenderHosts(const ClusterSnapshot& s, PrometheusText& out) {
  absl::flat_hash_map<HostId, IslandId> island_of;
  for (const IslandInfo& island : s.status.islands) {
    for (HostId h : island.hosts) island_of[h] = island.id;
  }
  Single(out, "pathways_hosts_live", MetricType::kGauge, "Hosts (workers) that are members of the cluster.",
         static_cast<int64_t>(s.status.hosts.size()));
  Single(out, "pathways_hosts_lost_total", MetricType::kCounter,
         "Hosts declared lost (missed heartbeats or failed calls) since the controller started.",
         static_cast<int64_t>(s.lost_hosts.size()));
  out.Family("pathways_host_up", MetricType::kGauge, "1 if the host answered the last status request.");
  for (const HostStatus& h : s.status.hosts) {
    out.Sample("pathways_host_up",
               {{"island", absl::StrCat(island_of[h.host].value())}, {"host", absl::StrCat(h.host.value())}},
               int64_t{h.status.ok() ? 1 : 0});
  }
  out.Family("pathways_host_transfer_bytes_total", MetricType::kCounter,
             "Shard bytes the host pushed to peer hosts (the data plane).");
  for (const HostStatus& h : s.status.hosts) {
    if (!h.status.ok()) continue;
    out.Sample("pathways_host_transfer_bytes_total",
               {{"island", absl::StrCat(island_of[h.host].value())}, {"host", absl::StrCat(h.host.value())}},
               h.transfer_bytes_sent);
  }
  for (const DeviceFamily& family : kDeviceFamilies) {
    out.Family(family.name, family.type, family.help);
    for (const HostStatus& h : s.status.hosts) {
      for (const DeviceStatus& d : h.devices) {
        out.Sample(family.name,
                   {{"island", absl::StrCat(island_of[h.host].value())},
                    {"host", absl::StrCat(h.host.value())},
                    {"device", absl::StrCat(d.id.value())},
                    {"kind", d.kind}},
                   family.value(s, d));
      }
    }
  }
}

// One family per row, one sample per client.
struct ClientFamily {
  const char* name;
  MetricType type;
  const char* help;
  double (*value)(const ClientStatus& c, int64_t slices);
};

constexpr ClientFamily kClientFamilies[] = {
    {"pathways_client_runs_total", MetricType::kCounter, "Program runs the client started.",
     [](const ClientStatus& c, int64_t) { return double(c.runs); }},
    {"pathways_client_device_seconds_total", MetricType::kCounter,
     "Device time the client's runs held, summed over devices.",
     [](const ClientStatus& c, int64_t) { return c.device_nanos / 1e9; }},
    {"pathways_client_memory_bytes", MetricType::kGauge, "Bytes of the client's live arrays, summed over devices.",
     [](const ClientStatus& c, int64_t) { return double(c.memory_bytes); }},
    {"pathways_client_live_arrays", MetricType::kGauge, "The client's live arrays.",
     [](const ClientStatus& c, int64_t) { return double(c.live_arrays); }},
    {"pathways_client_slices", MetricType::kGauge, "Virtual slices the client holds.",
     [](const ClientStatus&, int64_t slices) { return double(slices); }},
    {"pathways_client_weight", MetricType::kGauge, "The client's share weight (share scheduler).",
     [](const ClientStatus& c, int64_t) { return double(c.weight); }},
};

void RenderClients(const ClusterSnapshot& s, PrometheusText& out) {
  Single(out, "pathways_clients", MetricType::kGauge, "Connected clients.",
         static_cast<int64_t>(s.status.clients.size()));
  absl::flat_hash_map<ClientId, int64_t> slices;
  for (const VirtualSlice& slice : s.status.slices) ++slices[slice.client];
  for (const ClientFamily& family : kClientFamilies) {
    out.Family(family.name, family.type, family.help);
    for (const ClientStatus& c : s.status.clients) {
      out.Sample(family.name, {{"client_id", absl::StrCat(c.id.value())}, {"client", c.name}},
                 family.value(c, slices[c.id]));
    }
  }
}

void RenderSchedulers(const ClusterSnapshot& s, PrometheusText& out) {
  out.Family("pathways_scheduler_queued_runs", MetricType::kGauge, "Runs waiting behind the island's admission window.");
  for (const SchedulerStatus& sc : s.status.schedulers) {
    out.Sample("pathways_scheduler_queued_runs", {{"island", absl::StrCat(sc.island.value())}}, sc.queued);
  }
  out.Family("pathways_scheduler_in_flight_runs", MetricType::kGauge, "Runs admitted to the island's devices and unfinished.");
  for (const SchedulerStatus& sc : s.status.schedulers) {
    out.Sample("pathways_scheduler_in_flight_runs", {{"island", absl::StrCat(sc.island.value())}}, sc.in_flight);
  }
}

}  // namespace

std::string RenderMetrics(const ControllerMetrics& metrics, const ClusterSnapshot& snapshot) {
  PrometheusText out;
  RenderControllerMetrics(metrics, snapshot, out);
  RenderHosts(snapshot, out);
  RenderClients(snapshot, out);
  RenderSchedulers(snapshot, out);
  return out.text();
}

}  // namespace pw
