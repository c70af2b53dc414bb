// InterconnectModel: alpha-beta costs of transfers and collectives.
#include "pathways/device/sim/interconnect_model.h"

#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace pw {
namespace {

int64_t CeilNanos(double nanos) {
  return nanos <= 0 ? 0 : static_cast<int64_t>(std::ceil(nanos - 1e-6));
}

// ceil(log2 n) for n >= 1.
double CeilLog2(int64_t n) {
  return static_cast<double>(std::bit_width(static_cast<uint64_t>(n - 1)));
}

absl::Status CheckLink(const LinkParameters& link, const char* name) {
  if (link.latency_nanos < 0) {
    return absl::InvalidArgumentError(absl::StrCat("interconnect model: ", name,
                                                   ".latency_nanos must be >= 0, got ",
                                                   link.latency_nanos));
  }
  if (!(link.bytes_per_second >= 0) || std::isinf(link.bytes_per_second)) {
    return absl::InvalidArgumentError(absl::StrCat("interconnect model: ", name,
                                                   ".bytes_per_second must be finite and >= 0, got ",
                                                   link.bytes_per_second));
  }
  return absl::OkStatus();
}

}  // namespace

double LinkParameters::OccupancyNanos(double bytes) const {
  return bytes_per_second > 0 && bytes > 0 ? bytes * 1e9 / bytes_per_second : 0.0;
}

absl::StatusOr<CollectiveAlgorithm> ParseCollectiveAlgorithm(std::string_view name) {
  if (name == "ring") return CollectiveAlgorithm::kRing;
  if (name == "tree") return CollectiveAlgorithm::kTree;
  return absl::InvalidArgumentError(
      absl::StrCat("collective algorithm must be 'ring' or 'tree', got '", std::string(name), "'"));
}

std::string_view CollectiveAlgorithmName(CollectiveAlgorithm algorithm) {
  return algorithm == CollectiveAlgorithm::kTree ? "tree" : "ring";
}

InterconnectModel InterconnectModel::TpuV4Class() {
  InterconnectModel m;
  // ICI bandwidth: a TPU v4 ICI link carries 50 GB/s in each direction (Jouppi et al., "TPU v4:
  // An Optically Reconfigurable Supercomputer for Machine Learning", ISCA 2023: 400 Gbit/s per
  // direction); a bidirectional ring along one torus axis gives each participant 2 x 50 GB/s.
  // (Cloud TPU v4 docs: 1.1 PB/s all-reduce bandwidth per 4096-chip pod = 268 GB/s per chip
  // over all three axes; the sweep in python/bench/table2_sim.py covers it.)
  m.ici.bytes_per_second = 100e9;
  // ICI latency per algorithm step: 1 us, the order of one hop plus the synchronisation of a
  // step; no published per-hop figure was at hand, so it is swept too.
  m.ici.latency_nanos = 1'000;
  // DCN: 100 Gbit/s per host (a data-center NIC of that generation) and 10 us one way; no
  // published TPU-host figure was at hand: both assumptions, swept.
  m.dcn.bytes_per_second = 12.5e9;
  m.dcn.latency_nanos = 10'000;
  return m;
}

absl::Status InterconnectModel::Validate() const {
  if (absl::Status s = CheckLink(ici, "ici"); !s.ok()) return s;
  return CheckLink(dcn, "dcn");
}

int64_t InterconnectModel::TransferNanos(int64_t bytes, bool cross_island) const {
  const LinkParameters& link = Link(cross_island);
  return CeilNanos(static_cast<double>(link.latency_nanos) +
                   link.OccupancyNanos(static_cast<double>(bytes)));
}

int64_t InterconnectModel::TransferOccupancyNanos(int64_t bytes, bool cross_island) const {
  return CeilNanos(Link(cross_island).OccupancyNanos(static_cast<double>(bytes)));
}

int64_t InterconnectModel::CollectiveNanos(CollectiveKind kind, double bytes,
                                           int64_t participants, int64_t count) const {
  if (participants <= 1 || count <= 0 || bytes < 0) return 0;
  const double n = static_cast<double>(participants);
  const double a = static_cast<double>(ici.latency_nanos);
  const double per = bytes / static_cast<double>(count);  // one collective's buffer
  double one = 0;
  if (kind == CollectiveKind::kPermute) {
    one = a + ici.OccupancyNanos(per);
  } else if (algorithm == CollectiveAlgorithm::kRing) {
    const double steps = kind == CollectiveKind::kAllReduce ? 2 * (n - 1) : n - 1;
    one = steps * (a + ici.OccupancyNanos(per / n));
  } else {
    const double log_n = CeilLog2(participants);
    switch (kind) {
      case CollectiveKind::kAllReduce:
        one = 2 * log_n * (a + ici.OccupancyNanos(per));
        break;
      case CollectiveKind::kAllToAll:
        one = log_n * (a + ici.OccupancyNanos(per / 2));
        break;
      default:  // all_gather, reduce_scatter
        one = log_n * a + ici.OccupancyNanos(per * (n - 1) / n);
        break;
    }
  }
  return CeilNanos(one * static_cast<double>(count));
}

int64_t InterconnectModel::CollectivesNanos(const WorkCost& cost) const {
  int64_t total = 0;
  for (const CollectiveWork& c : cost.collectives) {
    total += CollectiveNanos(c.kind, c.bytes, c.participants, c.count);
  }
  return total;
}

std::string InterconnectModel::DebugString() const {
  return absl::StrCat("InterconnectModel(ICI ", ici.latency_nanos, " ns + ",
                      ici.bytes_per_second / 1e9, " GB/s; DCN ", dcn.latency_nanos, " ns + ",
                      dcn.bytes_per_second / 1e9, " GB/s; ", std::string(CollectiveAlgorithmName(algorithm)),
                      ")");
}

}  // namespace pw
