// Internal to lowering: groups the steps of a lowered graph by host, for parallel dispatch (one
// part per host) and sequential dispatch (one part per host per stage), with temporaries.
#ifndef PATHWAYS_DATAFLOW_HOST_PARTS_H_
#define PATHWAYS_DATAFLOW_HOST_PARTS_H_

#include <cstdint>
#include <vector>

#include "pathways/base/ids.h"
#include "pathways/dataflow/lowered_program.h"

namespace pw::internal {

// The steps of one graph node, in shard order, each with the host that runs it.
struct NodeSteps {
  int32_t stage = -1;  // sequential-dispatch stage the node belongs to; -1 for Arg/Result
  std::vector<HostId> hosts;
  std::vector<HostStep> steps;

  void Add(HostId host, HostStep step) {
    hosts.push_back(host);
    steps.push_back(std::move(step));
  }
};

// Fills `lowered.hosts` and `lowered.stages` (`num_stages` of them) from `node_steps` (one entry
// per node of `lowered.nodes`, in node order). `lowered.values` must be complete: it decides
// which slots are temporaries.
void BuildHostParts(const std::vector<NodeSteps>& node_steps, int64_t num_stages,
                    LoweredProgram& lowered);

}  // namespace pw::internal

#endif  // PATHWAYS_DATAFLOW_HOST_PARTS_H_
