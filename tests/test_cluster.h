// TestCluster: one interface over the two ways to run a Pathways cluster — in one process
// (LocalCluster, in-process transport) and as processes talking gRPC (ProcessCluster:
// pw-controller + pw-worker per host) — so the same conformance tests run against both.
#ifndef PATHWAYS_TESTS_TEST_CLUSTER_H_
#define PATHWAYS_TESTS_TEST_CLUSTER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pathways/base/trace.h"
#include "pathways/service/controller_service.h"

namespace pw::testing_util {

enum class ClusterKind { kInProcess, kGrpcProcesses };
std::string KindName(ClusterKind kind);

struct TestClusterOptions {
  int64_t hosts = 2;
  int64_t devices_per_host = 2;
  int64_t memory_per_device_bytes = int64_t{256} << 20;
};

class TestCluster {
 public:
  virtual ~TestCluster() = default;
  static absl::StatusOr<std::unique_ptr<TestCluster>> Start(ClusterKind kind, TestClusterOptions options);

  // What clients talk to: the Controller itself, or a GrpcControllerClient to pw-controller.
  virtual ControllerService& controller() = 0;
  // Every trace event recorded so far on the controller and every host (recording starts with
  // the cluster). Timestamps are MonotonicNanos() in every process of this machine, so a test
  // keeps its own events by start time.
  virtual absl::Status CollectTrace(TraceRecorder& into) = 0;
  virtual ClusterKind kind() const = 0;
};

}  // namespace pw::testing_util

#endif  // PATHWAYS_TESTS_TEST_CLUSTER_H_
