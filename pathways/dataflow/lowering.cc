// LowerProgram: validates a ProgramDef and lowers it to the sharded dataflow graph (paper §4.3).
#include "pathways/dataflow/lowering.h"

#include <algorithm>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/dataflow/host_parts.h"

namespace pw {
namespace {

// Where the shards of a value live. Slices with the same device list share one placement, so
// "does this value need to move for this call" is one integer comparison.
struct Placement {
  std::vector<DeviceId> devices;
  std::vector<HostId> hosts;  // hosts[i] holds devices[i]
};

// What a ValueRef denotes, as far as validation needs it.
struct ResolvedRef {
  const ir::TensorType* type = nullptr;
  int64_t num_shards = 0;
  std::string origin;  // "program input 0" or "call 'a' output 0"
};

std::string CallName(const ProgramCall& call, int64_t index) {
  return call.name.empty() ? absl::StrCat("call", index) : call.name;
}

std::string CallLabel(const ProgramCall& call, int64_t index) {
  return absl::StrCat("call '", CallName(call, index), "' (#", index, ")");
}

std::string FunctionLabel(const FunctionSignature& fn) {
  return absl::StrCat("function '", fn.name, "' (", fn.id.DebugString(), ")");
}

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
  absl::Status Invalid(std::string_view where, std::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat("program '", ToAbsl(program_.name), "': ",
                                                   ToAbsl(where), ": ", ToAbsl(message)));
  }

  // Resolves `slice` to a placement index, checking its devices once per slice.
  absl::StatusOr<int32_t> PlacementOf(SliceId slice, std::string_view where) {
    if (auto it = placement_of_slice_.find(slice); it != placement_of_slice_.end()) {
      return it->second;
    }
    auto slice_it = context_.slices.find(slice);
    if (slice_it == context_.slices.end()) {
      return Invalid(where, absl::StrCat("unknown slice ", slice.DebugString()));
    }
    const std::vector<DeviceId>& devices = slice_it->second;
    if (devices.empty()) {
      return Invalid(where, absl::StrCat("slice ", slice.DebugString(), " has no devices"));
    }
    int32_t index;
    if (auto it = placement_of_devices_.find(devices); it != placement_of_devices_.end()) {
      index = it->second;
    } else {
      Placement placement;
      placement.devices = devices;
      placement.hosts.reserve(devices.size());
      for (size_t i = 0; i < devices.size(); ++i) {
        auto device_it = context_.devices.find(devices[i]);
        if (device_it == context_.devices.end()) {
          return Invalid(where, absl::StrCat("slice ", slice.DebugString(), " maps virtual device ",
                                             i, " to unknown device ",
                                             devices[i].DebugString()));
        }
        placement.hosts.push_back(device_it->second.host);
        islands_.insert(device_it->second.island);
      }
      index = static_cast<int32_t>(placements_.size());
      placements_.push_back(std::move(placement));
      placement_of_devices_.emplace(devices, index);
    }
    placement_of_slice_.emplace(slice, index);
    return index;
  }

  // Checks that `ref`, read at `where` by call `reader` (calls.size() for program outputs), names
  // a program input or an output of an earlier call.
  absl::StatusOr<ResolvedRef> Resolve(const ValueRef& ref, int64_t reader,
                                      std::string_view where) const {
    const int64_t num_calls = static_cast<int64_t>(program_.calls.size());
    if (ref.node == ValueRef::kProgramInput) {
      const int64_t num_inputs = static_cast<int64_t>(program_.inputs.size());
      if (ref.index < 0 || ref.index >= num_inputs) {
        return Invalid(where, absl::StrCat("refers to program input ", ref.index,
                                           " but the program has ", num_inputs, " inputs"));
      }
      return ResolvedRef{&program_.inputs[ref.index].shard_type,
                         static_cast<int64_t>(placements_[input_placement_[ref.index]].devices.size()),
                         absl::StrCat("program input ", ref.index)};
    }
    if (ref.node < 0 || ref.node >= num_calls) {
      return Invalid(where, absl::StrCat("refers to call #", ref.node, " but the program has ",
                                         num_calls, " calls"));
    }
    const ProgramCall& producer = program_.calls[ref.node];
    if (ref.node >= reader) {
      return Invalid(where, absl::StrCat("refers to ", CallLabel(producer, ref.node),
                                         ", which is not an earlier call (a call may only read "
                                         "program inputs and outputs of earlier calls)"));
    }
    const FunctionSignature& fn = *call_functions_[ref.node];
    const int64_t num_outputs = static_cast<int64_t>(fn.output_types.size());
    if (ref.index < 0 || ref.index >= num_outputs) {
      return Invalid(where, absl::StrCat("refers to output ", ref.index, " of ",
                                         CallLabel(producer, ref.node), " but ", FunctionLabel(fn),
                                         " has ", num_outputs, " outputs"));
    }
    return ResolvedRef{&fn.output_types[ref.index], fn.num_shards,
                       absl::StrCat("call '", CallName(producer, ref.node), "' output ",
                                    ref.index)};
  }

  absl::Status Validate() {
    if (program_.outputs.empty()) return Invalid("outputs", "the program has no outputs");
    // Slots and nodes are int32 in the lowered form.
    int64_t num_slots = static_cast<int64_t>(program_.inputs.size());
    input_placement_.reserve(program_.inputs.size());
    for (size_t i = 0; i < program_.inputs.size(); ++i) {
      const ArraySpec& spec = program_.inputs[i];
      const std::string where = absl::StrCat("program input ", i);
      if (!spec.shard_type.IsValid()) {
        return Invalid(where, absl::StrCat("invalid shard type ", spec.shard_type.DebugString()));
      }
      PW_ASSIGN_OR_RETURN(int32_t placement, PlacementOf(spec.slice, where));
      input_placement_.push_back(placement);
    }
    call_functions_.reserve(program_.calls.size());
    call_placement_.reserve(program_.calls.size());
    for (size_t c = 0; c < program_.calls.size(); ++c) {
      const ProgramCall& call = program_.calls[c];
      const std::string where = CallLabel(call, c);
      auto fn_it = context_.functions.find(call.function);
      if (fn_it == context_.functions.end()) {
        return Invalid(where, absl::StrCat("unknown function ", call.function.DebugString()));
      }
      const FunctionSignature& fn = fn_it->second;
      PW_ASSIGN_OR_RETURN(int32_t placement, PlacementOf(call.slice, where));
      const int64_t num_devices = static_cast<int64_t>(placements_[placement].devices.size());
      if (num_devices != fn.num_shards) {
        return Invalid(where, absl::StrCat("slice ", call.slice.DebugString(), " has ",
                                           num_devices, " devices but ", FunctionLabel(fn),
                                           " has num_shards ", fn.num_shards));
      }
      if (call.args.size() != fn.parameter_types.size()) {
        return Invalid(where, absl::StrCat(FunctionLabel(fn), " takes ",
                                           fn.parameter_types.size(), " arguments, got ",
                                           call.args.size()));
      }
      for (size_t j = 0; j < call.args.size(); ++j) {
        const std::string arg_where = absl::StrCat(where, " argument ", j);
        PW_ASSIGN_OR_RETURN(ResolvedRef ref, Resolve(call.args[j], c, arg_where));
        if (ref.num_shards != num_devices) {
          return Invalid(arg_where, absl::StrCat("shard count mismatch: the call has ",
                                                 num_devices, " shards, got ", ref.num_shards,
                                                 " from ", ref.origin));
        }
        if (!(*ref.type == fn.parameter_types[j])) {
          return Invalid(arg_where,
                         absl::StrCat("per-shard type mismatch: expected ",
                                      fn.parameter_types[j].DebugString(), " (parameter ", j,
                                      " of ", FunctionLabel(fn), "), got ",
                                      ref.type->DebugString(), " from ", ref.origin));
        }
      }
      call_functions_.push_back(&fn);
      call_placement_.push_back(placement);
      num_slots += static_cast<int64_t>(fn.output_types.size() + call.args.size());
    }
    for (size_t o = 0; o < program_.outputs.size(); ++o) {
      PW_RETURN_IF_ERROR(Resolve(program_.outputs[o], static_cast<int64_t>(program_.calls.size()),
                                 absl::StrCat("output ", o))
                             .status());
    }
    const int64_t num_nodes = static_cast<int64_t>(program_.inputs.size() + program_.outputs.size()) +
                              num_slots;
    if (num_slots > std::numeric_limits<int32_t>::max() ||
        num_nodes > std::numeric_limits<int32_t>::max()) {
      return Invalid("size", "the program has too many values to lower");
    }
    return absl::OkStatus();
  }

  // Appends a value slot produced by graph node `node` on `placement`.
  int32_t AddSlot(ValueInfo info, int32_t placement, int32_t node) {
    info.devices = placements_[placement].devices;
    lowered_->values.push_back(std::move(info));
    slot_placement_.push_back(placement);
    slot_producer_.push_back(node);
    return static_cast<int32_t>(lowered_->values.size() - 1);
  }

  int32_t AddNode(GraphNode node) {
    lowered_->nodes.push_back(std::move(node));
    node_steps_.emplace_back();
    return static_cast<int32_t>(lowered_->nodes.size() - 1);
  }

  int32_t SlotOf(const ValueRef& ref) const {
    if (ref.node == ValueRef::kProgramInput) return static_cast<int32_t>(ref.index);
    return call_output_base_[ref.node] + static_cast<int32_t>(ref.index);
  }

  // The slot holding `src` on `placement` for call `c`, adding a Transfer node the first time
  // this value must move to these devices.
  int32_t MoveTo(int32_t src, int32_t placement, int64_t c) {
    auto [it, inserted] = transfers_.try_emplace({src, placement}, -1);
    if (!inserted) return it->second;
    const std::string name =
        absl::StrCat(lowered_->values[src].name, "@", CallName(program_.calls[c], c));
    const Placement& from = placements_[slot_placement_[src]];
    const Placement& to = placements_[placement];
    GraphNode node;
    node.kind = NodeKind::kTransfer;
    node.name = name;
    node.inputs = {src};
    node.predecessors = {slot_producer_[src]};
    node.num_shards = static_cast<int64_t>(to.devices.size());
    const int32_t n = AddNode(std::move(node));
    ValueInfo info;
    info.name = name;
    info.shard_type = lowered_->values[src].shard_type;
    const int32_t dst = AddSlot(std::move(info), placement, n);
    lowered_->nodes[n].outputs = {dst};
    internal::NodeSteps& steps = node_steps_[n];
    steps.stage = static_cast<int32_t>(c);
    for (size_t i = 0; i < to.devices.size(); ++i) {
      HostStep step;
      step.node = n;
      step.shard = static_cast<int32_t>(i);
      step.src_value = src;
      step.dst_value = dst;
      if (from.hosts[i] == to.hosts[i]) {
        // Same device is a plain memcpy, another device of the host a device-to-device copy.
        step.kind = StepKind::kCopy;
        step.device = to.devices[i];
        step.peer_host = from.hosts[i];
        step.peer_device = from.devices[i];
        steps.Add(to.hosts[i], std::move(step));
        continue;
      }
      HostStep recv = step;
      step.kind = StepKind::kSend;
      step.device = from.devices[i];
      step.peer_host = to.hosts[i];
      step.peer_device = to.devices[i];
      steps.Add(from.hosts[i], std::move(step));
      recv.kind = StepKind::kRecv;
      recv.device = to.devices[i];
      recv.peer_host = from.hosts[i];
      recv.peer_device = from.devices[i];
      steps.Add(to.hosts[i], std::move(recv));
    }
    it->second = dst;
    return dst;
  }

  void AddCall(int64_t c) {
    const ProgramCall& call = program_.calls[c];
    const FunctionSignature& fn = *call_functions_[c];
    const int32_t placement = call_placement_[c];
    std::vector<int32_t> inputs;
    inputs.reserve(call.args.size());
    for (const ValueRef& arg : call.args) {
      const int32_t slot = SlotOf(arg);
      inputs.push_back(slot_placement_[slot] == placement ? slot : MoveTo(slot, placement, c));
    }
    GraphNode node;
    node.kind = NodeKind::kCompute;
    node.name = CallName(call, c);
    node.call = c;
    node.function = call.function;
    node.inputs = inputs;
    for (int32_t slot : inputs) node.predecessors.push_back(slot_producer_[slot]);
    std::sort(node.predecessors.begin(), node.predecessors.end());
    node.predecessors.erase(std::unique(node.predecessors.begin(), node.predecessors.end()),
                            node.predecessors.end());
    node.num_shards = fn.num_shards;
    const int32_t n = AddNode(std::move(node));
    call_output_base_.push_back(static_cast<int32_t>(lowered_->values.size()));
    std::vector<int32_t> outputs;
    for (size_t k = 0; k < fn.output_types.size(); ++k) {
      ValueInfo info;
      info.name = absl::StrCat(lowered_->nodes[n].name, ":", k);
      info.shard_type = fn.output_types[k];
      outputs.push_back(AddSlot(std::move(info), placement, n));
    }
    lowered_->nodes[n].outputs = outputs;
    const Placement& where = placements_[placement];
    internal::NodeSteps& steps = node_steps_[n];
    steps.stage = static_cast<int32_t>(c);
    const uint64_t group_key = GangMemberKey(where.devices);
    for (size_t i = 0; i < where.devices.size(); ++i) {
      HostStep step;
      step.kind = StepKind::kCompute;
      step.node = n;
      step.shard = static_cast<int32_t>(i);
      step.device = where.devices[i];
      step.function = call.function;
      step.num_shards = fn.num_shards;
      step.group_key = group_key;
      step.inputs = inputs;
      step.outputs = outputs;
      steps.Add(where.hosts[i], std::move(step));
    }
  }

  void Build() {
    lowered_ = std::make_shared<LoweredProgram>();
    lowered_->name = program_.name;
    lowered_->num_inputs = static_cast<int64_t>(program_.inputs.size());
    for (size_t i = 0; i < program_.inputs.size(); ++i) {
      GraphNode node;
      node.kind = NodeKind::kArg;
      node.name = absl::StrCat("input:", i);
      node.num_shards = static_cast<int64_t>(placements_[input_placement_[i]].devices.size());
      const int32_t n = AddNode(std::move(node));
      ValueInfo info;
      info.name = lowered_->nodes[n].name;
      info.shard_type = program_.inputs[i].shard_type;
      info.is_program_input = true;
      lowered_->nodes[n].outputs = {AddSlot(std::move(info), input_placement_[i], n)};
    }
    for (size_t c = 0; c < program_.calls.size(); ++c) AddCall(static_cast<int64_t>(c));
    for (size_t o = 0; o < program_.outputs.size(); ++o) {
      // Outputs stay where their producer put them: a Result node moves nothing.
      const int32_t slot = SlotOf(program_.outputs[o]);
      lowered_->values[slot].is_program_output = true;
      lowered_->output_values.push_back(slot);
      GraphNode node;
      node.kind = NodeKind::kResult;
      node.name = absl::StrCat("output:", o);
      node.inputs = {slot};
      node.predecessors = {slot_producer_[slot]};
      node.num_shards = static_cast<int64_t>(lowered_->values[slot].devices.size());
      AddNode(std::move(node));
    }
    lowered_->islands.assign(islands_.begin(), islands_.end());
    internal::BuildHostParts(node_steps_, static_cast<int64_t>(program_.calls.size()), *lowered_);
  }

  const ProgramDef& program_;
  const LoweringContext& context_;

  // Filled by Validate().
  std::vector<Placement> placements_;
  absl::flat_hash_map<SliceId, int32_t> placement_of_slice_;
  absl::flat_hash_map<std::vector<DeviceId>, int32_t> placement_of_devices_;
  absl::btree_set<IslandId> islands_;
  std::vector<int32_t> input_placement_;
  std::vector<const FunctionSignature*> call_functions_;
  std::vector<int32_t> call_placement_;

  // Filled by Build().
  std::shared_ptr<LoweredProgram> lowered_;
  std::vector<int32_t> slot_placement_;
  std::vector<int32_t> slot_producer_;  // graph node writing each slot
  std::vector<int32_t> call_output_base_;
  absl::flat_hash_map<std::pair<int32_t, int32_t>, int32_t> transfers_;  // (src, placement) -> dst
  std::vector<internal::NodeSteps> node_steps_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const LoweredProgram>> LowerProgram(const ProgramDef& program,
                                                                   const LoweringContext& context) {
  return Lowerer(program, context).Lower();
}

}  // namespace pw
