// The paper's Figure 5 modes across worker processes, side by side with a multi-controller
// baseline (the paper's "JAX" reference), in one run so the noisy machine treats both alike.
//
//   Fig5_<mode>/processes:P/multi_controller — P copies of this binary (started with --mc_*),
//       each driving 2 CPU devices through the same compiled functions and one Gloo gang of 2P
//       ranks, no controller (bench/multi_controller.h). This process only serves the
//       rendezvous store they meet through and collects their reports.
//   Fig5_<mode>/processes:P/pathways — a ProcessCluster (pw-controller + P pw-worker processes
//       of 2 CPU devices each), driven through pw::Client over gRPC (bench/pathways_fig5.h).
//
// PW_BENCH_DEVICES_PER_PROCESS=D gives both sides D devices per process instead of 2.
//
// Each (mode, processes) pair is sampled PW_BENCH_PAIRS times (default 3), the two sides
// alternating (baseline first in even pairs, Pathways first in odd ones), inside the
// multi_controller row (so selecting a pathways row alone with --benchmark_filter reports
// nothing). A sample is one timed stretch of about
// --benchmark_min_time seconds (default 0.5) after a warm-up; each row reports its median
// sample, and the pathways row vs_multi_controller = the median of the per-sample ratios
// Pathways / baseline, with vs_min and vs_max. The Pathways samples of a pair share one cluster,
// each through a client of its own.
//
// PW_BENCH_TRACE_DIR=DIR writes the cluster's Chrome trace of each pathways row to
// DIR/<row>.json (the last sample's; the workers then record trace events, off otherwise), and
// each baseline process its devices' trace to DIR/<row>_process<p>.json.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "benchmark/benchmark.h"
#include "bench/child_processes.h"
#include "bench/multi_controller.h"
#include "bench/pathways_fig5.h"
#include "grpcpp/grpcpp.h"
#include "pathways/base/status.h"
#include "pathways/base/trace.h"
#include "pathways/client/client.h"
#include "pathways/collectives/in_process/in_memory_rendezvous_store.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/cluster/process_cluster.h"
#include "pathways/rpc/rendezvous_service.h"

namespace pw::bench {
namespace {

int64_t g_devices_per_process = 2;  // PW_BENCH_DEVICES_PER_PROCESS
constexpr absl::Duration kRunTimeout = absl::Minutes(2);
// The OpByOp baseline rows also time computations on a fresh gang each (what a new Gloo gang
// costs), to compare with Pathways, which makes a gang per run.
constexpr int64_t kFreshGangSamples = 8;

double g_target_seconds = 0.5;

// ---------------------------------------------------------------------------------------------
// The baseline's ranks: this binary started with --mc_* flags.

constexpr const char* kRankFlag = "--mc_process=";

struct RankFlags {
  MultiControllerProcessOptions options;
  std::string store;
};

absl::StatusOr<RankFlags> ParseRankFlags(int argc, char** argv) {
  RankFlags f;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq), value = eq == arg.npos ? "" : arg.substr(eq + 1);
    bool ok = true;
    if (name == "--mc_process") {
      ok = absl::SimpleAtoi(ToAbsl(value), &f.options.process);
    } else if (name == "--mc_processes") {
      ok = absl::SimpleAtoi(ToAbsl(value), &f.options.processes);
    } else if (name == "--mc_devices") {
      ok = absl::SimpleAtoi(ToAbsl(value), &f.options.devices_per_process);
    } else if (name == "--mc_seconds") {
      ok = absl::SimpleAtod(ToAbsl(value), &f.options.target_seconds);
    } else if (name == "--mc_fresh_gangs") {
      ok = absl::SimpleAtoi(ToAbsl(value), &f.options.fresh_gang_samples);
    } else if (name == "--mc_trace") {
      f.options.trace_path = std::string(value);
    } else if (name == "--mc_mode") {
      PW_ASSIGN_OR_RETURN(f.options.mode, ParseFig5Mode(value));
    } else if (name == "--mc_prefix") {
      f.options.key_prefix = std::string(value);
    } else if (name == "--mc_store") {
      f.store = std::string(value);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown rank flag '", ToAbsl(arg), "'"));
    }
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("bad value in '", ToAbsl(arg), "'"));
  }
  if (f.store.empty()) return absl::InvalidArgumentError("--mc_store=ADDRESS is required");
  return f;
}

// A rank process: runs its part and reports failure through the store too, so the launcher
// learns of it at once rather than at its timeout.
int RankMain(int argc, char** argv) {
  absl::StatusOr<RankFlags> flags = ParseRankFlags(argc, argv);
  if (!flags.ok()) {
    std::cerr << flags.status() << "\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<GrpcRendezvousStore>> store = GrpcRendezvousStore::Create(flags->store);
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }
  const absl::Status s = RunMultiControllerProcess(flags->options, **store);
  if (s.ok()) return 0;
  std::cerr << s << "\n";
  (void)(*store)->Set(absl::StrCat(flags->options.key_prefix, "result/", flags->options.process),
                      absl::StrCat("error: ", s.ToString()));
  return 1;
}

// ---------------------------------------------------------------------------------------------
// The launcher side of the baseline: the rendezvous store served over gRPC on loopback.

class StoreServer {
 public:
  static absl::StatusOr<std::unique_ptr<StoreServer>> Start() {
    auto s = std::unique_ptr<StoreServer>(new StoreServer());
    grpc::ServerBuilder builder;
    int port = 0;
    grpc_transport::ConfigureServer(builder, "127.0.0.1:0", &port);
    builder.RegisterService(&s->service_);
    s->server_ = builder.BuildAndStart();
    if (s->server_ == nullptr || port == 0) {
      return absl::UnavailableError("cluster_bench: cannot serve the rendezvous store on 127.0.0.1");
    }
    s->address_ = absl::StrCat("127.0.0.1:", port);
    return s;
  }
  ~StoreServer() {
    service_.Shutdown();
    server_->Shutdown();
  }
  RendezvousStore& store() { return store_; }
  const std::string& address() const { return address_; }

 private:
  StoreServer() : service_(&store_) {}
  InMemoryRendezvousStore store_;
  RendezvousServiceImpl service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

StoreServer* g_store_server = nullptr;

absl::StatusOr<MultiControllerResult> RunBaseline(Fig5Mode mode, int64_t processes) {
  static int64_t run = 0;
  const std::string prefix = absl::StrCat("run", ++run, "/");
  RendezvousStore& store = g_store_server->store();
  ChildProcesses children;
  const char* trace_dir = std::getenv("PW_BENCH_TRACE_DIR");
  for (int64_t p = 0; p < processes; ++p) {
    std::vector<std::string> args = {
        absl::StrCat(kRankFlag, p),
        absl::StrCat("--mc_processes=", processes),
        absl::StrCat("--mc_devices=", g_devices_per_process),
        absl::StrCat("--mc_mode=", ToAbsl(Fig5ModeName(mode))),
        absl::StrCat("--mc_seconds=", g_target_seconds),
        absl::StrCat("--mc_prefix=", prefix),
        absl::StrCat("--mc_store=", g_store_server->address()),
        absl::StrCat("--mc_fresh_gangs=", mode == Fig5Mode::kOpByOp ? kFreshGangSamples : 0),
    };
    if (trace_dir != nullptr) {
      args.push_back(absl::StrCat("--mc_trace=", trace_dir, "/Fig5_", pw::ToAbsl(Fig5ModeName(mode)),
                                  "_processes", processes, "_multi_controller_process", p, ".json"));
    }
    PW_RETURN_IF_ERROR(children.Spawn(args));
  }
  std::vector<std::string> keys;
  for (int64_t p = 0; p < processes; ++p) keys.push_back(absl::StrCat(prefix, "result/", p));
  // Wait for every report, watching for a rank that dies without one.
  const absl::Time deadline = absl::Now() + kRunTimeout;
  for (;;) {
    const absl::Status s = store.Wait(keys, absl::Milliseconds(200), "");
    if (s.ok()) break;
    if (!absl::IsDeadlineExceeded(s)) return s;
    PW_RETURN_IF_ERROR(children.Poll());
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("multi-controller ranks did not report within ", absl::FormatDuration(kRunTimeout),
                       ": ", s.message()));
    }
  }
  absl::StatusOr<MultiControllerResult> result =
      CollectMultiControllerResults(store, prefix, processes, absl::Seconds(1));
  PW_RETURN_IF_ERROR(result.status());
  PW_RETURN_IF_ERROR(children.WaitAll());
  (void)store.DeletePrefix(prefix);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Pathways on a ProcessCluster.

absl::StatusOr<std::unique_ptr<ProcessCluster>> StartCluster(int64_t processes) {
  return ProcessCluster::Start({.hosts_per_island = processes,
                                .devices_per_host = g_devices_per_process,
                                .memory_per_device_bytes = 64 << 20,
                                .trace = std::getenv("PW_BENCH_TRACE_DIR") != nullptr,
                                // Host loss is not what this measures: on 2 busy cores a
                                // heartbeat can come late.
                                .heartbeat_timeout = absl::Seconds(10),
                                // Its status sampling would run beside what is measured.
                                .dashboard = false});
}

void MaybeWriteTrace(GrpcControllerClient& controller, const std::string& row) {
  const char* dir = std::getenv("PW_BENCH_TRACE_DIR");
  if (dir == nullptr) return;
  TraceRecorder trace;
  absl::Status s = controller.FetchTrace(trace);
  if (s.ok()) {
    s = trace.WriteJson(absl::StrCat(dir, "/", absl::StrReplaceAll(row, {{"/", "_"}, {":", ""}}), ".json"));
  }
  if (!s.ok()) std::cerr << "trace of " << row << ": " << s << "\n";
}

// One sample on `cluster`, through a client of its own (disconnecting frees its slice).
absl::StatusOr<PathwaysFig5Result> RunPathways(ProcessCluster& cluster, Fig5Mode mode,
                                               int64_t processes, const std::string& row) {
  PW_ASSIGN_OR_RETURN(std::unique_ptr<GrpcControllerClient> controller,
                      GrpcControllerClient::Connect(cluster.address()));
  absl::StatusOr<PathwaysFig5Result> r;
  {
    PW_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Connect(*controller, "cluster_bench"));
    r = RunPathwaysFig5(*client, mode, processes * g_devices_per_process, g_target_seconds);
  }
  if (r.ok()) MaybeWriteTrace(*controller, row);
  return r;
}

// ---------------------------------------------------------------------------------------------
// The rows. Both sides of a (mode, processes) pair are sampled alternately in the
// multi_controller row — baseline, Pathways, baseline, Pathways ... — so a burst of load from
// elsewhere hits both; each row then reports its side's median sample, and the pathways row
// the median and spread of the per-pair ratios.

struct Sample {
  double rate = 0;
  int64_t elapsed_nanos = 0;
  double utilization = 0;
};

Sample Median(std::vector<Sample> v) {
  std::sort(v.begin(), v.end(), [](const Sample& a, const Sample& b) { return a.rate < b.rate; });
  return v[v.size() / 2];
}

struct PairSamples {
  std::vector<Sample> pathways;
  std::vector<double> ratios;
  absl::Status error;
};
std::map<std::pair<Fig5Mode, int64_t>, PairSamples> g_pairs;

int64_t g_pair_samples = 3;

void Report(benchmark::State& state, const Sample& s, int64_t processes) {
  state.SetIterationTime(static_cast<double>(s.elapsed_nanos) * 1e-9);
  state.counters["computations/s"] = s.rate;
  state.counters["utilization"] = s.utilization;
  state.counters["processes"] = static_cast<double>(processes);
}

void BM_MultiController(benchmark::State& state, Fig5Mode mode, int64_t processes, std::string pathways_row) {
  for (auto _ : state) {
    PairSamples& pair = g_pairs[{mode, processes}];
    pair = {};
    std::vector<Sample> baseline;
    double fresh_run = 0, fresh_destroy = 0;
    absl::StatusOr<std::unique_ptr<ProcessCluster>> cluster = StartCluster(processes);
    if (!cluster.ok()) pair.error = cluster.status();
    for (int64_t i = 0; i < g_pair_samples; ++i) {
      // Odd pairs run Pathways first, so neither side always follows the other.
      std::optional<Sample> pathways_sample;
      auto run_pathways = [&] {
        if (!pair.error.ok()) return;
        absl::StatusOr<PathwaysFig5Result> p = RunPathways(**cluster, mode, processes, pathways_row);
        if (!p.ok()) {
          pair.error = Annotate(p.status(), absl::StrCat("logs in ", (*cluster)->log_dir()));
          return;
        }
        pathways_sample = Sample{p->computations_per_second(), p->elapsed_nanos, p->utilization};
      };
      if (i % 2 == 1) run_pathways();
      absl::StatusOr<MultiControllerResult> b = RunBaseline(mode, processes);
      if (!b.ok()) {
        state.SkipWithError(b.status().ToString().c_str());
        return;
      }
      baseline.push_back({b->computations_per_second(), b->elapsed_nanos, b->utilization});
      fresh_run = std::max(fresh_run, b->fresh_gang_run_nanos);
      fresh_destroy = std::max(fresh_destroy, b->fresh_gang_destroy_nanos);
      if (i % 2 == 0) run_pathways();
      if (!pathways_sample) continue;
      pair.pathways.push_back(*pathways_sample);
      pair.ratios.push_back(pathways_sample->rate / baseline.back().rate);
    }
    Report(state, Median(baseline), processes);
    state.counters["samples"] = static_cast<double>(baseline.size());
    if (fresh_run > 0) {
      state.counters["fresh_gang_ms"] = fresh_run * 1e-6;
      state.counters["fresh_gang_destroy_ms"] = fresh_destroy * 1e-6;
    }
  }
}

void BM_Pathways(benchmark::State& state, Fig5Mode mode, int64_t processes) {
  for (auto _ : state) {
    auto it = g_pairs.find({mode, processes});
    if (it == g_pairs.end()) {
      state.SkipWithError("measured in its multi_controller row: select both rows");
      return;
    }
    const PairSamples& pair = it->second;
    if (!pair.error.ok()) {
      state.SkipWithError(pair.error.ToString().c_str());
      return;
    }
    Report(state, Median(pair.pathways), processes);
    std::vector<double> ratios = pair.ratios;
    std::sort(ratios.begin(), ratios.end());
    state.counters["samples"] = static_cast<double>(ratios.size());
    state.counters["vs_multi_controller"] = ratios[ratios.size() / 2];
    state.counters["vs_min"] = ratios.front();
    state.counters["vs_max"] = ratios.back();
  }
}

}  // namespace
}  // namespace pw::bench

int main(int argc, char** argv) {
  using namespace pw::bench;
  if (argc > 1 && absl::StartsWith(argv[1], kRankFlag)) return RankMain(argc, argv);
  for (int i = 1; i < argc; ++i) {
    const char* flag = "--benchmark_min_time=";
    if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) {
      (void)absl::SimpleAtod(argv[i] + std::strlen(flag), &g_target_seconds);
    }
  }
  if (const char* n = std::getenv("PW_BENCH_PAIRS"); n != nullptr) {
    if (!absl::SimpleAtoi(n, &g_pair_samples) || g_pair_samples < 1) {
      std::cerr << "PW_BENCH_PAIRS must be a positive count, not '" << n << "'\n";
      return 2;
    }
  }
  if (const char* n = std::getenv("PW_BENCH_DEVICES_PER_PROCESS"); n != nullptr) {
    if (!absl::SimpleAtoi(n, &g_devices_per_process) || g_devices_per_process < 1) {
      std::cerr << "PW_BENCH_DEVICES_PER_PROCESS must be a positive count, not '" << n << "'\n";
      return 2;
    }
  }
  absl::StatusOr<std::unique_ptr<StoreServer>> store = StoreServer::Start();
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }
  g_store_server = store->get();
  // Each pathways row right after the multi_controller row it is compared with.
  for (int64_t processes : {1, 2, 4}) {
    for (Fig5Mode mode : {Fig5Mode::kOpByOp, Fig5Mode::kChained, Fig5Mode::kFused}) {
      const std::string name = absl::StrCat("Fig5_", pw::ToAbsl(Fig5ModeName(mode)), "/processes:", processes);
      benchmark::RegisterBenchmark((name + "/multi_controller").c_str(), BM_MultiController, mode,
                                   processes, name + "/pathways")
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark((name + "/pathways").c_str(), BM_Pathways, mode, processes)
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_store_server = nullptr;
  return 0;
}
