// Test helpers for the wire conversions: byte round trips, error matchers, and a realistic
// lowering (two calls on two hosts) to build HostRuns from.
#ifndef PATHWAYS_WIRE_WIRE_TEST_UTIL_H_
#define PATHWAYS_WIRE_WIRE_TEST_UTIL_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "pathways/base/logging.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/wire/wire_convert.h"

namespace pw::wire::testing {

inline ir::TensorType F32(std::initializer_list<int64_t> dims) {
  return ir::TensorType{ir::DType::kF32, ir::Shape(dims)};
}

// Serializes and parses again, so every test crosses real bytes.
template <typename Proto>
Proto ThroughBytes(const Proto& proto) {
  std::string bytes;
  EXPECT_TRUE(proto.SerializeToString(&bytes));
  Proto parsed;
  EXPECT_TRUE(parsed.ParseFromString(bytes));
  return parsed;
}

// Success iff `status` is INVALID_ARGUMENT and its message contains `part`.
inline ::testing::AssertionResult IsInvalidWith(const absl::Status& status, const std::string& part) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "expected INVALID_ARGUMENT, got " << status;
  }
  if (std::string(status.message()).find(part) == std::string::npos) {
    return ::testing::AssertionFailure() << "message lacks '" << part << "': " << status;
  }
  return ::testing::AssertionSuccess();
}

// Two hosts of two devices (host 0: devices 0,1; host 1: devices 2,3), and the program
//   x on slice 1 (host 1);  a0, a1 = fa(x) on slice 0 (host 0);  b = fb(a0, x) on slice 1
// with outputs (b, a0): x moves host 1 -> 0, a0 moves host 0 -> 1, a1 is a temporary, so both
// hosts send, receive and compute, in both dispatch modes (two stages).
class WireHostRunTest : public ::testing::Test {
 protected:
  WireHostRunTest() {
    for (int64_t d = 0; d < 4; ++d) {
      context_.devices[DeviceId(d)] = DeviceLocation{HostId(d / 2), IslandId(0)};
    }
    context_.slices[SliceId(0)] = {DeviceId(0), DeviceId(1)};
    context_.slices[SliceId(1)] = {DeviceId(2), DeviceId(3)};
    context_.functions[FunctionId(7)] = FunctionSignature{FunctionId(7), "fa", 2, {F32({4})},
                                                          {F32({4}), F32({4})}};
    context_.functions[FunctionId(8)] =
        FunctionSignature{FunctionId(8), "fb", 2, {F32({4}), F32({4})}, {F32({4})}};
    program_.name = "two_calls";
    program_.inputs = {ArraySpec{F32({4}), SliceId(1)}};
    program_.calls = {ProgramCall{"a", FunctionId(7), SliceId(0), {ValueRef{-1, 0}}},
                      ProgramCall{"b", FunctionId(8), SliceId(1), {ValueRef{0, 0}, ValueRef{-1, 0}}}};
    program_.outputs = {ValueRef{1, 0}, ValueRef{0, 0}};
    auto lowered = LowerProgram(program_, context_);
    PW_CHECK(lowered.ok()) << lowered.status();
    lowered_ = *std::move(lowered);
  }

  HostRun MakeRun(HostId host, DispatchMode mode, int64_t stage) const {
    HostRun run;
    run.run = RunId(41);
    run.client = ClientId(3);
    run.program = mode == DispatchMode::kParallel ? lowered_->hosts.at(host)
                                                  : lowered_->stages[stage].at(host);
    run.lowered = lowered_;
    auto arrays = std::make_shared<std::vector<ArrayId>>();
    for (size_t v = 0; v < lowered_->values.size(); ++v) arrays->push_back(ArrayId(1000 + v));
    run.value_arrays = arrays;
    run.gang_base = 500;
    run.mode = mode;
    run.stage = mode == DispatchMode::kParallel ? -1 : stage;
    return run;
  }

  static void ExpectSameSteps(const LoweredHostProgram& got, const LoweredHostProgram& want) {
    EXPECT_EQ(got.host, want.host);
    EXPECT_EQ(got.functions, want.functions);
    EXPECT_EQ(got.temporaries, want.temporaries);
    // Derived on receipt: the same index of which steps touch which temporaries.
    EXPECT_EQ(got.temporary_uses, want.temporary_uses);
    EXPECT_EQ(got.step_temporaries_begin, want.step_temporaries_begin);
    EXPECT_EQ(got.step_temporaries, want.step_temporaries);
    ASSERT_EQ(got.steps.size(), want.steps.size());
    for (size_t i = 0; i < want.steps.size(); ++i) {
      SCOPED_TRACE(i);
      const HostStep& g = got.steps[i];
      const HostStep& w = want.steps[i];
      EXPECT_EQ(g.kind, w.kind);
      EXPECT_EQ(g.node, w.node);
      EXPECT_EQ(g.shard, w.shard);
      EXPECT_EQ(g.device, w.device);
      EXPECT_EQ(g.function, w.function);
      EXPECT_EQ(g.num_shards, w.num_shards);
      EXPECT_EQ(g.group_key, w.group_key);
      EXPECT_EQ(g.inputs, w.inputs);
      EXPECT_EQ(g.outputs, w.outputs);
      EXPECT_EQ(g.src_value, w.src_value);
      EXPECT_EQ(g.dst_value, w.dst_value);
      EXPECT_EQ(g.peer_host, w.peer_host);
      EXPECT_EQ(g.peer_device, w.peer_device);
      EXPECT_EQ(g.peer_shard, w.peer_shard);
      EXPECT_EQ(g.regions, w.regions);
    }
  }

  uint64_t Key(HostId host) const {
    const std::pair<SliceId, uint64_t> versions[] = {{SliceId(0), 1}, {SliceId(1), 1}};
    return HostProgramKey(ProgramId(9), versions, host);
  }

  LoweringContext context_;
  ProgramDef program_;
  std::shared_ptr<const LoweredProgram> lowered_;
};

}  // namespace pw::wire::testing

#endif  // PATHWAYS_WIRE_WIRE_TEST_UTIL_H_
