// Conversions between the runtime's C++ values and their wire form (wire.proto), with the
// validation every reader needs against a mismatched, buggy or hostile peer.
//
// Writers (ToProto) never fail except where the C++ value cannot be expressed (a HostRun whose
// pointers do not belong together). Readers (FromProto) check everything the runtime would
// otherwise trust — ids non-negative, slot and node indices in range, enum values known, sizes
// consistent, literal byte sizes — and return INVALID_ARGUMENT naming the message and field
// ("HostRunProto.value_arrays[3]: array id -5 is negative"); nested errors are prefixed by the
// enclosing field. They never crash, and allocate no more than the message's own size implies.
// Top-level requests and responses carry `version`; a reader checks it with CheckVersion first.
#ifndef PATHWAYS_WIRE_WIRE_CONVERT_H_
#define PATHWAYS_WIRE_WIRE_CONVERT_H_

#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/base/ids.h"
#include "pathways/checkpoint/shard_file.h"
#include "pathways/service/controller_service.h"
#include "pathways/service/topology.h"
#include "pathways/service/virtual_slice.h"
#include "pathways/dataflow/host_run.h"
#include "pathways/dataflow/lowered_program.h"
#include "pathways/dataflow/program.h"
#include "pathways/ir/literal.h"
#include "pathways/ir/shape.h"
#include "pathways/wire/wire.pb.h"
#include "pathways/service/worker_service.h"

namespace pw::wire {

// The version of wire.proto this build speaks. Bump on any change a peer of the previous
// version would misread.
inline constexpr uint32_t kWireVersion = 1;

// FAILED_PRECONDITION "<message>: peer speaks wire version X, this build speaks Y" unless
// `peer_version` == kWireVersion.
absl::Status CheckVersion(uint32_t peer_version, std::string_view message);
template <typename Message>
absl::Status CheckVersion(const Message& m) {
  return CheckVersion(m.version(), Message::descriptor()->name());
}

// An id read from the wire: INVALID_ARGUMENT "<message>.<field>: <kind> id -3 is negative"
// for a negative value.
absl::Status CheckId(int64_t value, std::string_view message, std::string_view field);
template <typename IdT>
absl::StatusOr<IdT> IdFromProto(int64_t value, std::string_view message, std::string_view field) {
  absl::Status s = CheckId(value, message, field);
  if (!s.ok()) return s;
  return IdT(value);
}

// ---- absl::Status -------------------------------------------------------------------------
pathways::wire::StatusProto ToProto(const absl::Status& status);
// A status a peer reported, as a value (an absl::StatusOr<absl::Status> would be ambiguous).
struct PeerStatus {
  absl::Status status;
};
// INVALID_ARGUMENT for an unknown status code.
absl::StatusOr<PeerStatus> FromProto(const pathways::wire::StatusProto& proto);
// For a response: its version, then its status decoded — the peer's error if it sent one.
template <typename Response>
absl::Status ResponseStatus(const Response& r) {
  absl::Status s = CheckVersion(r);
  if (!s.ok()) return s;
  absl::StatusOr<PeerStatus> peer = FromProto(r.status());
  if (!peer.ok()) return peer.status();
  return peer->status;
}

// ---- ir values ----------------------------------------------------------------------------
pathways::ir::TensorTypeProto ToProto(const ir::TensorType& type);
// A valid type: known dtype, rank <= ir::kMaxRank, dims >= 0, element count <= ir::kMaxElements.
absl::StatusOr<ir::TensorType> FromProto(const pathways::ir::TensorTypeProto& proto);

pathways::ir::LiteralProto ToProto(const ir::Literal& literal);
// Checks the type and that the data is exactly type.byte_size() bytes.
absl::StatusOr<ir::Literal> FromProto(const pathways::ir::LiteralProto& proto);
// The same, moving the bytes out of `proto` instead of copying them (bulk data).
absl::StatusOr<ir::Literal> FromProto(pathways::ir::LiteralProto&& proto);

// A checkpoint shard file: an absolute clean path, a valid type, bytes equal to its byte size.
pathways::wire::ShardFileProto ToProto(const checkpoint::ShardFile& file);
absl::StatusOr<checkpoint::ShardFile> FromProto(const pathways::wire::ShardFileProto& proto);

// ---- checkpoints (client <-> controller) -----------------------------------------------------
// Decoding bounds the directory (checkpoint::kMaxPathLength), the number of arrays
// (checkpoint::kMaxArrays), each name (checkpoint::kMaxNameLength) and the metadata
// (checkpoint::kMaxMetadataBytes); the controller checks the meaning (paths, unique names).
pathways::wire::SaveCheckpointRequest ToProto(ClientId client, const SaveCheckpointRequest& request);
absl::StatusOr<std::pair<ClientId, SaveCheckpointRequest>> FromProto(
    const pathways::wire::SaveCheckpointRequest& proto);
pathways::wire::RestoreCheckpointRequest ToProto(ClientId client,
                                                 const RestoreCheckpointRequest& request);
absl::StatusOr<std::pair<ClientId, RestoreCheckpointRequest>> FromProto(
    const pathways::wire::RestoreCheckpointRequest& proto);

// ---- programs, slices, arrays (client <-> controller) ---------------------------------------
pathways::wire::ProgramDefProto ToProto(const ProgramDef& program);
// Structural checks only (ids, value references well-formed, types valid); whether the calls fit
// their functions and slices is the controller's check (RegisterProgram), which names the call.
absl::StatusOr<ProgramDef> FromProto(const pathways::wire::ProgramDefProto& proto);

pathways::wire::ShardingProto ToProto(const Sharding& sharding);
// Bounds the spec's size and axes (lowering checks them against the slice's mesh).
absl::StatusOr<Sharding> FromProto(const pathways::wire::ShardingProto& proto);
pathways::wire::ArraySpecProto ToProto(const ArraySpec& spec);
absl::StatusOr<ArraySpec> FromProto(const pathways::wire::ArraySpecProto& proto);

pathways::wire::SliceRequestProto ToProto(const SliceRequest& request);
absl::StatusOr<SliceRequest> FromProto(const pathways::wire::SliceRequestProto& proto);

pathways::wire::VirtualSliceProto ToProto(const VirtualSlice& slice);
// Also checks that mesh_shape is non-empty and its product is the number of devices.
absl::StatusOr<VirtualSlice> FromProto(const pathways::wire::VirtualSliceProto& proto);

pathways::wire::ArrayInfoProto ToProto(const ArrayInfo& info);
absl::StatusOr<ArrayInfo> FromProto(const pathways::wire::ArrayInfoProto& proto);

pathways::wire::RunResultProto ToProto(const RunResult& result);
absl::StatusOr<RunResult> FromProto(const pathways::wire::RunResultProto& proto);

pathways::wire::HostSpecProto ToProto(const HostSpec& spec);
absl::StatusOr<HostSpec> FromProto(const pathways::wire::HostSpecProto& proto);

pathways::wire::HostStatusProto ToProto(const HostStatus& status);
absl::StatusOr<HostStatus> FromProto(const pathways::wire::HostStatusProto& proto);

pathways::wire::ClusterStatusProto ToProto(const ClusterStatus& status);
absl::StatusOr<ClusterStatus> FromProto(const pathways::wire::ClusterStatusProto& proto);

// ---- host programs and runs (controller -> worker) ------------------------------------------

// The sender's key for `host`'s part of the lowering of `program` under the given slice mapping
// versions (LoweringCache::Key::slice_versions): a fixed-constant hash, the same in every process
// and never 0. A new mapping gives a new key, so a worker never runs a stale part.
uint64_t HostProgramKey(ProgramId program,
                        absl::Span<const std::pair<SliceId, uint64_t>> slice_versions,
                        HostId host);

// `host`'s view of `lowered`: value and node metadata, its whole part and its stage parts.
// INVALID_ARGUMENT if the host has no part or `key` is 0.
absl::StatusOr<pathways::wire::HostProgramProto> ToProto(const LoweredProgram& lowered,
                                                          HostId host, uint64_t key);

// What a receiver caches under a program key: a LoweredProgram holding only what a host executor
// reads (values' names, shard types and is_program_output; node names) and this host's parts
// (in `hosts` and `stages`; other hosts are absent, value devices empty).
struct ReceivedHostProgram {
  uint64_t key = 0;
  HostId host;
  std::shared_ptr<const LoweredProgram> lowered;
};
absl::StatusOr<ReceivedHostProgram> FromProto(const pathways::wire::HostProgramProto& proto);

enum class ProgramPayload {
  kKeyOnly,      // the receiver already has the program under the key
  kWithProgram,  // first send to this host: include the HostProgramProto
};
struct HostRunWireOptions {
  uint64_t program_key = 0;
  ProgramPayload payload = ProgramPayload::kKeyOnly;
};
// INVALID_ARGUMENT if the run lacks its program, lowering or bindings, or its program is not the
// lowering's part for its host in its mode and stage (it could not be rebuilt on the far side).
absl::StatusOr<pathways::wire::HostRunProto> ToProto(const HostRun& run,
                                                     const HostRunWireOptions& options);
// Checks the version, then the bindings against `program` (the one the receiver holds under
// proto.program_key, or just parsed from proto.program): key, one ArrayId per value slot, a
// known mode, a stage this host has a part in. The HostRun shares `program.lowered`.
absl::StatusOr<HostRun> FromProto(const pathways::wire::HostRunProto& proto,
                                  const ReceivedHostProgram& program);

pathways::wire::HostRunResultProto ToProto(const HostRunResult& result);
absl::StatusOr<HostRunResult> FromProto(const pathways::wire::HostRunResultProto& proto);
pathways::wire::RunDoneReport ToRunDoneReport(absl::Span<const HostRunResult> results);
absl::StatusOr<std::vector<HostRunResult>> FromProto(const pathways::wire::RunDoneReport& proto);

// ---- data plane (worker -> worker) ----------------------------------------------------------

// Where one pushed chunk (or the producer's error) goes.
struct ShardPushHeader {
  ArrayId array;
  int32_t shard = 0;
  DeviceId device;  // destination device
  ir::TensorType type;
};
// Chunk [offset, offset + bytes) of the shard's data. Copies the bytes into the message.
pathways::wire::ShardPushProto ChunkToProto(const ShardPushHeader& header, int64_t offset,
                                            const void* data, int64_t bytes);
pathways::wire::ShardPushProto ErrorToProto(const ShardPushHeader& header,
                                            const absl::Status& error);
struct ShardPush {
  ShardPushHeader header;
  // A chunk: its place in the shard and its bytes (a view into the proto, which must outlive it).
  int64_t offset = 0;
  std::string_view chunk;
  // Set (not OK) when the producer failed instead.
  absl::Status error;
};
// Checks the version, ids, type, and that the chunk lies within type.byte_size(); an error
// payload must not be OK.
absl::StatusOr<ShardPush> FromProto(const pathways::wire::ShardPushProto& proto);

}  // namespace pw::wire

#endif  // PATHWAYS_WIRE_WIRE_CONVERT_H_
