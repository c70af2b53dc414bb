// InProcessCollectiveGroups implementation.
#include "pathways/collectives/in_process/in_process_collective_groups.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/collectives/collective_checks.h"
#include "pathways/base/status.h"

namespace pw {

InProcessCollectiveGroups::InProcessCollectiveGroups(InProcessCollectiveGroupsOptions options)
    : options_(std::move(options)) {}

InProcessCollectiveGroups::~InProcessCollectiveGroups() = default;

absl::StatusOr<InProcessCollectiveGroups::Pending*> InProcessCollectiveGroups::FindOrCreateLocked(
    GangId gang, int64_t size) {
  auto it = pending_.find(gang);
  if (it != pending_.end()) {
    const int64_t existing = it->second.group->size();
    if (existing != size) {
      return absl::InvalidArgumentError(absl::StrCat(
          options_.name, ": ", gang.DebugString(), " has ", existing,
          " ranks but a rank joined with size ", size));
    }
    return &it->second;
  }
  InProcessCollectiveOptions group_options = options_.group;
  group_options.name = absl::StrCat(options_.name, " ", gang.DebugString());
  absl::StatusOr<std::shared_ptr<InProcessCollectiveGroup>> group =
      InProcessCollectiveGroup::Create(size, std::move(group_options));
  if (!group.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(options_.name, ": ", gang.DebugString(),
                                                   ": ", group.status().message()));
  }
  Pending& p = pending_[gang];
  p.group = *std::move(group);
  p.joined.assign(static_cast<size_t>(size), false);
  return &p;
}

absl::StatusOr<std::unique_ptr<Communicator>> InProcessCollectiveGroups::Join(GangId gang,
                                                                              int64_t size,
                                                                              int64_t rank) {
  PW_RETURN_IF_ERROR(collectives::CheckJoin(options_.name, gang, size, rank));
  absl::MutexLock lock(&mu_);
  if (finished_.contains(gang)) {
    return absl::AlreadyExistsError(absl::StrCat(options_.name, ": every rank of ",
                                                 gang.DebugString(), " already joined (rank ",
                                                 rank, " joined again)"));
  }
  PW_ASSIGN_OR_RETURN(Pending * p, FindOrCreateLocked(gang, size));
  if (p->joined[rank]) {
    return absl::AlreadyExistsError(absl::StrCat(options_.name, ": rank ", rank, " of ",
                                                 gang.DebugString(), " already joined"));
  }
  PW_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, p->group->CommunicatorForRank(rank));
  p->joined[rank] = true;
  if (++p->num_joined == size) {
    std::shared_ptr<InProcessCollectiveGroup> group = std::move(p->group);
    pending_.erase(gang);
    RetireLocked(gang, group);
  }
  return comm;
}

void InProcessCollectiveGroups::RetireLocked(
    GangId gang, const std::shared_ptr<InProcessCollectiveGroup>& group) {
  finished_[gang] = group;
  if (finished_.size() < sweep_at_) return;
  // Amortized: a sweep costs O(records) and happens when their number doubled since the last.
  for (auto it = finished_.begin(); it != finished_.end();) {
    if (it->second.expired()) {
      finished_.erase(it++);
    } else {
      ++it;
    }
  }
  sweep_at_ = std::max<size_t>(1024, 2 * finished_.size());
}

void InProcessCollectiveGroups::Abort(GangId gang, int64_t size, absl::Status reason) {
  if (size < 1) return;
  std::shared_ptr<InProcessCollectiveGroup> group;
  {
    absl::MutexLock lock(&mu_);
    auto done = finished_.find(gang);
    if (done != finished_.end()) {
      group = done->second.lock();
    } else if (auto it = pending_.find(gang); it != pending_.end()) {
      group = it->second.group;
    } else {
      // Ranks that join later must see the break, so the abort creates the group.
      absl::StatusOr<Pending*> p = FindOrCreateLocked(gang, size);
      if (!p.ok()) return;
      group = (*p)->group;
    }
  }
  // Outside the lock: breaking wakes blocked ranks.
  if (group != nullptr) group->Abort(std::move(reason));
}

int64_t InProcessCollectiveGroups::num_pending_gangs() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(pending_.size());
}

std::string InProcessCollectiveGroups::DebugString() const {
  absl::MutexLock lock(&mu_);
  return absl::StrCat(options_.name, " (", pending_.size(), " gangs waiting for ranks, ",
                      finished_.size(), " finished gangs remembered)");
}

}  // namespace pw
