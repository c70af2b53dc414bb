// The Figure 5 modes through the Pathways client (the same calls as bench/dispatch_bench.cc).
#include "bench/pathways_fig5.h"

#include <optional>
#include <utility>
#include <vector>

#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"

namespace pw::bench {

std::vector<ir::Value> Fig5Steps(ir::FunctionBuilder& b, absl::Span<const ir::Value> x,
                                 int64_t repeats) {
  ir::Value v = x[0];
  for (int64_t i = 0; i < repeats; ++i) {
    v = b.Add(b.AllReduce(v, ir::ReduceKind::kSum), b.ConstantScalar(1.0f));
  }
  return {v};
}

WorkCost Fig5StepCost(int64_t devices, int64_t repeats) {
  ir::FunctionBuilder b("step", {.num_shards = devices});
  ir::Value x = b.Parameter({ir::DType::kF32, {}}, "x");
  absl::StatusOr<ir::Function> fn = b.Build(Fig5Steps(b, {x}, repeats));
  PW_CHECK(fn.ok()) << fn.status();
  return EstimateCost(*fn);
}

SimPerformanceModel Fig5SimModel(int64_t kernel_nanos) {
  SimPerformanceModel model;
  model.interconnect.algorithm = CollectiveAlgorithm::kTree;
  model.kernel_nanos = kernel_nanos;
  return model;
}

namespace {

// Device busy time summed over the cluster, or nullopt when a host did not answer.
std::optional<int64_t> ClusterBusyNanos(Client& client) {
  int64_t busy = 0;
  for (const HostStatus& h : client.controller().Status().hosts) {
    if (!h.status.ok()) return std::nullopt;
    for (const DeviceStatus& d : h.devices) busy += d.busy_nanos;
  }
  return busy;
}

class Fig5Runner {
 public:
  Fig5Runner(Client& client, Fig5Mode mode) : client_(client), mode_(mode) {}

  absl::Status Setup(int64_t devices) {
    PW_ASSIGN_OR_RETURN(slice_, client_.GetDevices(devices));
    auto body = [](int64_t repeats) {
      return [repeats](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
        return Fig5Steps(b, x, repeats);
      };
    };
    step_.emplace(client_.Pmap("step", slice_, body(1)));
    fused_.emplace(client_.Pmap("fused", slice_, body(kRound)));
    if (mode_ == Fig5Mode::kChained) {
      ProgramTracer t(client_, "chain");
      Traced v = t.Input({{ir::DType::kF32, {}}, slice_.id});
      for (int64_t i = 0; i < kRound; ++i) v = (*step_)(t, {v})[0];
      PW_ASSIGN_OR_RETURN(Program p, t.Build({v}));
      chain_.emplace(std::move(p));
    }
    std::vector<ir::Literal> shards(slice_.devices.size(), ir::Literal::Scalar<float>(0.0f));
    PW_ASSIGN_OR_RETURN(Array x, client_.Put(slice_, std::move(shards)));
    x_.emplace(std::move(x));
    return absl::OkStatus();
  }

  // One unit of the mode: one call (OpByOp: 1 computation), one program run (Chained: kRound)
  // or one fused call (Fused: kRound). OpByOp waits for its call; Chained and Fused keep one
  // unit queued ahead (asynchronous dispatch, as the multi-controller baseline does): they wait
  // for the PREVIOUS unit's output. Drain() waits for the last. Returns the computations done.
  absl::StatusOr<int64_t> Unit() {
    absl::StatusOr<std::vector<Array>> out;
    switch (mode_) {
      case Fig5Mode::kOpByOp:
        out = (*step_)({*x_});
        break;
      case Fig5Mode::kChained:
        out = chain_->Run({*x_});
        break;
      case Fig5Mode::kFused:
        out = (*fused_)({*x_});
        break;
    }
    PW_RETURN_IF_ERROR(out.status());
    Array previous = *std::move(x_);
    x_.emplace(std::move((*out)[0]));
    if (mode_ == Fig5Mode::kOpByOp) {
      PW_RETURN_IF_ERROR(x_->Await());
      return 1;
    }
    PW_RETURN_IF_ERROR(previous.Await());
    return kRound;
  }
  absl::Status Drain() { return x_->Await(); }

 private:
  Client& client_;
  const Fig5Mode mode_;
  VirtualSlice slice_;
  std::optional<PmapFunction> step_, fused_;
  std::optional<Program> chain_;
  std::optional<Array> x_;
};

}  // namespace

absl::StatusOr<PathwaysFig5Result> RunPathwaysFig5(Client& client, Fig5Mode mode, int64_t devices,
                                                   double target_seconds,
                                                   const std::function<void(bool)>& timed) {
  Fig5Runner runner(client, mode);
  PW_RETURN_IF_ERROR(runner.Setup(devices));
  // Warm-up: the first call of each function traces, compiles and registers it, the first run
  // of the program lowers it; OpByOp gets a few more calls so its timed part starts hot.
  const int64_t warmup_units = mode == Fig5Mode::kOpByOp ? 8 : 1;
  for (int64_t i = 0; i < warmup_units; ++i) PW_RETURN_IF_ERROR(runner.Unit().status());
  PW_RETURN_IF_ERROR(runner.Drain());
  const std::optional<int64_t> busy0 = ClusterBusyNanos(client);
  const int64_t target_nanos = static_cast<int64_t>(target_seconds * 1e9);
  PathwaysFig5Result result;
  if (timed) timed(true);
  const int64_t t0 = MonotonicNanos();
  do {
    PW_ASSIGN_OR_RETURN(const int64_t n, runner.Unit());
    result.computations += n;
    result.elapsed_nanos = MonotonicNanos() - t0;
  } while (result.elapsed_nanos < target_nanos);
  PW_RETURN_IF_ERROR(runner.Drain());
  result.elapsed_nanos = MonotonicNanos() - t0;
  if (timed) timed(false);
  const std::optional<int64_t> busy1 = ClusterBusyNanos(client);
  if (busy0 && busy1) {
    result.utilization = static_cast<double>(*busy1 - *busy0) /
                         (static_cast<double>(result.elapsed_nanos) * static_cast<double>(devices));
  }
  return result;
}

}  // namespace pw::bench
