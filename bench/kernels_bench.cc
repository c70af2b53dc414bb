// Benchmarks of the CPU kernels layer: compiled dot vs oneDNN direct, an elementwise chain's
// bandwidth, and the per-call cost of Execute for a tiny function.
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "pathways/base/logging.h"
#include "pathways/ir/builder.h"
#include "pathways/kernels/cpu_executable.h"

namespace pw {
namespace {

// 64-byte aligned float buffer filled with small random values.
struct Buffer {
  explicit Buffer(int64_t n, uint32_t seed = 1) : size(n) {
    data.reset(static_cast<float*>(::operator new(n * sizeof(float) + 64, std::align_val_t{64})));
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (int64_t i = 0; i < n; ++i) data.get()[i] = dist(rng);
  }
  struct Delete {
    void operator()(float* p) const { ::operator delete(p, std::align_val_t{64}); }
  };
  int64_t size;
  std::unique_ptr<float, Delete> data;
  float* get() const { return data.get(); }
};

std::shared_ptr<const CpuExecutable> CompileOrDie(absl::StatusOr<ir::Function> f) {
  PW_CHECK(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  PW_CHECK(exe.ok()) << exe.status();
  return *std::move(exe);
}

// Reported as GFLOP=<x>/s.
void SetFlops(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOP"] =
      benchmark::Counter(flops_per_iter / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// (a) dot_general [n,n] x [n,n] f32 inside a compiled function.
void BM_DotCompiled(benchmark::State& state) {
  const int64_t n = state.range(0);
  ir::FunctionBuilder b("matmul");
  ir::Value x = b.Parameter({ir::DType::kF32, ir::Shape({n, n})});
  ir::Value y = b.Parameter({ir::DType::kF32, ir::Shape({n, n})});
  auto exe = CompileOrDie(b.Build({b.Dot(x, y)}));
  Buffer lhs(n * n, 1), rhs(n * n, 2), out(n * n), scratch(exe->scratch_bytes() / 4 + 16);
  const void* args[] = {lhs.get(), rhs.get()};
  void* outs[] = {out.get()};
  for (auto _ : state) {
    absl::Status st = exe->Execute(args, outs, scratch.get(), {});
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
    benchmark::DoNotOptimize(out.get());
  }
  SetFlops(state, 2.0 * n * n * n);
}

// (a') the same product as a oneDNN matmul primitive executed directly.
void BM_DotOneDnnDirect(benchmark::State& state) {
  const int64_t n = state.range(0);
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  dnnl::memory::desc md({n, n}, dt::f32, tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(md, md, md), engine);
  dnnl::matmul matmul(pd);
  Buffer lhs(n * n, 1), rhs(n * n, 2), out(n * n);
  dnnl::memory src(md, engine, lhs.get()), wei(md, engine, rhs.get()), dst(md, engine, out.get());
  for (auto _ : state) {
    matmul.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    stream.wait();
    benchmark::DoNotOptimize(out.get());
  }
  SetFlops(state, 2.0 * n * n * n);
}

// (b) four memory-bound elementwise ops on 1M f32: max((x + y) * x - y, x).
void BM_ElementwiseChain(benchmark::State& state) {
  const int64_t n = state.range(0);
  const ir::TensorType t{ir::DType::kF32, ir::Shape({n})};
  ir::FunctionBuilder b("chain");
  ir::Value x = b.Parameter(t);
  ir::Value y = b.Parameter(t);
  auto exe = CompileOrDie(b.Build({b.Maximum(b.Subtract(b.Multiply(b.Add(x, y), x), y), x)}));
  Buffer xb(n, 1), yb(n, 2), out(n), scratch(exe->scratch_bytes() / 4 + 16);
  const void* args[] = {xb.get(), yb.get()};
  void* outs[] = {out.get()};
  for (auto _ : state) {
    absl::Status st = exe->Execute(args, outs, scratch.get(), {});
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
    benchmark::DoNotOptimize(out.get());
  }
  // Each binary op reads two f32 and writes one.
  state.SetBytesProcessed(state.iterations() * 4 * 3 * n * int64_t{sizeof(float)});
}

// (c) per-call cost of a 2-op scalar function: (x + y) * x.
void BM_TinyFunctionExecute(benchmark::State& state) {
  const ir::TensorType t{ir::DType::kF32, ir::Shape{}};
  ir::FunctionBuilder b("tiny");
  ir::Value x = b.Parameter(t);
  ir::Value y = b.Parameter(t);
  auto exe = CompileOrDie(b.Build({b.Multiply(b.Add(x, y), x)}));
  PW_CHECK(exe->scratch_bytes() <= 256) << exe->scratch_bytes();
  alignas(64) float xv = 1.5f, yv = 2.0f, out = 0;
  alignas(64) char scratch[256];
  const void* args[] = {&xv, &yv};
  void* outs[] = {&out};
  const ExecuteContext context;
  for (auto _ : state) {
    absl::Status st = exe->Execute(args, outs, scratch, context);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(out);
  }
  // The Time column is the per-call cost (kernels included: two scalar ops).
}

// Interleaved per size, so a noisy neighbour on this shared machine hits both sides alike.
BENCHMARK(BM_DotCompiled)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DotOneDnnDirect)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DotCompiled)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DotOneDnnDirect)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DotCompiled)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DotOneDnnDirect)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ElementwiseChain)->Arg(1 << 20)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_TinyFunctionExecute);

}  // namespace
}  // namespace pw

BENCHMARK_MAIN();
