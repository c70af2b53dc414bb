// FakeDashboardSource: a DashboardSource of one island, two hosts of two devices and one
// client, whose status a test edits; counts the reads it serves. Thread-safe.
#ifndef PATHWAYS_DASHBOARD_FAKE_DASHBOARD_SOURCE_H_
#define PATHWAYS_DASHBOARD_FAKE_DASHBOARD_SOURCE_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "pathways/base/clock.h"
#include "pathways/dashboard/dashboard_source.h"

namespace pw {

class FakeDashboardSource final : public DashboardSource {
 public:
  FakeDashboardSource() {
    status_.islands.push_back(IslandInfo{IslandId(0), {HostId(0), HostId(1)},
                                         {DeviceId(0), DeviceId(1), DeviceId(2), DeviceId(3)}});
    for (int h = 0; h < 2; ++h) {
      HostStatus host;
      host.host = HostId(h);
      host.transfer_bytes_sent = 1000 * (h + 1);
      for (int d = 0; d < 2; ++d) {
        host.devices.push_back(DeviceStatus{.id = DeviceId(2 * h + d),
                                            .kind = "cpu",
                                            .memory_capacity_bytes = 1 << 20,
                                            .memory_in_use_bytes = 4096});
      }
      status_.hosts.push_back(host);
    }
    status_.clients.push_back(ClientStatus{.id = ClientId(5), .name = "trainer \"A\"", .runs = 3});
    status_.slices.push_back(
        VirtualSlice{.id = SliceId(2), .client = ClientId(5), .devices = {DeviceId(0), DeviceId(1)}});
    status_.schedulers.push_back(SchedulerStatus{.island = IslandId(0), .policy = "fifo"});
    status_.runs = 3;
  }

  // Every device's busy time becomes `nanos`.
  void SetBusyNanos(int64_t nanos) {
    absl::MutexLock lock(&mu_);
    for (HostStatus& h : status_.hosts) {
      for (DeviceStatus& d : h.devices) d.busy_nanos = nanos;
    }
  }
  // Host 1 and its devices leave the cluster.
  void DropHost1() {
    absl::MutexLock lock(&mu_);
    status_.hosts.pop_back();
    status_.islands[0].hosts.pop_back();
    status_.islands[0].devices.resize(2);
  }

  ClusterStatus Status() override {
    ++status_calls;
    absl::MutexLock lock(&mu_);
    return status_;
  }
  std::vector<LostHost> LostHosts() override {
    return {LostHost{.host = HostId(9),
                     .address = "127.0.0.1:1",
                     .reason = absl::UnavailableError("host:9 lost: missed heartbeats")}};
  }
  std::vector<RunningRun> RunningRuns() override {
    return {RunningRun{.run = RunId(4), .client = ClientId(5), .program = "step", .started = absl::Now()}};
  }
  const ControllerMetrics& Metrics() override { return metrics; }
  // An event that just ended, and one of an hour ago.
  absl::Status CollectTrace(TraceRecorder& into) override {
    ++trace_calls;
    into.Record(TraceEvent{.name = "recent", .category = "execute", .start_ns = MonotonicNanos(), .dur_ns = 10});
    into.Record(TraceEvent{.name = "an hour ago",
                           .category = "execute",
                           .start_ns = MonotonicNanos() - int64_t{3600} * 1'000'000'000,
                           .dur_ns = 10});
    return absl::OkStatus();
  }

  ControllerMetrics metrics;
  std::atomic<int> status_calls{0};
  std::atomic<int> trace_calls{0};

 private:
  absl::Mutex mu_;
  ClusterStatus status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_DASHBOARD_FAKE_DASHBOARD_SOURCE_H_
