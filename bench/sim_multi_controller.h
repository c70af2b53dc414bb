// The multi-controller baseline of the simulated-scale Figure 5 (bench/scale_sim_bench.cc): every
// host drives its own simulated devices with no controller, as each process of a multi-controller
// runtime does. Hosts are callbacks, not threads: a host enqueues one unit of the mode on each of
// its devices and, when its devices finish it, the next one, so 512 hosts cost nothing but the
// devices' own loop. Host-side dispatch is free here, so the baseline is an upper bound on what
// a real multi-controller host reaches with the same devices.
#ifndef BENCH_SIM_MULTI_CONTROLLER_H_
#define BENCH_SIM_MULTI_CONTROLLER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/multi_controller.h"
#include "pathways/device/device.h"
#include "pathways/kernels/work_cost.h"

namespace pw::bench {

struct SimMultiControllerResult {
  int64_t computations = 0;  // per device: the fewest any host completed
  int64_t elapsed_nanos = 0;
  double utilization = 0;  // device busy time / (elapsed * devices)
  double computations_per_second() const {
    return elapsed_nanos > 0 ? static_cast<double>(computations) * 1e9 / elapsed_nanos : 0;
  }
};

// Runs `mode` on `hosts` (each host's devices) for about `target_seconds`: OpByOp keeps one
// `step` kernel per device in flight and waits for the host's devices before the next; Chained
// enqueues kRound `step` kernels per device and Fused one `fused` kernel per device, two units in
// flight per host (the next queued while the last runs, as asynchronous dispatch does). Errors:
// a kernel's failure, INVALID_ARGUMENT for no hosts or a host without devices,
// DEADLINE_EXCEEDED when some host finished no unit (a ratio against it would be meaningless).
absl::StatusOr<SimMultiControllerResult> RunSimMultiController(
    const std::vector<std::vector<Device*>>& hosts, Fig5Mode mode, const WorkCost& step,
    const WorkCost& fused, double target_seconds);

}  // namespace pw::bench

#endif  // BENCH_SIM_MULTI_CONTROLLER_H_
