// Tests of layouts (sharding.h), block copies (box_copy.h), reshard plans (reshard_plan.h) and
// the resharding transfers lowering builds from them.
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/dataflow/box_copy.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/dataflow/lowering_test_util.h"
#include "pathways/dataflow/reshard_plan.h"
#include "pathways/dataflow/sharding.h"

namespace pw {
namespace {

using ::pw::testing::Call;
using ::pw::testing::F32;
using ::pw::testing::Input;
using ::pw::testing::IsInvalidWith;
using ::pw::testing::Out;
using ::pw::testing::TestCluster;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Dims = std::vector<int64_t>;

TEST(ShardingTest, GlobalAndShardShapesOfEachLayout) {
  const Dims mesh = {2, 3};
  EXPECT_EQ(GlobalShape(ir::Shape({4}), Sharding::Stacked(), mesh), ir::Shape({6, 4}));
  EXPECT_EQ(GlobalShape(ir::Shape({4, 5}), Sharding::Replicated(), mesh), ir::Shape({4, 5}));
  EXPECT_EQ(GlobalShape(ir::Shape({4, 5}), Sharding::Split(1, {1}), mesh), ir::Shape({4, 15}));
  EXPECT_EQ(GlobalShape(ir::Shape({4, 5}), Sharding::Split(0, {0, 1}), mesh), ir::Shape({24, 5}));
  EXPECT_EQ(*ShardShape(ir::Shape({24, 5}), Sharding::Split(0, {1, 0}), mesh), ir::Shape({4, 5}));
  EXPECT_EQ(*ShardShape(ir::Shape({6, 4}), Sharding::Stacked(), mesh), ir::Shape({4}));
  EXPECT_THAT(ShardShape(ir::Shape({5, 4}), Sharding::Split(0, {0}), mesh).status().message(),
              HasSubstr("does not divide"));
  EXPECT_THAT(ShardShape(ir::Shape({5, 4}), Sharding::Stacked(), mesh).status().message(),
              HasSubstr("leading dimension equal to the 6 devices"));
}

TEST(ShardingTest, InvalidShardingsAreNamed) {
  const Dims mesh = {2, 2};
  EXPECT_THAT(ValidateSharding(Sharding::Split(0, {2}), 1, mesh).message(), HasSubstr("mesh axis 2"));
  EXPECT_THAT(ValidateSharding(Sharding{Sharding::Kind::kPartitioned, {{0}, {0}}}, 2, mesh).message(),
              HasSubstr("names mesh axis 0 twice"));
  EXPECT_THAT(ValidateSharding(Sharding::Split(2, {0}), 1, mesh).message(),
              HasSubstr("names 3 dimensions of an array of rank 1"));
  EXPECT_TRUE(ValidateSharding(Sharding::Split(1, {1, 0}), 2, mesh).ok());
  EXPECT_EQ(Sharding::Split(1, {1, 0}).DebugString(), "split(1:[1,0])");
}

TEST(ShardingTest, ShardBoxesFollowTheMeshRowMajor) {
  const Dims mesh = {2, 2};
  // Rows over axis 1, replicated over axis 0: shards 0 and 2 hold rows [0, 2), 1 and 3 [2, 4).
  const Sharding rows = Sharding::Split(0, {1});
  EXPECT_THAT(ShardBox(ir::Shape({2, 3}), rows, mesh, 1).offset, ElementsAre(2, 0));
  EXPECT_THAT(ShardBox(ir::Shape({2, 3}), rows, mesh, 2).offset, ElementsAre(0, 0));
  // Stacked: a leading 1 per shard.
  const Box stacked = ShardBox(ir::Shape({3}), Sharding::Stacked(), mesh, 3);
  EXPECT_THAT(stacked.offset, ElementsAre(3, 0));
  EXPECT_THAT(stacked.extent, ElementsAre(1, 3));
}

TEST(BoxCopyTest, CopiesABlockBetweenArraysOfOtherShapes) {
  // src 3x4 = 0..11; copy its [1:3, 1:3] block to (0, 2) of a 2x5 destination.
  std::vector<float> src(12);
  for (int i = 0; i < 12; ++i) src[i] = static_cast<float>(i);
  std::vector<float> dst(10, -1);
  const Dims sd = {3, 4}, so = {1, 1}, dd = {2, 5}, dof = {0, 2}, ext = {2, 2};
  ASSERT_TRUE(CopyBox(BoxCopy{sd, so, dd, dof, ext}, 4, src.data(), dst.data()).ok());
  EXPECT_THAT(dst, ElementsAre(-1, -1, 5, 6, -1, -1, -1, 9, 10, -1));
  // Whole rows move as one run.
  std::vector<float> rows(8, 0);
  const Dims rd = {2, 4}, zero = {0, 0}, two_rows = {2, 4}, from_row1 = {1, 0};
  ASSERT_TRUE(CopyBox(BoxCopy{sd, from_row1, rd, zero, two_rows}, 4, src.data(), rows.data()).ok());
  EXPECT_THAT(rows, ElementsAre(4, 5, 6, 7, 8, 9, 10, 11));
  const Dims too_far = {1, 3};
  EXPECT_THAT(CheckBoxCopy(BoxCopy{sd, too_far, dd, dof, ext}).message(),
              HasSubstr("out of bounds in dimension 1"));
  EXPECT_EQ(ElementsOf(Dims{3, 4}), 12);
  EXPECT_EQ(ElementsOf(Dims{int64_t{1} << 40, int64_t{1} << 40}), -1);  // no overflow
  EXPECT_EQ(ElementsOf(Dims{2, -1}), -1);
  EXPECT_EQ(ElementsOf(Dims{0, int64_t{1} << 62}), 0);
  const Dims rank1 = {4};
  EXPECT_THAT(CheckBoxCopy(BoxCopy{rank1, so, dd, dof, ext}).message(), HasSubstr("ranks differ"));
}

TEST(ReshardPlanTest, HoldersAreLocalFirstAndPiecesCoverEachShard) {
  const std::vector<DeviceId> four = {DeviceId(0), DeviceId(1), DeviceId(2), DeviceId(3)};
  const std::vector<HostId> hosts = {HostId(0), HostId(0), HostId(1), HostId(1)};
  const Dims mesh4 = {4};
  // Replicated f32[8] on 4 devices -> rows over 2 devices {3, 1}: each reads its own replica.
  const std::vector<DeviceId> two = {DeviceId(3), DeviceId(1)};
  const std::vector<HostId> two_hosts = {HostId(1), HostId(0)};
  const Dims mesh2 = {2};
  const ShardLayout from{ir::Shape({8}), Sharding::Replicated(), four, hosts, mesh4};
  const ShardLayout to{ir::Shape({4}), Sharding::Split(0, {0}), two, two_hosts, mesh2};
  auto plan = PlanReshard(from, to);
  ASSERT_EQ(plan.size(), 2u);
  ASSERT_EQ(plan[0].size(), 1u);
  EXPECT_EQ(plan[0][0].holder, 3);  // the destination's own device
  EXPECT_THAT(plan[0][0].src_offset, ElementsAre(0));
  EXPECT_FALSE(plan[0][0].whole_src);
  EXPECT_TRUE(plan[0][0].whole_dst);
  EXPECT_EQ(plan[1][0].holder, 1);
  EXPECT_THAT(plan[1][0].src_offset, ElementsAre(4));
  // Rows over 4 -> replicated on one device: four whole pieces in order.
  const std::vector<DeviceId> one = {DeviceId(2)};
  const std::vector<HostId> one_host = {HostId(1)};
  const Dims mesh1 = {1};
  plan = PlanReshard(ShardLayout{ir::Shape({2}), Sharding::Split(0, {0}), four, hosts, mesh4},
                     ShardLayout{ir::Shape({8}), Sharding::Replicated(), one, one_host, mesh1});
  ASSERT_EQ(plan[0].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(plan[0][i].holder, i);
    EXPECT_TRUE(plan[0][i].whole_src);
    EXPECT_THAT(plan[0][i].dst_offset, ElementsAre(2 * i));
  }
}

class ReshardLoweringTest : public ::testing::Test {
 protected:
  ReshardLoweringTest() {
    cluster_.AddHosts(0, 2, 2);  // host 0: devices 0, 1; host 1: devices 2, 3
    s01_ = cluster_.AddSlice({0, 1});
    s2_ = cluster_.AddSlice({2});
    f_ = cluster_.AddFunction("f", 1, {F32({8})}, {F32({8})});
  }
  TestCluster cluster_;
  SliceId s01_, s2_;
  FunctionId f_;
};

// Rows of f32[8] on host 0's two devices, read replicated on host 1: each row block is pushed
// whole into a piece on device 2, and one assembly writes both into place.
TEST_F(ReshardLoweringTest, SplitToReplicatedOnAnotherHostPushesPiecesAndAssembles) {
  ProgramCall call = Call("f", f_, s2_, {Input(0)});
  call.arg_shardings = {Sharding::Replicated()};
  ProgramDef program{"p", {ArraySpec{F32({4}), s01_, Sharding::Split(0, {0})}}, {call}, {Out(0)}};
  auto lowered = LowerProgram(program, cluster_.context);
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  const LoweredHostProgram& h0 = *(*lowered)->hosts.at(HostId(0));
  const LoweredHostProgram& h1 = *(*lowered)->hosts.at(HostId(1));
  ASSERT_EQ(h0.steps.size(), 2u);
  for (const HostStep& s : h0.steps) EXPECT_EQ(s.kind, StepKind::kSend);
  EXPECT_EQ(h0.steps[1].shard, 1);
  EXPECT_EQ(h0.steps[1].dst_shard(), 0);  // into a one-shard piece
  std::vector<StepKind> kinds;
  for (const HostStep& s : h1.steps) kinds.push_back(s.kind);
  EXPECT_THAT(kinds, ElementsAre(StepKind::kRecv, StepKind::kRecv, StepKind::kAssemble,
                                 StepKind::kCompute));
  const HostStep& assemble = h1.steps[2];
  ASSERT_EQ(assemble.regions.size(), 2u);
  EXPECT_THAT(assemble.regions[1].dst_offset, ElementsAre(4));
  EXPECT_THAT(assemble.regions[1].dst_dims, ElementsAre(8));
  // The pieces are temporaries of host 1; the moved value is read by the call.
  EXPECT_EQ(h1.temporaries.size(), 3u);
}

TEST_F(ReshardLoweringTest, GlobalShapeMismatchNamesBothLayouts) {
  ProgramCall call = Call("f", f_, s2_, {Input(0)});
  call.arg_shardings = {Sharding::Replicated()};
  ProgramDef program{"p", {ArraySpec{F32({3}), s01_, Sharding::Split(0, {0})}}, {call}, {Out(0)}};
  EXPECT_TRUE(IsInvalidWith(LowerProgram(program, cluster_.context).status(),
                            {"call 'f' (#0) argument 0", "global shape mismatch",
                             "expected f32[8] (f32[8] per shard, replicated over mesh [1])",
                             "got f32[6] (f32[3] per shard, split(0:[0]) over mesh [2])",
                             "program input 0"}));
  program.calls[0].arg_shardings = {Sharding::Split(0, {1})};
  EXPECT_TRUE(IsInvalidWith(LowerProgram(program, cluster_.context).status(),
                            {"call 'f' (#0) argument 0", "mesh axis 1"}));
}

// A program of no calls returning its input placed elsewhere is a pure reshard, in a stage of
// its own for sequential dispatch.
TEST_F(ReshardLoweringTest, OutputPlacementsMoveOutputsInALastStage) {
  ProgramDef program{"move", {ArraySpec{F32({4}), s01_, Sharding::Split(0, {0})}}, {}, {Input(0)}};
  program.output_placements = {OutputPlacement{s2_, Sharding::Replicated()}};
  auto lowered = LowerProgram(program, cluster_.context);
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  ASSERT_EQ((*lowered)->stages.size(), 1u);
  const int32_t out = (*lowered)->output_values[0];
  EXPECT_EQ((*lowered)->values[out].shard_type, F32({8}));
  EXPECT_EQ((*lowered)->values[out].devices, std::vector<DeviceId>{DeviceId(2)});
  program.output_placements = {OutputPlacement{s2_, Sharding::Split(0, {0}) }};
  program.inputs[0].shard_type = F32({3});
  EXPECT_TRUE(LowerProgram(program, cluster_.context).ok());
  program.output_placements = {OutputPlacement{s01_, Sharding::Split(0, {0})}};
  program.inputs[0] = ArraySpec{F32({3}), s2_, Sharding::Replicated()};
  EXPECT_TRUE(IsInvalidWith(LowerProgram(program, cluster_.context).status(),
                            {"output 0", "cannot place program input 0", "does not divide"}));
}

}  // namespace
}  // namespace pw
