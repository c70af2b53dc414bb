// Data-plane bandwidth between two hosts over loopback, against a plain TCP copy of the same
// bytes (bench/tcp_copy.h). Each transfer is timed until the receiver has the bytes in place.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/tcp_copy.h"

namespace pw::bench {
namespace {

std::vector<char> Payload(int64_t bytes) {
  std::vector<char> data(static_cast<size_t>(bytes));
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + 7);
  return data;
}

void ReportBandwidth(benchmark::State& state, int64_t bytes) {
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(state.iterations() * bytes) / 1e9,
                                              benchmark::Counter::kIsRate);
}

void BM_PlainTcp(benchmark::State& state) {
  const int64_t bytes = state.range(0) << 20;
  std::vector<char> data = Payload(bytes);
  absl::StatusOr<std::unique_ptr<TcpCopy>> tcp = TcpCopy::Create(bytes);
  if (!tcp.ok()) {
    state.SkipWithError(std::string(tcp.status().ToString()).c_str());
    return;
  }
  for (auto _ : state) {
    absl::Status s = (*tcp)->Send(data.data(), bytes);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.ToString()).c_str());
      return;
    }
  }
  ReportBandwidth(state, bytes);
}

BENCHMARK(BM_PlainTcp)->ArgName("MiB")->Arg(1)->Arg(16)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pw::bench

BENCHMARK_MAIN();
