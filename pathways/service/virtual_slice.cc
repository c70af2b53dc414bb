// Names and debug strings of virtual slice types.
#include "pathways/service/virtual_slice.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pw {
namespace {

std::string JoinIds(const std::vector<DeviceId>& ids) {
  std::string out;
  for (const DeviceId& id : ids) absl::StrAppend(&out, out.empty() ? "" : ",", id.value());
  return out;
}

}  // namespace

const char* ContiguityPolicyName(ContiguityPolicy policy) {
  switch (policy) {
    case ContiguityPolicy::kPreferContiguous:
      return "prefer_contiguous";
    case ContiguityPolicy::kRequireContiguous:
      return "require_contiguous";
    case ContiguityPolicy::kAny:
      return "any";
  }
  return "unknown";
}

const char* SliceEventKindName(SliceEventKind kind) {
  switch (kind) {
    case SliceEventKind::kRemapped:
      return "remapped";
    case SliceEventKind::kFailed:
      return "failed";
    case SliceEventKind::kReleased:
      return "released";
  }
  return "unknown";
}

std::string SliceRequest::DebugString() const {
  std::string out = absl::StrCat("SliceRequest{num_devices=", num_devices, " kind=", device_kind);
  if (island.has_value()) absl::StrAppend(&out, " island=", island->DebugString());
  if (!mesh_shape.empty()) absl::StrAppend(&out, " mesh=[", absl::StrJoin(mesh_shape, ","), "]");
  absl::StrAppend(&out, " contiguity=", ContiguityPolicyName(contiguity));
  if (min_memory_bytes > 0) absl::StrAppend(&out, " min_memory_bytes=", min_memory_bytes);
  absl::StrAppend(&out, "}");
  return out;
}

std::string VirtualSlice::DebugString() const {
  return absl::StrCat(id.DebugString(), "{", client.DebugString(), " ", island.DebugString(),
                      " mesh=[", absl::StrJoin(mesh_shape, ","), "] devices=[", JoinIds(devices),
                      "] v", mapping_version, "}");
}

std::string SliceEvent::DebugString() const {
  std::string out = absl::StrCat(SliceEventKindName(kind), " ", slice.DebugString());
  if (!changed_indices.empty()) {
    absl::StrAppend(&out, " changed=[", absl::StrJoin(changed_indices, ","), "]");
  }
  if (!status.ok()) absl::StrAppend(&out, " ", status.ToString());
  return out;
}

}  // namespace pw
