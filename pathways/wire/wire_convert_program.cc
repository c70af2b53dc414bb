// Wire conversions of programs: shardings, array specs, value references and ProgramDefs, each
// bounded where it is decoded (lowering checks the rest against the slices).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/wire/wire_convert.h"
#include "pathways/wire/wire_convert_internal.h"

namespace pw::wire {

using internal::Indexed;
using internal::Invalid;
using internal::Nested;

namespace {

pathways::wire::ValueRefProto ToProto(const ValueRef& ref) {
  pathways::wire::ValueRefProto p;
  p.set_node(ref.node);
  p.set_index(ref.index);
  return p;
}

absl::StatusOr<ValueRef> FromProto(const pathways::wire::ValueRefProto& p) {
  constexpr std::string_view kMsg = "ValueRefProto";
  if (p.node() < ValueRef::kProgramInput) {
    return Invalid(kMsg, "node", "must be a call index or -1 (program input), got ", p.node());
  }
  if (p.index() < 0) return Invalid(kMsg, "index", "must be >= 0, got ", p.index());
  return ValueRef{p.node(), p.index()};
}

template <typename Repeated>
absl::StatusOr<std::vector<ValueRef>> ValueRefsFromProto(const Repeated& from,
                                                         std::string_view message,
                                                         std::string_view field) {
  std::vector<ValueRef> refs;
  refs.reserve(from.size());
  for (int i = 0; i < from.size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(ValueRef ref, FromProto(from[i]), message, Indexed(field, i));
    refs.push_back(ref);
  }
  return refs;
}

}  // namespace

pathways::wire::ShardingProto ToProto(const Sharding& sharding) {
  pathways::wire::ShardingProto p;
  p.set_kind(static_cast<uint32_t>(sharding.kind));
  for (const std::vector<int32_t>& axes : sharding.spec) {
    p.add_spec()->mutable_axes()->Add(axes.begin(), axes.end());
  }
  return p;
}

absl::StatusOr<Sharding> FromProto(const pathways::wire::ShardingProto& p) {
  constexpr std::string_view kMsg = "ShardingProto";
  Sharding sharding;
  if (p.kind() > static_cast<uint32_t>(Sharding::Kind::kPartitioned)) {
    return Invalid(kMsg, "kind", "unknown sharding kind ", p.kind());
  }
  sharding.kind = static_cast<Sharding::Kind>(p.kind());
  if (sharding.stacked() && p.spec_size() > 0) {
    return Invalid(kMsg, "spec", "a stacked sharding has no spec");
  }
  // Lowering checks the axes against the slice's mesh; here they are only kept small.
  if (p.spec_size() > ir::kMaxRank) {
    return Invalid(kMsg, "spec", p.spec_size(), " dimensions, more than rank ", ir::kMaxRank);
  }
  for (int d = 0; d < p.spec_size(); ++d) {
    const auto& axes = p.spec(d).axes();
    if (axes.size() > ir::kMaxRank) {
      return Invalid(kMsg, Indexed("spec", d), axes.size(), " axes, more than ", ir::kMaxRank);
    }
    for (int32_t a : axes) {
      if (a < 0 || a >= ir::kMaxRank) {
        return Invalid(kMsg, Indexed("spec", d), "mesh axis ", a, " out of range [0, ",
                       ir::kMaxRank, ")");
      }
    }
    sharding.spec.emplace_back(axes.begin(), axes.end());
  }
  return sharding;
}

pathways::wire::ArraySpecProto ToProto(const ArraySpec& spec) {
  pathways::wire::ArraySpecProto p;
  *p.mutable_shard_type() = ToProto(spec.shard_type);
  p.set_slice(spec.slice.value());
  if (!spec.sharding.stacked()) *p.mutable_sharding() = ToProto(spec.sharding);
  return p;
}

absl::StatusOr<ArraySpec> FromProto(const pathways::wire::ArraySpecProto& p) {
  constexpr std::string_view kMsg = "ArraySpecProto";
  ArraySpec spec;
  PW_WIRE_ASSIGN_OR_RETURN(spec.shard_type, FromProto(p.shard_type()), kMsg, "shard_type");
  PW_ASSIGN_OR_RETURN(spec.slice, IdFromProto<SliceId>(p.slice(), kMsg, "slice"));
  PW_WIRE_ASSIGN_OR_RETURN(spec.sharding, FromProto(p.sharding()), kMsg, "sharding");
  return spec;
}

namespace {

absl::StatusOr<std::vector<Sharding>> ShardingsFromProto(
    const google::protobuf::RepeatedPtrField<pathways::wire::ShardingProto>& p, int expected,
    std::string_view message, const std::string& field) {
  if (!p.empty() && p.size() != expected) {
    return Invalid(message, field, p.size(), " shardings for ", expected, " values");
  }
  std::vector<Sharding> out;
  out.reserve(p.size());
  for (int i = 0; i < p.size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(Sharding s, pw::wire::FromProto(p.Get(i)), message, Indexed(field, i));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

pathways::wire::ProgramDefProto ToProto(const ProgramDef& program) {
  pathways::wire::ProgramDefProto p;
  p.set_name(program.name);
  for (const ArraySpec& input : program.inputs) *p.add_inputs() = ToProto(input);
  for (const ProgramCall& call : program.calls) {
    pathways::wire::ProgramCallProto* c = p.add_calls();
    c->set_name(call.name);
    c->set_function(call.function.value());
    c->set_slice(call.slice.value());
    for (const ValueRef& arg : call.args) *c->add_args() = ToProto(arg);
    for (const Sharding& s : call.arg_shardings) *c->add_arg_shardings() = ToProto(s);
    for (const Sharding& s : call.out_shardings) *c->add_out_shardings() = ToProto(s);
  }
  for (const ValueRef& out : program.outputs) *p.add_outputs() = ToProto(out);
  for (const OutputPlacement& placement : program.output_placements) {
    pathways::wire::OutputPlacementProto* o = p.add_output_placements();
    o->set_slice(placement.slice.valid() ? placement.slice.value() : -1);
    *o->mutable_sharding() = ToProto(placement.sharding);
    o->set_copy(placement.copy);
  }
  return p;
}

absl::StatusOr<ProgramDef> FromProto(const pathways::wire::ProgramDefProto& p) {
  constexpr std::string_view kMsg = "ProgramDefProto";
  ProgramDef program;
  program.name = p.name();
  program.inputs.reserve(p.inputs_size());
  for (int i = 0; i < p.inputs_size(); ++i) {
    PW_WIRE_ASSIGN_OR_RETURN(ArraySpec spec, FromProto(p.inputs(i)), kMsg, Indexed("inputs", i));
    program.inputs.push_back(std::move(spec));
  }
  program.calls.reserve(p.calls_size());
  for (int i = 0; i < p.calls_size(); ++i) {
    const pathways::wire::ProgramCallProto& c = p.calls(i);
    const std::string where = Indexed("calls", i);
    ProgramCall call;
    call.name = c.name();
    if (c.function() < 0) return Invalid(kMsg, where + ".function", "id ", c.function(), " is negative");
    if (c.slice() < 0) return Invalid(kMsg, where + ".slice", "id ", c.slice(), " is negative");
    call.function = FunctionId(c.function());
    call.slice = SliceId(c.slice());
    PW_ASSIGN_OR_RETURN(call.args, ValueRefsFromProto(c.args(), kMsg, where + ".args"));
    PW_ASSIGN_OR_RETURN(call.arg_shardings,
                        ShardingsFromProto(c.arg_shardings(), c.args_size(), kMsg,
                                           where + ".arg_shardings"));
    // The function's output count is the controller's to check.
    PW_ASSIGN_OR_RETURN(call.out_shardings,
                        ShardingsFromProto(c.out_shardings(), c.out_shardings_size(), kMsg,
                                           where + ".out_shardings"));
    program.calls.push_back(std::move(call));
  }
  PW_ASSIGN_OR_RETURN(program.outputs, ValueRefsFromProto(p.outputs(), kMsg, "outputs"));
  if (p.output_placements_size() > 0 && p.output_placements_size() != p.outputs_size()) {
    return Invalid(kMsg, "output_placements", p.output_placements_size(), " placements for ",
                   p.outputs_size(), " outputs");
  }
  for (int i = 0; i < p.output_placements_size(); ++i) {
    const pathways::wire::OutputPlacementProto& o = p.output_placements(i);
    const std::string where = Indexed("output_placements", i);
    OutputPlacement placement;
    if (o.slice() < -1) return Invalid(kMsg, where + ".slice", "id ", o.slice(), " is negative");
    if (o.slice() >= 0) placement.slice = SliceId(o.slice());
    PW_WIRE_ASSIGN_OR_RETURN(placement.sharding, FromProto(o.sharding()), kMsg,
                             where + ".sharding");
    placement.copy = o.copy();
    program.output_placements.push_back(std::move(placement));
  }
  return program;
}

}  // namespace pw::wire
