// Tests for the load-spreading placement policy on its own.
#include "pathways/controller/placement.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pw {
namespace {

using ::testing::ElementsAre;

// Candidates at the given positions with the given loads; device ids are 100 + position.
std::vector<PlacementCandidate> Island(std::vector<int64_t> positions, std::vector<int64_t> loads) {
  std::vector<PlacementCandidate> out;
  for (size_t i = 0; i < positions.size(); ++i) {
    out.push_back({DeviceId(100 + positions[i]), positions[i], loads[i]});
  }
  return out;
}

// Devices 1 (host 0), 2 and 3 (host 1), 4 (host 2) for a mesh with rows of 2: host 1's pair
// becomes a row, the two stragglers share the other.
TEST(PlacementTest, MeshRowsStayOnOneHostWhereTheyCan) {
  auto host_of = [](DeviceId d) { return HostId(d.value() < 2 ? 0 : d.value() < 4 ? 1 : 2); };
  const std::vector<DeviceId> devices = {DeviceId(1), DeviceId(2), DeviceId(3), DeviceId(4)};
  EXPECT_EQ(OrderForMesh(devices, 2, host_of),
            (std::vector<DeviceId>{DeviceId(2), DeviceId(3), DeviceId(1), DeviceId(4)}));
  EXPECT_EQ(OrderForMesh(devices, 1, host_of), devices);
  EXPECT_EQ(OrderForMesh(devices, 3, host_of), devices);  // rows do not divide the slice
}

TEST(PlacementTest, LeastLoadedRunWins) {
  auto island = Island({0, 1, 2, 3, 4, 5}, {1, 1, 0, 0, 1, 1});
  auto placement = PlaceInIsland(island, 2, ContiguityPolicy::kPreferContiguous);
  ASSERT_TRUE(placement.has_value());
  EXPECT_THAT(placement->devices, ElementsAre(DeviceId(102), DeviceId(103)));
  EXPECT_EQ(placement->max_load, 0);
  EXPECT_TRUE(placement->contiguous);
}

TEST(PlacementTest, PreferContiguousGivesWayToLowerLoad) {
  auto island = Island({0, 1, 2, 3, 4}, {0, 1, 0, 1, 0});
  auto prefer = PlaceInIsland(island, 3, ContiguityPolicy::kPreferContiguous);
  ASSERT_TRUE(prefer.has_value());
  EXPECT_THAT(prefer->devices, ElementsAre(DeviceId(100), DeviceId(102), DeviceId(104)));
  EXPECT_EQ(prefer->max_load, 0);
  EXPECT_FALSE(prefer->contiguous);

  auto require = PlaceInIsland(island, 3, ContiguityPolicy::kRequireContiguous);
  ASSERT_TRUE(require.has_value());
  // Windows [0,1,0] and [0,1,0] tie on (max 1, total 1); the first one wins.
  EXPECT_THAT(require->devices, ElementsAre(DeviceId(100), DeviceId(101), DeviceId(102)));
  EXPECT_EQ(require->max_load, 1);
  EXPECT_EQ(require->total_load, 1);
}

TEST(PlacementTest, PreferContiguousPicksRunWhenLoadTies) {
  // The any-shape optimum {0,2,3} and the run {2,3,4} both have max 0, total 0.
  auto island = Island({0, 1, 2, 3, 4}, {0, 1, 0, 0, 0});
  auto any = PlaceInIsland(island, 3, ContiguityPolicy::kAny);
  ASSERT_TRUE(any.has_value());
  EXPECT_THAT(any->devices, ElementsAre(DeviceId(100), DeviceId(102), DeviceId(103)));
  auto prefer = PlaceInIsland(island, 3, ContiguityPolicy::kPreferContiguous);
  ASSERT_TRUE(prefer.has_value());
  EXPECT_THAT(prefer->devices, ElementsAre(DeviceId(102), DeviceId(103), DeviceId(104)));
  EXPECT_TRUE(prefer->contiguous);
}

TEST(PlacementTest, GapsBreakRuns) {
  auto island = Island({0, 1, 3, 4, 5}, {0, 0, 1, 1, 1});
  auto require = PlaceInIsland(island, 3, ContiguityPolicy::kRequireContiguous);
  ASSERT_TRUE(require.has_value());
  EXPECT_THAT(require->devices, ElementsAre(DeviceId(103), DeviceId(104), DeviceId(105)));
  EXPECT_FALSE(PlaceInIsland(island, 4, ContiguityPolicy::kRequireContiguous).has_value());
  auto prefer = PlaceInIsland(island, 4, ContiguityPolicy::kPreferContiguous);
  ASSERT_TRUE(prefer.has_value());
  EXPECT_FALSE(prefer->contiguous);
  EXPECT_EQ(prefer->devices.size(), 4u);
}

TEST(PlacementTest, TooFewCandidates) {
  auto island = Island({0, 1}, {0, 0});
  EXPECT_FALSE(PlaceInIsland(island, 3, ContiguityPolicy::kAny).has_value());
  EXPECT_FALSE(PlaceInIsland(island, 0, ContiguityPolicy::kAny).has_value());
}

TEST(PlacementTest, BetterThanOrdersMaxThenTotalThenContiguity) {
  Placement a{{}, 1, 5, false};
  Placement b{{}, 2, 2, true};
  Placement c{{}, 1, 4, false};
  Placement d{{}, 1, 4, true};
  EXPECT_TRUE(a.BetterThan(b));
  EXPECT_TRUE(c.BetterThan(a));
  EXPECT_TRUE(d.BetterThan(c));
  EXPECT_FALSE(c.BetterThan(d));
  EXPECT_FALSE(d.BetterThan(d));
}

TEST(PlacementTest, PickLeastLoadedBreaksTiesByPosition) {
  auto island = Island({0, 1, 2, 3}, {2, 0, 1, 0});
  EXPECT_THAT(PickLeastLoaded(island, 3), ElementsAre(DeviceId(101), DeviceId(103), DeviceId(102)));
  EXPECT_EQ(PickLeastLoaded(island, 9).size(), 4u);
}

}  // namespace
}  // namespace pw
