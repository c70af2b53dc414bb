// The paper's Figure 7 at the paper's scale, on simulated hosts: a chain of S stages, each on a
// different host, parallel vs sequential dispatch, computations/s. The controller, scheduler,
// executors and data plane are the real code; the accelerators are SimDevices whose kernels
// take a modelled 100 us without computing (execute = false: the outputs are not computed, so
// 64 hosts' worth of kernels burn no CPU and the measurement is the runtime's, not this
// machine's two cores'), and the network is modelled (LocalClusterOptions::network): every
// controller <-> host message pays `control_latency` one way (data-center RPC), every stage's
// hand-off to the next host pays 5 us plus its bytes at 50 GB/s (an ICI link).
//
// Each (S, latency) row builds one cluster of S hosts x 1 device and alternates parallel and
// sequential samples, so each ratio compares neighbours in time. The row "measured" uses the
// one-way latency of our own gRPC transport on this machine: half the median round trip of a
// trivial unary call to a pw-controller process (ProcessCluster with one worker).
//
// --scale: chains of 16 to 512 stages at 100 us one way (a data-center RPC), every host and device
// on two shared threads, with the parallel side's time per stage against its floor (kernel +
// hand-off, 106.3 us).
//
// Usage: figure7_sim_bench [--quick] [--rounds=N] [--sample_ms=M] [--no_grpc] [--scale]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "bench/grpc_latency.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/client/client.h"
#include "pathways/cluster/local_cluster.h"

namespace pw {
namespace {

using ir::FunctionBuilder;
using ir::Value;

constexpr int64_t kKernelNanos = 100'000;   // every stage: 100 us on its accelerator
constexpr int64_t kElements = 16 * 1024;    // 64 KiB hand-off between stages
constexpr int64_t kTransferLatency = 5'000;  // ICI-class link: 5 us + 50 GB/s
constexpr double kTransferBandwidth = 50e9;

using bench::Check;

using bench::Median;

struct Flags {
  int rounds = 3;
  int64_t sample_nanos = 150'000'000;
  bool grpc = true;
  bool quick = false;
  // 16 to 512 stages on shared threads at the data-center RPC latency only.
  bool scale = false;
};

// One cluster of `stages` hosts and the chain program on it.
struct Pipeline {
  std::unique_ptr<LocalCluster> cluster;
  std::unique_ptr<Client> client;
  std::optional<Program> program;
  std::optional<Array> x;
};

// Shared threads for every host and device (execute = false only; 0: a thread each).
int shared_threads = 0;

Pipeline MakePipeline(int64_t stages, int64_t control_latency, bool execute) {
  Pipeline p;
  p.cluster = Check(LocalCluster::Start(LocalClusterOptions{
      .hosts_per_island = stages, .devices_per_host = 1,
      .memory_per_device_bytes = int64_t{64} << 20, .device_kind = DeviceKind::kSim,
      .sim = SimDeviceOptions{.model = {.kernel_nanos = kKernelNanos}, .execute = execute},
      .network = NetworkModel{.control_latency_nanos = control_latency,
                              .interconnect = {.ici = {.latency_nanos = kTransferLatency,
                                                       .bytes_per_second = kTransferBandwidth}}},
      .shared_threads = execute ? 0 : shared_threads}));
  p.client = Check(Client::Connect(p.cluster->controller(), "fig7-sim"));
  ProgramTracer t(*p.client, "pipeline");
  std::vector<PmapFunction> fns;
  std::vector<VirtualSlice> slices;
  for (int64_t i = 0; i < stages; ++i) {
    slices.push_back(Check(p.client->GetDevices(1)));
    fns.push_back(p.client->Pmap("stage", slices.back(), [](FunctionBuilder& b, absl::Span<const Value> x) {
      return std::vector<Value>{b.Tanh(x[0])};
    }));
  }
  Traced v = t.Input({{ir::DType::kF32, {kElements}}, slices[0].id});
  for (int64_t i = 0; i < stages; ++i) v = fns[i](t, {v})[0];
  p.program = Check(t.Build({v}));
  std::vector<float> input(kElements);
  for (int64_t i = 0; i < kElements; ++i) input[i] = static_cast<float>(i % 97) / 50.0f - 1.0f;
  std::vector<ir::Literal> shards;
  shards.push_back(Check(ir::Literal::Create<float>(ir::Shape{kElements}, absl::MakeConstSpan(input))));
  p.x = Check(p.client->Put(slices[0], std::move(shards)));
  return p;
}

struct Sample {
  double computations_per_s = 0;
  double utilization = 0;
};

// Runs for about `nanos`, `in_flight` programs at a time; at least two batches.
Sample Measure(Pipeline& p, int64_t stages, DispatchMode mode, int64_t in_flight, int64_t nanos) {
  const int64_t busy0 = p.cluster->total_busy_nanos(), t0 = MonotonicNanos();
  int64_t computations = 0, batches = 0;
  while (batches < 2 || MonotonicNanos() - t0 < nanos) {
    std::vector<Array> outs;
    for (int64_t k = 0; k < in_flight; ++k) outs.push_back(Check(p.program->Run({*p.x}, {.mode = mode}))[0]);
    for (Array& o : outs) PW_CHECK(o.Await().ok());
    computations += in_flight * stages;
    ++batches;
  }
  const double wall = static_cast<double>(MonotonicNanos() - t0);
  return Sample{.computations_per_s = computations / (wall * 1e-9),
                .utilization = static_cast<double>(p.cluster->total_busy_nanos() - busy0) /
                               (wall * static_cast<double>(stages))};
}

void Row(const Flags& flags, int64_t stages, int64_t latency, const std::string& label,
         int64_t in_flight) {
  Pipeline p = MakePipeline(stages, latency, /*execute=*/false);
  for (DispatchMode mode : {DispatchMode::kParallel, DispatchMode::kSequential}) {
    for (int i = 0; i < 2; ++i) PW_CHECK(Check(p.program->Run({*p.x}, {.mode = mode}))[0].Await().ok());
  }
  std::vector<double> par, seq, ratio, par_util, seq_util;
  for (int r = 0; r < flags.rounds; ++r) {
    Sample a = Measure(p, stages, DispatchMode::kParallel, in_flight, flags.sample_nanos);
    Sample b = Measure(p, stages, DispatchMode::kSequential, in_flight, flags.sample_nanos);
    par.push_back(a.computations_per_s);
    seq.push_back(b.computations_per_s);
    ratio.push_back(a.computations_per_s / b.computations_per_s);
    par_util.push_back(a.utilization);
    seq_util.push_back(b.utilization);
  }
  const SimulatedNetwork* net = p.cluster->network();
  if (flags.scale) {
    // Per stage of one program, against its floor: the kernel and the hand-off to the next host.
    const double floor_us = (kKernelNanos + kTransferLatency + kElements * 4 / kTransferBandwidth * 1e9) / 1e3;
    std::printf("%6lld %9lld %10s %9.0f %10.0f %6.2fx %7.0f%% %7.0f%% %8.1f %9.1f %7.1f\n",
                static_cast<long long>(stages), static_cast<long long>(in_flight), label.c_str(),
                Median(par), Median(seq), Median(ratio), 100 * Median(par_util), 100 * Median(seq_util),
                net != nullptr && net->delivered() > 0
                    ? static_cast<double>(net->late_total_nanos()) / net->delivered() / 1000
                    : 0.0,
                1e6 * in_flight / Median(par), floor_us);
    std::fflush(stdout);
    return;
  }
  std::printf("%6lld %9lld %10s %9.0f %10.0f %6.2fx %7.0f%% %7.0f%% %8.1f\n",
              static_cast<long long>(stages), static_cast<long long>(in_flight), label.c_str(),
              Median(par), Median(seq), Median(ratio), 100 * Median(par_util),
              100 * Median(seq_util),
              net != nullptr && net->delivered() > 0
                  ? static_cast<double>(net->late_total_nanos()) / net->delivered() / 1000
                  : 0.0);
  std::fflush(stdout);
}

// Parallel and sequential dispatch compute the same values (kernels executed for real).
void CheckResultsEqual(int64_t stages, int64_t latency) {
  Pipeline p = MakePipeline(stages, latency, /*execute=*/true);
  ir::Literal a = Check(Check(p.program->Run({*p.x}, {.mode = DispatchMode::kParallel}))[0].ToLiteral());
  ir::Literal b = Check(Check(p.program->Run({*p.x}, {.mode = DispatchMode::kSequential}))[0].ToLiteral());
  PW_CHECK(a == b) << "parallel and sequential dispatch disagree";
  std::printf("# execute=true, S=%lld: parallel and sequential outputs identical (%lld floats, "
              "first %.6f)\n",
              static_cast<long long>(stages), static_cast<long long>(kElements),
              a.data<float>()[1]);
}

void SimDeviceSlack() {
  // The device's own wake-up error: kernels back to back, slept through.
  SimDevice device(SimDeviceOptions{.model = {.kernel_nanos = kKernelNanos}, .execute = false});
  for (int i = 0; i < 200; ++i) {
    device.Enqueue(StreamWork{.name = "k", .fn = [] { return absl::OkStatus(); }, .cost = WorkCost{}});
  }
  PW_CHECK(device.Synchronize().ok());
  std::printf("# SimDevice wake-up slack after a 100 us kernel: mean %.1f us, max %.1f us (%lld "
              "wake-ups; back-to-back kernels do not accumulate it)\n",
              static_cast<double>(device.wake_slack_total_nanos()) / device.wake_slack_count() / 1000,
              static_cast<double>(device.wake_slack_max_nanos()) / 1000,
              static_cast<long long>(device.wake_slack_count()));
}

int Main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") {
      flags.quick = true;
      flags.rounds = 1;
      flags.sample_nanos = 60'000'000;
    } else if (arg.rfind("--rounds=", 0) == 0) {
      flags.rounds = std::max(1, std::atoi(arg.c_str() + 9));
    } else if (arg.rfind("--sample_ms=", 0) == 0) {
      flags.sample_nanos = int64_t{1'000'000} * std::max(1, std::atoi(arg.c_str() + 12));
    } else if (arg == "--no_grpc") {
      flags.grpc = false;
    } else if (arg == "--scale") {
      flags.scale = true;
    } else {
      std::fprintf(stderr, "figure7_sim_bench: unknown argument '%s'\n"
                           "usage: figure7_sim_bench [--quick] [--rounds=N] [--sample_ms=M] [--no_grpc] [--scale]\n",
                   arg.c_str());
      return 2;
    }
  }
  std::printf("# Figure 7 on simulated hosts: S stages x 1 SimDevice (kernel 100 us, execute=false), "
              "hand-off 64 KiB over 5 us + 50 GB/s, %d round(s) of %lld ms per mode\n",
              flags.rounds, static_cast<long long>(flags.sample_nanos / 1'000'000));
  if (flags.scale) {
    shared_threads = 2;
    std::printf("%6s %9s %10s %9s %10s %7s %8s %8s %8s %9s %7s\n", "stages", "in_flight", "control",
                "par c/s", "seq c/s", "ratio", "par util", "seq util", "late us", "us/stage", "floor");
    for (int64_t in_flight : {int64_t{1}, int64_t{8}}) {
      for (int64_t s : {16, 32, 64, 128, 256, 512}) Row(flags, s, 100'000, "100 us", in_flight);
    }
    return 0;
  }
  SimDeviceSlack();
  const int64_t measured = flags.grpc ? bench::MeasureGrpcOneWayNanos() : 0;
  CheckResultsEqual(16, measured > 0 ? measured : 100'000);
  std::printf("%6s %9s %10s %9s %10s %7s %8s %8s %8s\n", "stages", "in_flight", "control",
              "par c/s", "seq c/s", "ratio", "par util", "seq util", "late us");
  const std::vector<int64_t> stages = flags.quick ? std::vector<int64_t>{4, 16, 64}
                                                  : std::vector<int64_t>{2, 4, 8, 16, 32, 64};
  const std::vector<int64_t> latencies = {0, 50'000, 100'000, 250'000, 500'000};
  for (int64_t in_flight : {int64_t{1}, int64_t{8}}) {
    for (int64_t latency : latencies) {
      for (int64_t s : stages) Row(flags, s, latency, absl::StrCat(latency / 1000, " us"), in_flight);
    }
    if (measured > 0) {
      Row(flags, 16, measured, absl::StrCat(measured / 1000, " us*"), in_flight);
    }
  }
  if (measured > 0) std::printf("# * measured: one-way gRPC latency on this machine\n");
  return 0;
}

}  // namespace
}  // namespace pw

int main(int argc, char** argv) { return pw::Main(argc, argv); }
