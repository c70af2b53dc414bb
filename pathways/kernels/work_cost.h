// WorkCost: what one kernel launch costs, in units a performance model can turn into time.
// Computed by CpuExecutable at compile time; carried by device stream items (StreamWork) so a
// simulated device can take modelled time instead of running the kernel.
#ifndef PATHWAYS_KERNELS_WORK_COST_H_
#define PATHWAYS_KERNELS_WORK_COST_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace pw {

namespace ir {
struct Function;
}  // namespace ir

enum class CollectiveKind : uint8_t { kAllReduce, kAllGather, kReduceScatter, kAllToAll, kPermute };

// The collectives of one kind over one gang size in a piece of work: `count` of them, on
// `bytes` in total (per participant, each collective's full buffer: all_reduce's operand,
// all_gather's result, reduce_scatter's and all_to_all's operand, permute's operand). An
// interconnect model turns it into time (pathways/device/sim/interconnect_model.h).
struct CollectiveWork {
  CollectiveKind kind = CollectiveKind::kAllReduce;
  int64_t participants = 0;
  int64_t count = 0;
  double bytes = 0;
};

struct WorkCost {
  // Arithmetic operations (a multiply-add counts 2).
  double flops = 0;
  // Bytes read and written in device memory (operands + results of every kernel).
  double bytes_accessed = 0;
  // Bytes this shard sends to its peers in collectives (all_reduce, all_gather, ...).
  double collective_bytes = 0;
  // Largest gang size any collective of the work spans (0: no collective).
  int64_t collective_participants = 0;
  // Every collective, one entry per (kind, participants): what an interconnect model costs.
  std::vector<CollectiveWork> collectives;

  WorkCost& operator+=(const WorkCost& other) {
    flops += other.flops;
    bytes_accessed += other.bytes_accessed;
    collective_bytes += other.collective_bytes;
    collective_participants = std::max(collective_participants, other.collective_participants);
    for (const CollectiveWork& c : other.collectives) AddCollective(c);
    return *this;
  }
  // Merges `c` into the entry of its kind and gang size.
  void AddCollective(const CollectiveWork& c) {
    for (CollectiveWork& mine : collectives) {
      if (mine.kind == c.kind && mine.participants == c.participants) {
        mine.count += c.count;
        mine.bytes += c.bytes;
        return;
      }
    }
    collectives.push_back(c);
  }
  std::string DebugString() const {
    return absl::StrCat("WorkCost(", flops, " flops, ", bytes_accessed, " bytes, ",
                        collective_bytes, " collective bytes over ", collective_participants,
                        " participants)");
  }
};

// The cost of one execution of `function` (one shard), summed over the instructions an output
// depends on: dot_general 2*M*N*K flops (2 * result elements * contracted size), elementwise
// one flop per result element, reduce one per input element, data movement none; bytes are
// operands + results of every instruction; collectives add the bytes a ring moves per shard
// ((n-1)/n of the buffer, twice for all_reduce; n the size of its shard groups, or every shard
// when it has none) and an entry in `collectives`; a while costs its cond and body times its
// bound (max_iterations), a case its most expensive branch. Requires a verified function.
WorkCost EstimateCost(const ir::Function& function);

}  // namespace pw

#endif  // PATHWAYS_KERNELS_WORK_COST_H_
