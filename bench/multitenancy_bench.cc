// The paper's Figures 8 and 9: many clients sharing one island through its gang scheduler.
//
// Figure 8: aggregate device utilisation and programs/s against the number of concurrent
// clients (1 .. 32), for programs of 0.04 / 0.33 / 1.04 / 2.4 ms. Figure 9: four clients with
// weights 1:1:1:1 and 1:2:4:8 under the proportional-share policy, each submitting as fast as it
// can; the share of device time each gets over windows of 1 s, against its weight's share.
//
// The controller, gang scheduler and policies, lowering and host executors are the real code;
// the island is 2 hosts x 2 SimDevices whose kernels take the program's length without computing
// (execute = false), so the measurement is the runtime's, not this machine's two cores'. Every
// client is a separate pw::Client (its own id, weight, slice and program) on its own thread,
// keeping `--depth` runs in flight and awaiting the oldest before submitting the next. With
// --processes the same runs on a ProcessCluster (pw-controller and one pw-worker process per
// host, simulated devices) and every client reaches the controller over gRPC.
//
// Utilisation is the devices' busy time (modelled kernel time) over wall time; device time per
// client is what the hosts measured and reported with each run (ClusterStatus.clients), the
// same numbers the share policy charges.
//
// Usage: multitenancy_bench [--quick] [--fig8] [--fig9] [--processes] [--window=N]
//                           [--depth=N] [--seconds=S] [--fig9_ms=MS] [--json=FILE] [--trace=FILE]
//                           [--cpu [--cpu_elements=N]]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/trace.h"
#include "pathways/client/client.h"
#include "pathways/cluster/local_cluster.h"
#include "pathways/cluster/process_cluster.h"

namespace pw {
namespace {

using ir::FunctionBuilder;
using ir::Value;

using bench::Check;

struct Flags {
  bool fig8 = true;
  bool fig9 = true;
  bool quick = false;
  bool processes = false;
  int64_t window = 0;  // 0: the policy's default
  int64_t depth = 4;   // runs each client keeps in flight
  double seconds = 3;  // measured time per Figure 8 point
  double fig9_seconds = 6;
  // Program length of Figure 9: 0.33 ms in one process; across processes, where this machine's
  // control plane dispatches about 1,000 runs/s (fewer than 4 devices finish 0.33 ms programs),
  // 2.4 ms, so that the devices, not the dispatch path, are what the clients compete for.
  int64_t fig9_kernel_nanos = 0;  // 0: by mode
  // --cpu: Figure 9 only, across worker processes with CPU devices whose kernels really compute
  // (a tanh over this many floats per shard), so device time is measured, not modelled.
  bool cpu = false;
  int64_t cpu_elements = 1 << 20;
  std::string json = "bench/results/multitenancy_bench.json";
  std::string trace = "bench/results/multitenancy_trace.json";
};

constexpr int64_t kHosts = 2;
constexpr int64_t kDevicesPerHost = 2;
constexpr int64_t kDevices = kHosts * kDevicesPerHost;

// One island of simulated devices whose kernels all take `kernel_nanos`, in this process or as
// worker processes.
class Island {
 public:
  Island(const Flags& flags, int64_t kernel_nanos, const std::string& scheduler) {
    if (flags.processes || flags.cpu) {
      ProcessClusterOptions o;
      o.hosts_per_island = kHosts;
      o.devices_per_host = kDevicesPerHost;
      o.memory_per_device_bytes = int64_t{256} << 20;
      o.device_kind = flags.cpu ? DeviceKind::kCpu : DeviceKind::kSim;
      if (!flags.cpu) {
        o.sim_kernel_us = std::max<int64_t>(1, kernel_nanos / 1000);
        o.sim_skip_compute = true;
      }
      o.scheduler = scheduler;
      o.dashboard = false;  // its status sampling would run beside what is measured
      o.scheduler_window = flags.window;
      processes_ = Check(ProcessCluster::Start(o));
    } else {
      local_ = Check(LocalCluster::Start(LocalClusterOptions{
          .hosts_per_island = kHosts,
          .devices_per_host = kDevicesPerHost,
          .memory_per_device_bytes = int64_t{256} << 20,
          .scheduler = scheduler,
          .scheduler_window = flags.window,
          .device_kind = DeviceKind::kSim,
          .sim = SimDeviceOptions{.model = {.kernel_nanos = kernel_nanos}, .execute = false}}));
    }
  }
  std::unique_ptr<Client> Connect(const std::string& name, int64_t weight) {
    if (processes_ != nullptr) {
      return Check(Client::ConnectTo(processes_->address(), name, absl::Seconds(10), {.weight = weight}));
    }
    return Check(Client::Connect(local_->controller(), name, {.weight = weight}));
  }
  ClusterStatus Status(Client& any) { return any.controller().Status(); }
  LocalCluster* local() { return local_.get(); }

 private:
  std::unique_ptr<LocalCluster> local_;
  std::unique_ptr<ProcessCluster> processes_;
};

// A client submitting one program (one kernel on each of the island's devices) as fast as it
// can, `depth` runs in flight.
class Tenant {
 public:
  Tenant(Island& island, int index, int64_t weight, int64_t depth, int64_t elements = 16)
      : client_(island.Connect(absl::StrCat("tenant", index), weight)), depth_(depth) {
    slice_ = Check(client_->GetDevices(kDevices));
    fn_ = std::make_unique<PmapFunction>(client_->Pmap(
        absl::StrCat("c", index), slice_,
        [](FunctionBuilder& b, absl::Span<const Value> x) { return std::vector<Value>{b.Tanh(x[0])}; }));
    std::vector<ir::Literal> shards;
    for (int64_t d = 0; d < kDevices; ++d) {
      shards.push_back(Check(ir::Literal::Create<float>(ir::Shape{elements}, std::vector<float>(elements, 0.5f))));
    }
    x_ = Check(client_->Put(slice_, std::move(shards)));
    // Warm: registration and lowering happen before the clock starts.
    PW_CHECK((*fn_)({x_}).value()[0].Await().ok());
  }
  ~Tenant() { Stop(); }

  void Start() {
    thread_ = std::thread([this] {
      std::deque<Array> in_flight;
      while (!stop_.load(std::memory_order_relaxed)) {
        while (static_cast<int64_t>(in_flight.size()) < depth_) in_flight.push_back(Check((*fn_)({x_}))[0]);
        PW_CHECK(in_flight.front().Await().ok());
        in_flight.pop_front();
        completed_.fetch_add(1, std::memory_order_relaxed);
      }
      for (Array& a : in_flight) PW_CHECK(a.Await().ok());
    });
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  int64_t completed() const { return completed_.load(std::memory_order_relaxed); }
  ClientId id() const { return client_->id(); }
  Client& client() { return *client_; }

 private:
  std::unique_ptr<Client> client_;
  const int64_t depth_;
  VirtualSlice slice_;
  std::unique_ptr<PmapFunction> fn_;
  Array x_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> completed_{0};
};

int64_t BusyNanos(const ClusterStatus& s) {
  int64_t busy = 0;
  for (const HostStatus& h : s.hosts) {
    for (const DeviceStatus& d : h.devices) busy += d.busy_nanos;
  }
  return busy;
}

int64_t DeviceNanosOf(const ClusterStatus& s, ClientId client) {
  for (const ClientStatus& c : s.clients) {
    if (c.id == client) return c.device_nanos;
  }
  return 0;
}

struct Fig8Point {
  double program_ms = 0;
  int clients = 0;
  double utilisation = 0;
  double programs_per_s = 0;
  int64_t window = 0;
};

Fig8Point MeasureFig8(const Flags& flags, int64_t kernel_nanos, int clients) {
  Island island(flags, kernel_nanos, "share");
  std::vector<std::unique_ptr<Tenant>> tenants;
  for (int i = 0; i < clients; ++i) tenants.push_back(std::make_unique<Tenant>(island, i, 1, flags.depth));
  for (auto& t : tenants) t->Start();
  absl::SleepFor(absl::Milliseconds(200));  // every client reaches its steady state
  const ClusterStatus s0 = island.Status(tenants[0]->client());
  int64_t done0 = 0;
  for (auto& t : tenants) done0 += t->completed();
  const int64_t t0 = MonotonicNanos();
  absl::SleepFor(absl::Seconds(flags.seconds));
  const ClusterStatus s1 = island.Status(tenants[0]->client());
  int64_t done1 = 0;
  for (auto& t : tenants) done1 += t->completed();
  const int64_t wall = MonotonicNanos() - t0;
  for (auto& t : tenants) t->Stop();
  Fig8Point p;
  p.program_ms = kernel_nanos / 1e6;
  p.clients = clients;
  p.utilisation = static_cast<double>(BusyNanos(s1) - BusyNanos(s0)) / (static_cast<double>(wall) * kDevices);
  p.programs_per_s = (done1 - done0) / (wall / 1e9);
  p.window = s1.schedulers.empty() ? 0 : s1.schedulers[0].window;
  return p;
}

struct Fig9Config {
  std::string name;
  std::vector<int64_t> weights;
};

struct Fig9Result {
  std::string name;
  std::vector<int64_t> weights;
  std::vector<std::vector<double>> shares;  // per 1 s window, per client
  double max_abs_error = 0;  // percentage points
  double max_rel_error = 0;  // of the weight's share
  double utilisation = 0;
};

// Execute events of the devices over `nanos`, as {device, client index, start, dur} rows.
void WriteTrace(LocalCluster& cluster, int64_t nanos, const std::string& path) {
  TraceRecorder& trace = cluster.trace();
  trace.TakeEvents();
  trace.Start();
  absl::SleepFor(absl::Nanoseconds(nanos));
  trace.Stop();
  std::vector<TraceEvent> events = trace.TakeEvents();
  std::ofstream out(path);
  out << "[\n";
  bool first = true;
  for (const TraceEvent& e : events) {
    if (e.category != "execute" || e.name.size() < 2 || e.name[0] != 'c') continue;
    const int client = std::atoi(e.name.c_str() + 1);
    out << (first ? "" : ",\n") << "{\"host\":" << e.pid << ",\"device\":" << e.tid
        << ",\"client\":" << client << ",\"start_ns\":" << e.start_ns << ",\"dur_ns\":" << e.dur_ns << "}";
    first = false;
  }
  out << "\n]\n";
  std::printf("# wrote the device timeline of %.0f ms to %s\n", nanos / 1e6, path.c_str());
}

Fig9Result MeasureFig9(const Flags& flags, const Fig9Config& config, int64_t kernel_nanos,
                       bool write_trace) {
  Island island(flags, kernel_nanos, "share");
  std::vector<std::unique_ptr<Tenant>> tenants;
  for (size_t i = 0; i < config.weights.size(); ++i) {
    tenants.push_back(std::make_unique<Tenant>(island, static_cast<int>(i), config.weights[i], flags.depth,
                                               flags.cpu ? flags.cpu_elements : 16));
  }
  for (auto& t : tenants) t->Start();
  absl::SleepFor(absl::Milliseconds(300));
  Fig9Result r;
  r.name = config.name;
  r.weights = config.weights;
  int64_t weight_sum = 0;
  for (int64_t w : config.weights) weight_sum += w;
  ClusterStatus prev = island.Status(tenants[0]->client());
  const ClusterStatus first = prev;
  const int64_t t0 = MonotonicNanos();
  const int windows = static_cast<int>(flags.fig9_seconds);
  for (int w = 0; w < windows; ++w) {
    absl::SleepFor(absl::Seconds(1));
    const ClusterStatus now = island.Status(tenants[0]->client());
    std::vector<double> used;
    double total = 0;
    for (auto& t : tenants) {
      used.push_back(static_cast<double>(DeviceNanosOf(now, t->id()) - DeviceNanosOf(prev, t->id())));
      total += used.back();
    }
    std::vector<double> shares;
    for (size_t i = 0; i < used.size(); ++i) {
      const double share = total > 0 ? used[i] / total : 0;
      const double want = static_cast<double>(config.weights[i]) / weight_sum;
      shares.push_back(share);
      r.max_abs_error = std::max(r.max_abs_error, 100 * std::abs(share - want));
      r.max_rel_error = std::max(r.max_rel_error, std::abs(share - want) / want);
    }
    r.shares.push_back(shares);
    prev = now;
  }
  r.utilisation = static_cast<double>(BusyNanos(prev) - BusyNanos(first)) /
                  (static_cast<double>(MonotonicNanos() - t0) * kDevices);
  if (write_trace && island.local() != nullptr) WriteTrace(*island.local(), 30'000'000, flags.trace);
  for (auto& t : tenants) t->Stop();
  return r;
}

int Main(int argc, char** argv) {
  Flags flags;
  bool only8 = false, only9 = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      flags.quick = true;
      flags.seconds = 1;
      flags.fig9_seconds = 3;
    } else if (arg == "--fig8") {
      only8 = true;
    } else if (arg == "--fig9") {
      only9 = true;
    } else if (arg == "--processes") {
      flags.processes = true;
    } else if (arg == "--cpu") {
      flags.cpu = true;
      only9 = true;
    } else if (arg.rfind("--cpu_elements=", 0) == 0) {
      flags.cpu_elements = std::max<int64_t>(1, std::atoll(arg.c_str() + 15));
    } else if (arg.rfind("--window=", 0) == 0) {
      flags.window = std::atoll(arg.c_str() + 9);
    } else if (arg.rfind("--depth=", 0) == 0) {
      flags.depth = std::max<int64_t>(1, std::atoll(arg.c_str() + 8));
    } else if (arg.rfind("--seconds=", 0) == 0) {
      flags.seconds = std::max(0.1, std::atof(arg.c_str() + 10));
    } else if (arg.rfind("--fig9_ms=", 0) == 0) {
      flags.fig9_kernel_nanos = static_cast<int64_t>(std::max(0.001, std::atof(arg.c_str() + 10)) * 1e6);
    } else if (arg.rfind("--json=", 0) == 0) {
      flags.json = arg.substr(7);
    } else if (arg.rfind("--trace=", 0) == 0) {
      flags.trace = arg.substr(8);
    } else {
      std::fprintf(stderr,
                   "multitenancy_bench: unknown argument '%s'\n"
                   "usage: multitenancy_bench [--quick] [--fig8] [--fig9] [--processes] [--window=N]\n"
                   "                          [--depth=N] [--seconds=S] [--fig9_ms=MS] [--json=FILE]\n"
                   "                          [--trace=FILE] [--cpu [--cpu_elements=N]]\n",
                   arg.c_str());
      return 2;
    }
  }
  if (flags.fig9_kernel_nanos == 0) flags.fig9_kernel_nanos = flags.processes ? 2'400'000 : 330'000;
  if (only8 || only9) {
    flags.fig8 = only8;
    flags.fig9 = only9;
  }
  const char* where = flags.cpu         ? "pw-controller + 2 pw-worker processes, CPU devices"
                      : flags.processes ? "pw-controller + 2 pw-worker processes"
                                        : "one process";
  std::string json = absl::StrCat("{\"processes\":", flags.processes ? "true" : "false",
                                  ",\"depth\":", flags.depth, ",\"fig8\":[");
  if (flags.fig8) {
    std::printf("# Figure 8: 1 island x %lld sim devices (%s), share policy, %lld runs in flight per "
                "client, %.1f s per point\n",
                static_cast<long long>(kDevices), where, static_cast<long long>(flags.depth), flags.seconds);
    std::printf("%10s %8s %7s %12s %7s\n", "program", "clients", "util", "programs/s", "window");
    const std::vector<int> clients = flags.quick ? std::vector<int>{1, 4, 16}
                                                 : std::vector<int>{1, 2, 4, 8, 16, 32};
    bool first = true;
    for (int64_t kernel : {int64_t{40'000}, int64_t{330'000}, int64_t{1'040'000}, int64_t{2'400'000}}) {
      for (int n : clients) {
        const Fig8Point p = MeasureFig8(flags, kernel, n);
        std::printf("%8.2fms %8d %6.1f%% %12.0f %7lld\n", p.program_ms, p.clients, 100 * p.utilisation,
                    p.programs_per_s, static_cast<long long>(p.window));
        std::fflush(stdout);
        absl::StrAppend(&json, first ? "" : ",", "{\"program_ms\":", p.program_ms, ",\"clients\":", p.clients,
                        ",\"utilisation\":", p.utilisation, ",\"programs_per_s\":", p.programs_per_s,
                        ",\"window\":", p.window, "}");
        first = false;
      }
    }
  }
  absl::StrAppend(&json, "],\"fig9_program_ms\":", flags.fig9_kernel_nanos / 1e6, ",\"fig9\":[");
  if (flags.fig9) {
    if (flags.cpu) {
      std::printf("# Figure 9: 4 clients, share policy, tanh over %lld floats per shard, %s, shares of device time per 1 s window\n",
                  static_cast<long long>(flags.cpu_elements), where);
    } else {
      std::printf("# Figure 9: 4 clients, share policy, %.2f ms programs, %s, shares of device time per 1 s window\n",
                  flags.fig9_kernel_nanos / 1e6, where);
    }
    const std::vector<Fig9Config> configs = {{"1:1:1:1", {1, 1, 1, 1}}, {"1:2:4:8", {1, 2, 4, 8}}};
    bool first = true;
    for (const Fig9Config& c : configs) {
      const Fig9Result r = MeasureFig9(flags, c, flags.fig9_kernel_nanos, /*write_trace=*/c.name == "1:2:4:8");
      std::printf("weights %s: utilisation %.1f%%, worst window off by %.2f points (%.1f%% of its share)\n",
                  r.name.c_str(), 100 * r.utilisation, r.max_abs_error, 100 * r.max_rel_error);
      std::vector<std::string> rows;
      for (size_t w = 0; w < r.shares.size(); ++w) {
        std::string row = absl::StrCat("  window ", w + 1, ":");
        for (double s : r.shares[w]) absl::StrAppend(&row, " ", absl::StrFormat("%5.1f%%", 100 * s));
        std::printf("%s\n", row.c_str());
        rows.push_back(absl::StrCat("[", absl::StrJoin(r.shares[w], ","), "]"));
      }
      std::fflush(stdout);
      absl::StrAppend(&json, first ? "" : ",", "{\"weights\":[", absl::StrJoin(r.weights, ","),
                      "],\"utilisation\":", r.utilisation, ",\"max_abs_error_points\":", r.max_abs_error,
                      ",\"max_rel_error\":", r.max_rel_error, ",\"shares\":[", absl::StrJoin(rows, ","), "]}");
      first = false;
    }
  }
  absl::StrAppend(&json, "],\"window_sweep\":[");
  if (flags.fig9 && !flags.cpu) {  // modelled devices only: on CPU devices it measures the machine
    // The admission window's depth: too shallow and the devices wait for the next dispatch; too
    // deep and the runs are ordered by arrival, not by the policy (at 1,024, the FIFO window).
    std::printf("# Window depth, weights 1:2:4:8, %.2f ms programs, %lld runs in flight per client\n",
                flags.fig9_kernel_nanos / 1e6, static_cast<long long>(flags.depth));
    std::printf("%7s %7s %12s\n", "window", "util", "worst error");
    Flags sweep = flags;
    sweep.fig9_seconds = flags.quick ? 2 : 3;
    sweep.depth = std::max<int64_t>(flags.depth, 16);  // enough runs waiting to fill deep windows
    bool first = true;
    for (int64_t window : {int64_t{1}, int64_t{2}, int64_t{4}, int64_t{8}, int64_t{16}, int64_t{64}}) {
      sweep.window = window;
      const Fig9Result r = MeasureFig9(sweep, {"1:2:4:8", {1, 2, 4, 8}}, flags.fig9_kernel_nanos, false);
      std::printf("%7lld %6.1f%% %11.1f%%\n", static_cast<long long>(window), 100 * r.utilisation,
                  100 * r.max_rel_error);
      std::fflush(stdout);
      absl::StrAppend(&json, first ? "" : ",", "{\"window\":", window, ",\"utilisation\":", r.utilisation,
                      ",\"max_rel_error\":", r.max_rel_error, "}");
      first = false;
    }
  }
  bench::WriteJsonRows(std::move(json), flags.json);
  return 0;
}

}  // namespace
}  // namespace pw

int main(int argc, char** argv) { return pw::Main(argc, argv); }
