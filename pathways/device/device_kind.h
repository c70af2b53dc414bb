// DeviceKind: the kinds of device a host can serve, and the one place their names are parsed.
#ifndef PATHWAYS_DEVICE_DEVICE_KIND_H_
#define PATHWAYS_DEVICE_DEVICE_KIND_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace pw {

enum class DeviceKind {
  kCpu,  // CpuDevice: kernels run on this machine's cores
  kSim,  // SimDevice: a simulated accelerator whose kernels take modelled time
};

// "cpu", "sim": what flags, options and Device::kind() say.
constexpr std::string_view DeviceKindName(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kCpu:
      return "cpu";
    case DeviceKind::kSim:
      return "sim";
  }
  return "unknown";
}

// INVALID_ARGUMENT naming the value and the known kinds for anything but "cpu" or "sim".
inline absl::StatusOr<DeviceKind> ParseDeviceKind(std::string_view name) {
  for (DeviceKind kind : {DeviceKind::kCpu, DeviceKind::kSim}) {
    if (name == DeviceKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device kind '", std::string(name), "' (known: cpu, sim)"));
}

}  // namespace pw

#endif  // PATHWAYS_DEVICE_DEVICE_KIND_H_
