// Figure 5 across processes, side by side with a multi-controller baseline.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "bench/multi_controller.h"
#include "pathways/collectives/in_memory_rendezvous_store.h"

namespace pw::bench {
namespace {

constexpr int64_t kDevicesPerProcess = 2;
double g_target_seconds = 0.5;

absl::StatusOr<MultiControllerResult> RunBaseline(Fig5Mode mode, int64_t processes) {
  InMemoryRendezvousStore store;
  std::vector<std::thread> threads;
  std::vector<absl::Status> status(processes);
  for (int64_t p = 0; p < processes; ++p) {
    threads.emplace_back([&, p] {
      status[p] = RunMultiControllerProcess({.process = p,
                                             .processes = processes,
                                             .devices_per_process = kDevicesPerProcess,
                                             .mode = mode,
                                             .target_seconds = g_target_seconds},
                                            store);
      if (!status[p].ok()) (void)store.Set("mc/result/" + std::to_string(p), "failed");
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : status) if (!s.ok()) return s;
  return CollectMultiControllerResults(store, "mc/", processes, absl::Seconds(1));
}

void BM_MultiController(benchmark::State& state, Fig5Mode mode, int64_t processes) {
  for (auto _ : state) {
    absl::StatusOr<MultiControllerResult> r = RunBaseline(mode, processes);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().ToString()).c_str());
      return;
    }
    state.SetIterationTime(r->elapsed_nanos * 1e-9);
    state.counters["computations/s"] = r->computations_per_second();
    state.counters["utilization"] = r->utilization;
    state.counters["processes"] = static_cast<double>(processes);
  }
}

}  // namespace
}  // namespace pw::bench

int main(int argc, char** argv) {
  using namespace pw::bench;
  for (int i = 1; i < argc; ++i) {
    const char* flag = "--benchmark_min_time=";
    if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) {
      (void)absl::SimpleAtod(argv[i] + std::strlen(flag), &g_target_seconds);
    }
  }
  for (int64_t processes : {1, 2, 4}) {
    for (Fig5Mode mode : {Fig5Mode::kOpByOp, Fig5Mode::kChained, Fig5Mode::kFused}) {
      benchmark::RegisterBenchmark(
          absl::StrCat("Fig5_", std::string(Fig5ModeName(mode)), "/processes:", processes,
                       "/multi_controller")
              .c_str(),
          BM_MultiController, mode, processes)
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
