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

  // Join, naming the gang's members: gangs with the same nonzero `member_key` (a hash of the
  // ordered physical devices, HostStep::group_key) have rank r on the same device in every
  // process, so an implementation may carry connections from one such gang to the next. The
  // caller promises what the gang scheduler and the device streams give: for one key and rank,
  // collectives of successive gangs never overlap in time, and every rank meets the key's
  // gangs in the same order (a rank may skip a gang only if that gang is aborted). The default
  // ignores the key.
  virtual absl::StatusOr<std::unique_ptr<Communicator>> Join(GangId gang, int64_t size,
                                                             int64_t rank, uint64_t member_key) {
    (void)member_key;
    return Join(gang, size, rank);
  }

  // Breaks the gang's group: ranks blocked in a collective, and ranks joining later, get
  // ABORTED carrying `reason`. Used when a shard of the gang fails before its collectives, so
  // its peers never wait for it.
  virtual void Abort(GangId gang, int64_t size, absl::Status reason) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_COLLECTIVE_GROUPS_H_
