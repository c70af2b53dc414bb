// HostMembership: which hosts are part of the cluster — join, heartbeats, and host loss with
// everything a loss entails. One component for every assembly: ControllerServer (worker
// processes over gRPC, heartbeats) and LocalCluster (executors in this process) lose a host the
// same way.
#ifndef PATHWAYS_CLUSTER_HOST_MEMBERSHIP_H_
#define PATHWAYS_CLUSTER_HOST_MEMBERSHIP_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/base/clock.h"
#include "pathways/base/ids.h"
#include "pathways/controller/controller.h"
#include "pathways/controller/resource_manager.h"
#include "pathways/service/worker_service.h"

namespace pw {

struct HostMembershipOptions {
  Controller* controller = nullptr;   // not owned; outlives the membership
  ResourceManager* resources = nullptr;  // not owned; the controller's
  // Time for heartbeats. Tests pass a FakeClock and call CheckHeartbeats() themselves.
  const Clock* clock = &Clock::Real();
  // A host silent for longer is lost (checked by CheckHeartbeats). Infinite: hosts never beat
  // (in-process hosts cannot go silent).
  absl::Duration heartbeat_timeout = absl::InfiniteDuration();
  // Breaks a gang the lost host had a shard in, so its other ranks stop waiting for it (the
  // in-process groups' Abort, or the abort key Gloo ranks watch in the rendezvous store).
  // Called on the thread losing the host; must not call back into the membership.
  std::function<void(GangId gang, int64_t size, const absl::Status& reason)> abort_gang;
  // Names the cluster in errors ("the controller at 127.0.0.1:7000"); see set_name.
  std::string name = "the controller";

  // INVALID_ARGUMENT naming the field: no controller or resources, a non-positive heartbeat
  // timeout.
  absl::Status Validate() const;
};

// A host declared lost: its address and the reason every error about it names.
struct LostHost {
  HostId host;
  std::string address;
  absl::Status reason;
  absl::Time when;
};

// Threads: every method is thread-safe. Join and Lose call the controller and the resource
// manager, so they must not run on a thread those call back on (a worker's report thread):
// such threads hand failures to ReportFailure, which only queues them for the monitor thread
// (StartMonitor) or the next CheckHeartbeats.
class HostMembership {
 public:
  // What the caller attaches to a host when it joins.
  struct Member {
    // The host's executor as the controller reaches it; outlives the host's membership and
    // the controller's last call to it (see Controller::RemoveWorker).
    WorkerService* worker = nullptr;
    // Runs once when the host is lost, before the controller removes it: end what is in flight
    // to it (a gRPC client's calls), stop peers pushing to it. May be empty.
    absl::AnyInvocable<void(const absl::Status& reason)> on_lost;
  };

  explicit HostMembership(HostMembershipOptions options);
  ~HostMembership();  // Stop()
  HostMembership(const HostMembership&) = delete;
  HostMembership& operator=(const HostMembership&) = delete;

  // Adds a host: registers `spec` with the resource manager, asks `make_member` for the host's
  // worker (given the HostInfo with its new id and devices), and connects it to the controller.
  // A live host with the same address is lost first (its process is gone: the port was free
  // to bind again). Errors: UNAVAILABLE once stopping; the resource manager's for a bad spec;
  // make_member's; the controller's AddWorker's. On error the host is gone again.
  absl::StatusOr<HostInfo> Join(HostSpec spec,
                                absl::FunctionRef<absl::StatusOr<Member>(const HostInfo&)> make_member);

  // The host is alive now. FAILED_PRECONDITION for a host that is not a member (lost, or never
  // joined): the worker should stop.
  absl::Status Heartbeat(HostId host);

  // A call to `host` failed in a way that means it is gone. Only queues it (any thread): the
  // monitor thread, or the next CheckHeartbeats, loses the host.
  void ReportFailure(HostId host, absl::Status status);

  // Loses every host that reported a failure or has been silent longer than the heartbeat
  // timeout by the clock. The monitor thread calls it on every tick.
  void CheckHeartbeats();

  // Loses `host` now, once, whoever calls first; a second call, or an unknown host, does
  // nothing. In order: the member's on_lost, its in-flight gangs aborted, the controller's
  // RemoveWorker (failing everything that depends on the host with UNAVAILABLE
  // "host:N (address) lost: <why>"; the resource manager remaps or fails its slices), the gangs
  // dispatched meanwhile aborted. Returns whether this call lost it.
  bool Lose(HostId host, const std::string& why);

  // Starts the thread that runs CheckHeartbeats every tick (a tenth of the heartbeat timeout,
  // within [10 ms, 250 ms]) and whenever a failure is reported. Call at most once.
  void StartMonitor();

  // Refuses further joins and stops the monitor. Idempotent.
  void Stop();
  // Stop(), then lets go of every live host in order (an orderly shutdown, not a loss: no
  // gang is aborted): the controller's deferred work goes out, then RemoveWorker(host, reason).
  void RemoveAll(absl::Status reason);

  // Renames the cluster in later errors (a server learns its port only once it serves).
  void set_name(std::string name);

  bool Contains(HostId host) const;
  int64_t num_hosts() const;
  std::vector<HostId> hosts() const;  // live, by id
  // Until at least `n` hosts are live. DEADLINE_EXCEEDED naming how many joined otherwise.
  absl::Status WaitForHosts(int64_t n, absl::Duration timeout) const;
  // Until `host` was lost and its removal finished. DEADLINE_EXCEEDED otherwise.
  absl::Status WaitForHostLost(HostId host, absl::Duration timeout) const;

  // The hosts lost so far (removal finished), by id, with why.
  std::vector<LostHost> LostHosts() const;

  std::string DebugString() const;

 private:
  struct Entry {
    std::string address;
    int64_t last_heartbeat_nanos = 0;
    absl::AnyInvocable<void(const absl::Status&)> on_lost;
  };
  void AbortGangsOf(HostId host, const absl::Status& reason);
  void MonitorLoop();

  std::string name() const;

  const HostMembershipOptions options_;
  mutable absl::Mutex mu_;
  std::string name_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<HostId, Entry> hosts_ ABSL_GUARDED_BY(mu_);
  // Removal finished; the most recent kMaxLostHostsKept.
  static constexpr size_t kMaxLostHostsKept = 10'000;
  absl::btree_map<HostId, LostHost> lost_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<HostId, absl::Status>> failures_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread monitor_;
};

}  // namespace pw

#endif  // PATHWAYS_CLUSTER_HOST_MEMBERSHIP_H_
