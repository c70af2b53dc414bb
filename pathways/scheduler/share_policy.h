// SharePolicy: proportional share of measured device time between clients (a stride scheduler
// over virtual time): busy clients of weights w1..wn each get device time in proportion to
// their weight, whatever the length of their programs.
#ifndef PATHWAYS_SCHEDULER_SHARE_POLICY_H_
#define PATHWAYS_SCHEDULER_SHARE_POLICY_H_

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "pathways/scheduler/client_queues.h"
#include "pathways/scheduler/scheduling_policy.h"

namespace pw {

// Each client has a virtual time: the device time it was charged divided by its weight. The
// queued run of the client with the smallest virtual time goes next (FIFO within a client).
//
// Charging: a run is charged at admission with an estimate — the moving average of the device
// time its program's runs took on this island (a run of a program never seen costs the
// average of all programs) — and corrected to its measured device time when it finishes, so
// the order reacts at once and the account stays exact. A client that was idle (nothing queued
// or in flight) starts again at the smallest virtual time of the busy clients: idle time
// is not saved up as credit.
class SharePolicy final : public SchedulingPolicy {
 public:
  const char* name() const override { return "share"; }
  int64_t default_window() const override { return kOrderingWindow; }
  void Push(const RunDescriptor& run) override;
  RunDescriptor Pop() override;
  bool empty() const override { return queues_.empty(); }
  int64_t size() const override { return queues_.size(); }
  void OnAdmitted(const RunDescriptor& run) override;
  void OnFinished(const RunDescriptor& run, int64_t device_nanos) override;

  // Device nanoseconds over weight, for tests and status.
  double virtual_time(ClientId client) const;

 private:
  struct Account {
    double virtual_time = 0;
    int64_t in_flight = 0;
  };
  // Brings an idle client's virtual time up to the island's before it competes.
  Account& Activate(ClientId client);
  double Estimate(ProgramId program) const;

  ClientQueues queues_;
  absl::flat_hash_map<ClientId, Account> accounts_;
  absl::flat_hash_map<ProgramId, double> estimates_;  // device ns per run, moving average
  absl::flat_hash_map<RunId, double> charged_;        // admitted runs' estimates
  double average_estimate_ = 0;
  // The island's virtual time: the largest virtual time a client had when one of its runs was
  // admitted (the policy admits the smallest, so this follows the busy clients). A client that
  // was idle starts here.
  double floor_ = 0;
};

}  // namespace pw

#endif  // PATHWAYS_SCHEDULER_SHARE_POLICY_H_
