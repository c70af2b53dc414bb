// Function <-> protobuf: a plain writer and a hardened reader that sorts, renumbers and verifies.
#include "pathways/ir/serialization.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <climits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/ir/ir.pb.h"

namespace pw::ir {
namespace {

using pathways::ir::AttributesProto;
using pathways::ir::FunctionProto;
using pathways::ir::InstructionProto;
using pathways::ir::LiteralProto;
using pathways::ir::TensorTypeProto;

template <typename Repeated>
void CopyInts(const std::vector<int64_t>& from, Repeated* to) {
  to->Reserve(static_cast<int>(from.size()));
  for (int64_t v : from) to->Add(v);
}

template <typename Repeated>
std::vector<int64_t> ReadInts(const Repeated& from) {
  return std::vector<int64_t>(from.begin(), from.end());
}

void TypeToProto(const TensorType& t, TensorTypeProto* p) {
  p->set_dtype(static_cast<uint32_t>(t.dtype));
  for (int64_t d : t.shape.dims()) p->add_dims(d);
}

void FunctionToProto(const Function& f, FunctionProto* p);

// Default-valued submessages are left out, so unused attributes cost no bytes.
void AttributesToProto(const Attributes& a, AttributesProto* p) {
  p->set_index(a.index);
  if (!(a.type == TensorType{})) TypeToProto(a.type, p->mutable_type());
  if (a.literal.has_value()) {
    LiteralProto* l = p->mutable_literal();
    TypeToProto(a.literal->type(), l->mutable_type());
    l->set_data(a.literal->bytes());
  }
  p->set_axis(a.axis);
  p->set_split_axis(a.split_axis);
  p->set_concat_axis(a.concat_axis);
  p->set_dtype(static_cast<uint32_t>(a.dtype));
  p->set_comparison(static_cast<uint32_t>(a.comparison));
  p->set_reduce_kind(static_cast<uint32_t>(a.reduce_kind));
  CopyInts(a.dims, p->mutable_dims());
  CopyInts(a.starts, p->mutable_starts());
  CopyInts(a.limits, p->mutable_limits());
  CopyInts(a.strides, p->mutable_strides());
  if (!(a.dot == DotDimensionNumbers{})) {
    CopyInts(a.dot.lhs_batch, p->mutable_dot()->mutable_lhs_batch());
    CopyInts(a.dot.rhs_batch, p->mutable_dot()->mutable_rhs_batch());
    CopyInts(a.dot.lhs_contracting, p->mutable_dot()->mutable_lhs_contracting());
    CopyInts(a.dot.rhs_contracting, p->mutable_dot()->mutable_rhs_contracting());
  }
  for (const auto& [source, target] : a.pairs) {
    auto* pair = p->add_pairs();
    pair->set_source(source);
    pair->set_target(target);
  }
  for (const auto& group : a.groups) CopyInts(group, p->add_groups()->mutable_shards());
  p->set_reverse(a.reverse);
  p->set_k(a.k);
  for (const auto& region : a.regions.functions) {
    FunctionProto* r = p->add_regions();
    if (region != nullptr) FunctionToProto(*region, r);
  }
  p->set_max_iterations(a.max_iterations);
}

void FunctionToProto(const Function& f, FunctionProto* p) {
  p->set_version(kIrFormatVersion);
  p->set_name(f.name);
  p->set_num_shards(f.num_shards);
  p->mutable_instructions()->Reserve(static_cast<int>(f.instructions.size()));
  for (const Instruction& inst : f.instructions) {
    InstructionProto* ip = p->add_instructions();
    ip->set_id(inst.id);
    ip->set_op(static_cast<uint32_t>(inst.op));
    CopyInts(inst.operands, ip->mutable_operands());
    TypeToProto(inst.type, ip->mutable_type());
    AttributesToProto(inst.attrs, ip->mutable_attrs());
    ip->set_name(inst.name);
    if (!inst.scope.empty()) ip->set_scope(inst.scope);
  }
  CopyInts(f.parameters, p->mutable_parameters());
  CopyInts(f.outputs, p->mutable_outputs());
}

// Reads one function message. Every check names the function and, where there is one, the
// instruction by the id the *sender* gave it (renumbering happens only after all checks that
// can refer to sender ids).
class Reader {
 public:
  // `depth`: how many regions enclose this function (at most kMaxRegionDepth).
  explicit Reader(const FunctionProto& p, int64_t depth = 0) : p_(p), depth_(depth) {}

  absl::StatusOr<Function> Read() {
    Function f;
    f.name = p_.name();
    if (p_.version() != kIrFormatVersion) {
      if (p_.version() == 0) {
        return Fail("has no IR format version (not a serialized function, or a corrupt one)");
      }
      return Fail("was serialized with IR format version ", p_.version(),
                  ", but this build reads only version ", kIrFormatVersion);
    }
    if (p_.num_shards() < 1 || p_.num_shards() > kMaxShards) {
      return Fail("num_shards must be in [1, ", kMaxShards, "], got ", p_.num_shards());
    }
    f.num_shards = p_.num_shards();

    const int n = p_.instructions_size();
    std::vector<Instruction> insts(n);
    absl::flat_hash_map<int64_t, int64_t> position_of_id;
    position_of_id.reserve(n);
    for (int i = 0; i < n; ++i) {
      PW_RETURN_IF_ERROR(ReadInstruction(p_.instructions(i), &insts[i]));
      auto [it, inserted] = position_of_id.emplace(insts[i].id, i);
      if (!inserted) {
        return Fail(insts[i].DebugName(), ": id %", insts[i].id, " is already used by ",
                    insts[it->second].DebugName());
      }
    }

    // Operands as positions in `insts`.
    std::vector<std::vector<int64_t>> operand_pos(n);
    for (int i = 0; i < n; ++i) {
      operand_pos[i].reserve(insts[i].operands.size());
      for (size_t k = 0; k < insts[i].operands.size(); ++k) {
        auto it = position_of_id.find(insts[i].operands[k]);
        if (it == position_of_id.end()) {
          return Fail(insts[i].DebugName(), ": operand ", k, " refers to %", insts[i].operands[k],
                      ", which does not exist");
        }
        operand_pos[i].push_back(it->second);
      }
    }
    PW_ASSIGN_OR_RETURN(std::vector<int64_t> order, TopologicalOrder(insts, operand_pos));

    std::vector<int64_t> new_id(n);
    for (int64_t k = 0; k < n; ++k) new_id[order[k]] = k;
    f.instructions.reserve(n);
    for (int64_t k = 0; k < n; ++k) {
      int64_t pos = order[k];
      Instruction& inst = insts[pos];
      inst.id = k;
      for (size_t j = 0; j < inst.operands.size(); ++j) inst.operands[j] = new_id[operand_pos[pos][j]];
      f.instructions.push_back(std::move(inst));
    }
    PW_RETURN_IF_ERROR(MapIds(p_.parameters(), position_of_id, new_id, "parameter", &f.parameters));
    PW_RETURN_IF_ERROR(MapIds(p_.outputs(), position_of_id, new_id, "output", &f.outputs));
    PW_RETURN_IF_ERROR(Verify(f));
    return f;
  }

 private:
  template <typename... Parts>
  absl::Status Fail(const Parts&... parts) const {
    // Escaped: the name comes off the wire and may hold any bytes.
    return absl::InvalidArgumentError(
        absl::StrCat("function '", absl::CHexEscape(p_.name()), "': ", parts...));
  }

  // `allow_invalid`: kInvalid (0) is the default of unused attribute fields.
  absl::StatusOr<DType> ReadDType(uint32_t v, bool allow_invalid, std::string_view what,
                                  const Instruction& inst) const {
    if (v == 0 && allow_invalid) return DType::kInvalid;
    if (v > 0xff || !IsValidDType(static_cast<DType>(v))) {
      return Fail(inst.DebugName(), ": ", ToAbsl(what), " has unknown dtype ", v);
    }
    return static_cast<DType>(v);
  }

  absl::StatusOr<TensorType> ReadType(const TensorTypeProto& p, bool allow_invalid,
                                      std::string_view what, const Instruction& inst) const {
    TensorType t;
    PW_ASSIGN_OR_RETURN(t.dtype, ReadDType(p.dtype(), allow_invalid, what, inst));
    if (p.dims_size() > kMaxRank) {
      return Fail(inst.DebugName(), ": ", ToAbsl(what), " has rank ", p.dims_size(),
                  ", more than the maximum ", kMaxRank);
    }
    t.shape = Shape(absl::Span<const int64_t>(p.dims().data(), p.dims_size()));
    if (!t.shape.IsValid()) {
      return Fail(inst.DebugName(), ": ", ToAbsl(what), " has invalid shape ",
                  t.shape.DebugString(), " (negative dim or more than ", kMaxElements,
                  " elements)");
    }
    return t;
  }

  absl::Status ReadInstruction(const InstructionProto& p, Instruction* inst) const {
    inst->id = p.id();
    inst->name = p.name();
    if (static_cast<int64_t>(p.scope().size()) > kMaxScopeLength) {
      return Fail("%", p.id(), ": scope of ", p.scope().size(), " bytes (at most ", kMaxScopeLength, ")");
    }
    inst->scope = p.scope();
    if (p.op() > 0xffff || p.op() == 0 || !IsKnownOpCode(p.op())) {
      return Fail("%", p.id(), p.name().empty() ? "" : absl::StrCat(" \"", p.name(), "\""),
                  ": unknown op code ", p.op());
    }
    inst->op = static_cast<OpCode>(p.op());
    inst->operands = ReadInts(p.operands());
    PW_ASSIGN_OR_RETURN(inst->type, ReadType(p.type(), /*allow_invalid=*/true, "result type", *inst));

    const AttributesProto& ap = p.attrs();
    Attributes& a = inst->attrs;
    a.index = ap.index();
    if (ap.has_type()) {
      PW_ASSIGN_OR_RETURN(a.type, ReadType(ap.type(), /*allow_invalid=*/true, "attribute type", *inst));
    }
    if (ap.has_literal()) {
      PW_ASSIGN_OR_RETURN(TensorType lt, ReadType(ap.literal().type(), /*allow_invalid=*/false,
                                                  "literal", *inst));
      absl::StatusOr<Literal> lit = Literal::FromBytes(std::move(lt), ap.literal().data());
      if (!lit.ok()) return Fail(inst->DebugName(), ": ", lit.status().message());
      a.literal = *std::move(lit);
    }
    a.axis = ap.axis();
    a.split_axis = ap.split_axis();
    a.concat_axis = ap.concat_axis();
    PW_ASSIGN_OR_RETURN(a.dtype, ReadDType(ap.dtype(), /*allow_invalid=*/true, "dtype attribute", *inst));
    if (ap.comparison() > static_cast<uint32_t>(ComparisonDirection::kGe)) {
      return Fail(inst->DebugName(), ": unknown comparison direction ", ap.comparison());
    }
    a.comparison = static_cast<ComparisonDirection>(ap.comparison());
    if (ap.reduce_kind() > static_cast<uint32_t>(ReduceKind::kMin)) {
      return Fail(inst->DebugName(), ": unknown reduction kind ", ap.reduce_kind());
    }
    a.reduce_kind = static_cast<ReduceKind>(ap.reduce_kind());
    a.dims = ReadInts(ap.dims());
    a.starts = ReadInts(ap.starts());
    a.limits = ReadInts(ap.limits());
    a.strides = ReadInts(ap.strides());
    a.reverse = ap.reverse();
    a.k = ap.k();
    if (ap.has_dot()) {
      a.dot.lhs_batch = ReadInts(ap.dot().lhs_batch());
      a.dot.rhs_batch = ReadInts(ap.dot().rhs_batch());
      a.dot.lhs_contracting = ReadInts(ap.dot().lhs_contracting());
      a.dot.rhs_contracting = ReadInts(ap.dot().rhs_contracting());
    }
    a.pairs.reserve(ap.pairs_size());
    for (const auto& pair : ap.pairs()) a.pairs.emplace_back(pair.source(), pair.target());
    // Sizes are bounded here; that the groups partition the shards is shape inference's check.
    if (ap.groups_size() > kMaxShards) {
      return Fail(inst->DebugName(), ": ", ap.groups_size(), " shard groups (at most ", kMaxShards, ")");
    }
    int64_t members = 0;
    for (const auto& group : ap.groups()) {
      members += group.shards_size();
      if (members > kMaxShards) {
        return Fail(inst->DebugName(), ": shard groups list more than ", kMaxShards, " shards");
      }
      a.groups.push_back(ReadInts(group.shards()));
    }
    a.max_iterations = ap.max_iterations();
    if (ap.regions_size() > 0 && depth_ >= kMaxRegionDepth) {
      return Fail(inst->DebugName(), ": regions nest deeper than ", kMaxRegionDepth, " levels");
    }
    for (int r = 0; r < ap.regions_size(); ++r) {
      absl::StatusOr<Function> region = Reader(ap.regions(r), depth_ + 1).Read();
      if (!region.ok()) return Fail(inst->DebugName(), " region ", r, ": ", region.status().message());
      a.regions.functions.push_back(std::make_shared<const Function>(*std::move(region)));
    }
    return absl::OkStatus();
  }

  // Depth-first post-order over operands, iterative so that a long chain cannot overflow the
  // stack. Roots are taken in the given order, so an already topological input keeps its order.
  absl::StatusOr<std::vector<int64_t>> TopologicalOrder(
      const std::vector<Instruction>& insts,
      const std::vector<std::vector<int64_t>>& operand_pos) const {
    enum : uint8_t { kNew, kOnStack, kDone };
    const int64_t n = static_cast<int64_t>(insts.size());
    std::vector<uint8_t> state(n, kNew);
    std::vector<int64_t> order;
    order.reserve(n);
    struct Frame {
      int64_t pos;
      size_t next_operand;
    };
    std::vector<Frame> stack;
    for (int64_t root = 0; root < n; ++root) {
      if (state[root] != kNew) continue;
      state[root] = kOnStack;
      stack.push_back({root, 0});
      while (!stack.empty()) {
        Frame& top = stack.back();
        const std::vector<int64_t>& ops = operand_pos[top.pos];
        if (top.next_operand == ops.size()) {
          state[top.pos] = kDone;
          order.push_back(top.pos);
          stack.pop_back();
          continue;
        }
        int64_t o = ops[top.next_operand++];
        if (state[o] == kDone) continue;
        if (state[o] == kOnStack) return CycleError(insts, stack, o);
        state[o] = kOnStack;
        stack.push_back({o, 0});
      }
    }
    return order;
  }

  template <typename Stack>
  absl::Status CycleError(const std::vector<Instruction>& insts, const Stack& stack,
                          int64_t back_to) const {
    size_t first = 0;
    while (stack[first].pos != back_to) ++first;
    std::string path;
    for (size_t j = first; j < stack.size(); ++j) {
      absl::StrAppend(&path, insts[stack[j].pos].DebugName(), " -> ");
    }
    absl::StrAppend(&path, "%", insts[back_to].id);
    return Fail("cycle through ", path);
  }

  template <typename Repeated>
  absl::Status MapIds(const Repeated& ids, const absl::flat_hash_map<int64_t, int64_t>& position_of_id,
                      const std::vector<int64_t>& new_id, std::string_view what,
                      std::vector<int64_t>* out) const {
    out->reserve(ids.size());
    for (int k = 0; k < ids.size(); ++k) {
      auto it = position_of_id.find(ids.Get(k));
      if (it == position_of_id.end()) {
        return Fail(ToAbsl(what), " ", k, " refers to %", ids.Get(k), ", which does not exist");
      }
      out->push_back(new_id[it->second]);
    }
    return absl::OkStatus();
  }

  const FunctionProto& p_;
  int64_t depth_;
};

}  // namespace

FunctionProto ToProto(const Function& f) {
  FunctionProto p;
  FunctionToProto(f, &p);
  return p;
}

absl::StatusOr<Function> FromProto(const FunctionProto& proto) { return Reader(proto).Read(); }

absl::StatusOr<std::string> SerializeFunction(const Function& f) {
  FunctionProto p = ToProto(f);
  size_t size = p.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("function '", f.name, "': serialized size ",
                                                   size, " bytes exceeds protobuf's 2 GiB limit"));
  }
  std::string out;
  out.reserve(size);
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    // No maps today, but keep the bytes canonical should one be added: they feed cache keys.
    coded.SetSerializationDeterministic(true);
    p.SerializeWithCachedSizes(&coded);
    if (coded.HadError()) {
      return absl::InternalError(absl::StrCat("function '", f.name, "': serialization failed"));
    }
  }
  return out;
}

absl::StatusOr<Function> DeserializeFunction(std::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("serialized function of ", bytes.size(), " bytes exceeds the 2 GiB limit"));
  }
  FunctionProto p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse a serialized function from ",
                                                   bytes.size(), " bytes (not an ir.proto FunctionProto)"));
  }
  return FromProto(p);
}

}  // namespace pw::ir
