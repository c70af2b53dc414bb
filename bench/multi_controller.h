// The multi-controller baseline of the cross-process Figure 5 benchmark (the paper's "JAX"
// reference): every process runs the same loop itself, with no controller. Each process owns
// D CPU devices and drives them with the same compiled functions and the same Gloo
// collectives a Pathways worker uses; the P*D devices form one gang that meets through a
// RendezvousStore. Processes agree on how long to run and report their results through the
// same store, so the launcher needs nothing else from them.
#ifndef BENCH_MULTI_CONTROLLER_H_
#define BENCH_MULTI_CONTROLLER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pathways/collectives/rendezvous_store.h"

namespace pw::bench {

// The three modes of the paper's Figure 5. Every computation is a scalar all-reduce across the
// gang then +1, fed to the next; a round is kRound computations.
enum class Fig5Mode {
  kOpByOp,   // one Execute of the one-step function per device, the host waits for its devices
  kChained,  // kRound Executes enqueued back to back per device, then one wait
  kFused,    // one Execute of the kRound-step function per device, then one wait
};
inline constexpr int64_t kRound = 128;

std::string_view Fig5ModeName(Fig5Mode mode);
absl::StatusOr<Fig5Mode> ParseFig5Mode(std::string_view name);

struct MultiControllerProcessOptions {
  int64_t process = 0;
  int64_t processes = 1;
  int64_t devices_per_process = 2;
  Fig5Mode mode = Fig5Mode::kOpByOp;
  // Process 0 sizes the timed part to last about this long, from one timed warm-up round.
  double target_seconds = 0.5;
  // Every key this run writes (Gloo's included) starts with it, so runs can share a store.
  std::string key_prefix = "mc/";
  // Bounds the Gloo connect, each collective and every wait on the store.
  absl::Duration timeout = absl::Seconds(60);
  // After the timed part, this many computations each on a gang of its own (joined, connected,
  // run once, destroyed), as a runtime that makes a new gang per call would: the cost of a
  // fresh Gloo gang, measured apart from any dispatch. 0 skips it.
  int64_t fresh_gang_samples = 0;
  // When set, the devices record every item ("execute" events, lane = process / device) and
  // the process writes them here as a Chrome trace at the end.
  std::string trace_path;
};

// Runs process `process` of the loop to the end: joins the gang, runs two warm-up rounds (the
// first builds Gloo's TCP mesh), agrees on the number of timed rounds, runs them, and writes
// its result under "<key_prefix>result/<process>". Blocks; errors name the process and step.
absl::Status RunMultiControllerProcess(const MultiControllerProcessOptions& options,
                                       RendezvousStore& store);

struct MultiControllerResult {
  int64_t computations = 0;  // per device (every device runs every computation)
  int64_t elapsed_nanos = 0; // the slowest process's timed part
  double utilization = 0;    // device busy time / (elapsed * devices), over all processes
  // Per fresh-gang computation (the slowest process's mean; 0 when not measured): join,
  // connect and run, then destroying the gang's communicators.
  double fresh_gang_run_nanos = 0;
  double fresh_gang_destroy_nanos = 0;
  double computations_per_second() const {
    return elapsed_nanos > 0 ? static_cast<double>(computations) * 1e9 / elapsed_nanos : 0;
  }
};

// Waits until every process reported (DEADLINE_EXCEEDED naming the missing ones after
// `timeout`) and combines their reports.
absl::StatusOr<MultiControllerResult> CollectMultiControllerResults(RendezvousStore& store,
                                                                    const std::string& key_prefix,
                                                                    int64_t processes,
                                                                    absl::Duration timeout);

}  // namespace pw::bench

#endif  // BENCH_MULTI_CONTROLLER_H_
