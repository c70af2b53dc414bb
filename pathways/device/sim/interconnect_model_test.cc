// InterconnectModel: each formula against values worked out by hand.
#include "pathways/device/sim/interconnect_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pw {
namespace {

using ::testing::HasSubstr;

// 1 us per step and 1 byte per nanosecond inside the island; 10 us and 0.1 byte/ns between.
InterconnectModel Simple(CollectiveAlgorithm algorithm = CollectiveAlgorithm::kRing) {
  InterconnectModel m;
  m.ici = {.latency_nanos = 1'000, .bytes_per_second = 1e9};
  m.dcn = {.latency_nanos = 10'000, .bytes_per_second = 1e8};
  m.algorithm = algorithm;
  return m;
}

TEST(InterconnectModelTest, TransfersPayLatencyPlusBytesOverBandwidth) {
  const InterconnectModel m = Simple();
  EXPECT_EQ(m.TransferNanos(1'000, /*cross_island=*/false), 2'000);    // 1 us + 1000 ns
  EXPECT_EQ(m.TransferNanos(1'000, /*cross_island=*/true), 20'000);    // 10 us + 10 us
  EXPECT_EQ(m.TransferLatencyNanos(true), 10'000);
  EXPECT_EQ(m.TransferOccupancyNanos(1'000, true), 10'000);
  InterconnectModel ici_only = m;
  ici_only.dcn = {};
  EXPECT_EQ(ici_only.TransferNanos(1'000, true), 2'000);  // no DCN figures: as inside
  EXPECT_EQ(InterconnectModel{}.TransferNanos(1 << 20, true), 0);  // nothing modelled
}

TEST(InterconnectModelTest, RingCollectives) {
  const InterconnectModel m = Simple();
  // all_reduce, n = 4, 4000 bytes: 2 * 3 steps of (1000 ns + 1000 bytes) = 12 us.
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kAllReduce, 4'000, 4), 12'000);
  // all_gather / reduce_scatter / all_to_all, n = 4, 4000 bytes: 3 steps of 2 us.
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kAllGather, 4'000, 4), 6'000);
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kReduceScatter, 4'000, 4), 6'000);
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kAllToAll, 4'000, 4), 6'000);
  // permute: one message of 3000 bytes.
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kPermute, 3'000, 4), 4'000);
  // Two all-reduces of 4000 bytes each (8000 in total): twice one.
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kAllReduce, 8'000, 4, 2), 24'000);
  // One participant, or none: free.
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kAllReduce, 4'000, 1), 0);
}

TEST(InterconnectModelTest, TreeCollectives) {
  const InterconnectModel m = Simple(CollectiveAlgorithm::kTree);
  // all_reduce, n = 4: 2 * log2(4) = 4 steps of (1 us + 4000 bytes) = 20 us.
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kAllReduce, 4'000, 4), 20'000);
  // all_gather, n = 5: ceil(log2 5) = 3 latencies + 4/5 of 5000 bytes = 3000 + 4000.
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kAllGather, 5'000, 5), 7'000);
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kReduceScatter, 5'000, 5), 7'000);
  // all_to_all, n = 8: 3 steps of (1 us + 8000 / 2 bytes) = 15 us.
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kAllToAll, 8'000, 8), 15'000);
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kPermute, 3'000, 8), 4'000);
}

TEST(InterconnectModelTest, SumsAKernelsCollectives) {
  const InterconnectModel m = Simple();
  WorkCost cost;
  cost.collectives = {{CollectiveKind::kAllReduce, 4, 1, 4'000},
                      {CollectiveKind::kAllGather, 4, 1, 4'000}};
  EXPECT_EQ(m.CollectivesNanos(cost), 18'000);
}

TEST(InterconnectModelTest, TpuV4ClassDefaultsAreThePublishedOnes) {
  const InterconnectModel m = InterconnectModel::TpuV4Class();
  EXPECT_TRUE(m.Validate().ok());
  EXPECT_DOUBLE_EQ(m.ici.bytes_per_second, 100e9);
  EXPECT_EQ(m.ici.latency_nanos, 1'000);
  EXPECT_DOUBLE_EQ(m.dcn.bytes_per_second, 12.5e9);
  EXPECT_EQ(m.dcn.latency_nanos, 10'000);
  // A 1 GB all-reduce over 128 devices on the ring: 254 steps of (1 us + 1e9/128 bytes at
  // 100 GB/s = 78.125 us) = 254 * 79.125 us = 20.09775 ms.
  EXPECT_EQ(m.CollectiveNanos(CollectiveKind::kAllReduce, 1e9, 128), 20'097'750);
}

TEST(InterconnectModelTest, BadParametersNameTheField) {
  InterconnectModel m;
  m.ici.bytes_per_second = -1;
  EXPECT_THAT(m.Validate().message(), HasSubstr("ici.bytes_per_second"));
  m = {};
  m.dcn.latency_nanos = -5;
  EXPECT_THAT(m.Validate().message(), HasSubstr("dcn.latency_nanos"));
  m = {};
  m.dcn.bytes_per_second = 1.0 / 0.0;
  EXPECT_THAT(m.Validate().message(), HasSubstr("dcn.bytes_per_second"));
  EXPECT_TRUE(ParseCollectiveAlgorithm("tree").ok());
  EXPECT_THAT(ParseCollectiveAlgorithm("star").status().message(), HasSubstr("'star'"));
}

}  // namespace
}  // namespace pw
