// The control plane across real processes: what one op-by-op call costs a client of a
// ProcessCluster (pw-controller + W pw-worker processes of 2 CPU devices each), and what one
// computation of a Chained program costs.
//
//   opbyop/workers:W   one pmap call of x + 1 over 16 floats per device on every device of the
//                      cluster (no collective), waited for before the next: wall time per call
//                      (the round trip), this process's CPU per call (getrusage: the waiting
//                      thread and every gRPC thread of the client) and the waiting thread's own
//                      CPU per call.
//   ping/workers:W     (not by default) an empty call on the client's session stream and its
//                      answer, waited for before the next: the floor of any call on the path
//                      an op-by-op call takes (which makes two such round trips: Run, then the
//                      wait for its output), with the same three columns.
//   chained/workers:W  a program of kSteps dependent calls of that x + 1 on every device (one
//                      submission per program, one run kept queued ahead, as Figure 5's
//                      Chained): wall time per computation (per call of the program), i.e.
//                      what the control plane adds to a kernel of well under a microsecond.
//
// Usage: control_plane_bench [--workers=1,4] [--samples=5] [--seconds=0.5]
//                            [--rows=opbyop,chained[,ping]]
// Each row prints the median over its samples (and the min and max). PW_BENCH_TRACE_DIR=DIR
// makes the workers record trace events and writes each op-by-op row's Chrome trace (the last
// calls: controller and every host) to DIR/control_plane_opbyop_workers<W>.json.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/bench_util.h"
#include "pathways/base/clock.h"
#include "pathways/base/status.h"
#include "pathways/client/client.h"
#include "pathways/cluster/process_cluster.h"
#include "pathways/rpc/grpc_controller_client.h"

namespace pw::bench {
namespace {

constexpr int64_t kDevicesPerHost = 2;
constexpr int64_t kFloatsPerDevice = 16;
constexpr int64_t kSteps = 128;  // calls per Chained program (Figure 5's round)

struct Flags {
  std::vector<int64_t> workers = {1, 4};
  std::vector<std::string> rows = {"opbyop", "chained"};
  int64_t samples = 5;
  double seconds = 0.5;
};

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    bool ok = true;
    if (name == "--workers") {
      f.workers.clear();
      for (absl::string_view w : absl::StrSplit(value, ',')) {
        int64_t n = 0;
        ok = ok && absl::SimpleAtoi(w, &n) && n > 0 && n <= 16;
        f.workers.push_back(n);
      }
    } else if (name == "--rows") {
      f.rows = absl::StrSplit(value, ',');
    } else if (name == "--samples") {
      ok = absl::SimpleAtoi(value, &f.samples) && f.samples > 0 && f.samples <= 1000;
    } else if (name == "--seconds") {
      ok = absl::SimpleAtod(value, &f.seconds) && f.seconds > 0 && f.seconds <= 600;
    } else {
      ok = false;
    }
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("bad flag '", arg, "'"));
  }
  return f;
}

int64_t ProcessCpuNanos() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (int64_t{u.ru_utime.tv_sec} + u.ru_stime.tv_sec) * 1'000'000'000 +
         (int64_t{u.ru_utime.tv_usec} + u.ru_stime.tv_usec) * 1'000;
}

int64_t ThreadCpuNanos() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

struct OpByOpSample {
  double round_trip_us = 0;
  double process_cpu_us = 0;
  double thread_cpu_us = 0;
};

// `call()` (which waits for what it starts) again and again for about `seconds`.
template <typename Call>
absl::StatusOr<OpByOpSample> TimeCalls(double seconds, Call call) {
  const int64_t target = static_cast<int64_t>(seconds * 1e9);
  int64_t calls = 0, elapsed = 0;
  const int64_t cpu0 = ProcessCpuNanos(), thread0 = ThreadCpuNanos(), t0 = MonotonicNanos();
  do {
    PW_RETURN_IF_ERROR(call());
    ++calls;
    elapsed = MonotonicNanos() - t0;
  } while (elapsed < target);
  return OpByOpSample{.round_trip_us = elapsed / 1e3 / calls,
                      .process_cpu_us = (ProcessCpuNanos() - cpu0) / 1e3 / calls,
                      .thread_cpu_us = (ThreadCpuNanos() - thread0) / 1e3 / calls};
}

PmapFunction AddOne(Client& client, const VirtualSlice& slice) {
  return client.Pmap("add_one", slice, [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
    return std::vector<ir::Value>{b.Add(x[0], b.ConstantScalar(1.0f))};
  });
}

std::vector<ir::Literal> Zeros(const VirtualSlice& slice) {
  return std::vector<ir::Literal>(
      slice.devices.size(), ir::Literal(ir::TensorType{ir::DType::kF32, {kFloatsPerDevice}}));
}

std::string Stat(const std::vector<double>& v) {
  return absl::StrFormat("%8.1f [%.1f..%.1f]", Median(v), *std::min_element(v.begin(), v.end()),
                         *std::max_element(v.begin(), v.end()));
}

// A warm-up, then flags.samples samples of TimeCalls(call), printed as row `name`.
template <typename Call>
absl::Status SampleCalls(const char* name, int64_t workers, const Flags& flags, Call call) {
  PW_RETURN_IF_ERROR(TimeCalls(0.2, call).status());
  std::vector<double> rt, cpu, thread;
  for (int64_t i = 0; i < flags.samples; ++i) {
    PW_ASSIGN_OR_RETURN(OpByOpSample s, TimeCalls(flags.seconds, call));
    rt.push_back(s.round_trip_us);
    cpu.push_back(s.process_cpu_us);
    thread.push_back(s.thread_cpu_us);
  }
  std::cout << absl::StrFormat("%s/workers:%d  round trip us %s  client cpu us/call %s  "
                               "waiting thread cpu us/call %s\n",
                               name, workers, Stat(rt), Stat(cpu), Stat(thread))
            << std::flush;
  return absl::OkStatus();
}

absl::Status RunOpByOp(std::shared_ptr<GrpcControllerClient> controller, int64_t workers,
                       const Flags& flags) {
  PW_ASSIGN_OR_RETURN(std::unique_ptr<Client> client,
                      Client::Connect(controller, absl::StrCat("opbyop-", workers)));
  PW_ASSIGN_OR_RETURN(VirtualSlice slice, client->GetDevices(workers * kDevicesPerHost));
  PmapFunction f = AddOne(*client, slice);
  PW_ASSIGN_OR_RETURN(Array x, client->Put(slice, Zeros(slice)));
  PW_RETURN_IF_ERROR(SampleCalls("opbyop", workers, flags, [&]() -> absl::Status {
    PW_ASSIGN_OR_RETURN(std::vector<Array> out, f({x}));
    PW_RETURN_IF_ERROR(out[0].Await());
    x = std::move(out[0]);
    return absl::OkStatus();
  }));
  if (const char* dir = std::getenv("PW_BENCH_TRACE_DIR"); dir != nullptr) {
    TraceRecorder trace;
    PW_RETURN_IF_ERROR(controller->FetchTrace(trace));
    PW_RETURN_IF_ERROR(
        trace.WriteJson(absl::StrCat(dir, "/control_plane_opbyop_workers", workers, ".json")));
  }
  return absl::OkStatus();
}

// The floor of a call on the client's session stream: an empty call and its answer, waited for
// before the next.
absl::Status RunPing(std::shared_ptr<GrpcControllerClient> controller, int64_t workers,
                     const Flags& flags) {
  PW_ASSIGN_OR_RETURN(std::unique_ptr<Client> client,
                      Client::Connect(controller, absl::StrCat("ping-", workers)));
  return SampleCalls("ping", workers, flags, [&] { return controller->Ping(client->id()); });
}

absl::Status RunChained(std::shared_ptr<GrpcControllerClient> controller, int64_t workers,
                        const Flags& flags) {
  PW_ASSIGN_OR_RETURN(std::unique_ptr<Client> client,
                      Client::Connect(controller, absl::StrCat("chained-", workers)));
  PW_ASSIGN_OR_RETURN(VirtualSlice slice, client->GetDevices(workers * kDevicesPerHost));
  PmapFunction f = AddOne(*client, slice);
  ProgramTracer t(*client, "chain");
  Traced v = t.Input({{ir::DType::kF32, {kFloatsPerDevice}}, slice.id});
  for (int64_t i = 0; i < kSteps; ++i) v = f(t, {v})[0];
  PW_ASSIGN_OR_RETURN(Program chain, t.Build({v}));
  PW_ASSIGN_OR_RETURN(Array x, client->Put(slice, Zeros(slice)));
  // One run queued ahead: wait for the previous run's output, not this one's.
  auto runs = [&](double seconds) -> absl::StatusOr<double> {
    const int64_t target = static_cast<int64_t>(seconds * 1e9), t0 = MonotonicNanos();
    int64_t computations = 0, elapsed = 0;
    do {
      PW_ASSIGN_OR_RETURN(std::vector<Array> out, chain.Run({x}));
      Array previous = std::exchange(x, std::move(out[0]));
      PW_RETURN_IF_ERROR(previous.Await());
      computations += kSteps;
      elapsed = MonotonicNanos() - t0;
    } while (elapsed < target);
    PW_RETURN_IF_ERROR(x.Await());
    return (MonotonicNanos() - t0) / 1e3 / computations;
  };
  PW_RETURN_IF_ERROR(runs(0.2).status());  // warm-up: lowering, host programs sent
  std::vector<double> per;
  for (int64_t i = 0; i < flags.samples; ++i) {
    PW_ASSIGN_OR_RETURN(double us, runs(flags.seconds));
    per.push_back(us);
  }
  std::cout << absl::StrFormat("chained/workers:%d x %d devices  us per computation %s\n",
                               workers, kDevicesPerHost, Stat(per))
            << std::flush;
  return absl::OkStatus();
}

absl::Status Main(const Flags& flags) {
  for (int64_t workers : flags.workers) {
    ProcessClusterOptions options;
    options.hosts_per_island = workers;
    options.devices_per_host = kDevicesPerHost;
    options.memory_per_device_bytes = int64_t{256} << 20;
    options.trace = std::getenv("PW_BENCH_TRACE_DIR") != nullptr;
    options.heartbeat_timeout = absl::Seconds(10);  // a loaded 2-core machine
    options.dashboard = false;  // its status sampling would run beside what is measured
    PW_ASSIGN_OR_RETURN(std::unique_ptr<ProcessCluster> cluster, ProcessCluster::Start(options));
    PW_ASSIGN_OR_RETURN(std::shared_ptr<GrpcControllerClient> controller,
                        GrpcControllerClient::Connect(cluster->address()));
    for (const std::string& row : flags.rows) {
      if (row == "opbyop") {
        PW_RETURN_IF_ERROR(RunOpByOp(controller, workers, flags));
      } else if (row == "ping") {
        PW_RETURN_IF_ERROR(RunPing(controller, workers, flags));
      } else if (row == "chained") {
        PW_RETURN_IF_ERROR(RunChained(controller, workers, flags));
      } else {
        return absl::InvalidArgumentError(absl::StrCat("unknown row '", row, "'"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace pw::bench

int main(int argc, char** argv) {
  absl::StatusOr<pw::bench::Flags> flags = pw::bench::ParseFlags(argc, argv);
  if (!flags.ok()) {
    std::cerr << flags.status() << "\nusage: control_plane_bench [--workers=1,4] [--samples=5] "
                 "[--seconds=0.5] [--rows=opbyop,chained,ping]\n";
    return 2;
  }
  absl::Status s = pw::bench::Main(*flags);
  if (!s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  return 0;
}
