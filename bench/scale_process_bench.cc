// Figure 5 at scale across real processes: 16 to 512 simulated hosts x 4 simulated accelerators
// served by a few pw-worker processes (pw-worker --hosts: every host joins the controller on its
// own port and is driven over gRPC; the hosts of one process share one event loop), the real
// pw-controller, and this process as the client over gRPC — beside the multi-controller baseline
// on the same simulated devices (bench/sim_multi_controller.h, in this process: every host drives
// its own devices, no controller, no CPU cost).
//
// Devices: SimDevices that do not compute, modelled as in scale_sim_bench (a 2 us launch plus a
// tree all-reduce on a TPU-v4-class interconnect). Per row: computations/s of both, the median
// of the pairs' ratios, and the CPU each side of the control plane spends per computation: this
// client process, pw-controller, and every pw-worker process together per host (from
// /proc/<pid>/stat, so every thread counts: gRPC, heartbeats, dispatch, the devices' loop).
// This machine's two cores run every host's CPU work, which a real cluster runs on as many
// machines: the last column projects Pathways with each host on a CPU of its own — a computation
// takes the longest of the kernel, the controller's CPU and one host's CPU per computation
// (OpByOp: their sum plus a round trip of our gRPC path, measured at the start).
//
// Usage: scale_process_bench [--hosts=16,64,...] [--processes=P] [--threads=T] [--seconds=S]
//                            [--pairs=N] [--modes=OpByOp,Chained,Fused] [--json=FILE]
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
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
#include "pathways/base/event_loop.h"
#include "pathways/base/logging.h"
#include "pathways/client/client.h"
#include "pathways/cluster/process_cluster.h"
#include "pathways/device/sim/sim_device.h"
#include "pathways/rpc/grpc_controller_client.h"

namespace pw {
namespace {

constexpr int64_t kDevicesPerHost = 4;
using bench::Check;
using bench::Median;

struct Flags {
  std::vector<int64_t> hosts = {16, 64, 128, 256, 512};
  int64_t processes = 4;
  int64_t threads = 1;
  double seconds = 1.0;
  int pairs = 3;
  std::vector<bench::Fig5Mode> modes = {bench::Fig5Mode::kOpByOp, bench::Fig5Mode::kChained,
                                        bench::Fig5Mode::kFused};
  std::string json = "bench/results/scale_process_bench.json";
};

[[noreturn]] void Usage(const std::string& bad) {
  std::fprintf(stderr,
               "scale_process_bench: bad argument '%s'\nusage: scale_process_bench "
               "[--hosts=16,64,...] [--processes=P] [--threads=T] [--seconds=S] [--pairs=N] "
               "[--modes=OpByOp,Chained,Fused] [--json=FILE]\n",
               bad.c_str());
  std::exit(2);
}

int64_t PositiveInt(const std::string& arg, size_t prefix, int64_t max) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(arg.substr(prefix), &v) || v < 1 || v > max) Usage(arg);
  return v;
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--hosts=", 0) == 0) {
      flags.hosts.clear();
      for (absl::string_view part : absl::StrSplit(arg.substr(8), ',')) {
        int64_t v = 0;
        if (!absl::SimpleAtoi(part, &v) || v < 1 || v > 4096) Usage(arg);
        flags.hosts.push_back(v);
      }
    } else if (arg.rfind("--processes=", 0) == 0) {
      flags.processes = PositiveInt(arg, 12, 64);
    } else if (arg.rfind("--threads=", 0) == 0) {
      flags.threads = PositiveInt(arg, 10, 64);
    } else if (arg.rfind("--pairs=", 0) == 0) {
      flags.pairs = static_cast<int>(PositiveInt(arg, 8, 100));
    } else if (arg.rfind("--seconds=", 0) == 0) {
      double s = 0;
      if (!absl::SimpleAtod(arg.substr(10), &s) || !(s > 0) || s > 600) Usage(arg);
      flags.seconds = s;
    } else if (arg.rfind("--modes=", 0) == 0) {
      flags.modes.clear();
      for (absl::string_view name : absl::StrSplit(arg.substr(8), ',')) {
        absl::StatusOr<bench::Fig5Mode> mode = bench::ParseFig5Mode(std::string(name));
        if (!mode.ok()) Usage(arg);
        flags.modes.push_back(*mode);
      }
    } else if (arg.rfind("--json=", 0) == 0) {
      flags.json = arg.substr(7);
    } else {
      Usage(arg);
    }
  }
  return flags;
}

// CPU time (user + system, every thread) of process `pid`, in nanoseconds; 0 if unreadable.
int64_t ProcessCpuNanos(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(text.substr(close + 2), ' ');
  // Fields after the name start at field 3 (state): utime is field 14, stime 15.
  int64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return 0;
  }
  return (utime + stime) * (1'000'000'000 / sysconf(_SC_CLK_TCK));
}

struct CpuSample {
  int64_t client = 0, controller = 0, workers = 0;
};
CpuSample SampleCpu(const ProcessCluster& cluster) {
  CpuSample s{.client = ProcessCpuNanos(getpid()),
              .controller = ProcessCpuNanos(cluster.controller_pid())};
  for (pid_t pid : cluster.worker_pids()) s.workers += ProcessCpuNanos(pid);
  return s;
}

// The baseline's devices: the same simulated accelerators, in this process, on a loop of their own.
struct BaselineDevices {
  std::unique_ptr<EventLoop> loop;
  std::vector<std::unique_ptr<SimDevice>> devices;  // destroyed before the loop
  std::vector<std::vector<Device*>> hosts;
  ~BaselineDevices() { devices.clear(); }
};
std::unique_ptr<BaselineDevices> MakeBaseline(int64_t hosts) {
  auto b = std::make_unique<BaselineDevices>();
  b->loop = std::make_unique<EventLoop>(EventLoopOptions{.threads = 1, .name = "pw-baseline"});
  for (int64_t h = 0; h < hosts; ++h) {
    b->hosts.emplace_back();
    for (int64_t d = 0; d < kDevicesPerHost; ++d) {
      b->devices.push_back(std::make_unique<SimDevice>(SimDeviceOptions{
          .id = DeviceId(h * kDevicesPerHost + d), .host = HostId(h),
          .model = bench::Fig5SimModel(0), .execute = false, .loop = b->loop.get()}));
      b->hosts.back().push_back(b->devices.back().get());
    }
  }
  return b;
}

struct Row {
  double pathways = 0, baseline = 0, ratio = 0, projected = 0;
  double client_us = 0, controller_us = 0, worker_us_per_host = 0;  // CPU per computation
};

Row Measure(const Flags& flags, Client& client, const ProcessCluster& cluster,
            const BaselineDevices& baseline, int64_t hosts, bench::Fig5Mode mode,
            int64_t one_way_nanos) {
  const int64_t devices = hosts * kDevicesPerHost;
  const WorkCost step = bench::Fig5StepCost(devices, 1);
  const WorkCost fused = bench::Fig5StepCost(devices, bench::kRound);
  std::vector<double> pw, mc, ratio, client_us, controller_us, worker_us;
  for (int p = 0; p < flags.pairs; ++p) {
    CpuSample c0, c1;
    const bench::PathwaysFig5Result a = Check(bench::RunPathwaysFig5(
        client, mode, devices, flags.seconds,
        [&](bool start) { (start ? c0 : c1) = SampleCpu(cluster); }));
    const bench::SimMultiControllerResult b =
        Check(bench::RunSimMultiController(baseline.hosts, mode, step, fused, flags.seconds));
    pw.push_back(a.computations_per_second());
    mc.push_back(b.computations_per_second());
    ratio.push_back(pw.back() / mc.back());
    const double n = static_cast<double>(a.computations);
    client_us.push_back((c1.client - c0.client) / 1e3 / n);
    controller_us.push_back((c1.controller - c0.controller) / 1e3 / n);
    worker_us.push_back((c1.workers - c0.workers) / 1e3 / n / static_cast<double>(hosts));
  }
  Row row{.pathways = Median(pw), .baseline = Median(mc), .ratio = Median(ratio),
          .client_us = Median(client_us), .controller_us = Median(controller_us),
          .worker_us_per_host = Median(worker_us)};
  const SimPerformanceModel model = bench::Fig5SimModel(0);
  const double kernel_us = mode == bench::Fig5Mode::kFused
                               ? model.KernelNanos(fused) / 1e3 / bench::kRound
                               : model.KernelNanos(step) / 1e3;
  const double control_us = row.client_us + row.controller_us;
  const double per_computation_us =
      mode == bench::Fig5Mode::kOpByOp
          ? kernel_us + 2 * one_way_nanos / 1e3 + control_us + row.worker_us_per_host
          : std::max({kernel_us, control_us, row.worker_us_per_host});
  row.projected = std::min(1e6 / per_computation_us, row.baseline) / row.baseline;
  return row;
}

int Main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  std::printf("# Figure 5 across processes: hosts x %lld SimDevices (execute=false, tree "
              "all-reduce) in up to %lld pw-worker processes of %lld loop thread(s); %d pair(s) "
              "of %.2f s per row\n",
              static_cast<long long>(kDevicesPerHost), static_cast<long long>(flags.processes),
              static_cast<long long>(flags.threads), flags.pairs, flags.seconds);
  const int64_t one_way = bench::MeasureGrpcOneWayNanos();
  std::printf("# one-way latency of our gRPC path here: %.0f us\n", one_way / 1e3);
  std::printf("%6s %5s %8s %11s %11s %7s %10s %10s %11s %7s %6s\n", "hosts", "procs", "mode",
              "pathways/s", "baseline/s", "ratio", "client us", "ctl us", "host us", "start", "proj");
  std::string json = "{\"devices_per_host\":4,\"rows\":[";
  bool first = true;
  for (int64_t hosts : flags.hosts) {
    int64_t processes = std::min(flags.processes, hosts);
    while (hosts % processes != 0) --processes;
    const int64_t t0 = MonotonicNanos();
    auto cluster = Check(ProcessCluster::Start(ProcessClusterOptions{
        .hosts_per_island = hosts, .devices_per_host = kDevicesPerHost,
        .hosts_per_worker = hosts / processes, .worker_threads = flags.threads,
        .memory_per_device_bytes = int64_t{1} << 30, .trace = false,
        .device_kind = DeviceKind::kSim, .sim_skip_compute = true,
        .sim_collectives = CollectiveAlgorithm::kTree,
        .start_timeout = absl::Seconds(300), .heartbeat_timeout = absl::Seconds(10),
        .dashboard = false}));
    const double start_s = (MonotonicNanos() - t0) / 1e9;
    auto stub = Check(GrpcControllerClient::Connect(cluster->address()));
    auto client = Check(Client::Connect(*stub, "scale-processes"));
    auto baseline = MakeBaseline(hosts);
    for (bench::Fig5Mode mode : flags.modes) {
      const Row r = Measure(flags, *client, *cluster, *baseline, hosts, mode, one_way);
      const std::string name(bench::Fig5ModeName(mode));
      std::printf("%6lld %5lld %8s %11.0f %11.0f %6.2fx %10.1f %10.1f %11.2f %6.1fs %5.2fx\n",
                  static_cast<long long>(hosts), static_cast<long long>(processes), name.c_str(),
                  r.pathways, r.baseline, r.ratio, r.client_us, r.controller_us,
                  r.worker_us_per_host, start_s, r.projected);
      std::fflush(stdout);
      absl::StrAppend(&json, first ? "" : ",", "{\"hosts\":", hosts, ",\"processes\":", processes,
                      ",\"mode\":\"", name, "\",\"pathways\":", r.pathways, ",\"baseline\":",
                      r.baseline, ",\"ratio\":", r.ratio, ",\"client_us\":", r.client_us,
                      ",\"controller_us\":", r.controller_us, ",\"host_us\":",
                      r.worker_us_per_host, ",\"start_s\":", start_s, ",\"projected\":",
                      r.projected, "}");
      first = false;
    }
    client.reset();
    stub.reset();
    const absl::Status stopped = cluster->Stop();
    PW_CHECK(stopped.ok()) << stopped;
  }
  bench::WriteJsonRows(std::move(json), flags.json);
  return 0;
}

}  // namespace
}  // namespace pw

int main(int argc, char** argv) { return pw::Main(argc, argv); }
