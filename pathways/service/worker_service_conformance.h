// The WorkerService conformance suite: what every implementation of the host seam must do (the
// host executor, the gRPC stub in front of a worker process, and the fake beside the
// interface), run by each implementation's test through a harness.
// Instantiate with INSTANTIATE_TEST_SUITE_P(Name, WorkerServiceConformanceTest, Values(...)).
#ifndef PATHWAYS_SERVICE_WORKER_SERVICE_CONFORMANCE_H_
#define PATHWAYS_SERVICE_WORKER_SERVICE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "pathways/service/worker_service.h"
#include "pathways/service/worker_service_test_util.h"

namespace pw::worker_service_testing {

// One implementation under test.
class WorkerServiceHarness {
 public:
  virtual ~WorkerServiceHarness() = default;
  // Host kHost with devices kDevice0 and kDevice1 (1 MiB or more each), reporting finished
  // runs to the observer the harness was made with.
  virtual WorkerService& worker() = 0;
  // False for a fake that reports runs without computing (its outputs hold no data).
  virtual bool computes() const { return true; }
};

struct WorkerHarnessFactory {
  std::string name;
  std::function<std::unique_ptr<WorkerServiceHarness>(RunObserver* observer)> make;
};

class WorkerServiceConformanceTest : public ::testing::TestWithParam<WorkerHarnessFactory> {
 protected:
  void SetUp() override { harness_ = GetParam().make(&observer_); }
  void TearDown() override { harness_.reset(); }
  WorkerService& worker() { return harness_->worker(); }

  RecordingObserver observer_;  // outlives the harness
  std::unique_ptr<WorkerServiceHarness> harness_;
};

inline std::string WorkerHarnessName(const ::testing::TestParamInfo<WorkerHarnessFactory>& info) {
  return info.param.name;
}

}  // namespace pw::worker_service_testing

#endif  // PATHWAYS_SERVICE_WORKER_SERVICE_CONFORMANCE_H_
