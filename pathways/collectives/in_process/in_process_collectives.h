// InProcessCollectiveGroup: Communicator for ranks that share one address space (the devices of
// one host), exchanging data straight from each other's buffers.
#ifndef PATHWAYS_COLLECTIVES_IN_PROCESS_IN_PROCESS_COLLECTIVES_H_
#define PATHWAYS_COLLECTIVES_IN_PROCESS_IN_PROCESS_COLLECTIVES_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pathways/ir/dtype.h"
#include "pathways/ir/op.h"
#include "pathways/collectives/collective_checks.h"
#include "pathways/kernels/communicator.h"

namespace pw {

struct InProcessCollectiveOptions {
  // Names the group in errors (e.g. "gang 12 on host:0").
  std::string name = "in-process group";
  // How long a rank waits for its peers to arrive before the group fails with
  // DEADLINE_EXCEEDED naming the ranks that did not come.
  absl::Duration timeout = absl::Seconds(30);
  // How long a waiting rank polls (yielding the core) before sleeping on a futex. Polling makes
  // a hand-off cost ~1 µs instead of a ~40 µs wake-up when peers arrive close together.
  absl::Duration spin = absl::Microseconds(50);
};

// A group of `size()` ranks; hand one Communicator to each rank's thread.
//
// Each collective is a rendezvous: every rank publishes its buffers and arrives; once all have
// arrived each rank computes its own output reading its peers' inputs in place (no staging
// copies); then all ranks depart together, so no rank returns — and lets its caller overwrite
// its input — while a peer may still read it. Ranks reduce in rank order, so every rank gets
// bit-identical results.
//
// Failure is sticky: after Abort() or a timeout the group is broken and every pending and
// future call on every rank returns the same error (ABORTED carrying the reason, or
// DEADLINE_EXCEEDED naming the missing ranks). A gang whose shard failed aborts its group so
// the other shards do not wait forever; a new run uses a new group.
class InProcessCollectiveGroup
    : public std::enable_shared_from_this<InProcessCollectiveGroup> {
 public:
  // Errors: INVALID_ARGUMENT when size < 1.
  static absl::StatusOr<std::shared_ptr<InProcessCollectiveGroup>> Create(
      int64_t size, InProcessCollectiveOptions options = {});

  InProcessCollectiveGroup(const InProcessCollectiveGroup&) = delete;
  InProcessCollectiveGroup& operator=(const InProcessCollectiveGroup&) = delete;
  ~InProcessCollectiveGroup();

  // The communicator of `rank` (keeps the group alive). Use each rank from one thread at a
  // time. Errors: INVALID_ARGUMENT when rank is outside [0, size()).
  absl::StatusOr<std::unique_ptr<Communicator>> CommunicatorForRank(int64_t rank);

  // Breaks the group: every rank blocked in a collective, and every later call, returns ABORTED
  // with `reason` in the message. Thread-safe; the first reason sticks.
  void Abort(absl::Status reason);

  int64_t size() const { return size_; }
  bool broken() const { return broken_.load(std::memory_order_acquire); }
  std::string DebugString() const;

 private:
  friend class InProcessCommunicator;

  using CollectiveKind = collectives::CollectiveKind;
  using Call = collectives::CollectiveCall;
  // Per-rank rendezvous state, on its own cache lines so ranks do not false-share.
  struct alignas(64) Slot {
    // Written by the owning rank before it arrives; read by peers until everyone departs.
    Call call;
    std::string local_error;  // empty when the rank's own arguments are valid
    uint64_t calls = 0;       // collectives issued by this rank (owner thread only)
    std::atomic<uint64_t> arrived_call{0};  // for naming missing ranks on timeout
  };

  InProcessCollectiveGroup(int64_t size, InProcessCollectiveOptions options);
  static const char* KindName(CollectiveKind kind) { return collectives::CollectiveKindName(kind); }

  // Runs one collective for `rank` (called by that rank's thread).
  absl::Status Run(int64_t rank, const Call& call);
  std::string ValidateLocal(const Call& call) const;
  // Empty when every rank passed the same operation and valid arguments.
  std::string CheckAgreement() const;
  void Compute(int64_t rank);

  // Waits (poll, then futex) until `done()` or the MonotonicNanos() deadline; false on timeout.
  // `done()` must read the counters / broken_ with seq_cst loads (see the wake protocol).
  template <typename Done>
  bool WaitUntil(Done done, int64_t deadline_nanos);
  void WakeAll();
  // Takes this rank's arrival back unless everyone has arrived; true when withdrawn.
  bool TryWithdraw(uint32_t target);
  void Break(absl::Status status);
  absl::Status BrokenStatus() const;
  std::string Describe() const;
  std::string DescribeCall(int64_t rank) const;

  const int64_t size_;
  const InProcessCollectiveOptions options_;
  std::unique_ptr<Slot[]> slots_;

  // Arrivals and departures, counted modulo 2^32: call c completes a phase at c * size_.
  alignas(64) std::atomic<uint32_t> arrivals_{0};
  alignas(64) std::atomic<uint32_t> departures_{0};
  // The futex word sleepers wait on; bumped whenever a phase completes or the group breaks.
  alignas(64) std::atomic<uint32_t> epoch_{0};
  std::atomic<uint32_t> sleepers_{0};
  std::atomic<bool> broken_{false};

  mutable absl::Mutex mu_;
  absl::Status broken_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_IN_PROCESS_IN_PROCESS_COLLECTIVES_H_
