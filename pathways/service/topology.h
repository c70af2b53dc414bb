// Plain descriptions of the cluster the resource manager knows: islands, hosts, devices.
//
// These are metadata only (ids, kinds, sizes, interconnect positions). The runtime maps the ids
// to live Device objects elsewhere, so the controller never touches a device.
#ifndef PATHWAYS_SERVICE_TOPOLOGY_H_
#define PATHWAYS_SERVICE_TOPOLOGY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "pathways/base/ids.h"

namespace pw {

struct DeviceInfo {
  DeviceId id;
  HostId host;
  IslandId island;
  std::string kind = "cpu";
  int64_t memory_bytes = 0;
  // Position in the island's interconnect order. Devices with consecutive positions are
  // neighbours on the fast interconnect; a removed host leaves a gap (positions are never reused),
  // which is what makes "contiguous" meaningful after hosts come and go.
  int64_t index_in_island = 0;
};

struct HostInfo {
  HostId id;
  IslandId island;
  std::string address;
  std::vector<DeviceId> devices;  // in interconnect order
};

struct IslandInfo {
  IslandId id;
  std::vector<HostId> hosts;      // in registration order
  std::vector<DeviceId> devices;  // live devices, in interconnect order
};

// What a host brings when it registers with the resource manager.
struct HostSpec {
  IslandId island;
  std::string address;  // how the controller reaches the host's executor, e.g. "127.0.0.1:7001"
  int num_devices = 0;
  std::string device_kind = "cpu";
  int64_t memory_bytes_per_device = 0;
};

// Number of live virtual devices currently mapped onto one physical device.
struct DeviceLoad {
  DeviceId device;
  int64_t load = 0;
  friend bool operator==(const DeviceLoad&, const DeviceLoad&) = default;
};

}  // namespace pw

#endif  // PATHWAYS_SERVICE_TOPOLOGY_H_
