// Devices by kind name: the kinds known, and what MakeDevice builds for each.
#include "pathways/device/device_kinds.h"

#include "gtest/gtest.h"

namespace pw {
namespace {

TEST(DeviceKindsTest, KnowsCpuAndSimOnly) {
  EXPECT_TRUE(IsDeviceKind("cpu"));
  EXPECT_TRUE(IsDeviceKind("sim"));
  EXPECT_FALSE(IsDeviceKind("tpu"));
  EXPECT_FALSE(IsDeviceKind(""));
}

TEST(DeviceKindsTest, MakesEachKindWithTheGivenIdentityAndMemory) {
  SimDeviceOptions sim;
  sim.id = DeviceId(99);  // replaced by the arguments
  sim.memory_capacity_bytes = 1;
  sim.model.kernel_nanos = 1'000;
  for (const char* kind : {"cpu", "sim"}) {
    std::unique_ptr<Device> d = MakeDevice(kind, DeviceId(3), HostId(2), int64_t{4} << 20, nullptr, sim);
    ASSERT_NE(d, nullptr) << kind;
    EXPECT_EQ(d->kind(), kind);
    EXPECT_EQ(d->id(), DeviceId(3));
    EXPECT_EQ(d->host(), HostId(2));
    EXPECT_EQ(d->memory().capacity(), int64_t{4} << 20) << kind;
  }
  auto sim_device = MakeDevice("sim", DeviceId(1), HostId(0), 1 << 20, nullptr, sim);
  EXPECT_EQ(static_cast<SimDevice*>(sim_device.get())->options().model.kernel_nanos, 1'000);
}

}  // namespace
}  // namespace pw
