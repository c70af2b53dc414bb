// CheckpointIndex <-> index.json (protobuf's JSON form of CheckpointIndexProto), validated.
#include "pathways/checkpoint/checkpoint_index.h"

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "pathways/base/status.h"
#include "pathways/checkpoint/checkpoint.pb.h"
#include "pathways/ir/dtype.h"

namespace pw::checkpoint {
namespace {

using pathways::checkpoint::CheckpointIndexProto;

absl::Status Invalid(std::string_view where, std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(where), ": ", std::string(field), ": ", std::string(why)));
}

absl::StatusOr<CheckpointIndex> FromProto(const CheckpointIndexProto& proto,
                                          std::string_view where) {
  if (proto.format_version() != kIndexFormatVersion) {
    return Invalid(where, "format_version",
                   absl::StrCat("is ", proto.format_version(), "; this runtime reads ",
                                kIndexFormatVersion));
  }
  if (proto.arrays_size() > kMaxArrays) {
    return Invalid(where, "arrays", absl::StrCat(proto.arrays_size(), " entries; at most ", kMaxArrays));
  }
  CheckpointIndex index;
  index.metadata = proto.metadata();
  index.arrays.reserve(proto.arrays_size());
  for (int i = 0; i < proto.arrays_size(); ++i) {
    const auto& a = proto.arrays(i);
    const std::string field = absl::StrCat("arrays[", i, "]");
    absl::StatusOr<ir::DType> dtype = ir::ParseDType(a.dtype());
    if (!dtype.ok()) return Invalid(where, field + ".dtype", std::string(dtype.status().message()));
    if (a.shard_dims_size() > ir::kMaxRank) {
      return Invalid(where, field + ".shard_dims", absl::StrCat("rank ", a.shard_dims_size(),
                                                                " exceeds ", ir::kMaxRank));
    }
    if (a.shards_size() > ir::kMaxShards) {
      return Invalid(where, field + ".shards",
                     absl::StrCat(a.shards_size(), " shards; at most ", ir::kMaxShards));
    }
    CheckpointIndex::Array array;
    array.name = a.name();
    array.shard_type = ir::TensorType{*dtype, ir::Shape(absl::MakeConstSpan(
                                                  a.shard_dims().data(), a.shard_dims_size()))};
    for (const auto& s : a.shards()) array.shards.push_back({s.file(), s.bytes(), s.crc32()});
    // Bounded here; the controller checks the axes against the mesh when it restores.
    if (a.partition_spec_size() > ir::kMaxRank || a.mesh_size() > ir::kMaxRank) {
      return Invalid(where, field + ".partition_spec",
                     absl::StrCat("more than ", ir::kMaxRank, " dimensions or mesh axes"));
    }
    if (a.partitioned()) {
      std::vector<std::vector<int32_t>> spec;
      for (const auto& axes : a.partition_spec()) {
        if (axes.axes_size() > ir::kMaxRank) {
          return Invalid(where, field + ".partition_spec", "too many axes in one dimension");
        }
        spec.emplace_back(axes.axes().begin(), axes.axes().end());
      }
      array.partition = std::move(spec);
    }
    array.mesh.assign(a.mesh().begin(), a.mesh().end());
    index.arrays.push_back(std::move(array));
  }
  PW_RETURN_IF_ERROR(Validate(index, where));
  return index;
}

}  // namespace

absl::StatusOr<const CheckpointIndex::Array*> CheckpointIndex::Find(std::string_view name) const {
  for (const Array& a : arrays) {
    if (a.name == name) return &a;
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < arrays.size() && i < 8; ++i) names.push_back(arrays[i].name);
  return absl::NotFoundError(absl::StrCat(
      "the checkpoint holds no array named \"", std::string(name), "\" (it holds ", arrays.size(), ": ",
      absl::StrJoin(names, ", "), arrays.size() > names.size() ? ", ..." : "", ")"));
}

std::string ShardFileName(int64_t array, int64_t shard) {
  return absl::StrCat("array", array, ".shard", shard);
}

std::string JoinPath(std::string_view directory, std::string_view name) {
  if (!directory.empty() && directory.back() == '/') {
    return absl::StrCat(std::string(directory), std::string(name));
  }
  return absl::StrCat(std::string(directory), "/", std::string(name));
}

ShardFile ShardFileOf(std::string_view directory, const CheckpointIndex::Array& array,
                      int64_t shard) {
  const CheckpointIndex::Shard& s = array.shards[shard];
  return ShardFile{JoinPath(directory, s.file), array.shard_type, s.bytes, s.crc32};
}

absl::Status Validate(const CheckpointIndex& index, std::string_view where) {
  if (static_cast<int64_t>(index.metadata.size()) > kMaxMetadataBytes) {
    return Invalid(where, "metadata", absl::StrCat(index.metadata.size(), " bytes; at most ",
                                                   kMaxMetadataBytes));
  }
  if (static_cast<int64_t>(index.arrays.size()) > kMaxArrays) {
    return Invalid(where, "arrays", absl::StrCat(index.arrays.size(), " entries; at most ", kMaxArrays));
  }
  absl::flat_hash_set<std::string_view> names;
  absl::flat_hash_set<std::string_view> files;
  for (size_t i = 0; i < index.arrays.size(); ++i) {
    const CheckpointIndex::Array& a = index.arrays[i];
    const std::string field = absl::StrCat("arrays[", i, "]");
    if (a.name.empty() || static_cast<int64_t>(a.name.size()) > kMaxNameLength) {
      return Invalid(where, field + ".name",
                     absl::StrCat("a name must have 1 to ", kMaxNameLength, " bytes"));
    }
    if (!names.insert(a.name).second) {
      return Invalid(where, field + ".name", absl::StrCat("\"", a.name, "\" appears twice"));
    }
    if (!a.shard_type.IsValid()) {
      return Invalid(where, field, absl::StrCat("invalid shard type ", a.shard_type.DebugString()));
    }
    if (static_cast<int64_t>(a.shards.size()) > ir::kMaxShards) {
      return Invalid(where, field + ".shards",
                     absl::StrCat(a.shards.size(), " shards; at most ", ir::kMaxShards));
    }
    for (size_t k = 0; k < a.shards.size(); ++k) {
      const CheckpointIndex::Shard& s = a.shards[k];
      const std::string sfield = absl::StrCat(field, ".shards[", k, "]");
      PW_RETURN_IF_ERROR(CheckFileName(s.file, absl::StrCat(std::string(where), ": ", sfield, ".file")));
      if (!files.insert(s.file).second) {
        return Invalid(where, sfield + ".file", absl::StrCat("\"", s.file, "\" appears twice"));
      }
      if (s.bytes != a.shard_type.byte_size()) {
        return Invalid(where, sfield + ".bytes",
                       absl::StrCat(s.bytes, " bytes, but a ", a.shard_type.DebugString(),
                                    " shard is ", a.shard_type.byte_size()));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status WriteIndex(const std::string& directory, const CheckpointIndex& index) {
  const std::string path = JoinPath(directory, kIndexFileName);
  PW_RETURN_IF_ERROR(Validate(index, path));
  CheckpointIndexProto proto;
  proto.set_format_version(kIndexFormatVersion);
  proto.set_metadata(index.metadata);
  for (const CheckpointIndex::Array& a : index.arrays) {
    auto* entry = proto.add_arrays();
    entry->set_name(a.name);
    entry->set_dtype(ir::DTypeName(a.shard_type.dtype));
    for (int64_t d : a.shard_type.shape.dims()) entry->add_shard_dims(d);
    entry->set_partitioned(a.partition.has_value());
    if (a.partition.has_value()) {
      for (const auto& axes : *a.partition) {
        entry->add_partition_spec()->mutable_axes()->Add(axes.begin(), axes.end());
      }
    }
    for (int64_t m : a.mesh) entry->add_mesh(m);
    for (const CheckpointIndex::Shard& s : a.shards) {
      auto* shard = entry->add_shards();
      shard->set_file(s.file);
      shard->set_bytes(s.bytes);
      shard->set_crc32(s.crc32);
    }
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto printed = google::protobuf::util::MessageToJsonString(proto, &json, options);
  if (!printed.ok()) {
    return absl::InternalError(absl::StrCat("writing ", path, ": ", printed.ToString()));
  }
  return WriteFileAtomically(path, json, /*replace=*/false);
}

absl::StatusOr<CheckpointIndex> ReadIndex(const std::string& directory) {
  PW_RETURN_IF_ERROR(CheckPath(directory, "checkpoint directory"));
  const std::string path = JoinPath(directory, kIndexFileName);
  absl::StatusOr<std::string> json = ReadSmallFile(path, kMaxIndexBytes);
  if (absl::IsNotFound(json.status())) {
    return absl::NotFoundError(absl::StrCat(
        directory, " has no ", std::string(kIndexFileName),
        ": it is not a checkpoint, or one whose save did not finish"));
  }
  PW_RETURN_IF_ERROR(json.status());
  CheckpointIndexProto proto;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(*json, &proto, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a checkpoint index: ", parsed.ToString()));
  }
  return FromProto(proto, path);
}

}  // namespace pw::checkpoint
