// DataPlaneKind: how a worker process sends shards to its peers, and the one place the names
// are parsed.
#ifndef PATHWAYS_DATAPLANE_DATA_PLANE_KIND_H_
#define PATHWAYS_DATAPLANE_DATA_PLANE_KIND_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace pw {

enum class DataPlaneKind {
  kTcp,   // TcpDataPlane: one socket per peer (less CPU and latency per push)
  kGrpc,  // GrpcDataPlane: a gRPC stream per push
};

constexpr std::string_view DataPlaneKindName(DataPlaneKind kind) {
  switch (kind) {
    case DataPlaneKind::kTcp:
      return "tcp";
    case DataPlaneKind::kGrpc:
      return "grpc";
  }
  return "unknown";
}

// INVALID_ARGUMENT naming the value and the known kinds for anything but "tcp" or "grpc".
inline absl::StatusOr<DataPlaneKind> ParseDataPlaneKind(std::string_view name) {
  for (DataPlaneKind kind : {DataPlaneKind::kTcp, DataPlaneKind::kGrpc}) {
    if (name == DataPlaneKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown data plane '", std::string(name), "' (known: tcp, grpc)"));
}

}  // namespace pw

#endif  // PATHWAYS_DATAPLANE_DATA_PLANE_KIND_H_
