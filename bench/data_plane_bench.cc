// Data-plane bandwidth between two hosts over loopback — GrpcDataPlane and TcpDataPlane side by
// side, against a plain TCP copy of the same bytes (bench/tcp_copy.h) — and the latency and CPU
// of one 64 KiB push. Each transfer is timed until the receiver has the bytes in place.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "pathways/base/clock.h"
#include "bench/tcp_copy.h"
#include "pathways/dataplane/grpc/data_plane_service.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/dataplane/grpc/grpc_data_plane.h"
#include "pathways/dataplane/tcp/tcp_data_plane.h"
#include "pathways/dataplane/tcp/tcp_shard_listener.h"

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
  const int64_t bytes = state.range(0) << 10;
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
// handed out for every push (as HostExecutor hands out a shard's device buffer); ready_at() is
// when the last shard was finished.
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
      InPlace(char* data, std::atomic<int64_t>* ready) : bytes(data), ready_at(ready) {}
      char* data() override { return bytes; }
      absl::Status Finish(absl::Status status) override {
        ready_at->store(MonotonicNanos(), std::memory_order_relaxed);
        return status;
      }
      char* bytes;
      std::atomic<int64_t>* ready_at;
    };
    return std::unique_ptr<IncomingShard>(new InPlace(buffer_.data(), &ready_at_));
  }
  int64_t ready_at() const { return ready_at_.load(std::memory_order_relaxed); }

 private:
  std::vector<char> buffer_;
  std::atomic<int64_t> ready_at_{0};
};

// One sending plane and its receiving side over loopback, both in this process.
struct Link {
  virtual ~Link() = default;
  virtual DataPlane& plane() = 0;
  virtual int64_t received_bytes() = 0;
  virtual int64_t copied_bytes() = 0;  // in user space, both sides
};

// GrpcDataPlane -> DataPlaneServiceImpl: each push streams 1 MiB chunks that reference the
// sender's buffer and land in the receiver's with one copy.
struct GrpcLink final : Link {
  explicit GrpcLink(ShardReceiver* receiver) : service("bench receiver") {
    service.SetReceiver(receiver);
    grpc::ServerBuilder builder;
    int port = 0;
    grpc_transport::ConfigureServer(builder, "127.0.0.1:0", &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    const std::string address = absl::StrCat("127.0.0.1:", port);
    sender = std::make_unique<GrpcDataPlane>(GrpcDataPlaneOptions{
        .name = "bench sender",
        .resolve = [address](HostId) -> absl::StatusOr<std::string> { return address; }});
  }
  ~GrpcLink() override {
    sender->Shutdown();
    if (server != nullptr) server->Shutdown();
  }
  DataPlane& plane() override { return *sender; }
  int64_t received_bytes() override { return service.stats().received_bytes; }
  int64_t copied_bytes() override {
    return service.stats().copied_bytes + sender->stats().copied_bytes;
  }
  DataPlaneServiceImpl service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<GrpcDataPlane> sender;
};

// TcpDataPlane -> TcpShardListener: one socket, the payload written from the sender's buffer
// and read straight into the receiver's.
struct TcpLink final : Link {
  explicit TcpLink(ShardReceiver* receiver) {
    listener = *TcpShardListener::Start({.name = "bench receiver"});
    listener->SetReceiver(receiver);
    const std::string address = listener->address();
    sender = std::make_unique<TcpDataPlane>(TcpDataPlaneOptions{
        .name = "bench sender", .host = HostId(0),
        .resolve = [address](HostId) -> absl::StatusOr<std::string> { return address; }});
  }
  ~TcpLink() override {
    sender->Shutdown();
    listener->Shutdown();
  }
  DataPlane& plane() override { return *sender; }
  int64_t received_bytes() override { return listener->stats().received_bytes; }
  int64_t copied_bytes() override {
    return listener->stats().copied_bytes + sender->stats().copied_bytes;
  }
  std::unique_ptr<TcpShardListener> listener;
  std::unique_ptr<TcpDataPlane> sender;
};

enum class Kind { kGrpc, kTcp };
std::unique_ptr<Link> MakeLink(Kind kind, ShardReceiver* receiver) {
  if (kind == Kind::kGrpc) return std::make_unique<GrpcLink>(receiver);
  return std::make_unique<TcpLink>(receiver);
}

int64_t CpuNanos() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (int64_t{u.ru_utime.tv_sec} + u.ru_stime.tv_sec) * 1'000'000'000 +
         (int64_t{u.ru_utime.tv_usec} + u.ru_stime.tv_usec) * 1000;
}

// Bandwidth: pushes of range(0) KiB one after another, each timed until the receiver answered.
// cpu_us/push is the process's CPU (both sides, every thread) per push.
void BM_DataPlane(benchmark::State& state, Kind kind) {
  const int64_t bytes = state.range(0) << 10;
  std::vector<char> data = Payload(bytes);
  BufferReceiver receiver(bytes);
  std::unique_ptr<Link> link = MakeLink(kind, &receiver);
  const ir::TensorType type{ir::DType::kF32, ir::Shape({bytes / 4})};
  int64_t array = 0;
  const int64_t t0 = MonotonicNanos();
  const int64_t cpu0 = CpuNanos();
  for (auto _ : state) {
    const absl::Status s = link->plane()
                               .Push(HostId(1), ArrayId(array++), 0, DeviceId(0), type,
                                     data.data(), bytes)
                               ->Await();
    if (!s.ok()) {
      state.SkipWithError(std::string(s.ToString()).c_str());
      break;
    }
  }
  const int64_t loop_nanos = MonotonicNanos() - t0;
  const int64_t cpu = CpuNanos() - cpu0;
  const double rate = ReportBandwidth(state, bytes, loop_nanos);
  if (auto it = g_plain_tcp.find(bytes); it != g_plain_tcp.end() && it->second > 0) {
    state.counters["vs_plain_tcp"] = rate / it->second;
  }
  state.counters["cpu_us/push"] =
      state.iterations() > 0 ? static_cast<double>(cpu) / 1e3 / state.iterations() : 0;
  const int64_t received = link->received_bytes();
  state.counters["copies/byte"] =
      received > 0 ? static_cast<double>(link->copied_bytes()) / static_cast<double>(received)
                   : 0.0;
}

// Latency of one 64 KiB push: until the receiver's shard is ready (Finish), and until the
// sender's event has the verdict. Reported as means in microseconds.

void BM_PushLatency(benchmark::State& state, Kind kind) {
  const int64_t bytes = state.range(0) << 10;
  std::vector<char> data = Payload(bytes);
  BufferReceiver receiver(bytes);
  std::unique_ptr<Link> link = MakeLink(kind, &receiver);
  const ir::TensorType type{ir::DType::kF32, ir::Shape({bytes / 4})};
  int64_t array = 0;
  double to_ready = 0, to_verdict = 0;
  // Warm-up: the connection is open before timing.
  (void)link->plane().Push(HostId(1), ArrayId(array++), 0, DeviceId(0), type, data.data(), bytes)
      ->Await();
  const int64_t cpu0 = CpuNanos();
  for (auto _ : state) {
    const int64_t t0 = MonotonicNanos();
    const absl::Status s = link->plane()
                               .Push(HostId(1), ArrayId(array++), 0, DeviceId(0), type,
                                     data.data(), bytes)
                               ->Await();
    const int64_t t1 = MonotonicNanos();
    if (!s.ok()) {
      state.SkipWithError(std::string(s.ToString()).c_str());
      break;
    }
    to_ready += static_cast<double>(receiver.ready_at() - t0);
    to_verdict += static_cast<double>(t1 - t0);
  }
  const double n = static_cast<double>(std::max<int64_t>(1, state.iterations()));
  state.counters["ready_us"] = to_ready / n / 1e3;
  state.counters["verdict_us"] = to_verdict / n / 1e3;
  state.counters["cpu_us/push"] = static_cast<double>(CpuNanos() - cpu0) / 1e3 / n;
}

// Each size runs the plain copy then both data planes back to back, so all see the same load,
// and the whole sequence of sizes three times over (rows repeat: read the median); a data
// plane's row carries vs_plain_tcp = its bandwidth over the plain copy's just before it. Then
// the latency of one 64 KiB push on either plane.
void Register() {
  for (int repeat = 0; repeat < 3; ++repeat) {
    for (int64_t kib : {64, 1024, 16 << 10, 64 << 10}) {
      if (kib >= 1024) {
        benchmark::RegisterBenchmark("BM_PlainTcp", BM_PlainTcp)
            ->ArgName("KiB")->Arg(kib)->UseRealTime()->Unit(benchmark::kMillisecond);
      }
      benchmark::RegisterBenchmark("BM_GrpcDataPlane", BM_DataPlane, Kind::kGrpc)
          ->ArgName("KiB")->Arg(kib)->UseRealTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark("BM_TcpDataPlane", BM_DataPlane, Kind::kTcp)
          ->ArgName("KiB")->Arg(kib)->UseRealTime()->Unit(benchmark::kMillisecond);
    }
  }
  for (int repeat = 0; repeat < 3; ++repeat) {
    benchmark::RegisterBenchmark("BM_GrpcPushLatency", BM_PushLatency, Kind::kGrpc)
        ->ArgName("KiB")->Arg(64)->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("BM_TcpPushLatency", BM_PushLatency, Kind::kTcp)
        ->ArgName("KiB")->Arg(64)->UseRealTime()->Unit(benchmark::kMicrosecond);
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
