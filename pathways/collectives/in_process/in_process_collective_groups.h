// InProcessCollectiveGroups: the CollectiveGroups registry for gangs whose shards live in one
// process (several HostExecutors of one process meet here, keyed by GangId).
#ifndef PATHWAYS_COLLECTIVES_IN_PROCESS_IN_PROCESS_COLLECTIVE_GROUPS_H_
#define PATHWAYS_COLLECTIVES_IN_PROCESS_IN_PROCESS_COLLECTIVE_GROUPS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/ids.h"
#include "pathways/collectives/collective_groups.h"
#include "pathways/collectives/in_process/in_process_collectives.h"

namespace pw {

struct InProcessCollectiveGroupsOptions {
  // Options of every group created; `name` is replaced by "<name> gang:N".
  InProcessCollectiveOptions group;
  std::string name = "in-process groups";
};

// A gang's group is created by the first rank to Join (or by an Abort that comes first) and
// leaves the registry once every rank has joined: from then on the ranks' communicators keep it
// alive, so thousands of runs leave nothing behind. A finished gang is remembered by a weak
// reference only, so an Abort arriving after the last Join still reaches the group while any
// rank holds its communicator (HostExecutor aborts while it still holds its own), and is a no-op
// once the group is gone.
//
// Known gap: a gang some of whose ranks never join (a host lost before dispatching its part)
// keeps its entry; the controller's failure handling is expected to Abort it.
class InProcessCollectiveGroups final : public CollectiveGroups {
 public:
  explicit InProcessCollectiveGroups(InProcessCollectiveGroupsOptions options = {});
  InProcessCollectiveGroups(const InProcessCollectiveGroups&) = delete;
  InProcessCollectiveGroups& operator=(const InProcessCollectiveGroups&) = delete;
  ~InProcessCollectiveGroups() override;

  // Errors: INVALID_ARGUMENT for size < 1, a rank outside [0, size), or a size different from
  // the one the gang was created with (naming the gang and both sizes); ALREADY_EXISTS when the
  // rank already joined. A rank joining a broken (aborted) gang gets a communicator whose every
  // collective returns ABORTED with the reason.
  absl::StatusOr<std::unique_ptr<Communicator>> Join(GangId gang, int64_t size,
                                                     int64_t rank) override;
  // Shared memory needs no connections: the member key is ignored.
  using CollectiveGroups::Join;

  // Thread-safe; the first reason sticks. Size < 1 is ignored (there is no group to break).
  void Abort(GangId gang, int64_t size, absl::Status reason) override;

  // Gangs some of whose ranks have not joined yet.
  int64_t num_pending_gangs() const;
  std::string DebugString() const;

 private:
  struct Pending {
    std::shared_ptr<InProcessCollectiveGroup> group;
    std::vector<bool> joined;
    int64_t num_joined = 0;
  };

  absl::StatusOr<Pending*> FindOrCreateLocked(GangId gang, int64_t size)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Remembers a gang whose ranks all joined; drops expired records now and then.
  void RetireLocked(GangId gang, const std::shared_ptr<InProcessCollectiveGroup>& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const InProcessCollectiveGroupsOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<GangId, Pending> pending_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<GangId, std::weak_ptr<InProcessCollectiveGroup>> finished_
      ABSL_GUARDED_BY(mu_);
  size_t sweep_at_ ABSL_GUARDED_BY(mu_) = 1024;
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_IN_PROCESS_IN_PROCESS_COLLECTIVE_GROUPS_H_
