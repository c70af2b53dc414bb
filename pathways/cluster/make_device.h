// MakeDevice: a host's device of a given kind.
#ifndef PATHWAYS_CLUSTER_MAKE_DEVICE_H_
#define PATHWAYS_CLUSTER_MAKE_DEVICE_H_

#include <cstdint>
#include <memory>

#include "pathways/base/ids.h"
#include "pathways/base/trace.h"
#include "pathways/device/device.h"
#include "pathways/device/device_kind.h"
#include "pathways/device/sim/sim_device.h"

namespace pw {

// A new device of `kind`. A kSim device takes `sim` with its id, host, memory and trace fields
// replaced by the arguments.
std::unique_ptr<Device> MakeDevice(DeviceKind kind, DeviceId id, HostId host,
                                   int64_t memory_capacity_bytes, TraceRecorder* trace,
                                   const SimDeviceOptions& sim);

}  // namespace pw

#endif  // PATHWAYS_CLUSTER_MAKE_DEVICE_H_
