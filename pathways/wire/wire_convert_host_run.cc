// Wire conversions of what flows between controller and workers and between workers: host
// programs (sent once per lowering and host), HostRun bindings, HostRunResults, shard pushes.
#include <climits>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/wire/wire_convert.h"
#include "pathways/wire/wire_convert_internal.h"

namespace pw::wire {

using internal::Indexed;
using internal::Invalid;
using internal::Nested;

namespace {

// SplitMix64's finalizer: a fixed, well-mixed step (the same in every process).
uint64_t Mix(uint64_t h, uint64_t v) {
  uint64_t x = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

pathways::wire::HostStepProto StepToProto(const HostStep& s) {
  pathways::wire::HostStepProto p;
  p.set_kind(static_cast<uint32_t>(s.kind));
  p.set_node(s.node);
  p.set_shard(s.shard);
  p.set_device(s.device.value());
  p.set_function(s.function.value());
  p.set_num_shards(s.num_shards);
  p.set_group_key(s.group_key);
  p.mutable_inputs()->Add(s.inputs.begin(), s.inputs.end());
  p.mutable_outputs()->Add(s.outputs.begin(), s.outputs.end());
  p.set_src_value(s.src_value);
  p.set_dst_value(s.dst_value);
  p.set_peer_host(s.peer_host.value());
  p.set_peer_device(s.peer_device.value());
  p.set_peer_shard(s.peer_shard);
  for (const Region& r : s.regions) {
    pathways::wire::RegionProto* rp = p.add_regions();
    rp->set_src_value(r.src_value);
    rp->set_src_shard(r.src_shard);
    rp->mutable_src_dims()->Add(r.src_dims.begin(), r.src_dims.end());
    rp->mutable_src_offset()->Add(r.src_offset.begin(), r.src_offset.end());
    rp->mutable_dst_dims()->Add(r.dst_dims.begin(), r.dst_dims.end());
    rp->mutable_dst_offset()->Add(r.dst_offset.begin(), r.dst_offset.end());
    rp->mutable_extent()->Add(r.extent.begin(), r.extent.end());
  }
  return p;
}

pathways::wire::LoweredHostProgramProto PartToProto(const LoweredHostProgram& part) {
  pathways::wire::LoweredHostProgramProto p;
  p.set_host(part.host.value());
  p.mutable_steps()->Reserve(static_cast<int>(part.steps.size()));
  for (const HostStep& step : part.steps) *p.add_steps() = StepToProto(step);
  for (FunctionId f : part.functions) p.add_functions(f.value());
  p.mutable_temporaries()->Add(part.temporaries.begin(), part.temporaries.end());
  return p;
}

// Bounds a HostStepProto's references by the program it belongs to.
struct PartLimits {
  int64_t num_values = 0;
  int64_t num_nodes = 0;
};

absl::Status CheckSlot(int64_t slot, const PartLimits& limits, std::string_view message,
                       std::string_view field) {
  if (slot < 0 || slot >= limits.num_values) {
    return Invalid(message, field, "value slot ", slot, " out of range [0, ", limits.num_values,
                   ")");
  }
  return absl::OkStatus();
}

absl::Status CheckShard(int64_t shard, std::string_view message, std::string_view field) {
  if (shard < 0 || shard >= ir::kMaxShards) {
    return Invalid(message, field, "shard ", shard, " out of range [0, ", ir::kMaxShards, ")");
  }
  return absl::OkStatus();
}

// One coordinate list of a region: at most kMaxRank entries, each in [0, kMaxElements].
absl::StatusOr<std::vector<int64_t>> CoordsFromProto(
    const google::protobuf::RepeatedField<int64_t>& p, std::string_view field) {
  constexpr std::string_view kMsg = "RegionProto";
  if (p.size() > ir::kMaxRank) {
    return Invalid(kMsg, field, p.size(), " entries, more than rank ", ir::kMaxRank);
  }
  for (int i = 0; i < p.size(); ++i) {
    if (p.Get(i) < 0 || p.Get(i) > ir::kMaxElements) {
      return Invalid(kMsg, Indexed(field, i), "must be in [0, ", ir::kMaxElements, "], got ",
                     p.Get(i));
    }
  }
  return std::vector<int64_t>(p.begin(), p.end());
}

absl::StatusOr<Region> RegionFromProto(const pathways::wire::RegionProto& p,
                                       const PartLimits& limits) {
  constexpr std::string_view kMsg = "RegionProto";
  Region r;
  PW_RETURN_IF_ERROR(CheckSlot(p.src_value(), limits, kMsg, "src_value"));
  PW_RETURN_IF_ERROR(CheckShard(p.src_shard(), kMsg, "src_shard"));
  r.src_value = p.src_value();
  r.src_shard = p.src_shard();
  PW_ASSIGN_OR_RETURN(r.src_dims, CoordsFromProto(p.src_dims(), "src_dims"));
  PW_ASSIGN_OR_RETURN(r.src_offset, CoordsFromProto(p.src_offset(), "src_offset"));
  PW_ASSIGN_OR_RETURN(r.dst_dims, CoordsFromProto(p.dst_dims(), "dst_dims"));
  PW_ASSIGN_OR_RETURN(r.dst_offset, CoordsFromProto(p.dst_offset(), "dst_offset"));
  PW_ASSIGN_OR_RETURN(r.extent, CoordsFromProto(p.extent(), "extent"));
  const size_t rank = r.extent.size();
  if (r.src_dims.size() != rank || r.src_offset.size() != rank || r.dst_dims.size() != rank ||
      r.dst_offset.size() != rank) {
    return Invalid(kMsg, "extent", "coordinate lists of different ranks");
  }
  return r;
}

absl::StatusOr<HostStep> StepFromProto(const pathways::wire::HostStepProto& p,
                                       const PartLimits& limits,
                                       const absl::flat_hash_set<int64_t>& functions) {
  constexpr std::string_view kMsg = "HostStepProto";
  HostStep s;
  if (p.kind() > static_cast<uint32_t>(StepKind::kAssemble)) {
    return Invalid(kMsg, "kind", "unknown step kind ", p.kind());
  }
  s.kind = static_cast<StepKind>(p.kind());
  if (p.node() < 0 || p.node() >= limits.num_nodes) {
    return Invalid(kMsg, "node", "graph node ", p.node(), " out of range [0, ", limits.num_nodes,
                   ")");
  }
  PW_RETURN_IF_ERROR(CheckShard(p.shard(), kMsg, "shard"));
  if (p.peer_shard() != -1) PW_RETURN_IF_ERROR(CheckShard(p.peer_shard(), kMsg, "peer_shard"));
  PW_RETURN_IF_ERROR(CheckId(p.device(), kMsg, "device"));
  s.node = p.node();
  s.shard = p.shard();
  s.device = DeviceId(p.device());
  s.function = FunctionId(p.function());
  s.num_shards = p.num_shards();
  s.group_key = p.group_key();  // any value: it only decides which gangs share a mesh
  s.src_value = p.src_value();
  s.dst_value = p.dst_value();
  s.peer_host = HostId(p.peer_host());
  s.peer_device = DeviceId(p.peer_device());
  s.peer_shard = p.peer_shard();
  if (p.regions_size() > 0 && s.kind != StepKind::kAssemble) {
    return Invalid(kMsg, "regions", "only assemble steps have regions");
  }
  if (s.kind == StepKind::kAssemble) {
    // A destination shard has at most one piece per source shard.
    if (p.regions_size() > ir::kMaxShards) {
      return Invalid(kMsg, "regions", p.regions_size(), " pieces, more than ", ir::kMaxShards);
    }
    PW_RETURN_IF_ERROR(CheckSlot(p.dst_value(), limits, kMsg, "dst_value"));
    s.regions.reserve(p.regions_size());
    for (int i = 0; i < p.regions_size(); ++i) {
      PW_WIRE_ASSIGN_OR_RETURN(Region r, RegionFromProto(p.regions(i), limits), kMsg,
                               Indexed("regions", i));
      s.regions.push_back(std::move(r));
    }
  } else if (s.kind == StepKind::kCompute) {
    PW_RETURN_IF_ERROR(CheckId(p.function(), kMsg, "function"));
    if (!functions.contains(p.function())) {
      return Invalid(kMsg, "function", s.function.DebugString(),
                     " is not in its host program's functions");
    }
    if (p.num_shards() < 1 || p.num_shards() > ir::kMaxShards) {
      return Invalid(kMsg, "num_shards", "must be in [1, ", ir::kMaxShards, "], got ",
                     p.num_shards());
    }
    if (p.shard() >= p.num_shards()) {
      return Invalid(kMsg, "shard", "shard ", p.shard(), " of a ", p.num_shards(), "-shard gang");
    }
    for (int i = 0; i < p.inputs_size(); ++i) {
      PW_RETURN_IF_ERROR(CheckSlot(p.inputs(i), limits, kMsg, Indexed("inputs", i)));
    }
    for (int i = 0; i < p.outputs_size(); ++i) {
      PW_RETURN_IF_ERROR(CheckSlot(p.outputs(i), limits, kMsg, Indexed("outputs", i)));
    }
    s.inputs.assign(p.inputs().begin(), p.inputs().end());
    s.outputs.assign(p.outputs().begin(), p.outputs().end());
  } else {
    // Lowering fills both slots and both peer ids of every transfer step (copy, send, recv).
    PW_RETURN_IF_ERROR(CheckSlot(p.src_value(), limits, kMsg, "src_value"));
    PW_RETURN_IF_ERROR(CheckSlot(p.dst_value(), limits, kMsg, "dst_value"));
    PW_RETURN_IF_ERROR(CheckId(p.peer_host(), kMsg, "peer_host"));
    PW_RETURN_IF_ERROR(CheckId(p.peer_device(), kMsg, "peer_device"));
  }
  return s;
}

absl::StatusOr<std::shared_ptr<const LoweredHostProgram>> PartFromProto(
    const pathways::wire::LoweredHostProgramProto& p, const PartLimits& limits) {
  constexpr std::string_view kMsg = "LoweredHostProgramProto";
  auto part = std::make_shared<LoweredHostProgram>();
  PW_ASSIGN_OR_RETURN(part->host, IdFromProto<HostId>(p.host(), kMsg, "host"));
  absl::flat_hash_set<int64_t> functions;
  part->functions.reserve(p.functions_size());
  for (int i = 0; i < p.functions_size(); ++i) {
    PW_RETURN_IF_ERROR(CheckId(p.functions(i), kMsg, Indexed("functions", i)));
    functions.insert(p.functions(i));
    part->functions.emplace_back(p.functions(i));
  }
  part->steps.reserve(p.steps_size());
  for (int i = 0; i < p.steps_size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(HostStep step, StepFromProto(p.steps(i), limits, functions), kMsg,
                             Indexed("steps", i));
    part->steps.push_back(std::move(step));
  }
  for (int i = 0; i < p.temporaries_size(); ++i) {
    PW_RETURN_IF_ERROR(CheckSlot(p.temporaries(i), limits, kMsg, Indexed("temporaries", i)));
    if (i > 0 && p.temporaries(i) <= p.temporaries(i - 1)) {
      return Invalid(kMsg, Indexed("temporaries", i), "not strictly ascending (",
                     p.temporaries(i - 1), " then ", p.temporaries(i), ")");
    }
  }
  part->temporaries.assign(p.temporaries().begin(), p.temporaries().end());
  IndexTemporaryUses(*part);
  return std::shared_ptr<const LoweredHostProgram>(std::move(part));
}

absl::Status CheckStage(int64_t stage, std::string_view message, std::string_view field) {
  if (stage < -1) return Invalid(message, field, "must be a stage index or -1, got ", stage);
  return absl::OkStatus();
}

}  // namespace

uint64_t HostProgramKey(ProgramId program,
                        absl::Span<const std::pair<SliceId, uint64_t>> slice_versions,
                        HostId host) {
  uint64_t h = Mix(0x5061746877617973ULL /* "Pathways" */, static_cast<uint64_t>(program.value()));
  for (const auto& [slice, version] : slice_versions) {
    h = Mix(h, static_cast<uint64_t>(slice.value()));
    h = Mix(h, version);
  }
  h = Mix(h, static_cast<uint64_t>(host.value()));
  return h == 0 ? 1 : h;
}

absl::StatusOr<pathways::wire::HostProgramProto> ToProto(const LoweredProgram& lowered,
                                                          HostId host, uint64_t key) {
  auto it = lowered.hosts.find(host);
  if (it == lowered.hosts.end() || it->second == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("lowered program '", lowered.name,
                                                   "' has no part for ", host.DebugString()));
  }
  if (key == 0) return absl::InvalidArgumentError("host program key 0 is reserved");
  pathways::wire::HostProgramProto p;
  p.set_program_key(key);
  p.set_name(lowered.name);
  p.mutable_values()->Reserve(static_cast<int>(lowered.values.size()));
  for (const ValueInfo& v : lowered.values) {
    pathways::wire::ValueMetaProto* meta = p.add_values();
    meta->set_name(v.name);
    *meta->mutable_shard_type() = ToProto(v.shard_type);
    meta->set_is_program_output(v.is_program_output);
    meta->set_num_shards(v.num_shards);
  }
  for (const GraphNode& node : lowered.nodes) p.add_node_names(node.name);
  *p.mutable_whole() = PartToProto(*it->second);
  for (size_t k = 0; k < lowered.stages.size(); ++k) {
    auto part = lowered.stages[k].find(host);
    if (part == lowered.stages[k].end() || part->second == nullptr) continue;
    pathways::wire::StagePartProto* stage = p.add_stages();
    stage->set_stage(static_cast<int64_t>(k));
    *stage->mutable_part() = PartToProto(*part->second);
  }
  return p;
}

absl::StatusOr<ReceivedHostProgram> FromProto(const pathways::wire::HostProgramProto& p) {
  constexpr std::string_view kMsg = "HostProgramProto";
  if (p.program_key() == 0) return Invalid(kMsg, "program_key", "0 is reserved");
  auto lowered = std::make_shared<LoweredProgram>();
  lowered->name = p.name();
  lowered->values.resize(p.values_size());
  for (int i = 0; i < p.values_size(); ++i) {
    const pathways::wire::ValueMetaProto& meta = p.values(i);
    ValueInfo& v = lowered->values[i];
    v.name = meta.name();
    PW_WIRE_ASSIGN_OR_RETURN(v.shard_type, FromProto(meta.shard_type()), kMsg,
                             Indexed("values", i) + ".shard_type");
    v.is_program_output = meta.is_program_output();
    if (meta.num_shards() < 1 || meta.num_shards() > ir::kMaxShards) {
      return Invalid(kMsg, Indexed("values", i) + ".num_shards", "must be in [1, ",
                     ir::kMaxShards, "], got ", meta.num_shards());
    }
    v.num_shards = meta.num_shards();
  }
  lowered->nodes.resize(p.node_names_size());
  for (int i = 0; i < p.node_names_size(); ++i) lowered->nodes[i].name = p.node_names(i);

  const PartLimits limits{p.values_size(), p.node_names_size()};
  if (!p.has_whole()) return Invalid(kMsg, "whole", "missing");
  PW_WIRE_ASSIGN_OR_RETURN(std::shared_ptr<const LoweredHostProgram> whole,
                           PartFromProto(p.whole(), limits), kMsg, "whole");
  const HostId host = whole->host;
  lowered->hosts.emplace(host, std::move(whole));
  for (int i = 0; i < p.stages_size(); ++i) {
    const pathways::wire::StagePartProto& s = p.stages(i);
    const std::string where = Indexed("stages", i);
    // A stage is one call, so there are fewer stages than graph nodes: this bounds the
    // allocation below by the message's own size.
    if (s.stage() < 0 || s.stage() >= limits.num_nodes) {
      return Invalid(kMsg, where + ".stage", "stage ", s.stage(), " out of range [0, ",
                     limits.num_nodes, ")");
    }
    if (i > 0 && s.stage() <= p.stages(i - 1).stage()) {
      return Invalid(kMsg, where + ".stage", "stages not strictly ascending");
    }
    PW_WIRE_ASSIGN_OR_RETURN(std::shared_ptr<const LoweredHostProgram> part,
                             PartFromProto(s.part(), limits), kMsg, where + ".part");
    if (part->host != host) {
      return Invalid(kMsg, where + ".part.host", part->host.DebugString(), " but the whole part is ",
                     host.DebugString(), "'s");
    }
    lowered->stages.resize(s.stage() + 1);
    lowered->stages[s.stage()].emplace(host, std::move(part));
  }
  return ReceivedHostProgram{p.program_key(), host, std::move(lowered)};
}

absl::StatusOr<pathways::wire::HostRunProto> ToProto(const HostRun& run,
                                                     const HostRunWireOptions& options) {
  if (run.program == nullptr || run.lowered == nullptr || run.value_arrays == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        run.run.DebugString(), " lacks its host program, lowering or value bindings"));
  }
  const HostId host = run.program->host;
  const LoweredHostProgram* expected = nullptr;
  if (run.mode == DispatchMode::kParallel) {
    auto it = run.lowered->hosts.find(host);
    if (it != run.lowered->hosts.end()) expected = it->second.get();
  } else if (run.stage >= 0 && static_cast<size_t>(run.stage) < run.lowered->stages.size()) {
    auto it = run.lowered->stages[run.stage].find(host);
    if (it != run.lowered->stages[run.stage].end()) expected = it->second.get();
  }
  if (expected == nullptr || expected != run.program.get()) {
    return absl::InvalidArgumentError(absl::StrCat(
        run.run.DebugString(), ": its host program is not the part of lowered program '",
        run.lowered->name, "' for ", host.DebugString(), " in ", DispatchModeName(run.mode),
        " mode, stage ", run.stage));
  }
  if (options.program_key == 0) return absl::InvalidArgumentError("host program key 0 is reserved");
  pathways::wire::HostRunProto p;
  p.set_version(kWireVersion);
  p.set_run(run.run.value());
  p.set_client(run.client.value());
  p.set_program_key(options.program_key);
  if (options.payload == ProgramPayload::kWithProgram) {
    PW_ASSIGN_OR_RETURN(*p.mutable_program(), ToProto(*run.lowered, host, options.program_key));
  }
  p.mutable_value_arrays()->Reserve(static_cast<int>(run.value_arrays->size()));
  for (ArrayId a : *run.value_arrays) p.add_value_arrays(a.value());
  p.set_gang_base(run.gang_base);
  p.set_mode(static_cast<uint32_t>(run.mode));
  p.set_stage(run.stage);
  return p;
}

absl::StatusOr<HostRun> FromProto(const pathways::wire::HostRunProto& p,
                                  const ReceivedHostProgram& program) {
  constexpr std::string_view kMsg = "HostRunProto";
  PW_RETURN_IF_ERROR(CheckVersion(p));
  HostRun run;
  PW_ASSIGN_OR_RETURN(run.run, IdFromProto<RunId>(p.run(), kMsg, "run"));
  PW_ASSIGN_OR_RETURN(run.client, IdFromProto<ClientId>(p.client(), kMsg, "client"));
  if (p.has_program() && p.program().program_key() != p.program_key()) {
    return Invalid(kMsg, "program.program_key", "key ", p.program().program_key(),
                   " differs from the run's program_key ", p.program_key());
  }
  if (program.lowered == nullptr || p.program_key() != program.key) {
    return Invalid(kMsg, "program_key", "key ", p.program_key(),
                   " does not name the host program given (key ", program.key, ")");
  }
  const LoweredProgram& lowered = *program.lowered;
  if (static_cast<size_t>(p.value_arrays_size()) != lowered.values.size()) {
    return Invalid(kMsg, "value_arrays", p.value_arrays_size(), " bindings for ",
                   lowered.values.size(), " value slots");
  }
  auto arrays = std::make_shared<std::vector<ArrayId>>();
  arrays->reserve(p.value_arrays_size());
  for (int i = 0; i < p.value_arrays_size(); ++i) {
    if (p.value_arrays(i) < 0) {
      return Invalid(kMsg, Indexed("value_arrays", i), "array id ", p.value_arrays(i),
                     " is negative");
    }
    arrays->emplace_back(p.value_arrays(i));
  }
  run.value_arrays = std::move(arrays);
  // Gang ids gang_base + node must stay valid ids for every node.
  const int64_t num_nodes = static_cast<int64_t>(lowered.nodes.size());
  if (p.gang_base() < 0 || p.gang_base() > INT64_MAX - num_nodes) {
    return Invalid(kMsg, "gang_base", "must be in [0, ", INT64_MAX - num_nodes, "], got ",
                   p.gang_base());
  }
  run.gang_base = p.gang_base();
  if (p.mode() > static_cast<uint32_t>(DispatchMode::kSequential)) {
    return Invalid(kMsg, "mode", "unknown dispatch mode ", p.mode());
  }
  run.mode = static_cast<DispatchMode>(p.mode());
  run.stage = p.stage();
  if (run.mode == DispatchMode::kParallel) {
    if (p.stage() != -1) return Invalid(kMsg, "stage", "must be -1 in parallel mode, got ", p.stage());
    auto it = lowered.hosts.find(program.host);
    if (it == lowered.hosts.end()) {
      return Invalid(kMsg, "program", "has no part for ", program.host.DebugString());
    }
    run.program = it->second;
  } else {
    std::shared_ptr<const LoweredHostProgram> part;
    if (p.stage() >= 0 && static_cast<size_t>(p.stage()) < lowered.stages.size()) {
      auto it = lowered.stages[p.stage()].find(program.host);
      if (it != lowered.stages[p.stage()].end()) part = it->second;
    }
    if (part == nullptr) {
      return Invalid(kMsg, "stage", program.host.DebugString(), " has no part in stage ",
                     p.stage());
    }
    run.program = std::move(part);
  }
  run.lowered = program.lowered;
  return run;
}

pathways::wire::HostRunResultProto ToProto(const HostRunResult& result) {
  pathways::wire::HostRunResultProto p;
  p.set_host(result.host.value());
  p.set_run(result.run.value());
  p.set_stage(result.stage);
  p.mutable_outputs()->Reserve(static_cast<int>(result.outputs.size()));
  for (const HostRunResult::ShardStatus& s : result.outputs) {
    pathways::wire::ShardStatusProto* o = p.add_outputs();
    o->set_value(s.value);
    o->set_shard(s.shard);
    if (!s.status.ok()) *o->mutable_status() = ToProto(s.status);
  }
  if (!result.status.ok()) *p.mutable_status() = ToProto(result.status);
  p.set_device_nanos(result.device_nanos);
  return p;
}

absl::StatusOr<HostRunResult> FromProto(const pathways::wire::HostRunResultProto& p) {
  constexpr std::string_view kMsg = "HostRunResultProto";
  HostRunResult result;
  PW_ASSIGN_OR_RETURN(result.host, IdFromProto<HostId>(p.host(), kMsg, "host"));
  PW_ASSIGN_OR_RETURN(result.run, IdFromProto<RunId>(p.run(), kMsg, "run"));
  PW_RETURN_IF_ERROR(CheckStage(p.stage(), kMsg, "stage"));
  result.stage = p.stage();
  result.outputs.reserve(p.outputs_size());
  for (int i = 0; i < p.outputs_size(); ++i) {
    const pathways::wire::ShardStatusProto& o = p.outputs(i);
    const std::string where = Indexed("outputs", i);
    if (o.value() < 0) return Invalid(kMsg, where + ".value", "value slot ", o.value(), " is negative");
    PW_RETURN_IF_ERROR(CheckShard(o.shard(), kMsg, where + ".shard"));
    PW_WIRE_ASSIGN_OR_RETURN(PeerStatus status, FromProto(o.status()), kMsg, where + ".status");
    result.outputs.push_back({o.value(), o.shard(), std::move(status.status)});
  }
  PW_WIRE_ASSIGN_OR_RETURN(PeerStatus status, FromProto(p.status()), kMsg, "status");
  result.status = std::move(status.status);
  // A year of device time per message: far above any real run, small enough that summing a
  // run's messages cannot overflow.
  constexpr int64_t kMaxDeviceNanos = int64_t{365} * 24 * 3600 * 1'000'000'000;
  if (p.device_nanos() < 0 || p.device_nanos() > kMaxDeviceNanos) {
    return Invalid(kMsg, "device_nanos", "device time ", p.device_nanos(),
                   " ns is outside [0, ", kMaxDeviceNanos, "]");
  }
  result.device_nanos = p.device_nanos();
  return result;
}

pathways::wire::RunDoneReport ToRunDoneReport(absl::Span<const HostRunResult> results) {
  pathways::wire::RunDoneReport p;
  p.set_version(kWireVersion);
  p.mutable_results()->Reserve(static_cast<int>(results.size()));
  for (const HostRunResult& r : results) *p.add_results() = ToProto(r);
  return p;
}

absl::StatusOr<std::vector<HostRunResult>> FromProto(const pathways::wire::RunDoneReport& p) {
  PW_RETURN_IF_ERROR(CheckVersion(p));
  std::vector<HostRunResult> results;
  results.reserve(p.results_size());
  for (int i = 0; i < p.results_size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(HostRunResult r, FromProto(p.results(i)), "RunDoneReport",
                             Indexed("results", i));
    results.push_back(std::move(r));
  }
  return results;
}

// ---- data plane -----------------------------------------------------------------------------

namespace {

pathways::wire::ShardPushProto HeaderToProto(const ShardPushHeader& h) {
  pathways::wire::ShardPushProto p;
  p.set_version(kWireVersion);
  p.set_array(h.array.value());
  p.set_shard(h.shard);
  p.set_device(h.device.value());
  *p.mutable_type() = ToProto(h.type);
  return p;
}

}  // namespace

pathways::wire::ShardPushProto ChunkToProto(const ShardPushHeader& header, int64_t offset,
                                            const void* data, int64_t bytes) {
  pathways::wire::ShardPushProto p = HeaderToProto(header);
  p.set_offset(offset);
  p.set_chunk(data, static_cast<size_t>(bytes));
  return p;
}

pathways::wire::ShardPushProto ErrorToProto(const ShardPushHeader& header,
                                            const absl::Status& error) {
  pathways::wire::ShardPushProto p = HeaderToProto(header);
  *p.mutable_error() = ToProto(error);
  return p;
}

absl::StatusOr<ShardPush> FromProto(const pathways::wire::ShardPushProto& p) {
  constexpr std::string_view kMsg = "ShardPushProto";
  PW_RETURN_IF_ERROR(CheckVersion(p));
  ShardPush push;
  PW_ASSIGN_OR_RETURN(push.header.array, IdFromProto<ArrayId>(p.array(), kMsg, "array"));
  PW_RETURN_IF_ERROR(CheckShard(p.shard(), kMsg, "shard"));
  push.header.shard = p.shard();
  PW_ASSIGN_OR_RETURN(push.header.device, IdFromProto<DeviceId>(p.device(), kMsg, "device"));
  PW_WIRE_ASSIGN_OR_RETURN(push.header.type, FromProto(p.type()), kMsg, "type");
  const int64_t total = push.header.type.byte_size();
  switch (p.payload_case()) {
    case pathways::wire::ShardPushProto::kChunk: {
      const int64_t size = static_cast<int64_t>(p.chunk().size());
      if (p.offset() < 0 || p.offset() > total || size > total - p.offset()) {
        return Invalid(kMsg, "chunk", "bytes [", p.offset(), ", ", p.offset(), " + ", size,
                       ") outside the shard's ", total, " bytes of ",
                       push.header.type.DebugString());
      }
      push.offset = p.offset();
      push.chunk = std::string_view(p.chunk().data(), p.chunk().size());
      break;
    }
    case pathways::wire::ShardPushProto::kError: {
      PW_WIRE_ASSIGN_OR_RETURN(PeerStatus error, FromProto(p.error()), kMsg, "error");
      if (error.status.ok()) return Invalid(kMsg, "error", "an error push carries an OK status");
      push.error = std::move(error.status);
      break;
    }
    default:
      return Invalid(kMsg, "payload", "neither a chunk nor an error");
  }
  return push;
}

}  // namespace pw::wire
