// Wire conversions of the client <-> controller values: statuses, ir values, slices, arrays,
// cluster status. Programs and shardings are in wire_convert_program.cc, host programs and runs
// in wire_convert_host_run.cc.
#include "pathways/wire/wire_convert.h"

#include <climits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/wire/wire_convert_internal.h"

namespace pw::wire {

using internal::Indexed;
using internal::Invalid;
using internal::Nested;

namespace {

// A counter or size that the runtime never makes negative.
absl::Status CheckCount(int64_t value, std::string_view message, std::string_view field) {
  if (value < 0) return Invalid(message, field, "must be >= 0, got ", value);
  return absl::OkStatus();
}

template <typename IdT, typename Repeated>
absl::StatusOr<std::vector<IdT>> IdsFromProto(const Repeated& from, std::string_view message,
                                              std::string_view field) {
  std::vector<IdT> ids;
  ids.reserve(from.size());
  for (int i = 0; i < from.size(); ++i) {
    if (from[i] < 0) {
      return Invalid(message, Indexed(field, i), "id ", from[i], " is negative");
    }
    ids.emplace_back(from[i]);
  }
  return ids;
}

template <typename IdT, typename Repeated>
void IdsToProto(const std::vector<IdT>& ids, Repeated* to) {
  to->Reserve(static_cast<int>(ids.size()));
  for (IdT id : ids) to->Add(id.value());
}

// Mesh or shape dims must be >= 0; returns their product (saturating at INT64_MAX).
absl::StatusOr<int64_t> DimsProduct(const google::protobuf::RepeatedField<int64_t>& dims,
                                    std::string_view message, std::string_view field) {
  int64_t product = 1;
  for (int i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) return Invalid(message, Indexed(field, i), "must be >= 0, got ", dims[i]);
    if (dims[i] != 0 && product > INT64_MAX / dims[i]) {
      product = INT64_MAX;
    } else {
      product *= dims[i];
    }
  }
  return product;
}

pathways::wire::DeviceStatusProto ToProto(const DeviceStatus& d) {
  pathways::wire::DeviceStatusProto p;
  p.set_id(d.id.value());
  p.set_kind(d.kind);
  p.set_memory_capacity_bytes(d.memory_capacity_bytes);
  p.set_memory_in_use_bytes(d.memory_in_use_bytes);
  p.set_peak_memory_in_use_bytes(d.peak_memory_in_use_bytes);
  p.set_busy_nanos(d.busy_nanos);
  p.set_completed_items(d.completed_items);
  p.set_scratch_bytes(d.scratch_bytes);
  return p;
}

absl::StatusOr<DeviceStatus> FromProto(const pathways::wire::DeviceStatusProto& p) {
  constexpr std::string_view kMsg = "DeviceStatusProto";
  DeviceStatus d;
  PW_ASSIGN_OR_RETURN(d.id, IdFromProto<DeviceId>(p.id(), kMsg, "id"));
  d.kind = p.kind();
  PW_RETURN_IF_ERROR(CheckCount(p.memory_capacity_bytes(), kMsg, "memory_capacity_bytes"));
  PW_RETURN_IF_ERROR(CheckCount(p.memory_in_use_bytes(), kMsg, "memory_in_use_bytes"));
  PW_RETURN_IF_ERROR(CheckCount(p.peak_memory_in_use_bytes(), kMsg, "peak_memory_in_use_bytes"));
  PW_RETURN_IF_ERROR(CheckCount(p.busy_nanos(), kMsg, "busy_nanos"));
  PW_RETURN_IF_ERROR(CheckCount(p.completed_items(), kMsg, "completed_items"));
  PW_RETURN_IF_ERROR(CheckCount(p.scratch_bytes(), kMsg, "scratch_bytes"));
  d.memory_capacity_bytes = p.memory_capacity_bytes();
  d.memory_in_use_bytes = p.memory_in_use_bytes();
  d.peak_memory_in_use_bytes = p.peak_memory_in_use_bytes();
  d.busy_nanos = p.busy_nanos();
  d.completed_items = p.completed_items();
  d.scratch_bytes = p.scratch_bytes();
  return d;
}

pathways::wire::IslandInfoProto ToProto(const IslandInfo& island) {
  pathways::wire::IslandInfoProto p;
  p.set_id(island.id.value());
  IdsToProto(island.hosts, p.mutable_hosts());
  IdsToProto(island.devices, p.mutable_devices());
  return p;
}

absl::StatusOr<IslandInfo> FromProto(const pathways::wire::IslandInfoProto& p) {
  constexpr std::string_view kMsg = "IslandInfoProto";
  IslandInfo island;
  PW_ASSIGN_OR_RETURN(island.id, IdFromProto<IslandId>(p.id(), kMsg, "id"));
  PW_ASSIGN_OR_RETURN(island.hosts, IdsFromProto<HostId>(p.hosts(), kMsg, "hosts"));
  PW_ASSIGN_OR_RETURN(island.devices, IdsFromProto<DeviceId>(p.devices(), kMsg, "devices"));
  return island;
}

pathways::wire::ClientStatusProto ToProto(const ClientStatus& c) {
  pathways::wire::ClientStatusProto p;
  p.set_id(c.id.value());
  p.set_name(c.name);
  p.set_live_arrays(c.live_arrays);
  p.set_runs(c.runs);
  p.set_weight(c.weight);
  p.set_priority(c.priority);
  p.set_device_nanos(c.device_nanos);
  p.set_lease_age_millis(c.lease_age_millis);
  p.set_memory_bytes(c.memory_bytes);
  return p;
}

absl::StatusOr<ClientStatus> FromProto(const pathways::wire::ClientStatusProto& p) {
  constexpr std::string_view kMsg = "ClientStatusProto";
  ClientStatus c;
  PW_ASSIGN_OR_RETURN(c.id, IdFromProto<ClientId>(p.id(), kMsg, "id"));
  PW_RETURN_IF_ERROR(CheckCount(p.live_arrays(), kMsg, "live_arrays"));
  PW_RETURN_IF_ERROR(CheckCount(p.runs(), kMsg, "runs"));
  PW_RETURN_IF_ERROR(CheckCount(p.device_nanos(), kMsg, "device_nanos"));
  c.name = p.name();
  c.live_arrays = p.live_arrays();
  c.runs = p.runs();
  c.weight = p.weight();
  c.priority = p.priority();
  PW_RETURN_IF_ERROR(ValidateConnectOptions({.weight = c.weight, .priority = c.priority}));
  c.device_nanos = p.device_nanos();
  if (p.lease_age_millis() < -1) {
    return absl::InvalidArgumentError(absl::StrCat("ClientStatusProto.lease_age_millis: ",
                                                   p.lease_age_millis(), " is below -1"));
  }
  c.lease_age_millis = p.lease_age_millis();
  PW_RETURN_IF_ERROR(CheckCount(p.memory_bytes(), kMsg, "memory_bytes"));
  c.memory_bytes = p.memory_bytes();
  return c;
}

pathways::wire::SchedulerStatusProto ToProto(const SchedulerStatus& s) {
  pathways::wire::SchedulerStatusProto p;
  p.set_island(s.island.value());
  p.set_policy(s.policy);
  p.set_window(s.window);
  p.set_queued(s.queued);
  p.set_in_flight(s.in_flight);
  p.set_device_nanos(s.device_nanos);
  return p;
}

absl::StatusOr<SchedulerStatus> FromProto(const pathways::wire::SchedulerStatusProto& p) {
  constexpr std::string_view kMsg = "SchedulerStatusProto";
  SchedulerStatus s;
  PW_ASSIGN_OR_RETURN(s.island, IdFromProto<IslandId>(p.island(), kMsg, "island"));
  PW_RETURN_IF_ERROR(CheckCount(p.window(), kMsg, "window"));
  PW_RETURN_IF_ERROR(CheckCount(p.queued(), kMsg, "queued"));
  PW_RETURN_IF_ERROR(CheckCount(p.in_flight(), kMsg, "in_flight"));
  PW_RETURN_IF_ERROR(CheckCount(p.device_nanos(), kMsg, "device_nanos"));
  s.policy = p.policy();
  s.window = p.window();
  s.queued = p.queued();
  s.in_flight = p.in_flight();
  s.device_nanos = p.device_nanos();
  return s;
}

}  // namespace

absl::Status CheckVersion(uint32_t peer_version, std::string_view message) {
  if (peer_version == kWireVersion) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(ToAbsl(message), ": peer speaks wire version ",
                                                    peer_version, ", this build speaks ",
                                                    kWireVersion));
}

absl::Status CheckId(int64_t value, std::string_view message, std::string_view field) {
  if (value < 0) return Invalid(message, field, "id ", value, " is negative");
  return absl::OkStatus();
}

// ---- absl::Status -------------------------------------------------------------------------

pathways::wire::StatusProto ToProto(const absl::Status& status) {
  pathways::wire::StatusProto p;
  p.set_code(static_cast<uint32_t>(status.code()));
  p.set_message(std::string(status.message()));
  return p;
}

absl::StatusOr<PeerStatus> FromProto(const pathways::wire::StatusProto& p) {
  // absl::StatusCode is 0..16 (kUnauthenticated); nothing else is defined.
  if (p.code() > static_cast<uint32_t>(absl::StatusCode::kUnauthenticated)) {
    return Invalid("StatusProto", "code", "unknown status code ", p.code());
  }
  const auto code = static_cast<absl::StatusCode>(p.code());
  return PeerStatus{code == absl::StatusCode::kOk ? absl::OkStatus()
                                                  : absl::Status(code, p.message())};
}

// ---- ir values ----------------------------------------------------------------------------

pathways::ir::TensorTypeProto ToProto(const ir::TensorType& type) {
  pathways::ir::TensorTypeProto p;
  p.set_dtype(static_cast<uint32_t>(type.dtype));
  p.mutable_dims()->Reserve(static_cast<int>(type.shape.rank()));
  for (int64_t d : type.shape.dims()) p.add_dims(d);
  return p;
}

absl::StatusOr<ir::TensorType> FromProto(const pathways::ir::TensorTypeProto& p) {
  constexpr std::string_view kMsg = "TensorTypeProto";
  const auto dtype = static_cast<ir::DType>(p.dtype());
  if (p.dtype() > UINT8_MAX || !ir::IsValidDType(dtype)) {
    return Invalid(kMsg, "dtype", "unknown dtype ", p.dtype());
  }
  if (p.dims_size() > ir::kMaxRank) {
    return Invalid(kMsg, "dims", "rank ", p.dims_size(), " exceeds ", ir::kMaxRank);
  }
  PW_ASSIGN_OR_RETURN(int64_t elements, DimsProduct(p.dims(), kMsg, "dims"));
  if (elements > ir::kMaxElements) {
    return Invalid(kMsg, "dims", "element count exceeds ", ir::kMaxElements);
  }
  ir::TensorType type{dtype, ir::Shape(absl::MakeConstSpan(p.dims().data(), p.dims_size()))};
  if (!type.IsValid()) return Invalid(kMsg, "dims", "invalid shape ", type.DebugString());
  return type;
}

pathways::ir::LiteralProto ToProto(const ir::Literal& literal) {
  pathways::ir::LiteralProto p;
  *p.mutable_type() = ToProto(literal.type());
  p.set_data(literal.bytes());
  return p;
}

absl::StatusOr<ir::Literal> FromProto(const pathways::ir::LiteralProto& p) {
  pathways::ir::LiteralProto copy;
  *copy.mutable_type() = p.type();
  *copy.mutable_data() = p.data();
  return FromProto(std::move(copy));
}

absl::StatusOr<ir::Literal> FromProto(pathways::ir::LiteralProto&& p) {
  constexpr std::string_view kMsg = "LiteralProto";
  PW_WIRE_ASSIGN_OR_RETURN(ir::TensorType type, FromProto(p.type()), kMsg, "type");
  if (static_cast<int64_t>(p.data().size()) != type.byte_size()) {
    return Invalid(kMsg, "data", type.DebugString(), " needs ", type.byte_size(), " bytes, got ",
                   p.data().size());
  }
  absl::StatusOr<ir::Literal> literal =
      ir::Literal::FromBytes(std::move(type), std::move(*p.mutable_data()));
  if (!literal.ok()) return Nested(literal.status(), kMsg, "data");
  return literal;
}

// ---- slices, arrays ---------------------------------------------------------------------------

pathways::wire::SliceRequestProto ToProto(const SliceRequest& r) {
  pathways::wire::SliceRequestProto p;
  p.set_num_devices(r.num_devices);
  if (r.island.has_value()) p.set_island(r.island->value());
  for (int64_t d : r.mesh_shape) p.add_mesh_shape(d);
  p.set_contiguity(static_cast<uint32_t>(r.contiguity));
  p.set_device_kind(r.device_kind);
  p.set_min_memory_bytes(r.min_memory_bytes);
  return p;
}

absl::StatusOr<SliceRequest> FromProto(const pathways::wire::SliceRequestProto& p) {
  constexpr std::string_view kMsg = "SliceRequestProto";
  SliceRequest r;
  PW_RETURN_IF_ERROR(CheckCount(p.num_devices(), kMsg, "num_devices"));
  r.num_devices = p.num_devices();
  if (p.has_island()) {
    PW_ASSIGN_OR_RETURN(r.island, IdFromProto<IslandId>(p.island(), kMsg, "island"));
  }
  PW_RETURN_IF_ERROR(DimsProduct(p.mesh_shape(), kMsg, "mesh_shape").status());
  r.mesh_shape.assign(p.mesh_shape().begin(), p.mesh_shape().end());
  if (p.contiguity() > static_cast<uint32_t>(ContiguityPolicy::kAny)) {
    return Invalid(kMsg, "contiguity", "unknown contiguity policy ", p.contiguity());
  }
  r.contiguity = static_cast<ContiguityPolicy>(p.contiguity());
  r.device_kind = p.device_kind();
  PW_RETURN_IF_ERROR(CheckCount(p.min_memory_bytes(), kMsg, "min_memory_bytes"));
  r.min_memory_bytes = p.min_memory_bytes();
  return r;
}

pathways::wire::VirtualSliceProto ToProto(const VirtualSlice& s) {
  pathways::wire::VirtualSliceProto p;
  p.set_id(s.id.value());
  p.set_client(s.client.value());
  p.set_island(s.island.value());
  IdsToProto(s.devices, p.mutable_devices());
  for (int64_t d : s.mesh_shape) p.add_mesh_shape(d);
  p.set_mapping_version(s.mapping_version);
  return p;
}

absl::StatusOr<VirtualSlice> FromProto(const pathways::wire::VirtualSliceProto& p) {
  constexpr std::string_view kMsg = "VirtualSliceProto";
  VirtualSlice s;
  PW_ASSIGN_OR_RETURN(s.id, IdFromProto<SliceId>(p.id(), kMsg, "id"));
  PW_ASSIGN_OR_RETURN(s.client, IdFromProto<ClientId>(p.client(), kMsg, "client"));
  PW_ASSIGN_OR_RETURN(s.island, IdFromProto<IslandId>(p.island(), kMsg, "island"));
  PW_ASSIGN_OR_RETURN(s.devices, IdsFromProto<DeviceId>(p.devices(), kMsg, "devices"));
  if (p.mesh_shape_size() == 0) return Invalid(kMsg, "mesh_shape", "is empty");
  PW_ASSIGN_OR_RETURN(int64_t product, DimsProduct(p.mesh_shape(), kMsg, "mesh_shape"));
  if (product != p.devices_size()) {
    return Invalid(kMsg, "mesh_shape", "product ", product, " != ", p.devices_size(),
                   " devices");
  }
  s.mesh_shape.assign(p.mesh_shape().begin(), p.mesh_shape().end());
  s.mapping_version = p.mapping_version();
  return s;
}

pathways::wire::ArrayInfoProto ToProto(const ArrayInfo& info) {
  pathways::wire::ArrayInfoProto p;
  p.set_id(info.id.value());
  *p.mutable_spec() = ToProto(info.spec);
  IdsToProto(info.devices, p.mutable_devices());
  p.mutable_mesh()->Add(info.mesh.begin(), info.mesh.end());
  return p;
}

absl::StatusOr<ArrayInfo> FromProto(const pathways::wire::ArrayInfoProto& p) {
  constexpr std::string_view kMsg = "ArrayInfoProto";
  ArrayInfo info;
  PW_ASSIGN_OR_RETURN(info.id, IdFromProto<ArrayId>(p.id(), kMsg, "id"));
  PW_WIRE_ASSIGN_OR_RETURN(info.spec, FromProto(p.spec()), kMsg, "spec");
  PW_ASSIGN_OR_RETURN(info.devices, IdsFromProto<DeviceId>(p.devices(), kMsg, "devices"));
  if (p.mesh_size() > 0) {
    PW_ASSIGN_OR_RETURN(int64_t product, DimsProduct(p.mesh(), kMsg, "mesh"));
    if (product != static_cast<int64_t>(info.devices.size())) {
      return Invalid(kMsg, "mesh", "product ", product, " is not the ", info.devices.size(),
                     " devices");
    }
  }
  info.mesh.assign(p.mesh().begin(), p.mesh().end());
  return info;
}

pathways::wire::RunResultProto ToProto(const RunResult& result) {
  pathways::wire::RunResultProto p;
  p.set_run(result.run.value());
  for (const ArrayInfo& out : result.outputs) *p.add_outputs() = ToProto(out);
  return p;
}

absl::StatusOr<RunResult> FromProto(const pathways::wire::RunResultProto& p) {
  constexpr std::string_view kMsg = "RunResultProto";
  RunResult result;
  PW_ASSIGN_OR_RETURN(result.run, IdFromProto<RunId>(p.run(), kMsg, "run"));
  result.outputs.reserve(p.outputs_size());
  for (int i = 0; i < p.outputs_size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(ArrayInfo out, FromProto(p.outputs(i)), kMsg, Indexed("outputs", i));
    result.outputs.push_back(std::move(out));
  }
  return result;
}

pathways::wire::HostSpecProto ToProto(const HostSpec& spec) {
  pathways::wire::HostSpecProto p;
  p.set_island(spec.island.value());
  p.set_address(spec.address);
  p.set_num_devices(spec.num_devices);
  p.set_device_kind(spec.device_kind);
  p.set_memory_bytes_per_device(spec.memory_bytes_per_device);
  return p;
}

absl::StatusOr<HostSpec> FromProto(const pathways::wire::HostSpecProto& p) {
  constexpr std::string_view kMsg = "HostSpecProto";
  HostSpec spec;
  PW_ASSIGN_OR_RETURN(spec.island, IdFromProto<IslandId>(p.island(), kMsg, "island"));
  if (p.num_devices() < 0 || p.num_devices() > INT_MAX) {
    return Invalid(kMsg, "num_devices", "must be in [0, ", INT_MAX, "], got ", p.num_devices());
  }
  PW_RETURN_IF_ERROR(CheckCount(p.memory_bytes_per_device(), kMsg, "memory_bytes_per_device"));
  spec.address = p.address();
  spec.num_devices = static_cast<int>(p.num_devices());
  spec.device_kind = p.device_kind();
  spec.memory_bytes_per_device = p.memory_bytes_per_device();
  return spec;
}

pathways::wire::HostStatusProto ToProto(const HostStatus& s) {
  pathways::wire::HostStatusProto p;
  p.set_host(s.host.value());
  for (const DeviceStatus& d : s.devices) *p.add_devices() = ToProto(d);
  p.set_live_buffers(s.live_buffers);
  p.set_live_buffer_bytes(s.live_buffer_bytes);
  p.set_runs_received(s.runs_received);
  p.set_dispatch_nanos(s.dispatch_nanos);
  p.set_transfer_bytes_sent(s.transfer_bytes_sent);
  *p.mutable_status() = ToProto(s.status);
  return p;
}

absl::StatusOr<HostStatus> FromProto(const pathways::wire::HostStatusProto& p) {
  constexpr std::string_view kMsg = "HostStatusProto";
  HostStatus s;
  PW_ASSIGN_OR_RETURN(s.host, IdFromProto<HostId>(p.host(), kMsg, "host"));
  s.devices.reserve(p.devices_size());
  for (int i = 0; i < p.devices_size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(DeviceStatus d, FromProto(p.devices(i)), kMsg, Indexed("devices", i));
    s.devices.push_back(std::move(d));
  }
  PW_RETURN_IF_ERROR(CheckCount(p.live_buffers(), kMsg, "live_buffers"));
  PW_RETURN_IF_ERROR(CheckCount(p.live_buffer_bytes(), kMsg, "live_buffer_bytes"));
  PW_RETURN_IF_ERROR(CheckCount(p.runs_received(), kMsg, "runs_received"));
  PW_RETURN_IF_ERROR(CheckCount(p.dispatch_nanos(), kMsg, "dispatch_nanos"));
  PW_RETURN_IF_ERROR(CheckCount(p.transfer_bytes_sent(), kMsg, "transfer_bytes_sent"));
  s.live_buffers = p.live_buffers();
  s.live_buffer_bytes = p.live_buffer_bytes();
  s.runs_received = p.runs_received();
  s.dispatch_nanos = p.dispatch_nanos();
  s.transfer_bytes_sent = p.transfer_bytes_sent();
  PW_WIRE_ASSIGN_OR_RETURN(PeerStatus status, FromProto(p.status()), kMsg, "status");
  s.status = std::move(status.status);
  return s;
}

pathways::wire::ClusterStatusProto ToProto(const ClusterStatus& s) {
  pathways::wire::ClusterStatusProto p;
  for (const IslandInfo& island : s.islands) *p.add_islands() = ToProto(island);
  for (const HostStatus& host : s.hosts) *p.add_hosts() = ToProto(host);
  for (const ClientStatus& client : s.clients) *p.add_clients() = ToProto(client);
  for (const VirtualSlice& slice : s.slices) *p.add_slices() = ToProto(slice);
  for (const SchedulerStatus& scheduler : s.schedulers) *p.add_schedulers() = ToProto(scheduler);
  p.set_programs(s.programs);
  p.set_runs(s.runs);
  p.set_lowering_cache_hits(s.lowering_cache_hits);
  p.set_lowering_cache_misses(s.lowering_cache_misses);
  return p;
}

absl::StatusOr<ClusterStatus> FromProto(const pathways::wire::ClusterStatusProto& p) {
  constexpr std::string_view kMsg = "ClusterStatusProto";
  ClusterStatus s;
  for (int i = 0; i < p.islands_size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(IslandInfo v, FromProto(p.islands(i)), kMsg, Indexed("islands", i));
    s.islands.push_back(std::move(v));
  }
  for (int i = 0; i < p.hosts_size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(HostStatus v, FromProto(p.hosts(i)), kMsg, Indexed("hosts", i));
    s.hosts.push_back(std::move(v));
  }
  for (int i = 0; i < p.clients_size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(ClientStatus v, FromProto(p.clients(i)), kMsg, Indexed("clients", i));
    s.clients.push_back(std::move(v));
  }
  for (int i = 0; i < p.slices_size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(VirtualSlice v, FromProto(p.slices(i)), kMsg, Indexed("slices", i));
    s.slices.push_back(std::move(v));
  }
  for (int i = 0; i < p.schedulers_size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(SchedulerStatus v, FromProto(p.schedulers(i)), kMsg, Indexed("schedulers", i));
    s.schedulers.push_back(std::move(v));
  }
  PW_RETURN_IF_ERROR(CheckCount(p.programs(), kMsg, "programs"));
  PW_RETURN_IF_ERROR(CheckCount(p.runs(), kMsg, "runs"));
  PW_RETURN_IF_ERROR(CheckCount(p.lowering_cache_hits(), kMsg, "lowering_cache_hits"));
  PW_RETURN_IF_ERROR(CheckCount(p.lowering_cache_misses(), kMsg, "lowering_cache_misses"));
  s.programs = p.programs();
  s.runs = p.runs();
  s.lowering_cache_hits = p.lowering_cache_hits();
  s.lowering_cache_misses = p.lowering_cache_misses();
  return s;
}

}  // namespace pw::wire
