// The WorkerService conformance suite over HostExecutor with two CPU devices.
#include <memory>
#include <vector>

#include "pathways/collectives/in_process/in_process_collective_groups.h"
#include "pathways/dataplane/in_process/in_process_data_plane.h"
#include "pathways/device/cpu/cpu_device.h"
#include "pathways/service/worker_service_conformance.h"
#include "pathways/worker/host_executor.h"

namespace pw::worker_service_testing {
namespace {

class HostExecutorHarness final : public WorkerServiceHarness {
 public:
  explicit HostExecutorHarness(RunObserver* observer) {
    for (int64_t d : {kDevice0, kDevice1}) {
      devices_.push_back(std::make_unique<CpuDevice>(CpuDeviceOptions{
          .id = DeviceId(d), .host = HostId(kHost), .memory_capacity_bytes = int64_t{16} << 20}));
    }
    std::vector<Device*> devices;
    for (auto& d : devices_) devices.push_back(d.get());
    executor_ = std::make_unique<HostExecutor>(HostExecutorOptions{
        .host = HostId(kHost), .devices = devices, .data_plane = &data_plane_,
        .collectives = &collectives_, .observer = observer});
  }
  ~HostExecutorHarness() override { executor_.reset(); }  // before the devices
  WorkerService& worker() override { return *executor_; }

 private:
  std::vector<std::unique_ptr<Device>> devices_;
  InProcessDataPlane data_plane_;
  InProcessCollectiveGroups collectives_;
  std::unique_ptr<HostExecutor> executor_;
};

INSTANTIATE_TEST_SUITE_P(
    HostExecutor, WorkerServiceConformanceTest,
    ::testing::Values(WorkerHarnessFactory{
        "HostExecutor", [](RunObserver* o) { return std::make_unique<HostExecutorHarness>(o); }}),
    WorkerHarnessName);

}  // namespace
}  // namespace pw::worker_service_testing
