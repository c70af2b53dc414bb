// The paper's Figures 5 and 6 at the paper's scale, on simulated hosts: 2 to 512 hosts x 4
// simulated accelerators in one process, the real controller, resource manager, gang scheduler,
// lowering and host executors on one EventLoop of two threads, beside a multi-controller baseline
// on the same simulated devices (bench/sim_multi_controller.h: every host drives its devices
// itself, no controller).
//
// Devices: SimDevices that do not compute (execute = false). Figure 5's computation is the
// paper's: a scalar all-reduce over every device, then +1, fed to the next; it costs a 2 us launch
// plus the all-reduce on a TPU-v4-class interconnect (1 us per step) by a tree (2 log2 n steps:
// a scalar is latency-bound, and a torus reduces in O(log n) or fewer steps, where a ring would
// take 2 (n - 1)). Network: every controller <-> host message pays `control latency` one way,
// measured (half the round trip of our own unary gRPC call on this machine) and 100 us (a
// data-center RPC). The client talks to the controller in-process.
//
// Figure 5: computations/s per mode and size, Pathways and baseline alternating (pairs), the
// ratio the median of the pairs' ratios; also the control plane's CPU per computation (the
// client and the controller, including its handling of the hosts' reports on the network's
// timer thread; the network's own bookkeeping is the simulator's and is left out).
// Figure 6: the smallest computation length (every kernel takes exactly that long) at which
// Pathways OpByOp with asynchronous dispatch (calls chained through futures, up to 16 in flight,
// as a client issues them) reaches >= 95 % of the baseline's throughput: predicted as the control
// plane's or one host's CPU per call, whichever is larger (Figure 5 OpByOp), then measured upwards
// in steps of 1.5x from half of it (up to 100 ms), then bisected twice; a length at which the baseline cannot keep its
// devices 90 % busy is beyond what this machine simulates in real time and is skipped.
//
// Usage: scale_sim_bench [--quick] [--hosts=2,4,...] [--seconds=S] [--pairs=N] [--threads=T]
//                        [--modes=OpByOp,Chained,Fused] [--no_grpc] [--no_fig6] [--json=FILE]
#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_util.h"
#include "bench/grpc_latency.h"
#include "bench/multi_controller.h"
#include "bench/pathways_fig5.h"
#include "bench/sim_multi_controller.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/client/client.h"
#include "pathways/cluster/local_cluster.h"
#include "pathways/ir/builder.h"

namespace pw {
namespace {

constexpr int64_t kDevicesPerHost = 4;

using bench::Check;

using bench::Median;

struct Flags {
  std::vector<int64_t> hosts = {2, 4, 8, 16, 32, 64, 128, 256, 512};
  double seconds = 0.3;
  int pairs = 3;
  int threads = 2;
  bool grpc = true;
  bool fig6 = true;
  std::vector<bench::Fig5Mode> modes = {bench::Fig5Mode::kOpByOp, bench::Fig5Mode::kChained,
                                        bench::Fig5Mode::kFused};
  std::string json = "bench/results/scale_sim_bench.json";
};

// CPU time of this process's threads whose name starts with one of `prefixes` (nanoseconds,
// from /proc/self/task/*/schedstat), and of all threads.
struct CpuSplit {
  int64_t matching = 0;
  int64_t total = 0;
};
CpuSplit ThreadCpu(const std::vector<std::string>& prefixes) {
  CpuSplit out;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string base = absl::StrCat("/proc/self/task/", e->d_name);
    std::ifstream stat(base + "/schedstat"), comm(base + "/comm");
    int64_t ns = 0;
    std::string name;
    if (!(stat >> ns)) continue;
    std::getline(comm, name);
    out.total += ns;
    for (const std::string& p : prefixes) {
      if (name.rfind(p, 0) == 0) {
        out.matching += ns;
        break;
      }
    }
  }
  closedir(dir);
  return out;
}
// CPU time of the client and controller (every thread but the simulated hosts' loop and the
// network's timer thread, plus the controller's handling of the hosts' reports, which runs on
// that thread and is timed there) and of the simulated hosts and devices (the loop).
struct CpuSample {
  int64_t control = 0;
  int64_t hosts = 0;
};
CpuSample SampleCpu(const LocalCluster& cluster) {
  const CpuSplit loop = ThreadCpu({"pw-cluster"});
  const CpuSplit net = ThreadCpu({"pw-sim-net"});
  const int64_t reports = cluster.network() != nullptr ? cluster.network()->controller_cpu_nanos() : 0;
  return CpuSample{.control = loop.total - loop.matching - net.matching + reports,
                   .hosts = loop.matching};
}

using bench::Fig5StepCost;
using bench::Fig5Steps;
using bench::Fig5SimModel;

struct Sim {
  std::unique_ptr<LocalCluster> cluster;
  std::unique_ptr<Client> client;  // destroyed first: clients go before their cluster
  std::vector<std::vector<Device*>> hosts;
  void Reset() {
    hosts.clear();
    client.reset();
    cluster.reset();
  }
};

Sim MakeSim(const Flags& flags, int64_t hosts, int64_t latency, int64_t kernel_nanos) {
  const SimPerformanceModel model = Fig5SimModel(kernel_nanos);
  Sim sim;
  sim.cluster = Check(LocalCluster::Start(LocalClusterOptions{
      .hosts_per_island = hosts, .devices_per_host = kDevicesPerHost,
      .memory_per_device_bytes = int64_t{1} << 30, .device_kind = DeviceKind::kSim,
      .sim = SimDeviceOptions{.model = model, .execute = false},
      .network = NetworkModel{.control_latency_nanos = latency},
      .shared_threads = flags.threads}));
  sim.client = Check(Client::Connect(sim.cluster->controller(), "scale"));
  for (int64_t h = 0; h < sim.cluster->num_hosts(); ++h) sim.hosts.emplace_back();
  for (Device* d : sim.cluster->devices()) {
    for (int64_t h = 0; h < sim.cluster->num_hosts(); ++h) {
      if (sim.cluster->host_id(h) == d->host()) sim.hosts[h].push_back(d);
    }
  }
  return sim;
}

struct Cell {
  double pathways = 0, baseline = 0, ratio = 0, pw_util = 0, mc_util = 0;
  // Per computation over the timed part: client + controller CPU, and the simulated hosts' CPU
  // (their dispatch and their devices' simulation) per host.
  double cpu_us = 0, host_cpu_us = 0;
  // On a real cluster, where every host has its own CPU: the devices' modelled bound (the
  // baseline's ideal), and Pathways at the slowest of that, the control plane's CPU per
  // computation and one host's (plus, OpByOp, the kernel, both latencies and both CPUs in series).
  double ideal = 0, projected = 0;
};


// `pairs` alternating samples of Pathways and the baseline.
Cell Measure(const Flags& flags, Sim& sim, bench::Fig5Mode mode, double seconds, int64_t latency) {
  const int64_t devices = sim.cluster->num_hosts() * kDevicesPerHost;
  const WorkCost step = Fig5StepCost(devices, 1), fused = Fig5StepCost(devices, bench::kRound);
  std::vector<double> pw, mc, ratio, cpu, host_cpu, pu, mu;
  for (int p = 0; p < flags.pairs; ++p) {
    CpuSample cpu0, cpu1;
    bench::PathwaysFig5Result a = Check(bench::RunPathwaysFig5(
        *sim.client, mode, devices, seconds, [&](bool start) { (start ? cpu0 : cpu1) = SampleCpu(*sim.cluster); }));
    bench::SimMultiControllerResult b =
        Check(bench::RunSimMultiController(sim.hosts, mode, step, fused, seconds));
    pw.push_back(a.computations_per_second());
    mc.push_back(b.computations_per_second());
    ratio.push_back(a.computations_per_second() / b.computations_per_second());
    cpu.push_back(static_cast<double>(cpu1.control - cpu0.control) / 1e3 / static_cast<double>(a.computations));
    host_cpu.push_back(static_cast<double>(cpu1.hosts - cpu0.hosts) / 1e3 /
                       static_cast<double>(a.computations) / static_cast<double>(sim.cluster->num_hosts()));
    pu.push_back(a.utilization);
    mu.push_back(b.utilization);
  }
  Cell cell{.pathways = Median(pw), .baseline = Median(mc), .ratio = Median(ratio),
            .pw_util = Median(pu), .mc_util = Median(mu), .cpu_us = Median(cpu),
            .host_cpu_us = Median(host_cpu)};
  const SimPerformanceModel model = sim.cluster->options().sim.model;
  const double kernel_us = mode == bench::Fig5Mode::kFused
                               ? model.KernelNanos(fused) / 1e3 / bench::kRound
                               : model.KernelNanos(step) / 1e3;
  cell.ideal = 1e6 / kernel_us;
  const double per_computation_us =
      mode == bench::Fig5Mode::kOpByOp
          ? kernel_us + 2 * latency / 1e3 + cell.cpu_us + cell.host_cpu_us
          : std::max({kernel_us, cell.cpu_us, cell.host_cpu_us});
  cell.projected = 1e6 / per_computation_us;
  return cell;
}

struct Fig6 {
  double predicted_ms = 0, found_ms = 0, ratio = 0, below_ratio = 0;
  // Probes skipped because the baseline could not keep its devices busy (the simulator's limit).
  int simulator_bound = 0;
};

// OpByOp with asynchronous dispatch, as a client with futures issues it: each call takes the
// previous call's output and returns at once; up to kWindow calls are in flight (the client
// waits for the oldest beyond that). Computations/s over about `seconds`.
double AsyncOpByOp(Sim& sim, double seconds) {
  constexpr size_t kWindow = 16;
  const int64_t devices = sim.cluster->num_hosts() * kDevicesPerHost;
  VirtualSlice slice = Check(sim.client->GetDevices(devices));
  PmapFunction step = sim.client->Pmap("step", slice, [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
    return Fig5Steps(b, x, 1);
  });
  std::vector<ir::Literal> shards(devices, ir::Literal::Scalar<float>(0.0f));
  Array x = Check(sim.client->Put(slice, std::move(shards)));
  for (int i = 0; i < 4; ++i) x = Check(step({x}))[0];  // warm-up: compile, register, lower
  PW_CHECK(x.Await().ok());
  std::deque<Array> in_flight;
  int64_t computations = 0;
  const int64_t t0 = MonotonicNanos(), until = t0 + static_cast<int64_t>(seconds * 1e9);
  while (MonotonicNanos() < until) {
    x = Check(step({x}))[0];
    in_flight.push_back(x);
    ++computations;
    if (in_flight.size() > kWindow) {
      PW_CHECK(in_flight.front().Await().ok());
      in_flight.pop_front();
    }
  }
  PW_CHECK(x.Await().ok());
  return computations * 1e9 / static_cast<double>(MonotonicNanos() - t0);
}

// Pathways asynchronous OpByOp / baseline (every host enqueues the same kernels back to back)
// at computations of exactly `kernel_nanos`: the median of the pairs' ratios, and the baseline's
// device utilization (below ~0.9 the simulator itself cannot keep up in real time).
struct Probe {
  double ratio = 0;
  double baseline_utilization = 0;
};
Probe OpByOpProbe(const Flags& flags, int64_t hosts, int64_t latency, int64_t kernel_nanos) {
  Sim sim = MakeSim(flags, hosts, latency, kernel_nanos);
  // At least ~24 computations per sample.
  const double seconds = std::max(flags.seconds, 24 * kernel_nanos / 1e9);
  const WorkCost step = Fig5StepCost(hosts * kDevicesPerHost, 1);
  std::vector<double> ratios, utils;
  for (int p = 0; p < std::max(1, flags.pairs / 2); ++p) {
    const double a = AsyncOpByOp(sim, seconds);
    const bench::SimMultiControllerResult b = Check(
        bench::RunSimMultiController(sim.hosts, bench::Fig5Mode::kChained, step, step, seconds));
    ratios.push_back(a / b.computations_per_second());
    utils.push_back(b.utilization);
  }
  return Probe{Median(ratios), Median(utils)};
}

Fig6 FindFig6(const Flags& flags, int64_t hosts, int64_t latency, const Cell& opbyop) {
  // Asynchronous calls pipeline the latency away; what remains is the work per call of the
  // control plane (client + controller CPU) and of each host, which on a real cluster run
  // side by side: a computation at least as long as the slower one hides both. On this
  // simulator every host's work shares two threads, so the search starts below that and climbs.
  const double overhead = std::max(opbyop.cpu_us, opbyop.host_cpu_us) * 1e3;
  Fig6 out;
  out.predicted_ms = overhead / 1e6;
  double t = std::max(20'000.0, overhead / 2);
  for (int i = 0; i < 16 && t <= 100e6; ++i, t *= 1.5) {
    const Probe probe = OpByOpProbe(flags, hosts, latency, static_cast<int64_t>(t));
    if (probe.baseline_utilization < 0.9) {
      ++out.simulator_bound;
      continue;
    }
    if (probe.ratio >= 0.95) {
      out.found_ms = t / 1e6;
      out.ratio = probe.ratio;
      // Two geometric bisections between the last length that fell short and this one.
      double lo = t / 1.5, hi = t;
      for (int b = 0; b < 2 && out.below_ratio > 0; ++b) {
        const double mid = std::sqrt(lo * hi);
        const Probe p = OpByOpProbe(flags, hosts, latency, static_cast<int64_t>(mid));
        if (p.baseline_utilization >= 0.9 && p.ratio >= 0.95) {
          hi = mid;
          out.found_ms = mid / 1e6;
          out.ratio = p.ratio;
        } else {
          lo = mid;
          out.below_ratio = p.ratio;
        }
      }
      return out;
    }
    out.below_ratio = probe.ratio;
  }
  return out;
}

std::vector<int64_t> ParseList(const std::string& text) {
  std::vector<int64_t> out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1 || v > 4096) {
      std::fprintf(stderr, "scale_sim_bench: bad host count '%s' in --hosts\n", std::string(part).c_str());
      std::exit(2);
    }
    out.push_back(v);
  }
  return out;
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      flags.hosts = {2, 16, 64};
      flags.seconds = 0.15;
      flags.pairs = 1;
    } else if (arg.rfind("--hosts=", 0) == 0) {
      flags.hosts = ParseList(arg.substr(8));
    } else if (arg.rfind("--seconds=", 0) == 0) {
      flags.seconds = std::max(0.01, std::atof(arg.c_str() + 10));
    } else if (arg.rfind("--pairs=", 0) == 0) {
      flags.pairs = std::max(1, std::atoi(arg.c_str() + 8));
    } else if (arg.rfind("--threads=", 0) == 0) {
      flags.threads = std::max(1, std::atoi(arg.c_str() + 10));
    } else if (arg.rfind("--modes=", 0) == 0) {
      flags.modes.clear();
      for (absl::string_view name : absl::StrSplit(arg.substr(8), ',')) {
        absl::StatusOr<bench::Fig5Mode> mode = bench::ParseFig5Mode(std::string(name));
        if (!mode.ok()) {
          std::fprintf(stderr, "scale_sim_bench: %s\n", mode.status().ToString().c_str());
          std::exit(2);
        }
        flags.modes.push_back(*mode);
      }
    } else if (arg == "--no_grpc") {
      flags.grpc = false;
    } else if (arg == "--no_fig6") {
      flags.fig6 = false;
    } else if (arg.rfind("--json=", 0) == 0) {
      flags.json = arg.substr(7);
    } else {
      std::fprintf(stderr,
                   "scale_sim_bench: unknown argument '%s'\nusage: scale_sim_bench [--quick] "
                   "[--hosts=2,4,...] [--seconds=S] [--pairs=N] [--threads=T] [--modes=M,...] [--no_grpc] "
                   "[--no_fig6] [--json=FILE]\n",
                   arg.c_str());
      std::exit(2);
    }
  }
  return flags;
}

int Main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  std::vector<int64_t> latencies;
  if (flags.grpc) latencies.push_back(bench::MeasureGrpcOneWayNanos());
  latencies.push_back(100'000);
  std::printf("# Figures 5 and 6 on simulated hosts x %lld SimDevices (execute=false), %d shared "
              "threads, %d pair(s) of %.2f s per cell\n",
              static_cast<long long>(kDevicesPerHost), flags.threads, flags.pairs, flags.seconds);
  std::printf("%7s %6s %8s %11s %11s %7s %9s %9s %6s %6s %10s %10s %6s\n", "latency", "hosts", "mode",
              "pathways/s", "baseline/s", "ratio", "ctl us/c", "host us/c", "pw ut", "mc ut", "ideal/s",
              "proj/s", "proj");
  std::string json = "{\"devices_per_host\":4,\"rows\":[";
  bool first = true;
  for (int64_t latency : latencies) {
    for (int64_t hosts : flags.hosts) {
      const int64_t t0 = MonotonicNanos();
      Sim sim = MakeSim(flags, hosts, latency, 0);
      const double start_s = (MonotonicNanos() - t0) / 1e9;
      Cell opbyop;
      for (bench::Fig5Mode mode : flags.modes) {
        const Cell c = Measure(flags, sim, mode, flags.seconds, latency);
        if (mode == bench::Fig5Mode::kOpByOp) opbyop = c;
        const std::string name(bench::Fig5ModeName(mode));
        std::printf("%5.0fus %6lld %8s %11.0f %11.0f %6.2fx %9.1f %9.2f %5.0f%% %5.0f%% %10.0f %10.0f %5.2fx\n",
                    latency / 1e3, static_cast<long long>(hosts), name.c_str(), c.pathways, c.baseline,
                    c.ratio, c.cpu_us, c.host_cpu_us, 100 * c.pw_util, 100 * c.mc_util, c.ideal,
                    c.projected, c.projected / c.ideal);
        std::fflush(stdout);
        absl::StrAppend(&json, first ? "" : ",", "{\"latency_us\":", latency / 1e3, ",\"hosts\":", hosts,
                        ",\"mode\":\"", name, "\",\"pathways\":", c.pathways, ",\"baseline\":", c.baseline,
                        ",\"ratio\":", c.ratio, ",\"cpu_us\":", c.cpu_us, ",\"host_cpu_us\":", c.host_cpu_us, ",\"pw_util\":", c.pw_util, ",\"mc_util\":", c.mc_util, ",\"ideal\":", c.ideal, ",\"projected\":", c.projected, ",\"start_s\":", start_s, "}");
        first = false;
      }
      const EventLoop* loop = sim.cluster->shared_loop();
      std::printf("#   %lld hosts: cluster start %.2f s; timer slack mean %.1f us, max %.0f us over %lld timers\n",
                  static_cast<long long>(hosts), start_s,
                  loop->timer_slack_count() > 0 ? loop->timer_slack_total_nanos() / 1e3 / loop->timer_slack_count() : 0.0,
                  loop->timer_slack_max_nanos() / 1e3, static_cast<long long>(loop->timer_slack_count()));
      sim.Reset();
      if (flags.fig6 && opbyop.pathways > 0) {
        const Fig6 f = FindFig6(flags, hosts, latency, opbyop);
        std::printf("#   Figure 6, %lld hosts, %.0f us: projected %.3f ms; on this simulator >= 0.95x "
                    "first at %.3f ms (%.3fx; %.3fx just below; %d shorter lengths beyond the "
                    "simulator)\n",
                    static_cast<long long>(hosts), latency / 1e3, f.predicted_ms, f.found_ms, f.ratio,
                    f.below_ratio, f.simulator_bound);
        std::fflush(stdout);
        absl::StrAppend(&json, ",{\"latency_us\":", latency / 1e3, ",\"hosts\":", hosts,
                        ",\"mode\":\"fig6\",\"predicted_ms\":", f.predicted_ms, ",\"found_ms\":", f.found_ms,
                        ",\"ratio\":", f.ratio, ",\"below_ratio\":", f.below_ratio, ",\"simulator_bound\":", f.simulator_bound, "}");
      }
    }
  }
  bench::WriteJsonRows(std::move(json), flags.json);
  return 0;
}

}  // namespace
}  // namespace pw

int main(int argc, char** argv) { return pw::Main(argc, argv); }
