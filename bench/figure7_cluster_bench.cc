// The paper's Figure 7 across processes: a chain of S stages on different hosts, parallel vs
// sequential dispatch, through pw-controller and pw-worker processes over gRPC (the in-process
// version is BM_Fig7_Pipeline in dispatch_bench.cc).
//
// 4 worker processes of 1 CPU device each; stage i runs on a 1-device slice, and load spreading
// puts consecutive slices on consecutive hosts (i mod 4), so every stage hands its output to
// another host. Each stage is one tanh over 16 Ki floats (~50 µs of compute). Parallel dispatch
// sends every host its whole part of a run at once; sequential dispatch sends stage k+1 only
// once stage k reported to the controller — the round trip through the controller the paper's
// parallel asynchronous dispatch takes off the critical path. One program in flight: the client
// waits for each run, so every stage's dispatch latency is exposed.
//
// PW_BENCH_TRACE_DIR=DIR makes the workers record trace events and writes each row's Chrome
// trace (controller and every host, the last runs) to DIR/<row>.json.
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "pathways/base/logging.h"
#include "pathways/client/client.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/cluster/process_cluster.h"

namespace pw {
namespace {

using ir::FunctionBuilder;
using ir::Value;

constexpr int64_t kHosts = 4;
constexpr int64_t kElements = 16 * 1024;

using bench::Check;

// One cluster for the whole binary (starting processes costs ~1 s); each benchmark connects its
// own client.
struct Cluster {
  std::unique_ptr<ProcessCluster> processes;
  std::shared_ptr<GrpcControllerClient> controller;
};
std::unique_ptr<Cluster>& ClusterSlot() {
  static auto* slot = new std::unique_ptr<Cluster>();
  return *slot;
}
Cluster& TheCluster() {
  std::unique_ptr<Cluster>& slot = ClusterSlot();
  if (slot == nullptr) {
    auto c = std::make_unique<Cluster>();
    ProcessClusterOptions options;
    options.hosts_per_island = kHosts;
    options.devices_per_host = 1;
    options.memory_per_device_bytes = int64_t{256} << 20;
    options.trace = std::getenv("PW_BENCH_TRACE_DIR") != nullptr;
    // A loaded 2-core machine can delay a heartbeat past the default 1.5 s.
    options.heartbeat_timeout = absl::Seconds(10);
    options.dashboard = false;  // its status sampling would run beside what is measured
    c->processes = Check(ProcessCluster::Start(options));
    c->controller = Check(GrpcControllerClient::Connect(c->processes->address()));
    slot = std::move(c);
  }
  return *slot;
}

void BM_Fig7_Processes(benchmark::State& state) {
  const int64_t stages = state.range(0);
  const DispatchMode mode = state.range(1) == 0 ? DispatchMode::kParallel : DispatchMode::kSequential;
  auto client = Check(Client::Connect(TheCluster().controller, absl::StrCat("fig7-", stages)));
  std::vector<VirtualSlice> slices;
  std::vector<PmapFunction> fns;
  for (int64_t i = 0; i < stages; ++i) {
    slices.push_back(Check(client->GetDevices(1)));
    fns.push_back(client->Pmap("stage", slices.back(), [](FunctionBuilder& b, absl::Span<const Value> x) {
      return std::vector<Value>{b.Tanh(x[0])};
    }));
  }
  ProgramTracer t(*client, "pipeline");
  Traced v = t.Input({{ir::DType::kF32, {kElements}}, slices[0].id});
  for (int64_t i = 0; i < stages; ++i) v = fns[i](t, {v})[0];
  Program program = Check(t.Build({v}));
  Array x = Check(client->Put(slices[0], {ir::Literal(ir::TensorType{ir::DType::kF32, {kElements}})}));
  // Warm-up: functions registered on every host, host programs cached, connections open.
  for (int i = 0; i < 3; ++i) PW_CHECK(Check(program.Run({x}, {.mode = mode}))[0].Await().ok());
  int64_t computations = 0;
  for (auto _ : state) {
    Array out = Check(program.Run({x}, {.mode = mode}))[0];
    PW_CHECK(out.Await().ok());
    computations += stages;
  }
  state.counters["computations/s"] = benchmark::Counter(computations, benchmark::Counter::kIsRate);
  if (const char* dir = std::getenv("PW_BENCH_TRACE_DIR"); dir != nullptr) {
    TraceRecorder trace;
    absl::Status s = TheCluster().controller->FetchTrace(trace);
    if (s.ok()) {
      s = trace.WriteJson(absl::StrCat(dir, "/fig7_processes_stages", stages,
                                       mode == DispatchMode::kParallel ? "_parallel" : "_sequential", ".json"));
    }
    if (!s.ok()) std::cerr << "trace: " << s << "\n";
  }
}

// Parallel and sequential alternate per stage count, so each ratio compares neighbours in time.
BENCHMARK(BM_Fig7_Processes)
    ->ArgNames({"stages", "sequential"})
    ->Args({4, 0})->Args({4, 1})->Args({8, 0})->Args({8, 1})->Args({16, 0})->Args({16, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pw

// BENCHMARK_MAIN, plus stopping the cluster's processes before exit.
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  pw::ClusterSlot().reset();
  return 0;
}
