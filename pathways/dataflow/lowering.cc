// LowerProgram: validates a ProgramDef and lowers it to the sharded dataflow graph (paper §4.3).
// This file: validation; lowering_build.cc builds the graph.
#include "pathways/dataflow/lowering.h"

#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/base/status.h"
#include "pathways/dataflow/lowering_internal.h"

namespace pw {
namespace internal {

const Sharding& ShardingAt(const std::vector<Sharding>& shardings, size_t i) {
  return i < shardings.size() ? shardings[i] : kStacked;
}

// "f32[8,4] (f32[2,4] per shard, split(0:[0]) over mesh [4])".
std::string LayoutLabel(const ir::TensorType& shard, const Sharding& sharding,
                        const std::vector<int64_t>& mesh) {
  const ir::TensorType global{shard.dtype, GlobalShape(shard.shape, sharding, mesh)};
  return absl::StrCat(global.DebugString(), " (", shard.DebugString(), " per shard, ",
                      sharding.DebugString(), " over mesh [", absl::StrJoin(mesh, ","), "])");
}

std::string CallName(const ProgramCall& call, int64_t index) {
  return call.name.empty() ? absl::StrCat("call", index) : call.name;
}

std::string CallLabel(const ProgramCall& call, int64_t index) {
  return absl::StrCat("call '", CallName(call, index), "' (#", index, ")");
}

std::string FunctionLabel(const FunctionSignature& fn) {
  return absl::StrCat("function '", fn.name, "' (", fn.id.DebugString(), ")");
}

absl::Status Lowerer::Invalid(std::string_view where, std::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat("program '", ToAbsl(program_.name),
                                                 "': ", ToAbsl(where), ": ", ToAbsl(message)));
}

absl::StatusOr<int32_t> Lowerer::PlacementOf(SliceId slice, std::string_view where) {
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
  std::vector<int64_t> mesh = {static_cast<int64_t>(devices.size())};
  if (auto mesh_it = context_.slice_meshes.find(slice);
      mesh_it != context_.slice_meshes.end() && !mesh_it->second.empty()) {
    int64_t product = 1;
    for (int64_t m : mesh_it->second) product = m > 0 ? product * m : -1;
    if (product != static_cast<int64_t>(devices.size())) {
      return Invalid(where, absl::StrCat("slice ", slice.DebugString(), " has mesh [",
                                         absl::StrJoin(mesh_it->second, ","), "] but ",
                                         devices.size(), " devices"));
    }
    mesh = mesh_it->second;
  }
  int32_t index;
  if (auto it = placement_of_devices_.find(std::make_pair(devices, mesh));
      it != placement_of_devices_.end()) {
    index = it->second;
  } else {
    Placement placement;
    placement.devices = devices;
    placement.mesh = mesh;
    placement.hosts.reserve(devices.size());
    for (size_t i = 0; i < devices.size(); ++i) {
      auto device_it = context_.devices.find(devices[i]);
      if (device_it == context_.devices.end()) {
        return Invalid(where, absl::StrCat("slice ", slice.DebugString(), " maps virtual device ",
                                           i, " to unknown device ", devices[i].DebugString()));
      }
      placement.hosts.push_back(device_it->second.host);
      islands_.insert(device_it->second.island);
    }
    index = static_cast<int32_t>(placements_.size());
    placements_.push_back(std::move(placement));
    placement_of_devices_.emplace(std::make_pair(devices, std::move(mesh)), index);
  }
  placement_of_slice_.emplace(slice, index);
  return index;
}

absl::StatusOr<ResolvedRef> Lowerer::Resolve(const ValueRef& ref, int64_t reader,
                                             std::string_view where) const {
  const int64_t num_calls = static_cast<int64_t>(program_.calls.size());
  if (ref.node == ValueRef::kProgramInput) {
    const int64_t num_inputs = static_cast<int64_t>(program_.inputs.size());
    if (ref.index < 0 || ref.index >= num_inputs) {
      return Invalid(where, absl::StrCat("refers to program input ", ref.index,
                                         " but the program has ", num_inputs, " inputs"));
    }
    const int32_t placement = input_placement_[ref.index];
    return ResolvedRef{&program_.inputs[ref.index].shard_type,
                       static_cast<int64_t>(placements_[placement].devices.size()),
                       absl::StrCat("program input ", ref.index),
                       &program_.inputs[ref.index].sharding, placement};
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
    return Invalid(
        where, absl::StrCat("refers to output ", ref.index, " of ", CallLabel(producer, ref.node),
                            " but ", FunctionLabel(fn), " has ", num_outputs, " outputs"));
  }
  return ResolvedRef{&fn.output_types[ref.index], fn.num_shards,
                     absl::StrCat("call '", CallName(producer, ref.node), "' output ", ref.index),
                     &ShardingAt(producer.out_shardings, ref.index), call_placement_[ref.node]};
}

absl::Status Lowerer::CheckCallShardings(const ProgramCall& call, const FunctionSignature& fn,
                                         int32_t placement, std::string_view where) const {
  if (!call.arg_shardings.empty() && call.arg_shardings.size() != call.args.size()) {
    return Invalid(where, absl::StrCat(call.args.size(), " arguments but ",
                                       call.arg_shardings.size(), " argument shardings"));
  }
  if (!call.out_shardings.empty() && call.out_shardings.size() != fn.output_types.size()) {
    return Invalid(where, absl::StrCat(FunctionLabel(fn), " has ", fn.output_types.size(),
                                       " outputs but the call gives ", call.out_shardings.size(),
                                       " output shardings"));
  }
  const std::vector<int64_t>& mesh = placements_[placement].mesh;
  for (size_t j = 0; j < call.arg_shardings.size() && j < fn.parameter_types.size(); ++j) {
    if (absl::Status s =
            ValidateSharding(call.arg_shardings[j], fn.parameter_types[j].shape.rank(), mesh);
        !s.ok()) {
      return Invalid(absl::StrCat(ToAbsl(where), " argument ", j), std::string(s.message()));
    }
  }
  for (size_t k = 0; k < call.out_shardings.size(); ++k) {
    if (absl::Status s =
            ValidateSharding(call.out_shardings[k], fn.output_types[k].shape.rank(), mesh);
        !s.ok()) {
      return Invalid(absl::StrCat(ToAbsl(where), " output ", k), std::string(s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Lowerer::CheckArgument(const ResolvedRef& ref, const ir::TensorType& type,
                                    const Sharding& sharding, int32_t placement,
                                    std::string_view what, std::string_view where) const {
  const int64_t num_devices = static_cast<int64_t>(placements_[placement].devices.size());
  if (ShardwiseCompatible(ref, sharding, placement)) {
    if (!(*ref.type == type)) {
      return Invalid(where, absl::StrCat("per-shard type mismatch: expected ", type.DebugString(),
                                         ToAbsl(what), ", got ", ref.type->DebugString(), " from ",
                                         ref.origin));
    }
    return absl::OkStatus();
  }
  if (ref.sharding->stacked() && sharding.stacked()) {
    return Invalid(where, absl::StrCat("shard count mismatch: the call has ", num_devices,
                                       " shards, got ", ref.num_shards, " from ", ref.origin));
  }
  const std::vector<int64_t>& from_mesh = placements_[ref.placement].mesh;
  const std::vector<int64_t>& to_mesh = placements_[placement].mesh;
  if (ref.type->dtype != type.dtype || !(GlobalShape(ref.type->shape, *ref.sharding, from_mesh) ==
                                         GlobalShape(type.shape, sharding, to_mesh))) {
    return Invalid(where, absl::StrCat("global shape mismatch: expected ",
                                       LayoutLabel(type, sharding, to_mesh), ToAbsl(what), ", got ",
                                       LayoutLabel(*ref.type, *ref.sharding, from_mesh), " from ",
                                       ref.origin));
  }
  return absl::OkStatus();
}

bool Lowerer::ShardwiseCompatible(const ResolvedRef& ref, const Sharding& sharding,
                                  int32_t placement) const {
  const Placement& from = placements_[ref.placement];
  const Placement& to = placements_[placement];
  if (from.devices.size() != to.devices.size()) return false;
  if (ref.sharding->stacked() && sharding.stacked()) return true;
  return *ref.sharding == sharding && from.mesh == to.mesh;
}

absl::StatusOr<Lowerer::OutputMove> Lowerer::PlanOutput(const ResolvedRef& ref,
                                                        const OutputPlacement& target,
                                                        std::string_view where) {
  OutputMove move;
  int32_t placement = ref.placement;
  if (target.slice.valid()) {
    PW_ASSIGN_OR_RETURN(placement, PlacementOf(target.slice, where));
  }
  const Placement& to = placements_[placement];
  const ir::Shape global =
      GlobalShape(ref.type->shape, *ref.sharding, placements_[ref.placement].mesh);
  if (absl::Status s = ValidateSharding(
          target.sharding, global.rank() - (target.sharding.stacked() ? 1 : 0), to.mesh);
      !s.ok()) {
    return Invalid(where, std::string(s.message()));
  }
  absl::StatusOr<ir::Shape> shard = ShardShape(global, target.sharding, to.mesh);
  if (!shard.ok()) {
    return Invalid(
        where,
        absl::StrCat("cannot place ", ref.origin, ", ",
                     LayoutLabel(*ref.type, *ref.sharding, placements_[ref.placement].mesh),
                     ", on mesh [", absl::StrJoin(to.mesh, ","), "]: ", shard.status().message()));
  }
  move.sharding = target.sharding;
  move.copy = target.copy;
  move.shard_type = ir::TensorType{ref.type->dtype, *std::move(shard)};
  if (target.copy || !ShardwiseCompatible(ref, target.sharding, placement) ||
      placement != ref.placement) {
    move.placement = placement;
  }
  return move;
}

absl::Status Lowerer::Validate() {
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
    if (absl::Status s = ValidateSharding(spec.sharding, spec.shard_type.shape.rank(),
                                          placements_[placement].mesh);
        !s.ok()) {
      return Invalid(where, std::string(s.message()));
    }
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
      return Invalid(where, absl::StrCat("slice ", call.slice.DebugString(), " has ", num_devices,
                                         " devices but ", FunctionLabel(fn), " has num_shards ",
                                         fn.num_shards));
    }
    if (call.args.size() != fn.parameter_types.size()) {
      return Invalid(where, absl::StrCat(FunctionLabel(fn), " takes ", fn.parameter_types.size(),
                                         " arguments, got ", call.args.size()));
    }
    PW_RETURN_IF_ERROR(CheckCallShardings(call, fn, placement, where));
    for (size_t j = 0; j < call.args.size(); ++j) {
      const std::string arg_where = absl::StrCat(where, " argument ", j);
      PW_ASSIGN_OR_RETURN(ResolvedRef ref, Resolve(call.args[j], c, arg_where));
      PW_RETURN_IF_ERROR(CheckArgument(
          ref, fn.parameter_types[j], ShardingAt(call.arg_shardings, j), placement,
          absl::StrCat(" (parameter ", j, " of ", FunctionLabel(fn), ")"), arg_where));
    }
    call_functions_.push_back(&fn);
    call_placement_.push_back(placement);
    num_slots += static_cast<int64_t>(fn.output_types.size() + call.args.size());
  }
  if (!program_.output_placements.empty() &&
      program_.output_placements.size() != program_.outputs.size()) {
    return Invalid("outputs", absl::StrCat(program_.outputs.size(), " outputs but ",
                                           program_.output_placements.size(), " placements"));
  }
  for (size_t o = 0; o < program_.outputs.size(); ++o) {
    const std::string where = absl::StrCat("output ", o);
    PW_ASSIGN_OR_RETURN(
        ResolvedRef ref,
        Resolve(program_.outputs[o], static_cast<int64_t>(program_.calls.size()), where));
    if (program_.output_placements.empty()) continue;
    PW_ASSIGN_OR_RETURN(OutputMove move, PlanOutput(ref, program_.output_placements[o], where));
    num_slots += move.placement < 0 ? 0 : 1;
    output_moves_.push_back(std::move(move));
  }
  const int64_t num_nodes =
      static_cast<int64_t>(program_.inputs.size() + program_.outputs.size()) + num_slots;
  if (num_slots > std::numeric_limits<int32_t>::max() ||
      num_nodes > std::numeric_limits<int32_t>::max()) {
    return Invalid("size", "the program has too many values to lower");
  }
  return absl::OkStatus();
}

}  // namespace internal

absl::StatusOr<std::shared_ptr<const LoweredProgram>> LowerProgram(const ProgramDef& program,
                                                                   const LoweringContext& context) {
  return internal::Lowerer(program, context).Lower();
}

}  // namespace pw
