// The Pathways side of the Figure 5 modes, through pw::Client against any ControllerService
// (an in-process LocalCluster or a ProcessCluster over gRPC), timed the way the
// multi-controller baseline times itself (bench/multi_controller.h).
#ifndef BENCH_PATHWAYS_FIG5_H_
#define BENCH_PATHWAYS_FIG5_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "bench/multi_controller.h"
#include "pathways/client/client.h"
#include "pathways/device/sim/sim_device.h"
#include "pathways/ir/builder.h"
#include "pathways/kernels/work_cost.h"

namespace pw::bench {

// Figure 5's computation, `repeats` times: a scalar all-reduce over every shard, then +1.
std::vector<ir::Value> Fig5Steps(ir::FunctionBuilder& b, absl::Span<const ir::Value> x,
                                 int64_t repeats);
// The modelled cost of one shard of Fig5Steps over `devices` shards.
WorkCost Fig5StepCost(int64_t devices, int64_t repeats);
// The simulated accelerators of the scale studies: a 2 us launch plus the all-reduce on a
// TPU-v4-class interconnect by a tree (2 log2 n steps: a scalar is latency-bound, and a torus
// reduces in O(log n) or fewer steps, where a ring would take 2 (n - 1)); every kernel takes
// `kernel_nanos` instead when positive.
SimPerformanceModel Fig5SimModel(int64_t kernel_nanos);

struct PathwaysFig5Result {
  int64_t computations = 0;
  int64_t elapsed_nanos = 0;
  // Device busy time / (elapsed * devices) over the cluster's devices (from Status()); 0 when a
  // host's status could not be read.
  double utilization = 0;
  double computations_per_second() const {
    return elapsed_nanos > 0 ? static_cast<double>(computations) * 1e9 / elapsed_nanos : 0;
  }
};

// Runs `mode` on a slice of `devices` devices of `client`'s cluster: a warm-up (the first calls
// trace, compile, register and lower), then units of the mode — one call for OpByOp, one
// program run of kRound calls for Chained, one kRound-step call for Fused, each waited for —
// until `target_seconds` have passed (at least one unit).
// `timed`, when set, is called with true right before the timed part and with false right after
// it (a caller measuring its own counters over the timed part only: CPU time, say).
absl::StatusOr<PathwaysFig5Result> RunPathwaysFig5(Client& client, Fig5Mode mode, int64_t devices,
                                                   double target_seconds,
                                                   const std::function<void(bool)>& timed = nullptr);

}  // namespace pw::bench

#endif  // BENCH_PATHWAYS_FIG5_H_
