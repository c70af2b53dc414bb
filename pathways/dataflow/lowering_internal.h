// Internal to lowering: the Lowerer that validates a ProgramDef (lowering.cc) and builds its
// sharded dataflow graph, transfers and reshards included (lowering_build.cc).
#ifndef PATHWAYS_DATAFLOW_LOWERING_INTERNAL_H_
#define PATHWAYS_DATAFLOW_LOWERING_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "pathways/base/status.h"
#include "pathways/dataflow/host_parts.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/dataflow/reshard_plan.h"
#include "pathways/dataflow/sharding.h"

namespace pw::internal {

// Where the shards of a value live. Slices with the same device list share one placement, so
// "does this value need to move for this call" is one integer comparison.
struct Placement {
  std::vector<DeviceId> devices;
  std::vector<HostId> hosts;  // hosts[i] holds devices[i]
  std::vector<int64_t> mesh;  // row-major mesh of `devices`
};

// What a ValueRef denotes, as far as validation needs it.
struct ResolvedRef {
  const ir::TensorType* type = nullptr;
  int64_t num_shards = 0;
  std::string origin;  // "program input 0" or "call 'a' output 0"
  const Sharding* sharding = nullptr;
  int32_t placement = -1;
};

inline const Sharding kStacked = Sharding::Stacked();

const Sharding& ShardingAt(const std::vector<Sharding>& shardings, size_t i);

// "f32[8,4] (f32[2,4] per shard, split(0:[0]) over mesh [4])".
std::string LayoutLabel(const ir::TensorType& shard, const Sharding& sharding,
                        const std::vector<int64_t>& mesh);

std::string CallName(const ProgramCall& call, int64_t index);

std::string CallLabel(const ProgramCall& call, int64_t index);

std::string FunctionLabel(const FunctionSignature& fn);

// One lowering: Lower() validates, then builds. Not thread-safe; used once.
class Lowerer {
 public:
  Lowerer(const ProgramDef& program, const LoweringContext& context)
      : program_(program), context_(context) {}

  absl::StatusOr<std::shared_ptr<const LoweredProgram>> Lower() {
    PW_RETURN_IF_ERROR(Validate());
    Build();
    return std::shared_ptr<const LoweredProgram>(std::move(lowered_));
  }

 private:
  absl::Status Invalid(std::string_view where, std::string_view message) const;

  // Resolves `slice` to a placement index, checking its devices once per slice.
  absl::StatusOr<int32_t> PlacementOf(SliceId slice, std::string_view where);

  // Checks that `ref`, read at `where` by call `reader` (calls.size() for program outputs), names
  // a program input or an output of an earlier call.
  absl::StatusOr<ResolvedRef> Resolve(const ValueRef& ref, int64_t reader,
                                      std::string_view where) const;

  absl::Status CheckCallShardings(const ProgramCall& call, const FunctionSignature& fn,
                                  int32_t placement, std::string_view where) const;

  // Whether a value laid out as `ref` can be read as (type, sharding) on `placement`: directly,
  // shard by shard, or resharded (same global array).
  absl::Status CheckArgument(const ResolvedRef& ref, const ir::TensorType& type,
                             const Sharding& sharding, int32_t placement, std::string_view what,
                             std::string_view where) const;

  // Shard i of the value is shard i of the argument: both stacked with one shard count, or
  // one sharding over one mesh.
  bool ShardwiseCompatible(const ResolvedRef& ref, const Sharding& sharding,
                           int32_t placement) const;

  // Where an output goes and its shard type there.
  struct OutputMove {
    int32_t placement = -1;  // -1: stays where it is
    Sharding sharding;
    ir::TensorType shard_type;
    bool copy = false;  // a new array even where nothing moves (OutputPlacement::copy)
  };

  absl::StatusOr<OutputMove> PlanOutput(const ResolvedRef& ref, const OutputPlacement& target,
                                        std::string_view where);

  absl::Status Validate();

  // Appends a value slot produced by graph node `node` on `placement`, laid out by `sharding`.
  int32_t AddSlot(ValueInfo info, int32_t placement, int32_t node,
                  const Sharding& sharding = kStacked);

  // Appends a one-shard temporary of `type` on `device` (a piece in flight while resharding).
  int32_t AddPieceSlot(std::string name, const ir::TensorType& type, DeviceId device, int32_t node);

  int32_t ShardingId(const Sharding& sharding);

  // The slot holding `src` as (type, sharding) on `placement`, for stage `stage`; `reader`
  // names the transfer. Moves shard by shard when the layouts match, reshards otherwise.
  // With `copy`, a value already in place is copied into a new slot (never shared with another
  // reader's transfer).
  int32_t Place(int32_t src, int32_t placement, const Sharding& sharding,
                const ir::TensorType& type, int32_t stage, std::string_view reader,
                bool copy = false);

  int32_t AddNode(GraphNode node);

  int32_t SlotOf(const ValueRef& ref) const;

  // One end of a shard move: shard `shard` of value slot `value`, on `device` of `host`.
  struct ShardEnd {
    int32_t value;
    int32_t shard;
    HostId host;
    DeviceId device;
  };
  // Adds a Transfer node reading `src` and its output slot (type, sharding) on `placement`, in
  // sequential stage `stage`; `reader` names it. Returns (node, slot).
  std::pair<int32_t, int32_t> AddTransferNode(int32_t src, int32_t placement,
                                              const Sharding& sharding, const ir::TensorType& type,
                                              int32_t stage, std::string_view reader);
  // The steps of node `n` moving one shard: a push from one host to another (kSend on the
  // sender, kRecv on the receiver), or a copy within a host.
  void AddSendRecv(int32_t n, const ShardEnd& from, const ShardEnd& to);
  void AddCopy(int32_t n, const ShardEnd& from, const ShardEnd& to);

  // Adds a Transfer node moving shard i of `src` to device i of `placement` (same layout).
  int32_t MoveTo(int32_t src, int32_t placement, int32_t stage, std::string_view reader);

  // Adds a Transfer node that reshards `src` into (type, sharding) on `placement`: each
  // destination shard is assembled from the source blocks it overlaps (see lowering.h).
  int32_t Reshard(int32_t src, int32_t placement, const Sharding& sharding,
                  const ir::TensorType& type, int32_t stage, std::string_view reader);

  // Adds the steps moving `piece` of source shard piece.holder toward destination shard `j`
  // of `dst`: a whole shard is copied or pushed straight into place (returns true); otherwise
  // it is cut out on the holder's host when partial, pushed when remote, and `region` (how the
  // destination's host reads it) joins `regions`.
  bool AddPiece(int32_t n, int32_t src, int32_t dst, int32_t j, const Placement& from,
                const Placement& to, const ReshardPiece& piece, Region region,
                std::vector<Region>& regions);

  void AddCall(int64_t c);

  void Build();

  const ProgramDef& program_;
  const LoweringContext& context_;

  // Filled by Validate().
  std::vector<Placement> placements_;
  absl::flat_hash_map<SliceId, int32_t> placement_of_slice_;
  absl::flat_hash_map<std::pair<std::vector<DeviceId>, std::vector<int64_t>>, int32_t>
      placement_of_devices_;
  absl::btree_set<IslandId> islands_;
  std::vector<int32_t> input_placement_;
  std::vector<const FunctionSignature*> call_functions_;
  std::vector<int32_t> call_placement_;
  std::vector<OutputMove> output_moves_;  // empty, or one per output

  // Filled by Build().
  std::shared_ptr<LoweredProgram> lowered_;
  std::vector<int32_t> slot_placement_;
  std::vector<int32_t> slot_producer_;  // graph node writing each slot
  std::vector<Sharding> slot_sharding_;
  std::vector<int32_t> call_output_base_;
  absl::flat_hash_map<Sharding, int32_t> sharding_ids_;
  // (src, placement, sharding id) -> dst
  absl::flat_hash_map<std::tuple<int32_t, int32_t, int32_t>, int32_t> transfers_;
  std::vector<internal::NodeSteps> node_steps_;
};

}  // namespace pw::internal

#endif  // PATHWAYS_DATAFLOW_LOWERING_INTERNAL_H_
