// InterconnectModel: the time of moving bytes between accelerators, inside an island (ICI, the
// accelerator interconnect) and between islands (DCN, the data-center network). One model serves
// both users: a SimDevice's kernels (the collectives a compiled function contains) and the
// in-process cluster's SimulatedNetwork (host-to-host shard pushes).
//
// Every cost is alpha-beta: a message or algorithm step of b bytes takes latency + b / bandwidth.
// Collectives over n participants, B the full per-participant buffer (CollectiveWork's bytes):
//   ring  all_reduce      2 (n-1) steps of B/n:  2 (n-1) (a + B / (n beta))
//         all_gather,
//         reduce_scatter,
//         all_to_all        (n-1) steps of B/n:    (n-1) (a + B / (n beta))
//   tree  all_reduce      reduce up, broadcast down: 2 ceil(log2 n) (a + B / beta)
//         all_gather,
//         reduce_scatter  recursive doubling / halving: ceil(log2 n) a + (n-1)/n B / beta
//         all_to_all      Bruck: ceil(log2 n) (a + B / (2 beta))
//   permute (either)      one message: a + B / beta
// n <= 1 costs nothing. Results are rounded up to whole nanoseconds once, at the end.
//
// Value type; every method is const and thread-safe. A zero bandwidth means infinite, a zero
// latency none: the default-constructed model costs nothing (nothing is modelled). Validate()
// reports bad parameters as INVALID_ARGUMENT naming the field; the cost methods assume a valid
// model (callers validate once, where the model is configured).
#ifndef PATHWAYS_DEVICE_SIM_INTERCONNECT_MODEL_H_
#define PATHWAYS_DEVICE_SIM_INTERCONNECT_MODEL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pathways/kernels/work_cost.h"

namespace pw {

// One class of link: latency per message or algorithm step, bandwidth per participant and
// direction (bytes/s; 0: infinite).
struct LinkParameters {
  int64_t latency_nanos = 0;
  double bytes_per_second = 0;

  bool modelled() const { return latency_nanos > 0 || bytes_per_second > 0; }
  // `bytes` / bandwidth in (fractional) nanoseconds; 0 when the bandwidth is infinite.
  double OccupancyNanos(double bytes) const;
};

enum class CollectiveAlgorithm : uint8_t { kRing, kTree };

// "ring" / "tree"; INVALID_ARGUMENT naming the text otherwise.
absl::StatusOr<CollectiveAlgorithm> ParseCollectiveAlgorithm(std::string_view name);
std::string_view CollectiveAlgorithmName(CollectiveAlgorithm algorithm);

struct InterconnectModel {
  // Inside an island.
  LinkParameters ici;
  // Between islands. Not modelled (both zero): as inside an island.
  LinkParameters dcn;
  CollectiveAlgorithm algorithm = CollectiveAlgorithm::kRing;

  // The published TPU-v4-class figures this project fixed for its scale studies (sources in
  // the .cc and docs/benchmarks.md): ICI 1 us per step, 100 GB/s per participant (one 50 GB/s
  // link in each direction of a bidirectional ring); DCN 10 us, 12.5 GB/s (100 Gbit/s per host).
  static InterconnectModel TpuV4Class();

  // INVALID_ARGUMENT naming the field: negative latencies, negative or non-finite bandwidths.
  absl::Status Validate() const;

  // The link a message takes: dcn across islands when it is modelled, else ici.
  const LinkParameters& Link(bool cross_island) const {
    return cross_island && dcn.modelled() ? dcn : ici;
  }
  // A point-to-point transfer of `bytes`: latency + bytes / bandwidth.
  int64_t TransferNanos(int64_t bytes, bool cross_island) const;
  // Its two parts, for a link model that queues occupancy and adds latency after it.
  int64_t TransferLatencyNanos(bool cross_island) const { return Link(cross_island).latency_nanos; }
  int64_t TransferOccupancyNanos(int64_t bytes, bool cross_island) const;

  // `count` collectives of `kind` over `participants` (inside an island, over ici), each on a
  // buffer of `bytes` / count bytes per participant (`bytes` summed over the count), by
  // `algorithm`; the formulas above. Every input below 0 (or count 0) costs 0.
  int64_t CollectiveNanos(CollectiveKind kind, double bytes, int64_t participants,
                          int64_t count = 1) const;
  // Every collective a kernel's cost lists (WorkCost::collectives).
  int64_t CollectivesNanos(const WorkCost& cost) const;

  std::string DebugString() const;
};

}  // namespace pw

#endif  // PATHWAYS_DEVICE_SIM_INTERCONNECT_MODEL_H_
