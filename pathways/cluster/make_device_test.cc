// Devices by kind: the kind names parsed in one place, and what MakeDevice builds for each.
#include "pathways/cluster/make_device.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/device/device_kind.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

TEST(DeviceKindTest, ParsesCpuAndSimOnlyAndNamesTheRejectedValue) {
  EXPECT_THAT(ParseDeviceKind("cpu"), IsOkAndHolds(DeviceKind::kCpu));
  EXPECT_THAT(ParseDeviceKind("sim"), IsOkAndHolds(DeviceKind::kSim));
  EXPECT_THAT(ParseDeviceKind("tpu"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'tpu' (known: cpu, sim)")));
  EXPECT_THAT(ParseDeviceKind(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(DeviceKindName(DeviceKind::kSim), "sim");
}

TEST(MakeDeviceTest, MakesEachKindWithTheGivenIdentityAndMemory) {
  SimDeviceOptions sim;
  sim.id = DeviceId(99);  // replaced by the arguments
  sim.memory_capacity_bytes = 1;
  sim.model.kernel_nanos = 1'000;
  for (DeviceKind kind : {DeviceKind::kCpu, DeviceKind::kSim}) {
    std::unique_ptr<Device> d = MakeDevice(kind, DeviceId(3), HostId(2), int64_t{4} << 20, nullptr, sim);
    ASSERT_NE(d, nullptr) << DeviceKindName(kind);
    EXPECT_EQ(d->kind(), DeviceKindName(kind));
    EXPECT_EQ(d->id(), DeviceId(3));
    EXPECT_EQ(d->host(), HostId(2));
    EXPECT_EQ(d->memory().capacity(), int64_t{4} << 20) << DeviceKindName(kind);
  }
  auto sim_device = MakeDevice(DeviceKind::kSim, DeviceId(1), HostId(0), 1 << 20, nullptr, sim);
  EXPECT_EQ(static_cast<SimDevice*>(sim_device.get())->options().model.kernel_nanos, 1'000);
}

}  // namespace
}  // namespace pw
