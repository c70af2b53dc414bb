// CollectiveGroups: hands each shard of a gang its Communicator, across hosts, keyed by GangId.
#ifndef PATHWAYS_COLLECTIVES_COLLECTIVE_GROUPS_H_
#define PATHWAYS_COLLECTIVES_COLLECTIVE_GROUPS_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pathways/base/ids.h"
#include "pathways/kernels/communicator.h"

namespace pw {

// Implemented in-process (one group object per gang, shared memory) and across processes
// (Gloo over TCP, rendezvous served by the controller). Thread-safe.
class CollectiveGroups {
 public:
  virtual ~CollectiveGroups() = default;

  // Rank `rank`'s communicator for gang `gang` of `size` ranks. Ranks join independently, in
  // any order, from any host; all ranks of a gang pass the same size (INVALID_ARGUMENT
  // otherwise, naming the gang and both sizes). A rank may join once.
  virtual absl::StatusOr<std::unique_ptr<Communicator>> Join(GangId gang, int64_t size,
                                                             int64_t rank) = 0;

  // Breaks the gang's group: ranks blocked in a collective, and ranks joining later, get
  // ABORTED carrying `reason`. Used when a shard of the gang fails before its collectives, so
  // its peers never wait for it.
  virtual void Abort(GangId gang, int64_t size, absl::Status reason) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_COLLECTIVE_GROUPS_H_
