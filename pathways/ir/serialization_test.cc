// Tests of serialization: round trips, fingerprints, versioning and every reader error.
#include "pathways/ir/serialization.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/ir.pb.h"
#include "pathways/ir/ir_test_util.h"

namespace pw::ir {
namespace {

using pathways::ir::FunctionProto;
using pathways::ir::InstructionProto;
using testing::IsInvalidWith;

TensorType F32(Shape s) { return {DType::kF32, std::move(s)}; }

absl::StatusOr<Function> RoundTrip(const Function& f) {
  absl::StatusOr<std::string> bytes = SerializeFunction(f);
  if (!bytes.ok()) return bytes.status();
  return DeserializeFunction(*bytes);
}

absl::Status ReadError(const FunctionProto& p) {
  std::string bytes;
  EXPECT_TRUE(p.SerializeToString(&bytes));
  return DeserializeFunction(bytes).status();
}

// %0 = parameter x f32[2], %1 = exp(%0), %2 = log(%1), %3 = add(%1, %2).
Function Chain() {
  FunctionBuilder b("chain");
  Value x = b.Parameter(F32({2}), "x");
  Value e = b.Exp(x);
  Value l = b.Log(e);
  absl::StatusOr<Function> f = b.Build({b.Add(e, l)});
  PW_CHECK(f.ok()) << f.status();
  return *std::move(f);
}

TEST(SerializationTest, EveryOpRoundTripsExactly) {
  Function f = testing::EveryOpFunction();
  absl::StatusOr<Function> back = RoundTrip(f);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, f);
  EXPECT_EQ(Fingerprint(*back), Fingerprint(f));
  // Through the proto API as well.
  absl::StatusOr<Function> from_proto = FromProto(ToProto(f));
  ASSERT_TRUE(from_proto.ok()) << from_proto.status();
  EXPECT_EQ(*from_proto, f);
}

TEST(SerializationTest, BytesAreDeterministic) {
  Function f = testing::EveryOpFunction();
  EXPECT_EQ(*SerializeFunction(f), *SerializeFunction(testing::EveryOpFunction()));
  EXPECT_EQ(*SerializeFunction(f), *SerializeFunction(*RoundTrip(f)));
}

TEST(SerializationTest, EdgeValuesRoundTrip) {
  FunctionBuilder b("edges \xff\xfe not utf-8", {.num_shards = kMaxShards});
  Value empty = b.Parameter(F32({0, 3}), "");
  Value scalar = b.Parameter(F32({}), "scalar");
  Value c = b.Constant(Literal(TensorType{DType::kF64, Shape{0}}));
  Value big = b.Iota({DType::kI32, Shape{int64_t{1} << 20, 1 << 20}}, 1);
  absl::StatusOr<Function> f = b.Build({empty, scalar, c, big, b.AllGather(empty, 1)});
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<Function> back = RoundTrip(*f);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *f);
}

TEST(SerializationTest, FingerprintIsStableAcrossRunsAndBuilds) {
  // A golden value: a changed hash silently invalidates every persisted cache key and makes
  // mixed-version peers disagree, so changing it must be deliberate.
  EXPECT_EQ(Fingerprint(Chain()), 0x4e7d764439adfe30ULL) << std::hex << Fingerprint(Chain());
  EXPECT_EQ(Fingerprint(Chain()), Fingerprint(Chain()));
}

TEST(SerializationTest, FingerprintChangesWithContent) {
  const Function base = testing::EveryOpFunction();
  const uint64_t fp = Fingerprint(base);
  auto find = [&](const Function& f, OpCode op) -> int64_t {
    for (const Instruction& inst : f.instructions) {
      if (inst.op == op) return inst.id;
    }
    return -1;
  };
  std::vector<std::pair<std::string, Function>> variants;
  auto add = [&](std::string what, auto mutate) {
    Function f = base;
    mutate(f);
    variants.emplace_back(std::move(what), std::move(f));
  };
  add("name", [](Function& f) { f.name = "other"; });
  add("num_shards", [](Function& f) { f.num_shards = 8; });
  add("gather axis", [&](Function& f) { f.instructions[find(f, OpCode::kGather)].attrs.axis = 1; });
  add("scatter_add axis", [&](Function& f) {
    f.instructions[find(f, OpCode::kScatterAdd)].attrs.axis = 0;
  });
  add("reduce kind", [&](Function& f) {
    f.instructions[find(f, OpCode::kReduce)].attrs.reduce_kind = ReduceKind::kSum;
  });
  add("permute pairs", [&](Function& f) {
    f.instructions[find(f, OpCode::kCollectivePermute)].attrs.pairs.pop_back();
  });
  add("constant value", [&](Function& f) {
    Instruction& c = f.instructions[find(f, OpCode::kConstant)];
    c.attrs.literal = Literal::Scalar<float>(1.0001f);
  });
  add("parameter shape", [](Function& f) {
    f.instructions[0].type = F32({4, 9});
    f.instructions[0].attrs.type = F32({4, 9});
  });
  add("cumsum direction", [&](Function& f) {
    f.instructions[find(f, OpCode::kCumsum)].attrs.reverse = false;
  });
  add("dynamic_slice sizes", [&](Function& f) {
    Instruction& ds = f.instructions[find(f, OpCode::kDynamicSlice)];
    ds.attrs.dims = {1, 5};
    ds.type = F32({1, 5});
  });
  add("instruction name", [](Function& f) { f.instructions[0].name = "y"; });
  add("output order", [](Function& f) { std::swap(f.outputs[0], f.outputs[1]); });
  add("operand order", [&](Function& f) {
    auto& ops = f.instructions[find(f, OpCode::kAdd)].operands;
    std::swap(ops[0], ops[1]);
  });
  for (const auto& [what, f] : variants) {
    EXPECT_NE(Fingerprint(f), fp) << what;
    EXPECT_FALSE(f == base) << what;
  }
  for (size_t i = 0; i < variants.size(); ++i) {
    for (size_t j = i + 1; j < variants.size(); ++j) {
      EXPECT_NE(Fingerprint(variants[i].second), Fingerprint(variants[j].second))
          << variants[i].first << " vs " << variants[j].first;
    }
  }
}

TEST(SerializationTest, VersionMismatchIsAClearError) {
  FunctionProto p = ToProto(Chain());
  EXPECT_EQ(p.version(), kIrFormatVersion);
  p.set_version(kIrFormatVersion + 1);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"function 'chain'", "IR format version 2",
                                           "this build reads only version 1"}));
  p.clear_version();
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"no IR format version"}));
  EXPECT_TRUE(IsInvalidWith(DeserializeFunction("").status(), {"no IR format version"}));
}

TEST(SerializationTest, UnparsableBytes) {
  EXPECT_TRUE(IsInvalidWith(DeserializeFunction("\xff\xff\xff\xff").status(), {"cannot parse", "4 bytes"}));
}

TEST(SerializationTest, AcceptsAnyOrderAndArbitraryIds) {
  Function f = Chain();
  FunctionProto p = ToProto(f);
  // Ids become large, negative and sparse; the instructions are listed in reverse.
  auto remap = [](int64_t id) { return id * -1000003 + 42; };
  for (InstructionProto& inst : *p.mutable_instructions()) {
    inst.set_id(remap(inst.id()));
    for (int64_t& o : *inst.mutable_operands()) o = remap(o);
  }
  for (int64_t& id : *p.mutable_parameters()) id = remap(id);
  for (int64_t& id : *p.mutable_outputs()) id = remap(id);
  std::reverse(p.mutable_instructions()->begin(), p.mutable_instructions()->end());
  absl::StatusOr<Function> back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.status();
  // Post-order from the last instruction restores the original topological order.
  EXPECT_EQ(*back, f);
}

TEST(SerializationTest, LongReversedChainDoesNotOverflowTheStack) {
  FunctionBuilder b("long");
  Value v = b.Parameter(F32({}));
  for (int i = 0; i < 30000; ++i) v = b.Negate(v);
  absl::StatusOr<Function> f = b.Build({v});
  ASSERT_TRUE(f.ok()) << f.status();
  FunctionProto p = ToProto(*f);
  // The sort walks from the last instruction down the whole chain before emitting anything.
  std::reverse(p.mutable_instructions()->begin(), p.mutable_instructions()->end());
  absl::StatusOr<Function> back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *f);
}

TEST(SerializationTest, ShuffledEveryOpFunctionIsSortedAndVerified) {
  Function f = testing::EveryOpFunction();
  FunctionProto p = ToProto(f);
  std::mt19937_64 rng(7);
  std::shuffle(p.mutable_instructions()->begin(), p.mutable_instructions()->end(), rng);
  absl::StatusOr<Function> back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(Verify(*back).ok());
  EXPECT_EQ(back->instructions.size(), f.instructions.size());
  EXPECT_EQ(back->parameter_types(), f.parameter_types());
  EXPECT_EQ(back->output_types(), f.output_types());
  for (int64_t k = 0; k < static_cast<int64_t>(f.parameters.size()); ++k) {
    EXPECT_EQ(back->instruction(back->parameters[k]).name, f.instruction(f.parameters[k]).name);
  }
}

TEST(SerializationTest, CycleNamesTheInstructionsOnIt) {
  FunctionProto p = ToProto(Chain());
  // %1 exp(%0) -> exp(%3): %1 exp -> %3 add -> %1.
  p.mutable_instructions(1)->set_operands(0, 3);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"function 'chain': cycle through %1 (exp) -> %3 (add) -> %1"}));
  p = ToProto(Chain());
  p.mutable_instructions(2)->set_operands(0, 2);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"cycle through %2 (log) -> %2"}));
}

TEST(SerializationTest, StructuralErrors) {
  const FunctionProto good = ToProto(Chain());
  FunctionProto p = good;
  p.mutable_instructions(2)->set_id(1);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%1 (log): id %1 is already used by %1 (exp)"}));
  p = good;
  p.mutable_instructions(3)->set_operands(1, 77);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%3 (add): operand 1 refers to %77, which does not exist"}));
  p = good;
  p.set_outputs(0, 5);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"output 0 refers to %5, which does not exist"}));
  p = good;
  p.add_parameters(9);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"parameter 1 refers to %9"}));
  p = good;
  p.mutable_instructions(0)->mutable_attrs()->set_index(3);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"parameter 0 refers to %0 \"x\" (parameter) with index 3"}));
  p = good;
  p.clear_outputs();
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"has no outputs"}));
  for (int64_t shards : {int64_t{0}, int64_t{-4}, kMaxShards + 1, int64_t{1} << 40}) {
    p = good;
    p.set_num_shards(shards);
    EXPECT_TRUE(IsInvalidWith(ReadError(p), {"num_shards must be in [1, 65536], got "}));
  }
  p = good;
  p.mutable_instructions(3)->clear_operands();
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%3 (add)", "expects 2 operand(s), got 0"}));
}

TEST(SerializationTest, BadEnumValues) {
  const FunctionProto good = ToProto(Chain());
  for (uint32_t op : {0u, 20u, 999u, 70000u, 0xffffffffu}) {
    FunctionProto p = good;
    p.mutable_instructions(1)->set_op(op);
    EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%1: unknown op code " + std::to_string(op)}));
  }
  FunctionProto p = good;
  p.mutable_instructions(1)->mutable_type()->set_dtype(9);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%1 (exp): result type has unknown dtype 9"}));
  p = good;
  p.mutable_instructions(1)->mutable_attrs()->set_dtype(300);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%1 (exp): dtype attribute has unknown dtype 300"}));
  p = good;
  p.mutable_instructions(1)->mutable_attrs()->set_comparison(6);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%1 (exp): unknown comparison direction 6"}));
  p = good;
  p.mutable_instructions(1)->mutable_attrs()->set_reduce_kind(3);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%1 (exp): unknown reduction kind 3"}));
}

TEST(SerializationTest, BadShapes) {
  const FunctionProto good = ToProto(Chain());
  FunctionProto p = good;
  p.mutable_instructions(0)->mutable_type()->set_dims(0, -2);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%0 \"x\" (parameter): result type has invalid shape [-2]"}));
  p = good;
  auto* dims = p.mutable_instructions(0)->mutable_attrs()->mutable_type()->mutable_dims();
  dims->Set(0, int64_t{1} << 32);
  dims->Add(int64_t{1} << 32);  // 2^64 elements: the product overflows int64
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"attribute type has invalid shape [4294967296,4294967296]"}));
  p = good;
  for (int i = 0; i < 40; ++i) p.mutable_instructions(0)->mutable_type()->add_dims(1);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"result type has rank 41, more than the maximum 16"}));
  p = good;
  p.mutable_instructions(2)->mutable_type()->set_dims(0, 3);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%2 (log): declared type f32[3] differs from inferred type f32[2]"}));
}

TEST(SerializationTest, BadLiterals) {
  FunctionBuilder b("k");
  absl::StatusOr<Function> f = b.Build({b.Constant(Literal::Create<int32_t>(Shape{3}, {1, 2, 3}))});
  ASSERT_TRUE(f.ok());
  const FunctionProto good = ToProto(*f);
  FunctionProto p = good;
  p.mutable_instructions(0)->mutable_attrs()->mutable_literal()->mutable_data()->pop_back();
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"function 'k': %0 (constant)", "needs 12 bytes, got 11"}));
  p = good;
  p.mutable_instructions(0)->mutable_attrs()->mutable_literal()->mutable_type()->set_dims(0, int64_t{1} << 40);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%0 (constant)", "needs", "got 12"}));
  p = good;
  p.mutable_instructions(0)->mutable_attrs()->mutable_literal()->mutable_type()->set_dtype(0);
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%0 (constant): literal has unknown dtype 0"}));
  p = good;
  p.mutable_instructions(0)->mutable_attrs()->clear_literal();
  EXPECT_TRUE(IsInvalidWith(ReadError(p), {"%0 (constant)", "no literal value"}));
}

}  // namespace
}  // namespace pw::ir
