// WorkCost: what one kernel launch costs, in units a performance model can turn into time.
// Computed by CpuExecutable at compile time; carried by device stream items (StreamWork) so a
// simulated device can take modelled time instead of running the kernel.
#ifndef PATHWAYS_KERNELS_WORK_COST_H_
#define PATHWAYS_KERNELS_WORK_COST_H_

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace pw {

namespace ir {
struct Function;
}  // namespace ir

struct WorkCost {
  // Arithmetic operations (a multiply-add counts 2).
  double flops = 0;
  // Bytes read and written in device memory (operands + results of every kernel).
  double bytes_accessed = 0;
  // Bytes this shard sends to its peers in collectives (all_reduce, all_gather, ...).
  double collective_bytes = 0;
  // Largest gang size any collective of the work spans (0: no collective).
  int64_t collective_participants = 0;

  WorkCost& operator+=(const WorkCost& other) {
    flops += other.flops;
    bytes_accessed += other.bytes_accessed;
    collective_bytes += other.collective_bytes;
    collective_participants = std::max(collective_participants, other.collective_participants);
    return *this;
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
// ((n-1)/n of the buffer, twice for all_reduce). Requires a verified function.
WorkCost EstimateCost(const ir::Function& function);

}  // namespace pw

#endif  // PATHWAYS_KERNELS_WORK_COST_H_
