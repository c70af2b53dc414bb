#include "pathways/dashboard/cluster_sampler.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/dashboard/fake_dashboard_source.h"

namespace pw {
namespace {

ClusterSamplerOptions NoBackground(int64_t history = 300) {
  return {.interval = absl::Hours(1), .history = history, .max_age = absl::Hours(1)};
}

TEST(ClusterSamplerTest, UtilizationIsBusyTimeOverWallTimeBetweenSamples) {
  FakeDashboardSource source;
  ClusterSampler sampler(&source, NoBackground());
  EXPECT_EQ(sampler.Latest(), nullptr);
  std::shared_ptr<const ClusterSnapshot> first = sampler.Sample();
  EXPECT_TRUE(first->utilization.at(DeviceId(0)).empty());  // one sample: no interval yet
  source.SetBusyNanos(1);
  std::shared_ptr<const ClusterSnapshot> second = sampler.Sample();
  const auto& points = second->utilization.at(DeviceId(0));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_GT(points[0].utilization, 0.0);
  EXPECT_LE(points[0].utilization, 1.0);
  EXPECT_EQ(points[0].at, second->taken);
  EXPECT_EQ(second->status.hosts.size(), 2u);
  EXPECT_EQ(second->lost_hosts.size(), 1u);
  EXPECT_EQ(second->running.size(), 1u);
  EXPECT_EQ(sampler.Latest(), second);
}

TEST(ClusterSamplerTest, HistoryIsBoundedAndALeavingDeviceDropsIt) {
  FakeDashboardSource source;
  ClusterSampler sampler(&source, NoBackground(/*history=*/3));
  for (int i = 0; i < 10; ++i) sampler.Sample();
  std::shared_ptr<const ClusterSnapshot> s = sampler.Sample();
  EXPECT_EQ(s->utilization.at(DeviceId(3)).size(), 3u);
  source.DropHost1();
  s = sampler.Sample();
  EXPECT_FALSE(s->utilization.contains(DeviceId(3)));
  EXPECT_EQ(s->utilization.at(DeviceId(0)).size(), 3u);
}

TEST(ClusterSamplerTest, FreshReusesAYoungSnapshot) {
  FakeDashboardSource source;
  ClusterSampler sampler(&source, NoBackground());
  std::shared_ptr<const ClusterSnapshot> s = sampler.Fresh();
  EXPECT_EQ(source.status_calls, 1);
  EXPECT_EQ(sampler.Fresh(), s);
  EXPECT_EQ(source.status_calls, 1);
  ClusterSampler always(&source, {.interval = absl::Hours(1), .max_age = absl::ZeroDuration()});
  always.Fresh();
  always.Fresh();
  EXPECT_EQ(source.status_calls, 3);
}

}  // namespace
}  // namespace pw
