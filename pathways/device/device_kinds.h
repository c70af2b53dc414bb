// The kinds of device a host can serve, and making one by kind name.
#ifndef PATHWAYS_DEVICE_DEVICE_KINDS_H_
#define PATHWAYS_DEVICE_DEVICE_KINDS_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "pathways/base/ids.h"
#include "pathways/base/trace.h"
#include "pathways/device/device.h"
#include "pathways/device/sim_device.h"

namespace pw {

// "cpu": CpuDevice, kernels run on this machine's cores. "sim": SimDevice, a simulated
// accelerator whose kernels take modelled time.
bool IsDeviceKind(std::string_view kind);

// A new device of `kind` (which must satisfy IsDeviceKind). A "sim" device takes `sim` with
// its id, host, memory and trace fields replaced by the arguments.
std::unique_ptr<Device> MakeDevice(std::string_view kind, DeviceId id, HostId host,
                                   int64_t memory_capacity_bytes, TraceRecorder* trace,
                                   const SimDeviceOptions& sim);

}  // namespace pw

#endif  // PATHWAYS_DEVICE_DEVICE_KINDS_H_
