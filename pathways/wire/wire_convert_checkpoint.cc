// Checked conversions of checkpoint messages: shard files (controller <-> worker) and the save
// and restore requests (client <-> controller), bounded where they are decoded.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/checkpoint/checkpoint_index.h"
#include "pathways/wire/wire_convert.h"
#include "pathways/wire/wire_convert_internal.h"

namespace pw::wire {

using internal::Invalid;
using internal::Nested;

pathways::wire::ShardFileProto ToProto(const checkpoint::ShardFile& file) {
  pathways::wire::ShardFileProto p;
  p.set_path(file.path);
  *p.mutable_type() = ToProto(file.type);
  p.set_bytes(file.bytes);
  p.set_crc32(file.crc32);
  return p;
}

absl::StatusOr<checkpoint::ShardFile> FromProto(const pathways::wire::ShardFileProto& p) {
  constexpr std::string_view kMsg = "ShardFileProto";
  checkpoint::ShardFile file;
  if (absl::Status bad = checkpoint::CheckPath(p.path(), "path"); !bad.ok()) {
    return Nested(bad, kMsg, "path");
  }
  file.path = p.path();
  PW_WIRE_ASSIGN_OR_RETURN(file.type, FromProto(p.type()), kMsg, "type");
  if (p.bytes() != file.type.byte_size()) {
    return Invalid(kMsg, "bytes", p.bytes(), " bytes, but a ", file.type.DebugString(),
                   " shard is ", file.type.byte_size());
  }
  file.bytes = p.bytes();
  file.crc32 = p.crc32();
  return file;
}

namespace {
absl::Status CheckCheckpointStrings(std::string_view message, const std::string& directory,
                                    int arrays) {
  if (static_cast<int64_t>(directory.size()) > checkpoint::kMaxPathLength) {
    return Invalid(message, "directory", directory.size(), " bytes; at most ",
                   checkpoint::kMaxPathLength);
  }
  if (arrays > checkpoint::kMaxArrays) {
    return Invalid(message, "arrays", arrays, " entries; at most ", checkpoint::kMaxArrays);
  }
  return absl::OkStatus();
}

absl::Status CheckName(std::string_view message, int i, const std::string& name) {
  if (static_cast<int64_t>(name.size()) > checkpoint::kMaxNameLength) {
    return Invalid(message, absl::StrCat("arrays[", i, "].name"), name.size(), " bytes; at most ",
                   checkpoint::kMaxNameLength);
  }
  return absl::OkStatus();
}

// The fields both checkpoint requests start with.
template <typename Proto>
Proto RequestHeader(ClientId client, const std::string& directory) {
  Proto p;
  p.set_version(kWireVersion);
  p.set_client(client.value());
  p.set_directory(directory);
  return p;
}

// Checks them (version, client id, the directory's length, the number of arrays).
template <typename Proto>
absl::StatusOr<ClientId> ReadRequestHeader(const Proto& p, std::string_view message) {
  PW_RETURN_IF_ERROR(CheckVersion(p));
  PW_ASSIGN_OR_RETURN(ClientId client, IdFromProto<ClientId>(p.client(), message, "client"));
  PW_RETURN_IF_ERROR(CheckCheckpointStrings(message, p.directory(), p.arrays_size()));
  return client;
}
}  // namespace

pathways::wire::SaveCheckpointRequest ToProto(ClientId client, const SaveCheckpointRequest& r) {
  auto p = RequestHeader<pathways::wire::SaveCheckpointRequest>(client, r.directory);
  for (const auto& entry : r.arrays) {
    auto* e = p.add_arrays();
    e->set_name(entry.name);
    e->set_array(entry.array.value());
  }
  p.set_metadata(r.metadata);
  return p;
}

absl::StatusOr<std::pair<ClientId, SaveCheckpointRequest>> FromProto(
    const pathways::wire::SaveCheckpointRequest& p) {
  constexpr std::string_view kMsg = "SaveCheckpointRequest";
  PW_ASSIGN_OR_RETURN(ClientId client, ReadRequestHeader(p, kMsg));
  if (static_cast<int64_t>(p.metadata().size()) > checkpoint::kMaxMetadataBytes) {
    return Invalid(kMsg, "metadata", p.metadata().size(), " bytes; at most ",
                   checkpoint::kMaxMetadataBytes);
  }
  SaveCheckpointRequest r;
  r.directory = p.directory();
  r.metadata = p.metadata();
  for (int i = 0; i < p.arrays_size(); ++i) {
    PW_RETURN_IF_ERROR(CheckName(kMsg, i, p.arrays(i).name()));
    PW_ASSIGN_OR_RETURN(ArrayId array, IdFromProto<ArrayId>(p.arrays(i).array(), kMsg,
                                                            absl::StrCat("arrays[", i, "].array")));
    r.arrays.push_back({p.arrays(i).name(), array});
  }
  return std::make_pair(client, std::move(r));
}

pathways::wire::RestoreCheckpointRequest ToProto(ClientId client, const RestoreCheckpointRequest& r) {
  auto p = RequestHeader<pathways::wire::RestoreCheckpointRequest>(client, r.directory);
  for (const auto& entry : r.arrays) {
    auto* e = p.add_arrays();
    e->set_name(entry.name);
    e->set_slice(entry.slice.value());
    if (entry.expected_type.has_value()) *e->mutable_expected_type() = ToProto(*entry.expected_type);
  }
  return p;
}

absl::StatusOr<std::pair<ClientId, RestoreCheckpointRequest>> FromProto(
    const pathways::wire::RestoreCheckpointRequest& p) {
  constexpr std::string_view kMsg = "RestoreCheckpointRequest";
  PW_ASSIGN_OR_RETURN(ClientId client, ReadRequestHeader(p, kMsg));
  RestoreCheckpointRequest r;
  r.directory = p.directory();
  for (int i = 0; i < p.arrays_size(); ++i) {
    const auto& e = p.arrays(i);
    PW_RETURN_IF_ERROR(CheckName(kMsg, i, e.name()));
    RestoreCheckpointRequest::Entry entry;
    entry.name = e.name();
    PW_ASSIGN_OR_RETURN(entry.slice,
                        IdFromProto<SliceId>(e.slice(), kMsg, absl::StrCat("arrays[", i, "].slice")));
    if (e.has_expected_type()) {
      PW_WIRE_ASSIGN_OR_RETURN(entry.expected_type, FromProto(e.expected_type()), kMsg,
                               absl::StrCat("arrays[", i, "].expected_type"));
    }
    r.arrays.push_back(std::move(entry));
  }
  return std::make_pair(client, std::move(r));
}

}  // namespace pw::wire
