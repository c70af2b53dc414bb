// Vjp and ValueAndGrad: recompute the function, then sweep its instructions in reverse, each
// adding its operands' cotangents through its rule (backprop.cc).
#include "pathways/autodiff/vjp.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "pathways/autodiff/backprop.h"
#include "pathways/autodiff/control_flow.h"
#include "pathways/base/status.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/inline_function.h"

namespace pw::autodiff {
namespace {

using ir::DType;
using ir::Function;
using ir::FunctionBuilder;
using ir::Instruction;
using ir::OpCode;
using ir::Value;

// Where the derivative's output cotangents come from.
enum class Seed {
  kParameters,  // one cotangent parameter per floating-point output (Vjp)
  kOneForLoss,  // 1 for output 0, nothing for the others (ValueAndGrad)
};

class Transposer final : public BackpropContext {
 public:
  explicit Transposer(const Function& f)
      : f_(f),
        b_(f.name + "_vjp", ir::FunctionOptions{.num_shards = f.num_shards}),
        primal_(f.instructions.size()),
        cotangent_(f.instructions.size()) {}

  FunctionBuilder& builder() override { return b_; }
  Value primal(int64_t id) const override { return primal_[id]; }
  void AddCotangent(int64_t id, Value g) override {
    if (!ir::IsFloating(f_.instruction(id).type.dtype) || !g.valid()) return;
    cotangent_[id] = cotangent_[id].valid() ? b_.Add(cotangent_[id], g) : g;
  }
  void AddResultCotangent(int64_t id, int64_t index, Value g) override {
    if (!g.valid() || !ir::IsFloating(b_.TypeOf(g).dtype)) return;
    std::vector<Value>& cts = result_cotangents_[id];
    if (cts.size() <= static_cast<size_t>(index)) cts.resize(index + 1);
    cts[index] = cts[index].valid() ? b_.Add(cts[index], g) : g;
  }

  absl::StatusOr<Function> Run(const std::vector<int64_t>& wrt, Seed seed) {
    PW_RETURN_IF_ERROR(Recompute());
    SeedCotangents(seed);
    const std::vector<bool> live = f_.live_instructions();
    for (int64_t id = static_cast<int64_t>(f_.instructions.size()) - 1; id >= 0; --id) {
      const Instruction& inst = f_.instruction(id);
      if (!live[id] || inst.op == OpCode::kParameter) continue;
      const bool control_flow = ir::IsControlFlow(inst.op);
      if (control_flow ? !result_cotangents_.contains(id) : !cotangent_[id].valid()) continue;
      // The derivative of an instruction of scope "s" is in scope "backward/s".
      b_.set_scope(ir::JoinScopes(kBackwardScope, inst.scope));
      PW_RETURN_IF_ERROR(control_flow ? BackpropControlFlow(inst)
                                      : Backprop(inst, cotangent_[id], *this));
      if (!b_.status().ok()) {
        return absl::InternalError(absl::StrCat("Vjp of '", f_.name, "' at ", inst.DebugName(),
                                                ": ", b_.status().message()));
      }
    }
    b_.set_scope("");
    std::vector<Value> outputs;
    for (int64_t id : f_.outputs) outputs.push_back(primal_[id]);
    for (int64_t p : wrt) {
      const int64_t id = f_.parameters[p];
      const ir::TensorType& type = f_.instruction(id).type;
      outputs.push_back(cotangent_[id].valid()
                            ? cotangent_[id]
                            : b_.BroadcastInDim(b_.ScalarLike(type.dtype, 0), type.shape, {}));
    }
    return b_.Build(outputs);
  }

 private:
  // The original function's instructions, again, in the derivative's builder (as
  // ir::InlineFunction would add them), except that loops keep a tape for their derivative.
  absl::Status Recompute() {
    std::vector<Value> params;
    for (int64_t id : f_.parameters) {
      const Instruction& p = f_.instruction(id);
      params.push_back(b_.Parameter(p.type, p.name));
    }
    b_.set_scope(std::string(kForwardScope));  // the recomputed outputs: "forward/<scope>"
    PW_ASSIGN_OR_RETURN(primal_, ir::InlineFunction(b_, f_, params,
                                                    [this](const Instruction& inst,
                                                           absl::Span<const Value> operands)
                                                        -> absl::StatusOr<Value> {
      if (inst.op == OpCode::kWhile) return RecomputeWhile(b_, inst, operands, tapes_[inst.id]);
      return b_.AddInstruction(inst.op, operands, inst.attrs, inst.name);
    }));
    b_.set_scope("");
    return absl::OkStatus();
  }

  absl::Status BackpropControlFlow(const Instruction& inst) {
    std::vector<Value> cts = result_cotangents_[inst.id];
    cts.resize(f_.instruction(inst.id).attrs.regions[inst.op == OpCode::kWhile ? 1 : 0].outputs.size());
    if (inst.op == OpCode::kWhile) return BackpropWhile(inst, tapes_.at(inst.id), cts, *this);
    return BackpropCase(inst, cts, *this);
  }

  void SeedCotangents(Seed seed) {
    for (size_t i = 0; i < f_.outputs.size(); ++i) {
      const ir::TensorType& type = f_.instruction(f_.outputs[i]).type;
      if (seed == Seed::kOneForLoss) {
        if (i == 0) AddCotangent(f_.outputs[0], b_.ScalarLike(type.dtype, 1));
        continue;
      }
      if (!ir::IsFloating(type.dtype)) continue;
      AddCotangent(f_.outputs[i], b_.Parameter(type, absl::StrCat("ct", i)));
    }
  }

  const Function& f_;
  FunctionBuilder b_;
  std::vector<Value> primal_;
  std::vector<Value> cotangent_;
  absl::flat_hash_map<int64_t, std::vector<Value>> result_cotangents_;  // of while and case
  absl::flat_hash_map<int64_t, LoopTape> tapes_;                         // of each while
};

// The parameters to differentiate: `wrt` checked, or every floating-point one.
absl::StatusOr<std::vector<int64_t>> ResolveWrt(const Function& f, const VjpOptions& options) {
  const int64_t n = static_cast<int64_t>(f.parameters.size());
  if (options.wrt.empty()) {
    std::vector<int64_t> all;
    for (int64_t p = 0; p < n; ++p) {
      if (ir::IsFloating(f.instruction(f.parameters[p]).type.dtype)) all.push_back(p);
    }
    return all;
  }
  absl::flat_hash_set<int64_t> seen;
  for (int64_t p : options.wrt) {
    if (p < 0 || p >= n) {
      return absl::InvalidArgumentError(absl::StrCat("Vjp of '", f.name, "': wrt index ", p,
                                                     " is out of range (the function has ", n,
                                                     " parameter(s))"));
    }
    const Instruction& param = f.instruction(f.parameters[p]);
    if (!ir::IsFloating(param.type.dtype)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Vjp of '", f.name, "': parameter ", p, " (", param.DebugName(), ") is ",
                       param.type.DebugString(), ", not floating point: it has no derivative"));
    }
    if (!seen.insert(p).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("Vjp of '", f.name, "': wrt names parameter ", p, " twice"));
    }
  }
  return options.wrt;
}

}  // namespace

absl::StatusOr<Function> Vjp(const Function& f, const VjpOptions& options) {
  PW_RETURN_IF_ERROR(ir::Verify(f));
  PW_ASSIGN_OR_RETURN(std::vector<int64_t> wrt, ResolveWrt(f, options));
  Transposer transposer(f);
  return transposer.Run(wrt, Seed::kParameters);
}

absl::StatusOr<Function> ValueAndGrad(const Function& f, const VjpOptions& options) {
  PW_RETURN_IF_ERROR(ir::Verify(f));
  if (f.outputs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ValueAndGrad of '", f.name, "': the function has no output to differentiate"));
  }
  const ir::TensorType& loss = f.instruction(f.outputs[0]).type;
  if (!ir::IsFloating(loss.dtype) || loss.shape.rank() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ValueAndGrad of '", f.name, "': output 0 must be a floating-point scalar, got ",
        loss.DebugString()));
  }
  PW_ASSIGN_OR_RETURN(std::vector<int64_t> wrt, ResolveWrt(f, options));
  Transposer transposer(f);
  return transposer.Run(wrt, Seed::kOneForLoss);
}

}  // namespace pw::autodiff
