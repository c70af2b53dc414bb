// RenderMetrics: which metric comes from where.
#include "pathways/dashboard/metrics_page.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "pathways/dashboard/prometheus_text.h"

namespace pw {
namespace {

void RenderControllerMetrics(const ControllerMetrics& m, const ClusterSnapshot& s, PrometheusText& out) {
  out.Family("pathways_program_runs_total", MetricType::kCounter,
             "Program runs admitted by the controller.");
  out.Sample("pathways_program_runs_total", {}, m.runs_started.value());
  out.Family("pathways_program_runs_finished_total", MetricType::kCounter,
             "Program runs finished, with or without an error.");
  out.Sample("pathways_program_runs_finished_total", {}, m.runs_finished.value());
  out.Family("pathways_program_run_failures_total", MetricType::kCounter,
             "Program runs finished with an error (cancelled ones included).");
  out.Sample("pathways_program_run_failures_total", {}, m.runs_failed.value());
  out.Family("pathways_programs_running", MetricType::kGauge, "Program runs admitted and not finished.");
  out.Sample("pathways_programs_running", {}, static_cast<int64_t>(s.running.size()));
  out.Family("pathways_computations_total", MetricType::kCounter,
             "Compute nodes (compiled functions) of finished program runs.");
  out.Sample("pathways_computations_total", {}, m.computations.value());
  out.Family("pathways_dispatch_latency_seconds", MetricType::kHistogram,
             "Time the controller spends dispatching one run (Run called to submitted).");
  out.Histogram("pathways_dispatch_latency_seconds", {}, m.dispatch_latency.Read());
  out.Family("pathways_queue_time_seconds", MetricType::kHistogram,
             "Time a run waits in its islands' schedulers before its first part goes to the hosts.");
  out.Histogram("pathways_queue_time_seconds", {}, m.queue_time.Read());
  out.Family("pathways_run_duration_seconds", MetricType::kHistogram,
             "Time from a run's admission to its end.");
  out.Histogram("pathways_run_duration_seconds", {}, m.run_duration.Read());
  out.Family("pathways_transfer_bytes_total", MetricType::kCounter,
             "Array shard bytes moved between clients and hosts through the controller.");
  out.Sample("pathways_transfer_bytes_total", {{"direction", "put"}}, m.put_bytes.value());
  out.Sample("pathways_transfer_bytes_total", {{"direction", "fetch"}}, m.fetch_bytes.value());
  out.Family("pathways_lowering_cache_hits_total", MetricType::kCounter,
             "Runs whose program lowering came from the cache.");
  out.Sample("pathways_lowering_cache_hits_total", {}, s.status.lowering_cache_hits);
  out.Family("pathways_lowering_cache_misses_total", MetricType::kCounter,
             "Runs whose program had to be lowered.");
  out.Sample("pathways_lowering_cache_misses_total", {}, s.status.lowering_cache_misses);
}

void RenderHosts(const ClusterSnapshot& s, PrometheusText& out) {
  absl::flat_hash_map<HostId, IslandId> island_of;
  for (const IslandInfo& island : s.status.islands) {
    for (HostId h : island.hosts) island_of[h] = island.id;
  }
  out.Family("pathways_hosts_live", MetricType::kGauge, "Hosts (workers) that are members of the cluster.");
  out.Sample("pathways_hosts_live", {}, static_cast<int64_t>(s.status.hosts.size()));
  out.Family("pathways_hosts_lost_total", MetricType::kCounter,
             "Hosts declared lost (missed heartbeats or failed calls) since the controller started.");
  out.Sample("pathways_hosts_lost_total", {}, static_cast<int64_t>(s.lost_hosts.size()));
  out.Family("pathways_host_up", MetricType::kGauge, "1 if the host answered the last status request.");
  for (const HostStatus& h : s.status.hosts) {
    out.Sample("pathways_host_up",
               {{"island", absl::StrCat(island_of[h.host].value())}, {"host", absl::StrCat(h.host.value())}},
               int64_t{h.status.ok() ? 1 : 0});
  }
  struct DeviceFamily {
    const char* name;
    MetricType type;
    const char* help;
  };
  const DeviceFamily families[] = {
      {"pathways_device_utilization_ratio", MetricType::kGauge,
       "Share of the last sampling interval the device was busy running work (0 to 1)."},
      {"pathways_device_busy_seconds_total", MetricType::kCounter, "Time the device spent running work."},
      {"pathways_device_memory_used_bytes", MetricType::kGauge, "Device memory in use."},
      {"pathways_device_memory_capacity_bytes", MetricType::kGauge, "Device memory in all."},
      {"pathways_device_memory_peak_bytes", MetricType::kGauge, "Most device memory ever in use."},
      {"pathways_device_items_completed_total", MetricType::kCounter, "Stream items the device finished."},
  };
  for (int f = 0; f < 6; ++f) {
    out.Family(families[f].name, families[f].type, families[f].help);
    for (const HostStatus& h : s.status.hosts) {
      for (const DeviceStatus& d : h.devices) {
        const MetricLabels labels = {{"island", absl::StrCat(island_of[h.host].value())},
                                     {"host", absl::StrCat(h.host.value())},
                                     {"device", absl::StrCat(d.id.value())},
                                     {"kind", d.kind}};
        switch (f) {
          case 0: {
            auto it = s.utilization.find(d.id);
            const double u = it == s.utilization.end() || it->second.empty() ? 0.0 : it->second.back().utilization;
            out.Sample(families[f].name, labels, u);
            break;
          }
          case 1: out.Sample(families[f].name, labels, d.busy_nanos / 1e9); break;
          case 2: out.Sample(families[f].name, labels, d.memory_in_use_bytes); break;
          case 3: out.Sample(families[f].name, labels, d.memory_capacity_bytes); break;
          case 4: out.Sample(families[f].name, labels, d.peak_memory_in_use_bytes); break;
          default: out.Sample(families[f].name, labels, d.completed_items); break;
        }
      }
    }
  }
}

void RenderClients(const ClusterSnapshot& s, PrometheusText& out) {
  out.Family("pathways_clients", MetricType::kGauge, "Connected clients.");
  out.Sample("pathways_clients", {}, static_cast<int64_t>(s.status.clients.size()));
  absl::flat_hash_map<ClientId, int64_t> slices;
  for (const VirtualSlice& slice : s.status.slices) ++slices[slice.client];
  auto labels = [](const ClientStatus& c) {
    return MetricLabels{{"client_id", absl::StrCat(c.id.value())}, {"client", c.name}};
  };
  out.Family("pathways_client_runs_total", MetricType::kCounter, "Program runs the client started.");
  for (const ClientStatus& c : s.status.clients) out.Sample("pathways_client_runs_total", labels(c), c.runs);
  out.Family("pathways_client_device_seconds_total", MetricType::kCounter,
             "Device time the client's runs held, summed over devices.");
  for (const ClientStatus& c : s.status.clients) {
    out.Sample("pathways_client_device_seconds_total", labels(c), c.device_nanos / 1e9);
  }
  out.Family("pathways_client_memory_bytes", MetricType::kGauge, "Bytes of the client's live arrays, summed over devices.");
  for (const ClientStatus& c : s.status.clients) out.Sample("pathways_client_memory_bytes", labels(c), c.memory_bytes);
  out.Family("pathways_client_live_arrays", MetricType::kGauge, "The client's live arrays.");
  for (const ClientStatus& c : s.status.clients) out.Sample("pathways_client_live_arrays", labels(c), c.live_arrays);
  out.Family("pathways_client_slices", MetricType::kGauge, "Virtual slices the client holds.");
  for (const ClientStatus& c : s.status.clients) out.Sample("pathways_client_slices", labels(c), slices[c.id]);
  out.Family("pathways_client_weight", MetricType::kGauge, "The client's share weight (share scheduler).");
  for (const ClientStatus& c : s.status.clients) out.Sample("pathways_client_weight", labels(c), c.weight);
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
