// FakeWorker: a WorkerService that records every message it gets and replies through the
// RunObserver, for tests of whatever drives hosts (the controller, host membership). It passes
// the WorkerService conformance suite (worker_service_conformance.h) like the real ones.
#ifndef PATHWAYS_SERVICE_FAKE_WORKER_H_
#define PATHWAYS_SERVICE_FAKE_WORKER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "pathways/service/worker_service.h"

namespace pw {

// Records messages; replies to each HostRun (every compute output shard OK, unless the slot
// was marked failing) either when the test asks (kManual, on the test's thread) or on its own
// thread as soon as the message arrives (kAuto), as a real host would.
class FakeWorker final : public WorkerService {
 public:
  enum class Reply { kManual, kAuto };
  // `devices`: the host's devices; PutShard refuses others (empty: any device is accepted).
  FakeWorker(HostId host, RunObserver* observer, Reply reply, std::vector<DeviceId> devices = {});
  ~FakeWorker() override;

  HostId host() const override { return host_; }
  absl::Status RegisterFunction(FunctionId id, const ir::Function& function) override;
  void Run(HostRun run) override;
  absl::Status PutShard(ArrayId array, int32_t shard, DeviceId device,
                        const ir::Literal& data) override;
  AsyncValueRef<ir::Literal> FetchShard(ArrayId array, int32_t shard) override;
  void Release(absl::Span<const ArrayId> arrays) override;
  void PeerLost(HostId peer, absl::Status reason) override;
  // Recorded (failed_shards()); a later FetchShard of such a shard returns the error.
  void FailShards(ArrayId array, absl::Span<const int32_t> shards, absl::Status status) override;
  // Recorded (cancelled_runs()).
  void CancelRun(RunId run, absl::Status status) override;
  HostStatus Status() const override;

  // Stops the kAuto reply thread (no more reports after this returns).
  void StopReplying();
  // Replies to the oldest unanswered message; false if there is none.
  bool ReplyOne();
  int ReplyAll();
  // Shards of `slot` (by value slot of the lowering) are reported with `error`.
  void FailValue(int32_t slot, absl::Status error);

  std::vector<HostRun> runs() const;
  int64_t unanswered() const;
  std::vector<ArrayId> released() const;
  bool WasReleased(ArrayId array) const;
  std::vector<FunctionId> registered() const;
  // PeerLost calls, in arrival order.
  std::vector<std::pair<HostId, absl::Status>> peers_lost() const;
  // FailShards calls: (array, shard, status), in arrival order.
  std::vector<std::tuple<ArrayId, int32_t, absl::Status>> failed_shards() const;
  // CancelRun calls, in arrival order.
  std::vector<std::pair<RunId, absl::Status>> cancelled_runs() const;
  int64_t stored_shards() const;

 private:
  HostRunResult ResultFor(const HostRun& run) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop();

  const HostId host_;
  RunObserver* const observer_;
  const Reply reply_;
  const std::vector<DeviceId> devices_;
  mutable absl::Mutex mu_;
  std::vector<HostRun> runs_ ABSL_GUARDED_BY(mu_);
  std::deque<HostRun> unanswered_ ABSL_GUARDED_BY(mu_);
  std::vector<ArrayId> released_ ABSL_GUARDED_BY(mu_);
  std::vector<std::tuple<ArrayId, int32_t, absl::Status>> failed_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<RunId, absl::Status>> cancelled_ ABSL_GUARDED_BY(mu_);
  std::vector<FunctionId> registered_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<FunctionId, uint64_t> fingerprints_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<HostId, absl::Status>> peers_lost_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<int64_t, int32_t>, ir::Literal> shards_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int32_t, absl::Status> failing_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace pw

#endif  // PATHWAYS_SERVICE_FAKE_WORKER_H_
