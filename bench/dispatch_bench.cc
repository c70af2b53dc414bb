// Dispatch overhead in one process (the paper's Figures 5 and 7, in shape if not in scale).
//
// Figure 5: every computation is a scalar all-reduce then a scalar add, fed to the next.
//   OpByOp  — one client call per computation, waiting for each;
//   Chained — one program of 128 dependent calls, one submission;
//   Fused   — one function doing 128 computations, one call.
// Reported as computations/s over a gang of N devices (2 hosts x N/2 devices).
//
// Figure 7: a chain of S stages, each on its own host, each a ~100 µs computation; parallel vs
// sequential dispatch, computations/s, with one program in flight (the client waits for each:
// every stage's dispatch latency is exposed) and with 8 in flight (pipelined).
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/client/client.h"
#include "pathways/cluster/local_cluster.h"

namespace pw {
namespace {

using ir::FunctionBuilder;
using ir::Value;

constexpr int64_t kChain = 128;

using bench::Check;

struct Setup {
  std::unique_ptr<LocalCluster> cluster;
  std::unique_ptr<Client> client;
  VirtualSlice slice;
};

// PW_BENCH_TRACE_DIR=DIR records a Chrome trace of each benchmark's cluster into
// DIR/<benchmark name>.json (open in Perfetto) to see where the time goes.
void MaybeStartTrace(LocalCluster& cluster) {
  if (std::getenv("PW_BENCH_TRACE_DIR") != nullptr) cluster.trace().Start();
}
void MaybeWriteTrace(LocalCluster& cluster, std::string name) {
  const char* dir = std::getenv("PW_BENCH_TRACE_DIR");
  if (dir == nullptr) return;
  absl::Status s = cluster.trace().WriteJson(std::string(dir) + "/" + name + ".json");
  if (!s.ok()) PW_LOG(WARNING) << s;
}

Setup MakeSetup(int64_t hosts, int64_t devices_per_host, int64_t slice_devices) {
  Setup s;
  s.cluster = Check(LocalCluster::Start({.hosts_per_island = hosts, .devices_per_host = devices_per_host,
                                         .memory_per_device_bytes = 64 << 20}));
  s.client = Check(Client::Connect(s.cluster->controller(), "bench"));
  s.slice = Check(s.client->GetDevices(slice_devices));
  MaybeStartTrace(*s.cluster);
  return s;
}

std::vector<Value> Step(FunctionBuilder& b, absl::Span<const Value> x, int64_t repeats) {
  Value v = x[0];
  for (int64_t i = 0; i < repeats; ++i) {
    v = b.Add(b.AllReduce(v, ir::ReduceKind::kSum), b.ConstantScalar(1.0f));
  }
  return {v};
}

Array ScalarPerShard(Client& client, const VirtualSlice& slice) {
  std::vector<ir::Literal> shards(slice.devices.size(), ir::Literal::Scalar<float>(0.0f));
  return Check(client.Put(slice, std::move(shards)));
}

void ReportUtilization(benchmark::State& state, LocalCluster& cluster, int64_t busy0, int64_t wall_ns) {
  const int64_t devices = static_cast<int64_t>(cluster.devices().size());
  state.counters["utilization"] =
      static_cast<double>(cluster.total_busy_nanos() - busy0) / (static_cast<double>(wall_ns) * devices);
}

void BM_Fig5_OpByOp(benchmark::State& state) {
  const int64_t n = state.range(0);
  Setup s = MakeSetup(2, n / 2, n);
  PmapFunction step = s.client->Pmap("step", s.slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return Step(b, x, 1);
  });
  Array x = ScalarPerShard(*s.client, s.slice);
  const int64_t busy0 = s.cluster->total_busy_nanos(), t0 = MonotonicNanos();
  int64_t computations = 0;
  for (auto _ : state) {
    x = Check(step({x}))[0];
    PW_CHECK(x.Await().ok());
    ++computations;
  }
  ReportUtilization(state, *s.cluster, busy0, MonotonicNanos() - t0);
  MaybeWriteTrace(*s.cluster, absl::StrCat(__func__, "_", state.range(0)));
  state.counters["computations/s"] = benchmark::Counter(computations, benchmark::Counter::kIsRate);
}

void BM_Fig5_Chained(benchmark::State& state) {
  const int64_t n = state.range(0);
  Setup s = MakeSetup(2, n / 2, n);
  PmapFunction step = s.client->Pmap("step", s.slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return Step(b, x, 1);
  });
  ProgramTracer t(*s.client, "chain");
  Traced v = t.Input({{ir::DType::kF32, {}}, s.slice.id});
  for (int64_t i = 0; i < kChain; ++i) v = step(t, {v})[0];
  Program program = Check(t.Build({v}));
  Array x = ScalarPerShard(*s.client, s.slice);
  const int64_t busy0 = s.cluster->total_busy_nanos(), t0 = MonotonicNanos();
  int64_t computations = 0;
  for (auto _ : state) {
    x = Check(program.Run({x}))[0];
    PW_CHECK(x.Await().ok());
    computations += kChain;
  }
  ReportUtilization(state, *s.cluster, busy0, MonotonicNanos() - t0);
  MaybeWriteTrace(*s.cluster, absl::StrCat(__func__, "_", state.range(0)));
  state.counters["computations/s"] = benchmark::Counter(computations, benchmark::Counter::kIsRate);
}

void BM_Fig5_Fused(benchmark::State& state) {
  const int64_t n = state.range(0);
  Setup s = MakeSetup(2, n / 2, n);
  PmapFunction fused = s.client->Pmap("fused", s.slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return Step(b, x, kChain);
  });
  Array x = ScalarPerShard(*s.client, s.slice);
  const int64_t busy0 = s.cluster->total_busy_nanos(), t0 = MonotonicNanos();
  int64_t computations = 0;
  for (auto _ : state) {
    x = Check(fused({x}))[0];
    PW_CHECK(x.Await().ok());
    computations += kChain;
  }
  ReportUtilization(state, *s.cluster, busy0, MonotonicNanos() - t0);
  MaybeWriteTrace(*s.cluster, absl::StrCat(__func__, "_", state.range(0)));
  state.counters["computations/s"] = benchmark::Counter(computations, benchmark::Counter::kIsRate);
}

// Figure 7: S stages on S hosts (one device each), each stage ~100 µs of elementwise work.
void BM_Fig7_Pipeline(benchmark::State& state) {
  const int64_t stages = state.range(0);
  const DispatchMode mode = state.range(1) == 0 ? DispatchMode::kParallel : DispatchMode::kSequential;
  const int64_t kInFlight = state.range(2);
  constexpr int64_t kElements = 16 * 1024;  // one tanh over 16K floats: ~100 µs on one core
  Setup s;
  s.cluster = Check(LocalCluster::Start({.hosts_per_island = stages, .devices_per_host = 1,
                                         .memory_per_device_bytes = 64 << 20}));
  s.client = Check(Client::Connect(s.cluster->controller(), "pipeline"));
  MaybeStartTrace(*s.cluster);
  ProgramTracer t(*s.client, "pipeline");
  std::vector<PmapFunction> fns;
  std::vector<VirtualSlice> slices;
  for (int64_t i = 0; i < stages; ++i) {
    slices.push_back(Check(s.client->GetDevices(1)));
    fns.push_back(s.client->Pmap("stage", slices.back(), [](FunctionBuilder& b, absl::Span<const Value> x) {
      return std::vector<Value>{b.Tanh(x[0])};
    }));
  }
  Traced v = t.Input({{ir::DType::kF32, {kElements}}, slices[0].id});
  for (int64_t i = 0; i < stages; ++i) v = fns[i](t, {v})[0];
  Program program = Check(t.Build({v}));
  Array x = Check(s.client->Put(slices[0], {ir::Literal(ir::TensorType{ir::DType::kF32, {kElements}})}));
  const int64_t busy0 = s.cluster->total_busy_nanos(), t0 = MonotonicNanos();
  int64_t computations = 0;
  for (auto _ : state) {
    std::vector<Array> outs;
    for (int64_t k = 0; k < kInFlight; ++k) outs.push_back(Check(program.Run({x}, {.mode = mode}))[0]);
    for (Array& o : outs) PW_CHECK(o.Await().ok());
    computations += kInFlight * stages;
  }
  ReportUtilization(state, *s.cluster, busy0, MonotonicNanos() - t0);
  MaybeWriteTrace(*s.cluster, absl::StrCat(__func__, "_", state.range(0)));
  state.counters["computations/s"] = benchmark::Counter(computations, benchmark::Counter::kIsRate);
}

BENCHMARK(BM_Fig5_OpByOp)->Arg(4)->Arg(8)->Arg(16)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Fig5_Chained)->Arg(4)->Arg(8)->Arg(16)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Fig5_Fused)->Arg(4)->Arg(8)->Arg(16)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Fig7_Pipeline)
    ->ArgNames({"stages", "sequential", "in_flight"})
    ->ArgsProduct({{2, 4, 8, 16}, {0, 1}, {1, 8}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pw

BENCHMARK_MAIN();
