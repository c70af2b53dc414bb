// CpuDevice runs the Device conformance suite (device_conformance.h).
#include "pathways/device/cpu/cpu_device.h"

#include <memory>
#include <string_view>

#include "pathways/device/device_conformance.h"

namespace pw {
namespace {

struct CpuDeviceFactory {
  static constexpr std::string_view kKind = "cpu";
  static std::unique_ptr<Device> Make(int64_t id, int64_t host, int64_t capacity,
                                      TraceRecorder* trace) {
    return std::make_unique<CpuDevice>(CpuDeviceOptions{
        .id = DeviceId(id), .host = HostId(host), .memory_capacity_bytes = capacity,
        .trace = trace});
  }
};

}  // namespace

namespace device_conformance {
INSTANTIATE_TYPED_TEST_SUITE_P(Cpu, DeviceConformanceTest, CpuDeviceFactory);
}  // namespace device_conformance

namespace {

}  // namespace
}  // namespace pw
