// HostRun: the one message a host receives per program run (or per stage, in sequential mode).
#ifndef PATHWAYS_DATAFLOW_HOST_RUN_H_
#define PATHWAYS_DATAFLOW_HOST_RUN_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "pathways/base/ids.h"
#include "pathways/dataflow/lowered_program.h"

namespace pw {

enum class DispatchMode : uint8_t {
  // Every host gets its whole part of the run up front and does its host work (allocation,
  // enqueue, receive buffers) before any input exists. The default, as in the paper.
  kParallel,
  // A node's host work starts only once its predecessor finished: the controller sends stage k
  // after stage k-1's outputs are ready. Kept to show the difference (paper §4.5, Figure 7).
  kSequential,
};
const char* DispatchModeName(DispatchMode mode);

struct HostRun {
  RunId run;
  ClientId client;
  std::shared_ptr<const LoweredHostProgram> program;  // shared with the lowering cache
  std::shared_ptr<const LoweredProgram> lowered;      // value and node metadata
  // ArrayId of every value slot of the lowered program (inputs are the client's arrays).
  std::shared_ptr<const std::vector<ArrayId>> value_arrays;
  // Compute node n of this run runs as gang GangId(gang_base + n): the key that pairs up the
  // shards of one collective group across hosts.
  int64_t gang_base = 0;
  // Whether this message is the host's whole part (kParallel) or one stage (kSequential).
  DispatchMode mode = DispatchMode::kParallel;
  int64_t stage = -1;  // kSequential: the stage index
};

}  // namespace pw

#endif  // PATHWAYS_DATAFLOW_HOST_RUN_H_
