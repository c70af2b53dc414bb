// The taping forward loop and the backward loop of a while; the case of branch VJPs.
#include "pathways/autodiff/control_flow.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/autodiff/vjp.h"
#include "pathways/base/status.h"
#include "pathways/ir/inline_function.h"

namespace pw::autodiff {
namespace {

using ir::DType;
using ir::Function;
using ir::FunctionBuilder;
using ir::Instruction;
using ir::TensorType;
using ir::Value;

Value Zeros(FunctionBuilder& b, const TensorType& t) {
  return b.BroadcastInDim(b.ScalarLike(t.dtype, 0), t.shape, {});
}

ir::Shape Stacked(int64_t n, const ir::Shape& shape) {
  std::vector<int64_t> dims = {n};
  dims.insert(dims.end(), shape.dims().begin(), shape.dims().end());
  return ir::Shape(absl::MakeConstSpan(dims));
}

// Scalar i32 starts (r, 0, 0, ...) for a block of a stack of `rank`-dimensional values.
std::vector<Value> StackStarts(FunctionBuilder& b, Value r, int64_t rank) {
  std::vector<Value> starts = {r};
  for (int64_t d = 0; d < rank; ++d) starts.push_back(b.ConstantScalar<int32_t>(0));
  return starts;
}

// The values of `f` on `args`, its outputs in order.
absl::StatusOr<std::vector<Value>> Call(FunctionBuilder& b, const Function& f,
                                        absl::Span<const Value> args) {
  PW_ASSIGN_OR_RETURN(std::vector<Value> values, ir::InlineFunction(b, f, args));
  return ir::OutputsOf(f, values);
}

absl::StatusOr<Function> Finish(FunctionBuilder& b, absl::Span<const Value> outputs,
                                const Instruction& inst) {
  absl::StatusOr<Function> f = b.Build(outputs);
  if (!f.ok()) {
    return absl::InternalError(
        absl::StrCat("derivative of ", inst.DebugName(), ": ", f.status().message()));
  }
  return f;
}

// Parameters of `types` in a new builder.
std::vector<Value> Params(FunctionBuilder& b, absl::Span<const TensorType> types) {
  std::vector<Value> p;
  for (const TensorType& t : types) p.push_back(b.Parameter(t));
  return p;
}

}  // namespace

absl::StatusOr<Value> RecomputeWhile(FunctionBuilder& b, const Instruction& inst,
                                     absl::Span<const Value> operands, LoopTape& tape) {
  const Function& cond = inst.attrs.regions[0];
  const Function& body = inst.attrs.regions[1];
  const int64_t n = inst.attrs.max_iterations;
  const std::vector<TensorType> carried = body.output_types();
  const int64_t k = static_cast<int64_t>(carried.size());
  tape = LoopTape{};
  for (int64_t j = 0; j < k; ++j) {
    if (body.outputs[j] != body.parameters[j]) tape.stacked.push_back(j);
  }
  tape.first_stack = k;
  tape.trip_count = k + static_cast<int64_t>(tape.stacked.size());

  std::vector<TensorType> types = carried;
  for (int64_t j : tape.stacked) types.push_back({carried[j].dtype, Stacked(n, carried[j].shape)});
  types.push_back({DType::kI32, ir::Shape{}});
  const ir::FunctionOptions options{.num_shards = body.num_shards};

  FunctionBuilder cb(cond.name, options);
  std::vector<Value> cp = Params(cb, types);
  PW_ASSIGN_OR_RETURN(std::vector<Value> pred, Call(cb, cond, absl::MakeConstSpan(cp).first(k)));
  PW_ASSIGN_OR_RETURN(Function taped_cond, Finish(cb, pred, inst));

  FunctionBuilder bb(absl::StrCat(body.name, "_taped"), options);
  std::vector<Value> bp = Params(bb, types);
  const Value t = bp.back();
  PW_ASSIGN_OR_RETURN(std::vector<Value> next, Call(bb, body, absl::MakeConstSpan(bp).first(k)));
  for (size_t s = 0; s < tape.stacked.size(); ++s) {
    const int64_t j = tape.stacked[s];
    const Value row = bb.Reshape(bp[j], Stacked(1, carried[j].shape));
    next.push_back(
        bb.DynamicUpdateSlice(bp[k + s], row, StackStarts(bb, t, carried[j].shape.rank())));
  }
  next.push_back(bb.Add(t, bb.ConstantScalar<int32_t>(1)));
  PW_ASSIGN_OR_RETURN(Function taped_body, Finish(bb, next, inst));

  std::vector<Value> init(operands.begin(), operands.end());
  for (size_t s = 0; s < tape.stacked.size(); ++s) init.push_back(Zeros(b, types[k + s]));
  init.push_back(b.ConstantScalar<int32_t>(0));
  ir::Attributes a;
  a.max_iterations = n;
  a.regions.functions = {std::make_shared<const Function>(std::move(taped_cond)),
                         std::make_shared<const Function>(std::move(taped_body))};
  return b.AddInstruction(ir::OpCode::kWhile, init, std::move(a), inst.name);
}

absl::Status BackpropWhile(const Instruction& inst, const LoopTape& tape,
                           absl::Span<const Value> cotangents, BackpropContext& ctx) {
  FunctionBuilder& b = ctx.builder();
  const Function& body = inst.attrs.regions[1];
  const std::vector<TensorType> carried = body.output_types();
  const int64_t k = static_cast<int64_t>(carried.size());
  std::vector<int64_t> floating;  // carried values with cotangents
  for (int64_t j = 0; j < k; ++j) {
    if (ir::IsFloating(carried[j].dtype)) floating.push_back(j);
  }
  if (floating.empty()) return absl::OkStatus();
  PW_ASSIGN_OR_RETURN(Function body_vjp, Vjp(body, VjpOptions{.wrt = floating}));
  std::vector<int64_t> slot(k, -1);  // carried value -> its stack among tape.stacked
  for (size_t s = 0; s < tape.stacked.size(); ++s) slot[tape.stacked[s]] = static_cast<int64_t>(s);
  std::vector<int64_t> invariant;
  for (int64_t j = 0; j < k; ++j) {
    if (slot[j] < 0) invariant.push_back(j);
  }

  // Backward loop carries: r (counting down), the cotangents, the stacks, the invariants.
  const Value tuple = ctx.primal(inst.id);
  std::vector<TensorType> types = {{DType::kI32, ir::Shape{}}};
  std::vector<Value> init = {
      b.Subtract(b.GetResult(tuple, tape.trip_count, types[0]), b.ConstantScalar<int32_t>(1))};
  for (int64_t j : floating) {
    types.push_back(carried[j]);
    init.push_back(cotangents[j].valid() ? cotangents[j] : Zeros(b, carried[j]));
  }
  const int64_t n = inst.attrs.max_iterations;
  for (size_t s = 0; s < tape.stacked.size(); ++s) {
    const TensorType& c = carried[tape.stacked[s]];
    types.push_back({c.dtype, Stacked(n, c.shape)});
    init.push_back(b.GetResult(tuple, tape.first_stack + static_cast<int64_t>(s), types.back()));
  }
  for (int64_t j : invariant) {
    types.push_back(carried[j]);
    init.push_back(ctx.primal(inst.operands[j]));
  }
  const ir::FunctionOptions options{.num_shards = body.num_shards};
  const int64_t nf = static_cast<int64_t>(floating.size());
  const int64_t ns = static_cast<int64_t>(tape.stacked.size());

  FunctionBuilder cb("count_down", options);
  std::vector<Value> cp = Params(cb, types);
  PW_ASSIGN_OR_RETURN(
      Function back_cond,
      Finish(cb, {cb.Compare(cp[0], cb.ConstantScalar<int32_t>(0), ir::ComparisonDirection::kGe)},
             inst));

  FunctionBuilder bb(absl::StrCat(body.name, "_backward"), options);
  std::vector<Value> bp = Params(bb, types);
  std::vector<Value> args(k);
  for (int64_t j = 0; j < k; ++j) {
    if (slot[j] >= 0) {
      const ir::Shape one = Stacked(1, carried[j].shape);
      const absl::Span<const int64_t> row = one.dims();
      const Value block =
          bb.DynamicSlice(bp[1 + nf + slot[j]], StackStarts(bb, bp[0], carried[j].shape.rank()),
                          std::vector<int64_t>(row.begin(), row.end()));
      args[j] = bb.Reshape(block, carried[j].shape);
    }
  }
  for (size_t v = 0; v < invariant.size(); ++v) args[invariant[v]] = bp[1 + nf + ns + v];
  for (int64_t f = 0; f < nf; ++f) args.push_back(bp[1 + f]);
  PW_ASSIGN_OR_RETURN(std::vector<Value> d, Call(bb, body_vjp, args));
  std::vector<Value> next = {bb.Subtract(bp[0], bb.ConstantScalar<int32_t>(1))};
  for (int64_t f = 0; f < nf; ++f) next.push_back(d[k + f]);
  for (size_t i = 1 + nf; i < bp.size(); ++i) next.push_back(bp[i]);
  PW_ASSIGN_OR_RETURN(Function back_body, Finish(bb, next, inst));

  std::vector<Value> results = b.While(std::move(back_cond), std::move(back_body), init, n);
  if (!b.status().ok()) return b.status();
  for (int64_t f = 0; f < nf; ++f) ctx.AddCotangent(inst.operands[floating[f]], results[1 + f]);
  return absl::OkStatus();
}

absl::Status BackpropCase(const Instruction& inst, absl::Span<const Value> cotangents,
                          BackpropContext& ctx) {
  FunctionBuilder& b = ctx.builder();
  const ir::Regions& branches = inst.attrs.regions;
  const std::vector<TensorType> params = branches[0].parameter_types();
  const std::vector<TensorType> outs = branches[0].output_types();
  std::vector<int64_t> floating;
  for (size_t p = 0; p < params.size(); ++p) {
    if (ir::IsFloating(params[p].dtype)) floating.push_back(static_cast<int64_t>(p));
  }
  if (floating.empty()) return absl::OkStatus();
  std::vector<Function> vjps;
  for (size_t i = 0; i < branches.size(); ++i) {
    PW_ASSIGN_OR_RETURN(Function d, Vjp(branches[i], VjpOptions{.wrt = floating}));
    vjps.push_back(std::move(d));
  }
  std::vector<Value> operands;
  for (size_t o = 1; o < inst.operands.size(); ++o)
    operands.push_back(ctx.primal(inst.operands[o]));
  for (size_t j = 0; j < outs.size(); ++j) {
    if (!ir::IsFloating(outs[j].dtype)) continue;
    operands.push_back(cotangents[j].valid() ? cotangents[j] : Zeros(b, outs[j]));
  }
  std::vector<Value> results = b.Case(ctx.primal(inst.operands[0]), std::move(vjps), operands);
  if (!b.status().ok()) return b.status();
  for (size_t f = 0; f < floating.size(); ++f) {
    ctx.AddCotangent(inst.operands[1 + floating[f]], results[outs.size() + f]);
  }
  return absl::OkStatus();
}

}  // namespace pw::autodiff
