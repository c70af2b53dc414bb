// The fixture of the ControllerService conformance suite: one shared cluster per transport (the
// in-process LocalCluster and pw-controller/pw-worker processes over gRPC), a client per test,
// and the helpers the suite's files share.
#ifndef PATHWAYS_TESTS_CLUSTER_CONFORMANCE_H_
#define PATHWAYS_TESTS_CLUSTER_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "pathways/base/trace.h"
#include "pathways/client/client.h"
#include "tests/test_cluster.h"
#include "tests/test_util.h"

namespace pw {

inline constexpr int64_t kDeviceMemory = int64_t{8} << 20;

// The suite's cluster of `kind` (2 hosts of 2 devices), started on first use and stopped when
// the test program ends.
testing_util::TestCluster& ClusterOf(testing_util::ClusterKind kind);

class ClusterConformanceTest : public ::testing::TestWithParam<testing_util::ClusterKind> {
 protected:
  testing_util::TestCluster& cluster() { return ClusterOf(GetParam()); }
  ControllerService& controller() { return cluster().controller(); }
  std::unique_ptr<Client> Connect(const std::string& name) {
    return testing_util::Unwrap(Client::Connect(controller(), name));
  }
  // Array memory in use on every device (scratch arenas stay allocated between runs).
  int64_t ArrayBytesInUse() {
    int64_t bytes = 0;
    for (const HostStatus& h : controller().Status().hosts) {
      for (const DeviceStatus& d : h.devices) bytes += d.memory_in_use_bytes - d.scratch_bytes;
    }
    return bytes;
  }
  bool EventuallyNoArrayMemory() {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (ArrayBytesInUse() == 0) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }
  // Trace events recorded since `since_ns`, from the controller and every host.
  std::vector<TraceEvent> EventsSince(int64_t since_ns) {
    TraceRecorder recorder;
    recorder.Start();
    absl::Status s = cluster().CollectTrace(recorder);
    EXPECT_TRUE(s.ok()) << s;
    std::vector<TraceEvent> out;
    for (TraceEvent& e : recorder.TakeEvents()) {
      if (e.start_ns >= since_ns) out.push_back(std::move(e));
    }
    return out;
  }
  // EventsSince, polled until `complete` holds (or 10 s pass): a sender records its event when
  // its send finishes, which may be after the receiver already handed the value to the client.
  std::vector<TraceEvent> EventuallyEventsSince(
      int64_t since_ns, const std::function<bool(const std::vector<TraceEvent>&)>& complete) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    std::vector<TraceEvent> events = EventsSince(since_ns);
    while (!complete(events) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
      events = EventsSince(since_ns);
    }
    return events;
  }
};

// x * by, in x's dtype.
std::vector<ir::Value> Scale(ir::FunctionBuilder& b, absl::Span<const ir::Value> x, double by);

}  // namespace pw

#endif  // PATHWAYS_TESTS_CLUSTER_CONFORMANCE_H_
