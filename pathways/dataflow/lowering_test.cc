// Tests of LowerProgram: graph shape, transfers, host parts, stages and temporaries.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/dataflow/lowering_test_util.h"

namespace pw {
namespace {

using ::pw::testing::Call;
using ::pw::testing::ExpectConsistent;
using ::pw::testing::F32;
using ::pw::testing::Input;
using ::pw::testing::Out;
using ::pw::testing::TestCluster;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const LoweredProgram> LowerOrDie(const ProgramDef& program,
                                                 const LoweringContext& context) {
  auto lowered = LowerProgram(program, context);
  EXPECT_TRUE(lowered.ok()) << lowered.status();
  if (!lowered.ok()) return nullptr;
  ExpectConsistent(**lowered);
  return *std::move(lowered);
}

int CountNodes(const LoweredProgram& lowered, NodeKind kind) {
  int count = 0;
  for (const GraphNode& node : lowered.nodes) count += node.kind == kind;
  return count;
}

struct StepSummary {
  StepKind kind;
  int32_t node;
  int32_t shard;
  int64_t device;
  friend bool operator==(const StepSummary&, const StepSummary&) = default;
  friend std::ostream& operator<<(std::ostream& os, const StepSummary& s) {
    return os << StepKindName(s.kind) << "(node " << s.node << ", shard " << s.shard
              << ", device " << s.device << ")";
  }
};

std::vector<StepSummary> Summarize(const LoweredHostProgram& part) {
  std::vector<StepSummary> out;
  for (const HostStep& step : part.steps) {
    out.push_back({step.kind, step.node, step.shard, step.device.value()});
  }
  return out;
}

// The paper's Figure 2: x = a(v); y = b(x); z = a(c(x)), every function over 2 devices.
class Figure2Test : public ::testing::Test {
 protected:
  Figure2Test() {
    cluster_.AddHosts(/*island=*/0, /*num_hosts=*/2, /*devices_per_host=*/2);
    s0_ = cluster_.AddSlice({0, 1});  // host 0
    s1_ = cluster_.AddSlice({2, 3});  // host 1
    fa_ = cluster_.AddFunction("fa", 2, {F32({4})}, {F32({4})});
    fb_ = cluster_.AddFunction("fb", 2, {F32({4})}, {F32({4})});
    fc_ = cluster_.AddFunction("fc", 2, {F32({4})}, {F32({4})});
  }

  ProgramDef Program(SliceId b_slice) const {
    ProgramDef program;
    program.name = "figure2";
    program.inputs = {ArraySpec{F32({4}), s0_}};
    program.calls = {Call("a", fa_, s0_, {Input(0)}), Call("b", fb_, b_slice, {Out(0)}),
                     Call("c", fc_, s0_, {Out(0)}), Call("a2", fa_, s0_, {Out(2)})};
    program.outputs = {Out(1), Out(3)};
    return program;
  }

  TestCluster cluster_;
  SliceId s0_, s1_;
  FunctionId fa_, fb_, fc_;
};

TEST_F(Figure2Test, SameSliceHasNoTransfers) {
  auto lowered = LowerOrDie(Program(s0_), cluster_.context);
  ASSERT_NE(lowered, nullptr);
  // Arg, a, b, c, a2, two Results: one node per call whatever the shard count.
  ASSERT_EQ(lowered->nodes.size(), 7u);
  EXPECT_EQ(CountNodes(*lowered, NodeKind::kTransfer), 0);
  EXPECT_EQ(lowered->nodes[0].kind, NodeKind::kArg);
  EXPECT_EQ(lowered->nodes[1].kind, NodeKind::kCompute);
  EXPECT_EQ(lowered->nodes[1].name, "a");
  EXPECT_EQ(lowered->nodes[1].num_shards, 2);
  EXPECT_EQ(lowered->nodes[5].kind, NodeKind::kResult);
  EXPECT_EQ(lowered->nodes[6].kind, NodeKind::kResult);
  EXPECT_THAT(lowered->nodes[1].predecessors, ElementsAre(0));
  EXPECT_THAT(lowered->nodes[2].predecessors, ElementsAre(1));
  EXPECT_THAT(lowered->nodes[4].predecessors, ElementsAre(3));
  EXPECT_THAT(lowered->nodes[6].predecessors, ElementsAre(4));

  // Slots: v, a:0, b:0, c:0, a2:0.
  ASSERT_EQ(lowered->values.size(), 5u);
  EXPECT_EQ(lowered->num_inputs, 1);
  EXPECT_TRUE(lowered->values[0].is_program_input);
  EXPECT_EQ(lowered->values[1].name, "a:0");
  EXPECT_EQ(lowered->values[2].name, "b:0");
  EXPECT_THAT(lowered->output_values, ElementsAre(2, 4));
  EXPECT_TRUE(lowered->values[2].is_program_output);
  EXPECT_FALSE(lowered->values[1].is_program_output);
  EXPECT_THAT(lowered->values[1].devices, ElementsAre(DeviceId(0), DeviceId(1)));

  ASSERT_EQ(lowered->hosts.size(), 1u);
  const LoweredHostProgram& host0 = *lowered->hosts.at(HostId(0));
  EXPECT_THAT(Summarize(host0),
              ElementsAre(StepSummary{StepKind::kCompute, 1, 0, 0},
                          StepSummary{StepKind::kCompute, 1, 1, 1},
                          StepSummary{StepKind::kCompute, 2, 0, 0},
                          StepSummary{StepKind::kCompute, 2, 1, 1},
                          StepSummary{StepKind::kCompute, 3, 0, 0},
                          StepSummary{StepKind::kCompute, 3, 1, 1},
                          StepSummary{StepKind::kCompute, 4, 0, 0},
                          StepSummary{StepKind::kCompute, 4, 1, 1}));
  EXPECT_THAT(host0.functions, ElementsAre(fa_, fb_, fc_));
  EXPECT_THAT(host0.temporaries, ElementsAre(1, 3));  // x and c's output
  const HostStep& b_shard1 = host0.steps[3];
  EXPECT_EQ(b_shard1.function, fb_);
  EXPECT_EQ(b_shard1.num_shards, 2);
  EXPECT_THAT(b_shard1.inputs, ElementsAre(1));
  EXPECT_THAT(b_shard1.outputs, ElementsAre(2));
  EXPECT_THAT(lowered->islands, ElementsAre(IslandId(0)));
}

TEST_F(Figure2Test, SliceOnAnotherHostGetsSendAndRecv) {
  auto lowered = LowerOrDie(Program(s1_), cluster_.context);
  ASSERT_NE(lowered, nullptr);
  // Arg, a, transfer a:0@b, b, c, a2, two Results.
  ASSERT_EQ(lowered->nodes.size(), 8u);
  const GraphNode& transfer = lowered->nodes[2];
  ASSERT_EQ(transfer.kind, NodeKind::kTransfer);
  EXPECT_EQ(transfer.name, "a:0@b");
  EXPECT_THAT(transfer.predecessors, ElementsAre(1));
  EXPECT_THAT(transfer.inputs, ElementsAre(1));
  ASSERT_EQ(transfer.outputs.size(), 1u);
  const int32_t moved = transfer.outputs[0];
  EXPECT_EQ(lowered->values[moved].name, "a:0@b");
  EXPECT_THAT(lowered->values[moved].devices, ElementsAre(DeviceId(2), DeviceId(3)));
  EXPECT_EQ(lowered->values[moved].shard_type, F32({4}));
  const GraphNode& b = lowered->nodes[3];
  EXPECT_EQ(b.name, "b");
  EXPECT_THAT(b.inputs, ElementsAre(moved));
  EXPECT_THAT(b.predecessors, ElementsAre(2));
  EXPECT_THAT(lowered->values[b.outputs[0]].devices, ElementsAre(DeviceId(2), DeviceId(3)));

  ASSERT_EQ(lowered->hosts.size(), 2u);
  const LoweredHostProgram& host0 = *lowered->hosts.at(HostId(0));
  const LoweredHostProgram& host1 = *lowered->hosts.at(HostId(1));
  EXPECT_THAT(Summarize(host0), ElementsAre(StepSummary{StepKind::kCompute, 1, 0, 0},
                                            StepSummary{StepKind::kCompute, 1, 1, 1},
                                            StepSummary{StepKind::kSend, 2, 0, 0},
                                            StepSummary{StepKind::kSend, 2, 1, 1},
                                            StepSummary{StepKind::kCompute, 4, 0, 0},
                                            StepSummary{StepKind::kCompute, 4, 1, 1},
                                            StepSummary{StepKind::kCompute, 5, 0, 0},
                                            StepSummary{StepKind::kCompute, 5, 1, 1}));
  EXPECT_THAT(Summarize(host1), ElementsAre(StepSummary{StepKind::kRecv, 2, 0, 2},
                                            StepSummary{StepKind::kRecv, 2, 1, 3},
                                            StepSummary{StepKind::kCompute, 3, 0, 2},
                                            StepSummary{StepKind::kCompute, 3, 1, 3}));
  const HostStep& send = host0.steps[3];
  EXPECT_EQ(send.src_value, 1);
  EXPECT_EQ(send.dst_value, moved);
  EXPECT_EQ(send.peer_host, HostId(1));
  EXPECT_EQ(send.peer_device, DeviceId(3));
  const HostStep& recv = host1.steps[1];
  EXPECT_EQ(recv.src_value, 1);
  EXPECT_EQ(recv.dst_value, moved);
  EXPECT_EQ(recv.peer_host, HostId(0));
  EXPECT_EQ(recv.peer_device, DeviceId(1));
  EXPECT_THAT(host0.functions, ElementsAre(fa_, fc_));
  EXPECT_THAT(host1.functions, ElementsAre(fb_));
  EXPECT_THAT(host0.temporaries, ElementsAre(1, 4));  // x, c's output
  EXPECT_THAT(host1.temporaries, ElementsAre(moved));

  // Stage 1 (call b): the transfer feeding b on both hosts, then b's shards.
  ASSERT_EQ(lowered->stages.size(), 4u);
  ASSERT_EQ(lowered->stages[1].size(), 2u);
  EXPECT_THAT(Summarize(*lowered->stages[1].at(HostId(0))),
              ElementsAre(StepSummary{StepKind::kSend, 2, 0, 0},
                          StepSummary{StepKind::kSend, 2, 1, 1}));
  EXPECT_THAT(Summarize(*lowered->stages[1].at(HostId(1))),
              ElementsAre(StepSummary{StepKind::kRecv, 2, 0, 2},
                          StepSummary{StepKind::kRecv, 2, 1, 3},
                          StepSummary{StepKind::kCompute, 3, 0, 2},
                          StepSummary{StepKind::kCompute, 3, 1, 3}));
  EXPECT_THAT(lowered->stages[1].at(HostId(1))->functions, ElementsAre(fb_));
  EXPECT_TRUE(lowered->stages[1].at(HostId(0))->functions.empty());
  // x is last read on host 0 by c (stage 2); the moved copy is last read by b (stage 1); c's
  // output by a2 (stage 3).
  EXPECT_TRUE(lowered->stages[0].at(HostId(0))->temporaries.empty());
  EXPECT_TRUE(lowered->stages[1].at(HostId(0))->temporaries.empty());
  EXPECT_THAT(lowered->stages[1].at(HostId(1))->temporaries, ElementsAre(moved));
  EXPECT_THAT(lowered->stages[2].at(HostId(0))->temporaries, ElementsAre(1));
  EXPECT_THAT(lowered->stages[3].at(HostId(0))->temporaries, ElementsAre(4));
  EXPECT_FALSE(lowered->stages[0].contains(HostId(1)));
}

// A -> B with N shards each is 4 nodes (Arg, A, B, Result) whatever N is.
TEST(LoweringTest, NodeCountIndependentOfShardCount) {
  for (int64_t n : {2, 16}) {
    SCOPED_TRACE(n);
    TestCluster cluster;
    cluster.AddHosts(0, 4, 4);
    std::vector<int64_t> devices;
    for (int64_t d = 0; d < n; ++d) devices.push_back(d);
    const SliceId slice = cluster.AddSlice(devices);
    const FunctionId fa = cluster.AddFunction("A", n, {F32({8})}, {F32({8})});
    const FunctionId fb = cluster.AddFunction("B", n, {F32({8})}, {F32({8})});
    ProgramDef program{"chain", {ArraySpec{F32({8}), slice}},
                       {Call("A", fa, slice, {Input(0)}), Call("B", fb, slice, {Out(0)})},
                       {Out(1)}};
    auto lowered = LowerOrDie(program, cluster.context);
    ASSERT_NE(lowered, nullptr);
    EXPECT_EQ(lowered->nodes.size(), 4u);
    EXPECT_EQ(lowered->nodes[1].num_shards, n);
    size_t steps = 0;
    for (const auto& [host, part] : lowered->hosts) steps += part->steps.size();
    EXPECT_EQ(steps, static_cast<size_t>(2 * n));
    EXPECT_EQ(lowered->hosts.size(), static_cast<size_t>((n + 3) / 4));
  }
}

TEST(LoweringTest, SameHostMovesAreCopies) {
  TestCluster cluster;
  cluster.AddHosts(0, 1, 4);
  const SliceId s01 = cluster.AddSlice({0, 1});
  const SliceId s02 = cluster.AddSlice({0, 2});
  const FunctionId f = cluster.AddFunction("f", 2, {F32({3})}, {F32({3})});
  ProgramDef program{"copies", {ArraySpec{F32({3}), s01}},
                     {Call("g", f, s02, {Input(0)})}, {Out(0)}};
  auto lowered = LowerOrDie(program, cluster.context);
  ASSERT_NE(lowered, nullptr);
  ASSERT_EQ(CountNodes(*lowered, NodeKind::kTransfer), 1);
  const LoweredHostProgram& host = *lowered->hosts.at(HostId(0));
  ASSERT_EQ(host.steps.size(), 4u);
  // Shard 0 stays on device 0 (a plain memcpy into the new slot), shard 1 moves device 1 -> 2.
  const HostStep& same = host.steps[0];
  EXPECT_EQ(same.kind, StepKind::kCopy);
  EXPECT_EQ(same.device, DeviceId(0));
  EXPECT_EQ(same.peer_device, DeviceId(0));
  const HostStep& moved = host.steps[1];
  EXPECT_EQ(moved.kind, StepKind::kCopy);
  EXPECT_EQ(moved.shard, 1);
  EXPECT_EQ(moved.device, DeviceId(2));
  EXPECT_EQ(moved.peer_device, DeviceId(1));
  EXPECT_EQ(moved.src_value, 0);
  EXPECT_EQ(moved.dst_value, 1);
  EXPECT_EQ(lowered->values[1].name, "input:0@g");
  EXPECT_THAT(host.temporaries, ElementsAre(1));
  EXPECT_EQ(host.steps[2].kind, StepKind::kCompute);
  EXPECT_THAT(host.steps[2].inputs, ElementsAre(1));
}

TEST(LoweringTest, MixedShardsCopyOnHostAndSendAcrossHosts) {
  TestCluster cluster;
  cluster.AddHosts(0, 2, 2);
  const SliceId from = cluster.AddSlice({0, 1});
  const SliceId to = cluster.AddSlice({1, 2});  // shard 0 stays on host 0, shard 1 crosses
  const FunctionId f = cluster.AddFunction("f", 2, {F32({3})}, {F32({3})});
  ProgramDef program{"mixed", {ArraySpec{F32({3}), from}}, {Call("g", f, to, {Input(0)})},
                     {Out(0)}};
  auto lowered = LowerOrDie(program, cluster.context);
  ASSERT_NE(lowered, nullptr);
  EXPECT_THAT(Summarize(*lowered->hosts.at(HostId(0))),
              ElementsAre(StepSummary{StepKind::kCopy, 1, 0, 1},
                          StepSummary{StepKind::kSend, 1, 1, 1},
                          StepSummary{StepKind::kCompute, 2, 0, 1}));
  EXPECT_THAT(Summarize(*lowered->hosts.at(HostId(1))),
              ElementsAre(StepSummary{StepKind::kRecv, 1, 1, 2},
                          StepSummary{StepKind::kCompute, 2, 1, 2}));
  // The moved value lives on both hosts: each frees its own shard.
  EXPECT_THAT(lowered->hosts.at(HostId(0))->temporaries, ElementsAre(1));
  EXPECT_THAT(lowered->hosts.at(HostId(1))->temporaries, ElementsAre(1));
}

TEST(LoweringTest, ValueMovedToTheSameDevicesOnce) {
  TestCluster cluster;
  cluster.AddHosts(0, 2, 2);
  const SliceId s0 = cluster.AddSlice({0, 1});
  const SliceId s1 = cluster.AddSlice({2, 3});
  const SliceId s1_again = cluster.AddSlice({2, 3});  // another slice, same devices
  const SliceId s1_swapped = cluster.AddSlice({3, 2});
  const FunctionId f = cluster.AddFunction("f", 2, {F32({2})}, {F32({2})});
  const FunctionId f2 = cluster.AddFunction("f2", 2, {F32({2}), F32({2})}, {F32({2})});
  ProgramDef program{"reuse",
                     {ArraySpec{F32({2}), s0}},
                     {Call("x", f, s0, {Input(0)}), Call("b", f, s1, {Out(0)}),
                      Call("c", f, s1_again, {Out(0)}), Call("d", f2, s1, {Out(0), Out(0)}),
                      Call("e", f, s1_swapped, {Out(0)})},
                     {Out(1), Out(2), Out(3), Out(4)}};
  auto lowered = LowerOrDie(program, cluster.context);
  ASSERT_NE(lowered, nullptr);
  // One move for b, c, d (same devices) and one for e (different order).
  EXPECT_EQ(CountNodes(*lowered, NodeKind::kTransfer), 2);
  const int32_t moved = lowered->nodes[2].outputs[0];
  EXPECT_EQ(lowered->nodes[2].kind, NodeKind::kTransfer);
  for (const GraphNode& node : lowered->nodes) {
    if (node.name == "c") {
      EXPECT_THAT(node.inputs, ElementsAre(moved));
    } else if (node.name == "d") {
      EXPECT_THAT(node.inputs, ElementsAre(moved, moved));
      EXPECT_THAT(node.predecessors, ElementsAre(2));
    }
  }
  // The reused copy is freed on host 1 after its last reader, d (stage 3).
  EXPECT_THAT(lowered->stages[3].at(HostId(1))->temporaries, ElementsAre(moved));
}

TEST(LoweringTest, ComputeStepsCarryOneMemberKeyPerOrderedDeviceList) {
  TestCluster cluster;
  cluster.AddHosts(0, 2, 2);
  const SliceId s0 = cluster.AddSlice({0, 1});
  const SliceId s1 = cluster.AddSlice({2, 3});
  const SliceId s1_again = cluster.AddSlice({2, 3});  // another slice, same devices
  const SliceId s1_swapped = cluster.AddSlice({3, 2});
  const SliceId across = cluster.AddSlice({1, 2});  // one shard on each host
  const FunctionId f = cluster.AddFunction("f", 2, {F32({2})}, {F32({2})});
  ProgramDef program{"keys",
                     {ArraySpec{F32({2}), s0}},
                     {Call("x", f, s0, {Input(0)}), Call("b", f, s1, {Out(0)}),
                      Call("c", f, s1_again, {Out(1)}), Call("e", f, s1_swapped, {Out(2)}),
                      Call("y", f, across, {Out(3)})},
                     {Out(4)}};
  auto lowered = LowerOrDie(program, cluster.context);
  ASSERT_NE(lowered, nullptr);
  // Node name -> the key of each of its compute steps, from every host's part.
  std::map<std::string, std::set<uint64_t>> keys;
  for (const auto& [host, part] : lowered->hosts) {
    for (const HostStep& step : part->steps) {
      if (step.kind == StepKind::kCompute) keys[lowered->nodes[step.node].name].insert(step.group_key);
    }
  }
  ASSERT_EQ(keys.size(), 5u);
  for (const auto& [name, set] : keys) {
    ASSERT_EQ(set.size(), 1u) << name << ": every shard, on every host, has the node's key";
    EXPECT_NE(*set.begin(), 0u) << name;
  }
  auto key = [&](const std::string& name) { return *keys[name].begin(); };
  const DeviceId d0(0), d1(1), d2(2), d3(3);
  EXPECT_EQ(key("x"), GangMemberKey({d0, d1}));
  EXPECT_EQ(key("b"), GangMemberKey({d2, d3}));
  EXPECT_EQ(key("c"), key("b")) << "same devices in the same order, another slice";
  EXPECT_NE(key("e"), key("b")) << "same devices, another order";
  EXPECT_EQ(key("y"), GangMemberKey({d1, d2}));
  EXPECT_NE(key("x"), key("b"));
  EXPECT_NE(GangMemberKey({d0}), GangMemberKey({d0, d0}));
}

TEST(LoweringTest, OutputThatIsAnInput) {
  TestCluster cluster;
  cluster.AddHosts(0, 1, 2);
  const SliceId slice = cluster.AddSlice({0, 1});
  const FunctionId f = cluster.AddFunction("f", 2, {F32({2})}, {F32({2})});
  ProgramDef program{"passthrough",
                     {ArraySpec{F32({2}), slice}},
                     {Call("f", f, slice, {Input(0)})},
                     {Input(0), Out(0)}};
  auto lowered = LowerOrDie(program, cluster.context);
  ASSERT_NE(lowered, nullptr);
  EXPECT_THAT(lowered->output_values, ElementsAre(0, 1));
  EXPECT_TRUE(lowered->values[0].is_program_input);
  EXPECT_TRUE(lowered->values[0].is_program_output);
  EXPECT_TRUE(lowered->hosts.at(HostId(0))->temporaries.empty());
  EXPECT_THAT(lowered->nodes.back().predecessors, ElementsAre(1));
  EXPECT_THAT(lowered->nodes[lowered->nodes.size() - 2].predecessors, ElementsAre(0));

  // With no call at all nothing runs anywhere.
  ProgramDef identity{"identity", {ArraySpec{F32({2}), slice}}, {}, {Input(0)}};
  auto lowered_identity = LowerOrDie(identity, cluster.context);
  ASSERT_NE(lowered_identity, nullptr);
  EXPECT_EQ(lowered_identity->nodes.size(), 2u);
  EXPECT_TRUE(lowered_identity->hosts.empty());
  EXPECT_TRUE(lowered_identity->stages.empty());
  EXPECT_THAT(lowered_identity->output_values, ElementsAre(0));
}

TEST(LoweringTest, UnusedIntermediateIsFreedWhereProduced) {
  TestCluster cluster;
  cluster.AddHosts(0, 1, 1);
  const SliceId slice = cluster.AddSlice({0});
  const FunctionId two = cluster.AddFunction("two", 1, {F32({2})}, {F32({2}), F32({2})});
  const FunctionId f = cluster.AddFunction("f", 1, {F32({2})}, {F32({2})});
  ProgramDef program{"unused",
                     {ArraySpec{F32({2}), slice}},
                     {Call("t", two, slice, {Input(0)}), Call("f", f, slice, {Out(0, 0)})},
                     {Out(1)}};
  auto lowered = LowerOrDie(program, cluster.context);
  ASSERT_NE(lowered, nullptr);
  // t:1 is never read: stage 0 frees it; t:0 is read by f: stage 1 frees it.
  EXPECT_THAT(lowered->stages[0].at(HostId(0))->temporaries, ElementsAre(2));
  EXPECT_THAT(lowered->stages[1].at(HostId(0))->temporaries, ElementsAre(1));
  EXPECT_THAT(lowered->hosts.at(HostId(0))->temporaries, ElementsAre(1, 2));
}

TEST(LoweringTest, IslandsListsEveryIslandTouched) {
  TestCluster cluster;
  cluster.AddHosts(/*island=*/3, 1, 2);  // host 0: devices 0,1
  cluster.AddHosts(/*island=*/1, 1, 2);  // host 1: devices 2,3
  cluster.AddHosts(/*island=*/7, 1, 2);  // host 2: devices 4,5 (unused)
  const SliceId spanning = cluster.AddSlice({1, 2});
  const SliceId s3 = cluster.AddSlice({0, 1});
  const FunctionId f = cluster.AddFunction("f", 2, {F32({2})}, {F32({2})});
  ProgramDef program{"islands", {ArraySpec{F32({2}), s3}}, {Call("f", f, spanning, {Input(0)})},
                     {Out(0)}};
  auto lowered = LowerOrDie(program, cluster.context);
  ASSERT_NE(lowered, nullptr);
  EXPECT_THAT(lowered->islands, ElementsAre(IslandId(1), IslandId(3)));
  EXPECT_EQ(lowered->hosts.size(), 2u);
}

TEST(LoweringTest, DebugStringNamesNodesValuesAndSteps) {
  TestCluster cluster;
  cluster.AddHosts(0, 2, 1);
  const SliceId s0 = cluster.AddSlice({0});
  const SliceId s1 = cluster.AddSlice({1});
  const FunctionId f = cluster.AddFunction("f", 1, {F32({2})}, {F32({2})});
  ProgramDef program{"dbg", {ArraySpec{F32({2}), s0}}, {Call("g", f, s1, {Input(0)})},
                     {Out(0)}};
  auto lowered = LowerOrDie(program, cluster.context);
  ASSERT_NE(lowered, nullptr);
  const std::string text = lowered->DebugString();
  EXPECT_THAT(text, HasSubstr("LoweredProgram 'dbg'"));
  EXPECT_THAT(text, HasSubstr("transfer 'input:0@g'"));
  EXPECT_THAT(text, HasSubstr("compute 'g'"));
  EXPECT_THAT(text, HasSubstr("send node 1 shard 0 device:0"));
  EXPECT_THAT(text, HasSubstr("recv node 1 shard 0 device:1"));
  EXPECT_THAT(text, HasSubstr("f32[2]"));
}

// 128 chained calls over 16 devices on 4 hosts, alternating between two slices whose devices
// are rotated by one host, so every call also needs a cross-host transfer.
TEST(LoweringTest, LongChainOverSixteenDevicesLowersToOneStagePerCall) {
  TestCluster cluster;
  cluster.AddHosts(0, 4, 4);
  std::vector<int64_t> straight, rotated;
  for (int64_t d = 0; d < 16; ++d) {
    straight.push_back(d);
    rotated.push_back((d + 4) % 16);
  }
  const SliceId slices[2] = {cluster.AddSlice(straight), cluster.AddSlice(rotated)};
  const FunctionId f = cluster.AddFunction("layer", 16, {F32({64})}, {F32({64})});
  ProgramDef program{"chain128", {ArraySpec{F32({64}), slices[0]}}, {}, {}};
  for (int64_t c = 0; c < 128; ++c) {
    program.calls.push_back(Call(absl::StrCat("layer", c), f, slices[c % 2],
                                 {c == 0 ? Input(0) : Out(c - 1)}));
  }
  program.outputs = {Out(127)};
  auto lowered = LowerProgram(program, cluster.context);
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  EXPECT_EQ((*lowered)->nodes.size(), 1u + 128u + 127u + 1u);
  EXPECT_EQ((*lowered)->stages.size(), 128u);
  EXPECT_EQ((*lowered)->hosts.size(), 4u);
  for (const auto& [host, part] : (*lowered)->hosts) {
    // Per host: 4 compute shards per call, 4 sends and 4 receives per transfer.
    EXPECT_EQ(part->steps.size(), 128u * 4 + 127u * 8) << host;
  }
  ExpectConsistent(**lowered);
}

}  // namespace
}  // namespace pw
