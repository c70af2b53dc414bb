// Device and in-process collective costs: stream enqueue throughput and round trip on a
// CpuDevice, and one-float all-reduce latency across 2, 4 and 8 ranks (threads or devices).
#include <chrono>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "pathways/collectives/in_process/in_process_collectives.h"
#include "pathways/device/cpu/cpu_device.h"

namespace pw {
namespace {

constexpr int kBatch = 1000;

// Per-item cost of a tiny item when a whole batch is enqueued back to back, then awaited: the
// stream thread drains the queue without sleeping (the pre-enqueued program case).
void BM_EnqueueBatchThenWait(benchmark::State& state) {
  CpuDevice device(CpuDeviceOptions{.id = DeviceId(0), .host = HostId(0)});
  int64_t sink = 0;
  for (auto _ : state) {
    EventRef last;
    for (int i = 0; i < kBatch; ++i) {
      last = device.Enqueue(StreamWork{.name = "tiny", .fn = [&sink] {
                                         ++sink;
                                         return absl::OkStatus();
                                       }});
    }
    last->Await();
  }
  benchmark::DoNotOptimize(sink);
  state.counters["per_item"] = benchmark::Counter(
      kBatch, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EnqueueBatchThenWait)->UseRealTime()->Unit(benchmark::kMicrosecond);

// One item enqueued and awaited at a time: the latency of a hand-off to the stream thread and
// back (both sides poll, so no sleep/wake-up while the stream is busy).
void BM_EnqueueRoundTrip(benchmark::State& state) {
  CpuDevice device(CpuDeviceOptions{.id = DeviceId(0), .host = HostId(0)});
  for (auto _ : state) {
    device.Enqueue(StreamWork{.name = "tiny", .fn = [] { return absl::OkStatus(); }})->Await();
  }
}
BENCHMARK(BM_EnqueueRoundTrip)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The same round trip when the stream thread has gone to sleep in between (an idle device):
// the price of a wake-up. The untimed pause outlasts the thread's idle polling.
void BM_EnqueueRoundTripSleepingDevice(benchmark::State& state) {
  CpuDevice device(
      CpuDeviceOptions{.id = DeviceId(0), .host = HostId(0), .idle_spin_nanos = 0});
  for (auto _ : state) {
    state.PauseTiming();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    state.ResumeTiming();
    device.Enqueue(StreamWork{.name = "tiny", .fn = [] { return absl::OkStatus(); }})->Await();
  }
}
BENCHMARK(BM_EnqueueRoundTripSleepingDevice)->UseRealTime()->Unit(benchmark::kMicrosecond);

// A group per (ranks, spin) shared by the benchmark's threads; created once, race-free.
InProcessCollectiveGroup& GroupFor(int ranks, bool spin) {
  static auto* groups = [] {
    auto* m = new std::map<std::pair<int, bool>, std::shared_ptr<InProcessCollectiveGroup>>();
    for (int n : {2, 4, 8}) {
      for (bool s : {false, true}) {
        InProcessCollectiveOptions options;
        if (!s) options.spin = absl::ZeroDuration();
        (*m)[{n, s}] = *InProcessCollectiveGroup::Create(n, options);
      }
    }
    return m;
  }();
  return *groups->at({ranks, spin});
}

// All-reduce of one float, one benchmark thread per rank; time is per all-reduce.
void AllReduceOneFloat(benchmark::State& state, bool spin) {
  InProcessCollectiveGroup& group = GroupFor(state.threads(), spin);
  std::unique_ptr<Communicator> comm = *group.CommunicatorForRank(state.thread_index());
  float in = 1.0f, out = 0.0f;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    absl::Status s = comm->AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  const std::chrono::duration<double, std::micro> elapsed =
      std::chrono::steady_clock::now() - start;
  benchmark::DoNotOptimize(out);
  // The library's per-iteration times average over threads; report the latency of one
  // all-reduce as rank 0 saw it (counters are summed over threads, so only rank 0 adds).
  state.counters["us_per_allreduce"] =
      state.thread_index() == 0 ? elapsed.count() / static_cast<double>(state.iterations()) : 0.0;
}
void BM_AllReduceOneFloat(benchmark::State& state) { AllReduceOneFloat(state, true); }
void BM_AllReduceOneFloatNoSpin(benchmark::State& state) { AllReduceOneFloat(state, false); }
BENCHMARK(BM_AllReduceOneFloat)->Threads(2)->Threads(4)->Threads(8)->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AllReduceOneFloatNoSpin)->Threads(2)->Threads(4)->Threads(8)->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The realistic path: N CpuDevices each run a batch of one-float all-reduces as stream work
// (what a gang's executables do); time per all-reduce step.
void BM_DeviceStreamAllReduce(benchmark::State& state) {
  const int ranks = static_cast<int>(state.range(0));
  constexpr int kSteps = 200;
  auto group = *InProcessCollectiveGroup::Create(ranks);
  std::vector<std::unique_ptr<CpuDevice>> devices;
  std::vector<std::unique_ptr<Communicator>> comms;
  std::vector<float> in(ranks, 1.0f), out(ranks);
  for (int r = 0; r < ranks; ++r) {
    devices.push_back(
        std::make_unique<CpuDevice>(CpuDeviceOptions{.id = DeviceId(r), .host = HostId(0)}));
    comms.push_back(*group->CommunicatorForRank(r));
  }
  for (auto _ : state) {
    std::vector<EventRef> last(ranks);
    for (int step = 0; step < kSteps; ++step) {
      for (int r = 0; r < ranks; ++r) {
        last[r] = devices[r]->Enqueue(StreamWork{.name = "allreduce", .fn = [&, r] {
          return comms[r]->AllReduce(&in[r], &out[r], 1, ir::DType::kF32, ir::ReduceKind::kSum);
        }});
      }
    }
    for (const EventRef& e : last) {
      if (!e->Await().ok()) state.SkipWithError(e->status().ToString().c_str());
    }
  }
  state.counters["per_allreduce"] = benchmark::Counter(
      kSteps, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_DeviceStreamAllReduce)->Arg(2)->Arg(4)->Arg(8)->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pw

BENCHMARK_MAIN();
