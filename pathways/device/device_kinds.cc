// Devices by kind name.
#include "pathways/device/device_kinds.h"

#include <utility>

#include "pathways/base/logging.h"
#include "pathways/device/cpu_device.h"

namespace pw {

bool IsDeviceKind(std::string_view kind) { return kind == "cpu" || kind == "sim"; }

std::unique_ptr<Device> MakeDevice(std::string_view kind, DeviceId id, HostId host,
                                   int64_t memory_capacity_bytes, TraceRecorder* trace,
                                   const SimDeviceOptions& sim) {
  PW_CHECK(IsDeviceKind(kind)) << "MakeDevice: unknown device kind '" << kind << "'";
  if (kind == "sim") {
    SimDeviceOptions options = sim;
    options.id = id;
    options.host = host;
    options.memory_capacity_bytes = memory_capacity_bytes;
    options.trace = trace;
    return std::make_unique<SimDevice>(std::move(options));
  }
  return std::make_unique<CpuDevice>(CpuDeviceOptions{
      .id = id, .host = host, .memory_capacity_bytes = memory_capacity_bytes, .trace = trace});
}

}  // namespace pw
