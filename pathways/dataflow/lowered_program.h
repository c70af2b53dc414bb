// LoweredProgram: a ProgramDef lowered onto physical devices — the sharded dataflow graph and
// each host's part of it.
//
// The graph is the paper's sharded dataflow: one node per call whatever its shard count, plus
// Arg, Transfer and Result nodes; shards are the tuples flowing on each edge. Everything here is
// independent of a particular run, so a lowering is cached and reused until a slice's mapping
// changes: a run only binds value slots to ArrayIds (HostRun, host_run.h).
#ifndef PATHWAYS_DATAFLOW_LOWERED_PROGRAM_H_
#define PATHWAYS_DATAFLOW_LOWERED_PROGRAM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/types/span.h"
#include "pathways/base/ids.h"
#include "pathways/ir/shape.h"

namespace pw {

// Value slots: every sharded value of the lowered program — program inputs first (slots
// 0..num_inputs-1), then, call by call, the transfer copies feeding the call followed by the
// call's outputs.
struct ValueInfo {
  std::string name;  // e.g. "a:0" (call a, output 0) or "a:0@b" (its copy moved for call b)
  ir::TensorType shard_type;
  std::vector<DeviceId> devices;  // shard i lives on devices[i] (empty in a host's copy)
  int32_t num_shards = 0;         // devices.size(); in a host's copy too
  bool is_program_input = false;
  bool is_program_output = false;
};

enum class NodeKind : uint8_t { kArg, kCompute, kTransfer, kResult };
const char* NodeKindName(NodeKind kind);

// A node of the sharded dataflow graph (for traces, errors and the dispatch plan).
struct GraphNode {
  NodeKind kind = NodeKind::kCompute;
  std::string name;
  int64_t call = -1;                 // kCompute: index into ProgramDef::calls
  FunctionId function;               // kCompute
  std::vector<int32_t> inputs;       // value slots read
  std::vector<int32_t> outputs;      // value slots written
  std::vector<int32_t> predecessors; // graph nodes producing `inputs`
  int64_t num_shards = 0;
};

// One unit of host work. Steps of a host run in list order; the order of compute steps is the
// gang order (the same on every device of the island).
enum class StepKind : uint8_t {
  kCompute,  // run shard `shard` of `function` on `device`
  kCopy,     // src_value shard -> dst_value shard, both on this host (device to device)
  kSend,     // push src_value shard from `device` to peer_host's peer_device (dst_value there)
  kRecv,     // pre-allocate dst_value's shard on `device`; peer_host pushes into it
  kAssemble, // allocate dst_value's shard on `device` and write `regions` into it (resharding)
};

// One piece of a kAssemble step: the block [src_offset, src_offset + extent) of shard
// `src_shard` of `src_value` (held on this host) goes to dst_offset of the step's destination
// shard. Dims are each shard's dimensions in the global array's rank (a stacked shard has a
// leading 1), so both sides are addressed in one coordinate system.
struct Region {
  int32_t src_value = -1;
  int32_t src_shard = 0;
  std::vector<int64_t> src_dims;
  std::vector<int64_t> src_offset;
  std::vector<int64_t> dst_dims;
  std::vector<int64_t> dst_offset;
  std::vector<int64_t> extent;
  friend bool operator==(const Region&, const Region&) = default;
};
const char* StepKindName(StepKind kind);

struct HostStep {
  StepKind kind = StepKind::kCompute;
  int32_t node = -1;   // GraphNode index: names the step in traces and errors
  int32_t shard = 0;   // shard index of the values (and rank in the gang, for compute)
  DeviceId device;     // compute: where it runs; copy/recv/assemble: destination; send: source
  // kCompute
  FunctionId function;
  int64_t num_shards = 1;
  // Names the gang's members: a stable hash of the node's ordered physical devices (the same
  // in every process, never 0; GangMemberKey). Gangs with the same key have the same
  // ranks on the same devices, so cross-process collectives reuse one connected mesh for all
  // of them. 0 means unknown (no reuse).
  uint64_t group_key = 0;
  std::vector<int32_t> inputs;   // value slots (this shard of each)
  std::vector<int32_t> outputs;  // value slots (this shard of each)
  // kCopy / kSend / kRecv
  int32_t src_value = -1;
  int32_t dst_value = -1;
  HostId peer_host;      // kSend: receiver; kRecv: sender; kCopy: this host
  DeviceId peer_device;  // kSend: destination device; kRecv, kCopy: source device
  // kCopy: the source's shard; kSend: the receiver's shard (resharding moves shard i of one
  // value into shard j of another). -1: the same as `shard`.
  int32_t peer_shard = -1;
  // kAssemble: the pieces of the destination shard (`shard` of dst_value).
  std::vector<Region> regions;

  // The shard read (kCopy, kSend) and the shard written (kCopy, kRecv, kAssemble; for kSend,
  // the receiver's).
  int32_t src_shard() const { return kind == StepKind::kCopy && peer_shard >= 0 ? peer_shard : shard; }
  int32_t dst_shard() const { return kind == StepKind::kSend && peer_shard >= 0 ? peer_shard : shard; }
};

// One host's part of a lowered program: everything it does for a run, sent in ONE message.
struct LoweredHostProgram {
  HostId host;
  std::vector<HostStep> steps;
  std::vector<FunctionId> functions;  // functions the steps run (the host must have them)
  // Value slots this host holds shards of when the run ends that are not program outputs
  // (intermediates and transfer copies): freed once every step of the run reading them is done.
  // Ascending. In a stage part: the temporaries whose last reader on this host is in this stage
  // (or produced here and never read here), so each is freed exactly once across the stages.
  std::vector<int32_t> temporaries;
  // Which steps touch which temporaries (IndexTemporaryUses; derived, never sent): per
  // temporary, how many steps of this part read or write a shard of it; per step, the indices
  // into `temporaries` it touches (step i's are step_temporaries[step_temporaries_begin[i] ..
  // step_temporaries_begin[i + 1])). A host frees a temporary once the last of them is done,
  // not at the end of the run, so a long program (a pipelined step) holds only what is live.
  std::vector<int32_t> temporary_uses;
  std::vector<int32_t> step_temporaries_begin;
  std::vector<int32_t> step_temporaries;
};

// Fills the temporary-use index of `part` from its steps and temporaries.
void IndexTemporaryUses(LoweredHostProgram& part);

// A gang's member key: a stable 64-bit hash of its ordered physical devices (rank i on
// devices[i]), the same in every process and never 0. Different lists (or orders) almost surely
// hash differently; a collision would only make two gangs try to share a mesh, which the
// collectives detect (the peers differ) and fall back from.
uint64_t GangMemberKey(absl::Span<const DeviceId> devices);

struct LoweredProgram {
  std::string name;
  std::vector<ValueInfo> values;
  std::vector<GraphNode> nodes;       // topological order
  int64_t num_inputs = 0;
  std::vector<int32_t> output_values; // slot of each program output
  // Each involved host's whole part (parallel dispatch: one message per host per run).
  absl::btree_map<HostId, std::shared_ptr<const LoweredHostProgram>> hosts;
  // The same steps split by compute node, for sequential dispatch: stage k holds call k's
  // compute steps plus the transfers created for its arguments (a transfer reused by a later
  // call stays in the stage that created it), per host; a host with no step in a stage is
  // absent from it.
  std::vector<absl::btree_map<HostId, std::shared_ptr<const LoweredHostProgram>>> stages;
  // Islands the program's devices span, ascending.
  std::vector<IslandId> islands;

  std::string DebugString() const;
};

}  // namespace pw

#endif  // PATHWAYS_DATAFLOW_LOWERED_PROGRAM_H_
