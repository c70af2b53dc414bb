// Tests of Verify() on hand-made (possibly broken) functions, and of the text printer.
#include "pathways/ir/function.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/ir_test_util.h"

namespace pw::ir {
namespace {

using ::testing::HasSubstr;
using testing::IsInvalidWith;

TensorType F32(Shape s) { return {DType::kF32, std::move(s)}; }

// %0 = parameter 0 f32[2], %1 = parameter 1 f32[2], %2 = add(%0, %1), %3 = exp(%2).
Function Simple() {
  FunctionBuilder b("simple");
  Value x = b.Parameter(F32({2}), "x");
  Value y = b.Parameter(F32({2}), "y");
  Value e = b.Exp(b.Add(x, y));
  absl::StatusOr<Function> f = b.Build({e});
  PW_CHECK(f.ok()) << f.status();
  return *std::move(f);
}

TEST(FunctionTest, LiveInstructionsAreWhatTheOutputsDependOn) {
  FunctionBuilder b("dead");
  Value x = b.Parameter(F32({2}), "x");
  Value y = b.Parameter(F32({2}), "y");
  Value dead = b.Exp(y);  // computed, never returned
  Value out = b.Add(x, x);
  (void)dead;
  absl::StatusOr<Function> f = b.Build({out});
  ASSERT_TRUE(f.ok()) << f.status();
  const std::vector<bool> live = f->live_instructions();
  ASSERT_EQ(live.size(), f->instructions.size());
  EXPECT_TRUE(live[x.id()]);
  EXPECT_FALSE(live[y.id()]);
  EXPECT_FALSE(live[dead.id()]);
  EXPECT_TRUE(live[out.id()]);
}

TEST(VerifyTest, AcceptsBuiltFunctions) {
  EXPECT_TRUE(Verify(Simple()).ok());
  EXPECT_TRUE(Verify(testing::EveryOpFunction()).ok());
}

TEST(VerifyTest, CycleAndForwardReference) {
  Function f = Simple();
  f.instructions[2].operands[1] = 3;  // add uses exp, which uses add
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"function 'simple'", "%2 (add)", "operand 1 refers to %3",
                                        "cycle or forward reference"}));
  f = Simple();
  f.instructions[2].operands[0] = 2;  // self-loop
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"%2 (add)", "refers to %2", "not defined before it"}));
}

TEST(VerifyTest, OperandThatDoesNotExist) {
  Function f = Simple();
  f.instructions[3].operands[0] = 9;
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"%3 (exp)", "operand 0 refers to %9, which does not exist"}));
  f.instructions[3].operands[0] = -1;
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"%3 (exp)", "%-1"}));
}

TEST(VerifyTest, IdsMustEqualPositions) {
  Function f = Simple();
  f.instructions[1].id = 7;
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"instruction at position 1 has id 7"}));
}

TEST(VerifyTest, WrongParameterIndices) {
  Function f = Simple();
  std::swap(f.instructions[0].attrs.index, f.instructions[1].attrs.index);
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"parameter 0 refers to %0 \"x\" (parameter) with index 1"}));
  f = Simple();
  f.parameters.pop_back();
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"lists 1 parameters but has 2 parameter instructions"}));
  f = Simple();
  f.parameters[1] = 2;
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"parameter 1 refers to %2", "not a parameter instruction"}));
  f = Simple();
  f.instructions[1].attrs.index = -1;
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"%1 \"y\" (parameter)", "index must be >= 0"}));
}

TEST(VerifyTest, DeclaredTypeMustMatchInference) {
  Function f = Simple();
  f.instructions[3].type = F32({3});
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"%3 (exp)", "declared type f32[3] differs from inferred type f32[2]"}));
}

TEST(VerifyTest, InferenceErrorsNameInstructionAndOperandTypes) {
  Function f = Simple();
  f.instructions[1].type.dtype = DType::kI32;
  f.instructions[1].attrs.type.dtype = DType::kI32;
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"%2 (add)(%0 f32[2], %1 i32[2])", "operand types differ"}));
}

TEST(VerifyTest, UnknownOpNumShardsAndOutputs) {
  Function f = Simple();
  f.instructions[3].op = static_cast<OpCode>(999);
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"%3 has unknown op code 999"}));
  f = Simple();
  f.num_shards = 0;
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"num_shards must be in [1, 65536], got 0"}));
  f = Simple();
  f.outputs.clear();
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"has no outputs"}));
  f = Simple();
  f.outputs = {3, 4};
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"output 1 refers to %4, which does not exist"}));
}

TEST(VerifyTest, MalformedConstant) {
  FunctionBuilder b("c");
  Value c = b.Constant(Literal::Create<float>(Shape{2}, {1, 2}));
  absl::StatusOr<Function> built = b.Build({c});
  ASSERT_TRUE(built.ok());
  Function f = *built;
  f.instructions[0].attrs.literal.reset();
  EXPECT_TRUE(IsInvalidWith(Verify(f), {"%0 (constant)", "no literal value"}));
}

TEST(PrinterTest, ShowsOpsAttributesTypesAndNames) {
  FunctionBuilder b("mlp", {.num_shards = 2});
  Value x = b.Parameter(F32({4, 8}), "x");
  Value w = b.Parameter(F32({8, 16}), "w");
  Value h = b.AddInstruction(OpCode::kTanh, {b.Dot(x, w)}, {}, "hidden");
  Value s = b.Reduce(h, {1}, ReduceKind::kMax);
  Value g = b.AllGather(s, 0);
  Value c = b.Compare(g, b.ConstantScalar<float>(0.5f), ComparisonDirection::kLt);
  Value sl = b.Slice(h, {0, 1}, {4, 16}, {2, 3});
  absl::StatusOr<Function> f = b.Build({c, sl});
  ASSERT_TRUE(f.ok()) << f.status();
  std::string text = f->ToString();
  EXPECT_THAT(text, HasSubstr("func @mlp(%0: f32[4,8], %1: f32[8,16]) -> (bool[8], f32[2,5]) num_shards=2 {"));
  EXPECT_THAT(text, HasSubstr("%2 = dot_general(%0, %1) {lhs_batch=[] rhs_batch=[] lhs_contracting=[1] "
                              "rhs_contracting=[0]} : f32[4,16]"));
  EXPECT_THAT(text, HasSubstr("%3 = tanh(%2) : f32[4,16]  // hidden"));
  EXPECT_THAT(text, HasSubstr("%4 = reduce(%3) {axes=[1] kind=max} : f32[4]"));
  EXPECT_THAT(text, HasSubstr("%5 = all_gather(%4) {axis=0} : f32[8]"));
  EXPECT_THAT(text, HasSubstr("constant() {f32[] {0.5}} : f32[]"));
  EXPECT_THAT(text, HasSubstr("compare(%5, %7) {direction=LT} : bool[8]"));
  EXPECT_THAT(text, HasSubstr("slice(%3) {starts=[0,1] limits=[4,16] strides=[2,3]} : f32[2,5]"));
  EXPECT_THAT(text, HasSubstr("return %8, %9\n}"));
  std::ostringstream os;
  os << *f;
  EXPECT_EQ(os.str(), text);
}

TEST(PrinterTest, EveryOpPrintsItsName) {
  Function f = testing::EveryOpFunction();
  std::string text = f.ToString();
  for (const Instruction& inst : f.instructions) {
    if (inst.op == OpCode::kParameter) continue;
    EXPECT_THAT(text, HasSubstr(absl::StrCat(" = ", OpName(inst.op), "(")));
  }
  EXPECT_THAT(text, HasSubstr("pairs=[(0,1),(1,2),(2,3)]"));
  EXPECT_THAT(text, HasSubstr("split_axis=0 concat_axis=1"));
  EXPECT_THAT(text, HasSubstr("{axis=1} : f32[16,8]"));  // scatter_add
  EXPECT_THAT(text, HasSubstr("{bool[2] {1, 0}}"));
}

}  // namespace
}  // namespace pw::ir
