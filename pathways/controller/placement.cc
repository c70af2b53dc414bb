// The load-spreading placement policy (see placement.h).
#include "pathways/controller/placement.h"

#include <algorithm>
#include <deque>
#include <numeric>

#include "absl/container/flat_hash_map.h"

namespace pw {
namespace {

// Indices of `candidates` from least to most loaded; equal loads keep interconnect order, so
// ties lean towards low positions and, with them, towards contiguity.
std::vector<size_t> LeastLoadedOrder(absl::Span<const PlacementCandidate> candidates) {
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return candidates[a].load < candidates[b].load;
  });
  return order;
}

// The least loaded set of any shape. Taking the n smallest loads minimises both the max and the
// total at once.
Placement BestAnySet(absl::Span<const PlacementCandidate> candidates, size_t n) {
  std::vector<size_t> chosen = LeastLoadedOrder(candidates);
  chosen.resize(n);
  std::sort(chosen.begin(), chosen.end());  // back to interconnect order
  Placement placement;
  placement.contiguous = true;
  for (size_t k = 0; k < chosen.size(); ++k) {
    const PlacementCandidate& c = candidates[chosen[k]];
    placement.devices.push_back(c.device);
    placement.max_load = std::max(placement.max_load, c.load);
    placement.total_load += c.load;
    if (k > 0 && c.position != candidates[chosen[k - 1]].position + 1) {
      placement.contiguous = false;
    }
  }
  return placement;
}

// The best window of n consecutive positions: a sliding window over each gap-free run, with a
// monotonic queue for the window maximum, so an island of thousands of devices costs O(N).
std::optional<Placement> BestContiguousRun(absl::Span<const PlacementCandidate> candidates,
                                           size_t n) {
  std::optional<size_t> best_start;
  int64_t best_max = 0;
  int64_t best_total = 0;
  std::deque<size_t> max_queue;  // window indices with decreasing loads
  int64_t sum = 0;
  size_t run_begin = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (i > 0 && candidates[i].position != candidates[i - 1].position + 1) {
      run_begin = i;
      max_queue.clear();
      sum = 0;
    }
    sum += candidates[i].load;
    while (!max_queue.empty() && candidates[max_queue.back()].load <= candidates[i].load) {
      max_queue.pop_back();
    }
    max_queue.push_back(i);
    if (i + 1 - run_begin > n) {
      sum -= candidates[i - n].load;
      if (max_queue.front() == i - n) max_queue.pop_front();
    }
    if (i + 1 - run_begin < n) continue;
    int64_t window_max = candidates[max_queue.front()].load;
    if (!best_start.has_value() || window_max < best_max ||
        (window_max == best_max && sum < best_total)) {
      best_start = i + 1 - n;
      best_max = window_max;
      best_total = sum;
    }
  }
  if (!best_start.has_value()) return std::nullopt;
  Placement placement;
  placement.max_load = best_max;
  placement.total_load = best_total;
  placement.contiguous = true;
  for (size_t k = *best_start; k < *best_start + n; ++k) {
    placement.devices.push_back(candidates[k].device);
  }
  return placement;
}

}  // namespace

bool Placement::BetterThan(const Placement& other) const {
  if (max_load != other.max_load) return max_load < other.max_load;
  if (total_load != other.total_load) return total_load < other.total_load;
  return contiguous && !other.contiguous;
}

std::optional<Placement> PlaceInIsland(absl::Span<const PlacementCandidate> candidates,
                                       int64_t num_devices, ContiguityPolicy policy) {
  if (num_devices <= 0 || static_cast<size_t>(num_devices) > candidates.size()) {
    return std::nullopt;
  }
  const size_t n = static_cast<size_t>(num_devices);
  switch (policy) {
    case ContiguityPolicy::kAny:
      return BestAnySet(candidates, n);
    case ContiguityPolicy::kRequireContiguous:
      return BestContiguousRun(candidates, n);
    case ContiguityPolicy::kPreferContiguous: {
      Placement any = BestAnySet(candidates, n);
      std::optional<Placement> run = BestContiguousRun(candidates, n);
      // `any` is optimal on load, so the run wins exactly when it loses nothing on load.
      if (run.has_value() && !any.BetterThan(*run)) return run;
      return any;
    }
  }
  return std::nullopt;
}

std::vector<DeviceId> OrderForMesh(const std::vector<DeviceId>& devices, int64_t row_size,
                                   const std::function<HostId(DeviceId)>& host_of) {
  if (row_size <= 1 || devices.size() % static_cast<size_t>(row_size) != 0) return devices;
  std::vector<HostId> hosts;  // in order of first appearance
  absl::flat_hash_map<HostId, std::vector<DeviceId>> by_host;
  for (DeviceId d : devices) {
    const HostId h = host_of(d);
    auto [it, inserted] = by_host.try_emplace(h);
    if (inserted) hosts.push_back(h);
    it->second.push_back(d);
  }
  std::vector<DeviceId> ordered, leftover;
  for (HostId h : hosts) {
    const std::vector<DeviceId>& mine = by_host[h];
    const size_t whole = mine.size() / static_cast<size_t>(row_size) * static_cast<size_t>(row_size);
    ordered.insert(ordered.end(), mine.begin(), mine.begin() + whole);
    leftover.insert(leftover.end(), mine.begin() + whole, mine.end());
  }
  ordered.insert(ordered.end(), leftover.begin(), leftover.end());
  return ordered;
}

std::vector<DeviceId> PickLeastLoaded(absl::Span<const PlacementCandidate> candidates,
                                      int64_t count) {
  std::vector<DeviceId> out;
  for (size_t index : LeastLoadedOrder(candidates)) {
    if (static_cast<int64_t>(out.size()) >= count) break;
    out.push_back(candidates[index].device);
  }
  return out;
}

}  // namespace pw
