// HostResolver: how a data plane finds where to send a host's shards.
#ifndef PATHWAYS_SERVICE_HOST_RESOLVER_H_
#define PATHWAYS_SERVICE_HOST_RESOLVER_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "pathways/base/ids.h"

namespace pw {

// HostId -> "ip:port" of that host's receiving side (its DataPlane gRPC server or its
// TcpShardListener). May block (it may ask the controller); a data plane calls it on its own
// thread, once per host until it succeeds (and again after the host's connection failed).
using HostResolver = std::function<absl::StatusOr<std::string>(HostId)>;

}  // namespace pw

#endif  // PATHWAYS_SERVICE_HOST_RESOLVER_H_
