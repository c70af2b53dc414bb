// Devices by kind.
#include "pathways/cluster/make_device.h"

#include <utility>

#include "pathways/device/cpu/cpu_device.h"

namespace pw {

std::unique_ptr<Device> MakeDevice(DeviceKind kind, DeviceId id, HostId host,
                                   int64_t memory_capacity_bytes, TraceRecorder* trace,
                                   const SimDeviceOptions& sim) {
  switch (kind) {
    case DeviceKind::kSim: {
      SimDeviceOptions options = sim;
      options.id = id;
      options.host = host;
      options.memory_capacity_bytes = memory_capacity_bytes;
      options.trace = trace;
      return std::make_unique<SimDevice>(std::move(options));
    }
    case DeviceKind::kCpu:
      break;
  }
  return std::make_unique<CpuDevice>(CpuDeviceOptions{
      .id = id, .host = host, .memory_capacity_bytes = memory_capacity_bytes, .trace = trace});
}

}  // namespace pw
