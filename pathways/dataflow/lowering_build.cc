// Lowering, the build half: value slots, graph nodes, the steps of calls, shard-by-shard moves
// and reshards, and the host parts (lowering_internal.h).
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/dataflow/lowering_internal.h"

namespace pw::internal {

int32_t Lowerer::AddSlot(ValueInfo info, int32_t placement, int32_t node,
                         const Sharding& sharding) {
  info.devices = placements_[placement].devices;
  info.num_shards = static_cast<int32_t>(info.devices.size());
  lowered_->values.push_back(std::move(info));
  slot_placement_.push_back(placement);
  slot_producer_.push_back(node);
  slot_sharding_.push_back(sharding);
  return static_cast<int32_t>(lowered_->values.size() - 1);
}

int32_t Lowerer::AddPieceSlot(std::string name, const ir::TensorType& type, DeviceId device,
                              int32_t node) {
  ValueInfo info;
  info.name = std::move(name);
  info.shard_type = type;
  info.devices = {device};
  info.num_shards = 1;
  lowered_->values.push_back(std::move(info));
  slot_placement_.push_back(-1);
  slot_producer_.push_back(node);
  slot_sharding_.push_back(kStacked);
  return static_cast<int32_t>(lowered_->values.size() - 1);
}

int32_t Lowerer::ShardingId(const Sharding& sharding) {
  auto [it, inserted] =
      sharding_ids_.try_emplace(sharding, static_cast<int32_t>(sharding_ids_.size()));
  return it->second;
}

int32_t Lowerer::Place(int32_t src, int32_t placement, const Sharding& sharding,
                       const ir::TensorType& type, int32_t stage, std::string_view reader,
                       bool copy) {
  const Placement& from = placements_[slot_placement_[src]];
  const Placement& to = placements_[placement];
  const Sharding& have = slot_sharding_[src];
  const bool shardwise =
      from.devices.size() == to.devices.size() &&
      ((have.stacked() && sharding.stacked()) || (have == sharding && from.mesh == to.mesh));
  if (shardwise && slot_placement_[src] == placement) {
    return copy ? MoveTo(src, placement, stage, reader) : src;
  }
  auto [it, inserted] =
      transfers_.try_emplace(std::make_tuple(src, placement, ShardingId(sharding)), -1);
  if (!inserted) return it->second;
  it->second = shardwise ? MoveTo(src, placement, stage, reader)
                         : Reshard(src, placement, sharding, type, stage, reader);
  return it->second;
}

int32_t Lowerer::AddNode(GraphNode node) {
  lowered_->nodes.push_back(std::move(node));
  node_steps_.emplace_back();
  return static_cast<int32_t>(lowered_->nodes.size() - 1);
}

int32_t Lowerer::SlotOf(const ValueRef& ref) const {
  if (ref.node == ValueRef::kProgramInput) return static_cast<int32_t>(ref.index);
  return call_output_base_[ref.node] + static_cast<int32_t>(ref.index);
}

std::pair<int32_t, int32_t> Lowerer::AddTransferNode(int32_t src, int32_t placement,
                                                     const Sharding& sharding,
                                                     const ir::TensorType& type, int32_t stage,
                                                     std::string_view reader) {
  const std::string name = absl::StrCat(lowered_->values[src].name, "@", ToAbsl(reader));
  GraphNode node;
  node.kind = NodeKind::kTransfer;
  node.name = name;
  node.inputs = {src};
  node.predecessors = {slot_producer_[src]};
  node.num_shards = static_cast<int64_t>(placements_[placement].devices.size());
  const int32_t n = AddNode(std::move(node));
  ValueInfo info;
  info.name = name;
  info.shard_type = type;
  const int32_t dst = AddSlot(std::move(info), placement, n, sharding);
  lowered_->nodes[n].outputs = {dst};
  node_steps_[n].stage = stage;
  return {n, dst};
}

void Lowerer::AddSendRecv(int32_t n, const ShardEnd& from, const ShardEnd& to) {
  HostStep send;
  send.kind = StepKind::kSend;
  send.node = n;
  send.shard = from.shard;
  send.peer_shard = to.shard;
  send.device = from.device;
  send.src_value = from.value;
  send.dst_value = to.value;
  send.peer_host = to.host;
  send.peer_device = to.device;
  node_steps_[n].Add(from.host, std::move(send));
  HostStep recv;
  recv.kind = StepKind::kRecv;
  recv.node = n;
  recv.shard = to.shard;
  recv.device = to.device;
  recv.src_value = from.value;
  recv.dst_value = to.value;
  recv.peer_host = from.host;
  recv.peer_device = from.device;
  node_steps_[n].Add(to.host, std::move(recv));
}

void Lowerer::AddCopy(int32_t n, const ShardEnd& from, const ShardEnd& to) {
  // Same device is a plain memcpy, another device of the host a device-to-device copy.
  HostStep copy;
  copy.kind = StepKind::kCopy;
  copy.node = n;
  copy.shard = to.shard;
  copy.peer_shard = from.shard;
  copy.device = to.device;
  copy.src_value = from.value;
  copy.dst_value = to.value;
  copy.peer_host = from.host;
  copy.peer_device = from.device;
  node_steps_[n].Add(to.host, std::move(copy));
}

int32_t Lowerer::MoveTo(int32_t src, int32_t placement, int32_t stage, std::string_view reader) {
  const Placement& from = placements_[slot_placement_[src]];
  const Placement& to = placements_[placement];
  const auto [n, dst] = AddTransferNode(src, placement, slot_sharding_[src],
                                        lowered_->values[src].shard_type, stage, reader);
  for (size_t i = 0; i < to.devices.size(); ++i) {
    const auto shard = static_cast<int32_t>(i);
    const ShardEnd a{src, shard, from.hosts[i], from.devices[i]};
    const ShardEnd b{dst, shard, to.hosts[i], to.devices[i]};
    if (from.hosts[i] == to.hosts[i]) {
      AddCopy(n, a, b);
    } else {
      AddSendRecv(n, a, b);
    }
  }
  return dst;
}

int32_t Lowerer::Reshard(int32_t src, int32_t placement, const Sharding& sharding,
                         const ir::TensorType& type, int32_t stage, std::string_view reader) {
  const Placement& from = placements_[slot_placement_[src]];
  const Placement& to = placements_[placement];
  const auto [n, dst] = AddTransferNode(src, placement, sharding, type, stage, reader);

  const ShardLayout src_layout{lowered_->values[src].shard_type.shape, slot_sharding_[src],
                               from.devices, from.hosts, from.mesh};
  const ShardLayout dst_layout{type.shape, sharding, to.devices, to.hosts, to.mesh};
  const std::vector<std::vector<ReshardPiece>> plan = PlanReshard(src_layout, dst_layout);
  const absl::InlinedVector<int64_t, 6> src_view = ShardView(src_layout.shard, src_layout.sharding);
  const absl::InlinedVector<int64_t, 6> dst_view = ShardView(type.shape, sharding);
  for (size_t j = 0; j < plan.size(); ++j) {
    std::vector<Region> regions;  // pieces read on the destination's host
    bool direct = false;          // a whole shard was copied or received into place
    for (const ReshardPiece& piece : plan[j]) {
      Region region{src,
                    piece.holder,
                    {src_view.begin(), src_view.end()},
                    piece.src_offset,
                    {dst_view.begin(), dst_view.end()},
                    piece.dst_offset,
                    piece.extent};
      direct |= AddPiece(n, src, dst, static_cast<int32_t>(j), from, to, piece, std::move(region),
                         regions);
    }
    if (direct) continue;
    HostStep step;
    step.kind = StepKind::kAssemble;
    step.node = n;
    step.shard = static_cast<int32_t>(j);
    step.device = to.devices[j];
    step.dst_value = dst;
    step.peer_host = to.hosts[j];
    step.regions = std::move(regions);
    node_steps_[n].Add(to.hosts[j], std::move(step));
  }
  return dst;
}

bool Lowerer::AddPiece(int32_t n, int32_t src, int32_t dst, int32_t j, const Placement& from,
                       const Placement& to, const ReshardPiece& piece, Region region,
                       std::vector<Region>& regions) {
  const int32_t i = piece.holder;
  if (from.hosts[i] == to.hosts[j]) {
    if (!(piece.whole_src && piece.whole_dst)) {
      regions.push_back(std::move(region));
      return false;
    }
    AddCopy(n, ShardEnd{src, i, from.hosts[i], from.devices[i]},
            ShardEnd{dst, j, to.hosts[j], to.devices[j]});
    return true;
  }
  const std::vector<int64_t> zeros(piece.extent.size(), 0);
  const ir::TensorType piece_type{lowered_->values[src].shard_type.dtype,
                                  ir::Shape(absl::MakeConstSpan(piece.extent))};
  const std::string piece_name = absl::StrCat(lowered_->values[dst].name, ".", j, "<", i);
  ShardEnd payload{src, i, from.hosts[i], from.devices[i]};
  if (!piece.whole_src) {  // cut the piece out on the holder's host
    payload.value = AddPieceSlot(absl::StrCat(piece_name, ":cut"), piece_type, from.devices[i], n);
    payload.shard = 0;
    HostStep cut;
    cut.kind = StepKind::kAssemble;
    cut.node = n;
    cut.device = from.devices[i];
    cut.dst_value = payload.value;
    cut.peer_host = from.hosts[i];
    Region whole = region;
    whole.dst_dims = piece.extent;
    whole.dst_offset = zeros;
    cut.regions = {std::move(whole)};
    node_steps_[n].Add(from.hosts[i], std::move(cut));
  }
  ShardEnd landing{dst, j, to.hosts[j], to.devices[j]};
  if (!piece.whole_dst) {  // lands in a piece of its own, written into place by the assembly
    landing.value = AddPieceSlot(absl::StrCat(piece_name, ":in"), piece_type, to.devices[j], n);
    landing.shard = 0;
    region.src_value = landing.value;
    region.src_shard = 0;
    region.src_dims = piece.extent;
    region.src_offset = zeros;
    regions.push_back(std::move(region));
  }
  AddSendRecv(n, payload, landing);
  return piece.whole_dst;
}

void Lowerer::AddCall(int64_t c) {
  const ProgramCall& call = program_.calls[c];
  const FunctionSignature& fn = *call_functions_[c];
  const int32_t placement = call_placement_[c];
  std::vector<int32_t> inputs;
  inputs.reserve(call.args.size());
  for (size_t j = 0; j < call.args.size(); ++j) {
    inputs.push_back(Place(SlotOf(call.args[j]), placement, ShardingAt(call.arg_shardings, j),
                           fn.parameter_types[j], static_cast<int32_t>(c), CallName(call, c)));
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
    outputs.push_back(AddSlot(std::move(info), placement, n, ShardingAt(call.out_shardings, k)));
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

void Lowerer::Build() {
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
    lowered_->nodes[n].outputs = {
        AddSlot(std::move(info), input_placement_[i], n, program_.inputs[i].sharding)};
  }
  for (size_t c = 0; c < program_.calls.size(); ++c) AddCall(static_cast<int64_t>(c));
  // Outputs placed elsewhere move in a last stage of their own.
  const int32_t output_stage = static_cast<int32_t>(program_.calls.size());
  bool output_moves = false;
  for (size_t o = 0; o < program_.outputs.size(); ++o) {
    // A Result node moves nothing: an output placed elsewhere is moved first.
    int32_t slot = SlotOf(program_.outputs[o]);
    if (!output_moves_.empty() && output_moves_[o].placement >= 0) {
      const OutputMove& move = output_moves_[o];
      slot = Place(slot, move.placement, move.sharding, move.shard_type, output_stage,
                   absl::StrCat("output:", o), move.copy);
      output_moves = true;
    }
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
  internal::BuildHostParts(node_steps_, output_stage + (output_moves ? 1 : 0), *lowered_);
}

}  // namespace pw::internal
