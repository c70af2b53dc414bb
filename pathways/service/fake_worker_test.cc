// The WorkerService conformance suite over FakeWorker: the fake keeps the contract its users
// rely on (it reports runs without computing them).
#include <memory>

#include "pathways/service/fake_worker.h"
#include "pathways/service/worker_service_conformance.h"

namespace pw::worker_service_testing {
namespace {

class FakeWorkerHarness final : public WorkerServiceHarness {
 public:
  explicit FakeWorkerHarness(RunObserver* observer)
      : worker_(HostId(kHost), observer, FakeWorker::Reply::kAuto,
                {DeviceId(kDevice0), DeviceId(kDevice1)}) {}
  WorkerService& worker() override { return worker_; }
  bool computes() const override { return false; }

 private:
  FakeWorker worker_;
};

INSTANTIATE_TEST_SUITE_P(
    Fake, WorkerServiceConformanceTest,
    ::testing::Values(WorkerHarnessFactory{
        "FakeWorker", [](RunObserver* o) { return std::make_unique<FakeWorkerHarness>(o); }}),
    WorkerHarnessName);

}  // namespace
}  // namespace pw::worker_service_testing
