// Tests of EstimateCost / CpuExecutable::cost(): flops and bytes of a small function.
#include "pathways/kernels/work_cost.h"

#include "pathways/kernels/cpu_executable.h"
#include "pathways/kernels/kernels_test_util.h"

namespace pw::testing {
namespace {

using ir::DType;

TEST(WorkCostTest, MatmulPlusElementwiseReductionAndDeadCode) {
  // [8,16] x [16,4] -> [8,4]; tanh; sum over axis 1 -> [8]. Plus a dead exp.
  ir::FunctionBuilder b("mlp");
  ir::Value x = b.Parameter(T(DType::kF32, {8, 16}));
  ir::Value w = b.Parameter(T(DType::kF32, {16, 4}));
  b.Exp(x);  // unused: not counted
  ir::Value y = b.Tanh(b.Dot(x, w));
  ir::Value s = b.Reduce(y, {1}, ir::ReduceKind::kSum);
  auto f = b.Build({s});
  ASSERT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  const WorkCost& c = (*exe)->cost();
  // dot 2*M*N*K = 2*8*4*16 = 1024; tanh 32; reduce 32 input elements.
  EXPECT_DOUBLE_EQ(c.flops, 1024 + 32 + 32);
  // dot: (128 + 64 + 32) * 4; tanh: (32 + 32) * 4; reduce: (32 + 8) * 4.
  EXPECT_DOUBLE_EQ(c.bytes_accessed, (224 + 64 + 40) * 4);
  EXPECT_DOUBLE_EQ(c.collective_bytes, 0);
  EXPECT_EQ(c.collective_participants, 0);
  EXPECT_DOUBLE_EQ(EstimateCost(*f).flops, c.flops);
}

TEST(WorkCostTest, DynamicSlicingMovesBytesAndTopKComparesEveryElement) {
  ir::FunctionBuilder b("index");
  ir::Value x = b.Parameter(T(DType::kF32, {8, 16}));
  ir::Value i = b.ConstantScalar<int32_t>(2);
  ir::Value block = b.DynamicSlice(x, {i, i}, {2, 16});            // 128 bytes
  ir::Value updated = b.DynamicUpdateSlice(x, block, {i, i});      // 512 + 128 + 8 in, 512 out
  auto f = b.Build({b.TopKIndices(updated, 4)});                   // 128 compared, 512 + 128
  ASSERT_TRUE(f.ok()) << f.status();
  const WorkCost c = EstimateCost(*f);
  EXPECT_DOUBLE_EQ(c.flops, 128);
  EXPECT_DOUBLE_EQ(c.bytes_accessed, (2 * 128 + 8) + (512 + 128 + 8 + 512) + (512 + 128));
}

TEST(WorkCostTest, AllReduceReportsRingBytesAndParticipants) {
  ir::FunctionBuilder b("ar", ir::FunctionOptions{.num_shards = 4});
  ir::Value x = b.Parameter(T(DType::kF32, {1024}));
  auto f = b.Build({b.AllReduce(x, ir::ReduceKind::kSum)});
  ASSERT_TRUE(f.ok()) << f.status();
  const WorkCost c = EstimateCost(*f);
  EXPECT_DOUBLE_EQ(c.collective_bytes, 2.0 * 4096 * 3 / 4);
  EXPECT_EQ(c.collective_participants, 4);
  EXPECT_DOUBLE_EQ(c.bytes_accessed, 2 * 4096);
}

TEST(WorkCostTest, CollectivesAreListedByKindAndGroupSize) {
  ir::FunctionBuilder b("mixed", ir::FunctionOptions{.num_shards = 8});
  ir::Value x = b.Parameter(T(DType::kF32, {1024}));  // 4096 bytes per shard
  // Two all-reduces over groups of 2 (a mesh axis), one over all 8 shards.
  ir::ShardGroups pairs = {{0, 1}, {2, 3}, {4, 5}, {6, 7}};
  ir::Value a = b.AllReduce(x, ir::ReduceKind::kSum, pairs);
  ir::Value c2 = b.AllReduce(a, ir::ReduceKind::kSum, pairs);
  auto f = b.Build({b.AllReduce(c2, ir::ReduceKind::kSum)});
  ASSERT_TRUE(f.ok()) << f.status();
  const WorkCost c = EstimateCost(*f);
  ASSERT_EQ(c.collectives.size(), 2u);
  EXPECT_EQ(c.collectives[0].kind, CollectiveKind::kAllReduce);
  EXPECT_EQ(c.collectives[0].participants, 2);
  EXPECT_EQ(c.collectives[0].count, 2);
  EXPECT_DOUBLE_EQ(c.collectives[0].bytes, 8192);
  EXPECT_EQ(c.collectives[1].participants, 8);
  EXPECT_EQ(c.collectives[1].count, 1);
  EXPECT_DOUBLE_EQ(c.collectives[1].bytes, 4096);
  // Ring bytes per shard: the pairs move 1/2 of the buffer twice each, the gang 7/8 twice.
  EXPECT_DOUBLE_EQ(c.collective_bytes, 2 * (2.0 * 4096 / 2) + 2.0 * 4096 * 7 / 8);
  EXPECT_EQ(c.collective_participants, 8);
}

TEST(WorkCostTest, ScatterAddCountsOneAdditionPerUpdate) {
  ir::FunctionBuilder b("embedding_grad");
  ir::Value table = b.Parameter(T(DType::kF32, {100, 8}));
  ir::Value ids = b.Parameter(T(DType::kI32, {5}));
  ir::Value rows = b.Parameter(T(DType::kF32, {5, 8}));
  auto f = b.Build({b.ScatterAdd(table, ids, rows, 0)});
  ASSERT_TRUE(f.ok()) << f.status();
  const WorkCost c = EstimateCost(*f);
  EXPECT_DOUBLE_EQ(c.flops, 40);
  // operand, indices and updates in; the result out.
  EXPECT_DOUBLE_EQ(c.bytes_accessed, (800 + 5 + 40 + 800) * 4);
}

TEST(WorkCostTest, AddsUp) {
  WorkCost a{.flops = 1, .bytes_accessed = 2, .collective_bytes = 3, .collective_participants = 4};
  a += WorkCost{.flops = 10, .bytes_accessed = 20, .collective_bytes = 30, .collective_participants = 2};
  EXPECT_DOUBLE_EQ(a.flops, 11);
  EXPECT_DOUBLE_EQ(a.bytes_accessed, 22);
  EXPECT_DOUBLE_EQ(a.collective_bytes, 33);
  EXPECT_EQ(a.collective_participants, 4);
  EXPECT_THAT(a.DebugString(), ::testing::HasSubstr("11 flops"));
}

}  // namespace
}  // namespace pw::testing
