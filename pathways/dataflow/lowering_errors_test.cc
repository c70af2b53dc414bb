// Tests of LowerProgram's validation: every bad program is INVALID_ARGUMENT naming the culprit.
#include "gtest/gtest.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/dataflow/lowering_test_util.h"

namespace pw {
namespace {

using ::pw::testing::Call;
using ::pw::testing::F32;
using ::pw::testing::Input;
using ::pw::testing::IsInvalidWith;
using ::pw::testing::Out;
using ::pw::testing::TestCluster;

// A valid program `p`: input 0 on slice s0 (2 devices), call 'a' = fa(input 0), call 'b' =
// fb(a:0); each test breaks one thing.
class LoweringErrorsTest : public ::testing::Test {
 protected:
  LoweringErrorsTest() {
    cluster_.AddHosts(0, 2, 2);
    s0_ = cluster_.AddSlice({0, 1});
    s3_ = cluster_.AddSlice({0, 1, 2});
    fa_ = cluster_.AddFunction("fa", 2, {F32({4})}, {F32({4})});
    fb_ = cluster_.AddFunction("fb", 2, {F32({4})}, {F32({8})});
    program_ = ProgramDef{"p",
                          {ArraySpec{F32({4}), s0_}},
                          {Call("a", fa_, s0_, {Input(0)}), Call("b", fb_, s0_, {Out(0)})},
                          {Out(1)}};
  }

  absl::Status Lower() const { return LowerProgram(program_, cluster_.context).status(); }

  TestCluster cluster_;
  SliceId s0_, s3_;
  FunctionId fa_, fb_;
  ProgramDef program_;
};

TEST_F(LoweringErrorsTest, ValidProgramLowers) { EXPECT_TRUE(Lower().ok()) << Lower(); }

TEST_F(LoweringErrorsTest, NoOutputs) {
  program_.outputs.clear();
  EXPECT_TRUE(IsInvalidWith(Lower(), {"program 'p'", "no outputs"}));
}

TEST_F(LoweringErrorsTest, UnknownFunction) {
  program_.calls[1].function = FunctionId(999);
  EXPECT_TRUE(IsInvalidWith(Lower(), {"program 'p'", "call 'b' (#1)", "unknown function",
                                      "function:999"}));
}

TEST_F(LoweringErrorsTest, UnknownSliceOfCall) {
  program_.calls[0].slice = SliceId(77);
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'a' (#0)", "unknown slice slice:77"}));
}

TEST_F(LoweringErrorsTest, UnknownSliceOfInput) {
  program_.inputs[0].slice = SliceId(77);
  EXPECT_TRUE(IsInvalidWith(Lower(), {"program input 0", "unknown slice slice:77"}));
}

TEST_F(LoweringErrorsTest, EmptySlice) {
  program_.calls[1].slice = cluster_.AddSlice({});
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'b' (#1)", "has no devices"}));
}

TEST_F(LoweringErrorsTest, UnknownDevice) {
  const SliceId bad = cluster_.AddSlice({0, 42});
  program_.calls[1].slice = bad;
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'b' (#1)", bad.DebugString(), "virtual device 1",
                                      "unknown device device:42"}));
}

TEST_F(LoweringErrorsTest, SliceSizeDiffersFromNumShards) {
  program_.calls[0].slice = s3_;
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'a' (#0)", "has 3 devices", "function 'fa'",
                                      "num_shards 2"}));
}

TEST_F(LoweringErrorsTest, ArgumentCountMismatch) {
  program_.calls[1].args.push_back(Input(0));
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'b' (#1)", "function 'fb'", "takes 1 arguments",
                                      "got 2"}));
}

TEST_F(LoweringErrorsTest, TypeMismatchFromCallOutput) {
  program_.calls.push_back(Call("c", fa_, s0_, {Out(1)}));  // b's output is f32[8]
  program_.outputs = {Out(2)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'c' (#2) argument 0", "per-shard type mismatch",
                                      "expected f32[4]", "got f32[8]", "call 'b' output 0"}));
}

TEST_F(LoweringErrorsTest, InputSpecTypeMismatchWithItsUse) {
  program_.inputs[0].shard_type = F32({5});
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'a' (#0) argument 0", "expected f32[4]",
                                      "got f32[5]", "program input 0"}));
}

TEST_F(LoweringErrorsTest, InvalidInputType) {
  program_.inputs[0].shard_type = ir::TensorType{};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"program input 0", "invalid shard type"}));
}

TEST_F(LoweringErrorsTest, ShardCountMismatchOfArgument) {
  const FunctionId f3 = cluster_.AddFunction("f3", 3, {F32({4})}, {F32({4})});
  program_.calls.push_back(Call("c", f3, s3_, {Out(0)}));
  program_.outputs = {Out(2)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'c' (#2) argument 0", "shard count mismatch",
                                      "3 shards", "got 2", "call 'a' output 0"}));
}

TEST_F(LoweringErrorsTest, ReferenceToSameCall) {
  program_.calls[1].args = {Out(1)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'b' (#1) argument 0", "call 'b' (#1)",
                                      "not an earlier call"}));
}

TEST_F(LoweringErrorsTest, ReferenceToLaterCall) {
  program_.calls[0].args = {Out(1)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'a' (#0) argument 0", "not an earlier call"}));
}

TEST_F(LoweringErrorsTest, ReferenceToMissingCall) {
  program_.calls[1].args = {Out(9)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'b' (#1) argument 0", "call #9", "2 calls"}));
  program_.calls[1].args = {ValueRef{-5, 0}};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'b' (#1) argument 0", "call #-5"}));
}

TEST_F(LoweringErrorsTest, OutputIndexOutOfRange) {
  program_.calls[1].args = {Out(0, 1)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'b' (#1) argument 0", "output 1 of call 'a' (#0)",
                                      "has 1 outputs"}));
  program_.calls[1].args = {Out(0, -1)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"output -1 of call 'a'"}));
}

TEST_F(LoweringErrorsTest, InputIndexOutOfRange) {
  program_.calls[0].args = {Input(3)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'a' (#0) argument 0", "program input 3",
                                      "1 inputs"}));
}

TEST_F(LoweringErrorsTest, BadProgramOutput) {
  program_.outputs = {Out(1), Out(5)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"program 'p'", "output 1", "call #5"}));
  program_.outputs = {Out(1, 2)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"output 0", "output 2 of call 'b' (#1)"}));
  program_.outputs = {Input(1)};
  EXPECT_TRUE(IsInvalidWith(Lower(), {"output 0", "program input 1"}));
}

TEST_F(LoweringErrorsTest, UnnamedCallIsNamedByIndex) {
  program_.calls[1].name.clear();
  program_.calls[1].function = FunctionId(999);
  EXPECT_TRUE(IsInvalidWith(Lower(), {"call 'call1' (#1)"}));
}

}  // namespace
}  // namespace pw
