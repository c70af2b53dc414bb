// Data-plane bandwidth between two hosts over loopback, against a plain TCP copy of the same
// bytes (bench/tcp_copy.h). Each transfer is timed until the receiver has the bytes in place.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "pathways/base/clock.h"
#include "bench/tcp_copy.h"
#include "pathways/transport/data_plane_service.h"
#include "pathways/transport/grpc_common.h"
#include "pathways/transport/grpc_data_plane.h"

namespace pw::bench {
namespace {

std::vector<char> Payload(int64_t bytes) {
  std::vector<char> data(static_cast<size_t>(bytes));
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + 7);
  return data;
}

// The plain copy's bandwidth per size (bytes/s), for the data-plane row that follows it.
std::map<int64_t, double> g_plain_tcp;

// Returns bytes/s over the real time the loop took.
double ReportBandwidth(benchmark::State& state, int64_t bytes, int64_t loop_nanos) {
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(state.iterations() * bytes) / 1e9,
                                              benchmark::Counter::kIsRate);
  return loop_nanos > 0 ? static_cast<double>(state.iterations() * bytes) * 1e9 / loop_nanos : 0;
}

void BM_PlainTcp(benchmark::State& state) {
  const int64_t bytes = state.range(0) << 20;
  std::vector<char> data = Payload(bytes);
  absl::StatusOr<std::unique_ptr<TcpCopy>> tcp = TcpCopy::Create(bytes);
  if (!tcp.ok()) {
    state.SkipWithError(std::string(tcp.status().ToString()).c_str());
    return;
  }
  const int64_t t0 = MonotonicNanos();
  for (auto _ : state) {
    absl::Status s = (*tcp)->Send(data.data(), bytes);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.ToString()).c_str());
      return;
    }
  }
  g_plain_tcp[bytes] = ReportBandwidth(state, bytes, MonotonicNanos() - t0);
}


// The receiving host's side, reduced to what the data plane touches: one preallocated buffer
// handed out for every push (as HostExecutor hands out a shard's device buffer).
class BufferReceiver final : public ShardReceiver {
 public:
  explicit BufferReceiver(int64_t bytes) : buffer_(static_cast<size_t>(bytes)) {}
  absl::Status ReceiveShard(ArrayId, int32_t, DeviceId, const ir::TensorType&, const void*,
                            int64_t) override {
    return absl::UnimplementedError("chunked pushes only");
  }
  void FailShard(ArrayId, int32_t, const ir::TensorType&, absl::Status) override {}
  absl::StatusOr<std::unique_ptr<IncomingShard>> BeginReceiveShard(
      ArrayId, int32_t, DeviceId, const ir::TensorType&) override {
    struct InPlace final : IncomingShard {
      explicit InPlace(char* data) : bytes(data) {}
      char* data() override { return bytes; }
      absl::Status Finish(absl::Status status) override { return status; }
      char* bytes;
    };
    return std::unique_ptr<IncomingShard>(new InPlace(buffer_.data()));
  }

 private:
  std::vector<char> buffer_;
};

// GrpcDataPlane -> DataPlaneServiceImpl over loopback: each push streams 1 MiB chunks that
// reference the sender's buffer and land in the receiver's with one copy; timed until the
// receiver answered.
void BM_GrpcDataPlane(benchmark::State& state) {
  const int64_t bytes = state.range(0) << 20;
  std::vector<char> data = Payload(bytes);
  BufferReceiver receiver(bytes);
  DataPlaneServiceImpl service("bench receiver");
  service.SetReceiver(&receiver);
  grpc::ServerBuilder builder;
  int port = 0;
  grpc_transport::ConfigureServer(builder, "127.0.0.1:0", &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    state.SkipWithError("cannot start the receiving server");
    return;
  }
  const std::string address = absl::StrCat("127.0.0.1:", port);
  GrpcDataPlane plane(GrpcDataPlaneOptions{
      .name = "bench sender",
      .resolve = [address](HostId) -> absl::StatusOr<std::string> { return address; }});
  const ir::TensorType type{ir::DType::kF32, ir::Shape({bytes / 4})};
  int64_t array = 0;
  const int64_t t0 = MonotonicNanos();
  for (auto _ : state) {
    const absl::Status s =
        plane.Push(HostId(1), ArrayId(array++), 0, DeviceId(0), type, data.data(), bytes)->Await();
    if (!s.ok()) {
      state.SkipWithError(std::string(s.ToString()).c_str());
      break;
    }
  }
  const int64_t loop_nanos = MonotonicNanos() - t0;
  plane.Shutdown();
  server->Shutdown();
  const double rate = ReportBandwidth(state, bytes, loop_nanos);
  if (auto it = g_plain_tcp.find(bytes); it != g_plain_tcp.end() && it->second > 0) {
    state.counters["vs_plain_tcp"] = rate / it->second;
  }
  const DataPlaneServiceImpl::Stats received = service.stats();
  state.counters["copies/byte"] =
      received.received_bytes > 0
          ? static_cast<double>(received.copied_bytes + plane.stats().copied_bytes) /
                static_cast<double>(received.received_bytes)
          : 0.0;
}

// Each size runs the plain copy then the data plane back to back, so both see the same load,
// and the whole sequence of sizes three times over (rows repeat: read the median); the data
// plane's row carries vs_plain_tcp = its bandwidth over the plain copy's just before it.
void Register() {
  for (int repeat = 0; repeat < 3; ++repeat) {
    for (int64_t mib : {1, 16, 64}) {
      benchmark::RegisterBenchmark("BM_PlainTcp", BM_PlainTcp)
          ->ArgName("MiB")->Arg(mib)->UseRealTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark("BM_GrpcDataPlane", BM_GrpcDataPlane)
          ->ArgName("MiB")->Arg(mib)->UseRealTime()->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace
}  // namespace pw::bench

int main(int argc, char** argv) {
  pw::bench::Register();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
