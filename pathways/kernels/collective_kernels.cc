// Collective kernels: all_reduce, all_gather, reduce_scatter, all_to_all, collective_permute
// and shard_index, run through the gang's Communicator.
//
// The Communicator moves rank-major contiguous blocks. When the op's axis is not the leading
// one, the kernel rearranges data between the tensor layout and that block layout with a
// StridedCopy through the step's temp scratch; along a leading axis the blocks already are
// contiguous and the communicator reads / writes the buffers directly.
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/kernels/group_communicator.h"
#include "pathways/kernels/kernel_step.h"
#include "pathways/kernels/strided_copy.h"

namespace pw::cpu {
namespace {

using ir::OpCode;

struct CollectiveParams : KernelParams {
  ir::DType dtype = ir::DType::kInvalid;
  ir::ReduceKind kind = ir::ReduceKind::kSum;
  int64_t count = 0;  // per-rank element count the communicator call takes
  // Rearrangement before / after the communicator call (through temp scratch).
  std::optional<StridedCopy> before, after;
  int64_t before_offset = 0, after_offset = 0;  // within the step's temp region
  std::vector<std::pair<int64_t, int64_t>> pairs;
  std::optional<ShardGroupIndex> groups;  // set for a collective within shard groups
};

// The communicator the op talks to: the gang's, or this rank's group of it.
template <typename Fn>
absl::Status WithCommunicator(const CollectiveParams& p, const ExecutionFrame& f, Fn fn) {
  if (!p.groups.has_value()) return fn(*f.communicator);
  GroupCommunicator group(*f.communicator, *p.groups);
  return fn(group);
}

// Views a tensor as [pre, blocks, rest] and returns the copy producing [blocks, pre, rest]
// (blocks-major), or the inverse copy when `to_blocks` is false.
StridedCopy BlockTranspose(int64_t elem_size, int64_t pre, int64_t blocks, int64_t rest,
                           bool to_blocks) {
  if (to_blocks) {  // source [pre, blocks, rest]
    return StridedCopy(elem_size, {blocks, pre, rest}, {rest, blocks * rest, 1});
  }
  // source [blocks, pre, rest] -> result [pre, blocks, rest]
  return StridedCopy(elem_size, {pre, blocks, rest}, {rest, pre * rest, 1});
}

int64_t Product(absl::Span<const int64_t> dims, int64_t begin, int64_t end) {
  int64_t n = 1;
  for (int64_t i = begin; i < end; ++i) n *= dims[i];
  return n;
}

// Source of the communicator call: the operand, or its rearranged copy in temp.
const void* Before(const CollectiveParams& p, const KernelStep& s, const ExecutionFrame& f) {
  if (!p.before.has_value()) return s.in(f, 0);
  char* dst = s.temp(f) + p.before_offset;
  p.before->Run(s.in(f, 0), dst);
  return dst;
}
// Destination of the communicator call: the result, or temp to rearrange from afterwards.
void* AfterTarget(const CollectiveParams& p, const KernelStep& s, const ExecutionFrame& f) {
  return p.after.has_value() ? s.temp(f) + p.after_offset : s.out(f);
}
void After(const CollectiveParams& p, const KernelStep& s, const ExecutionFrame& f) {
  if (p.after.has_value()) p.after->Run(s.temp(f) + p.after_offset, s.out(f));
}

absl::Status AllReduceKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<CollectiveParams>();
  if (p.count == 0) return absl::OkStatus();
  return WithCommunicator(p, f, [&](Communicator& c) {
    return c.AllReduce(s.in(f, 0), s.out(f), p.count, p.dtype, p.kind);
  });
}

absl::Status AllGatherKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<CollectiveParams>();
  if (p.count == 0) return absl::OkStatus();
  absl::Status st = WithCommunicator(p, f, [&](Communicator& c) {
    return c.AllGather(s.in(f, 0), AfterTarget(p, s, f), p.count, p.dtype);
  });
  if (st.ok()) After(p, s, f);
  return st;
}

absl::Status ReduceScatterKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<CollectiveParams>();
  if (p.count == 0) return absl::OkStatus();
  return WithCommunicator(p, f, [&](Communicator& c) {
    return c.ReduceScatter(Before(p, s, f), s.out(f), p.count, p.dtype, p.kind);
  });
}

absl::Status AllToAllKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<CollectiveParams>();
  if (p.count == 0) return absl::OkStatus();
  absl::Status st = WithCommunicator(p, f, [&](Communicator& c) {
    return c.AllToAll(Before(p, s, f), AfterTarget(p, s, f), p.count, p.dtype);
  });
  if (st.ok()) After(p, s, f);
  return st;
}

absl::Status CollectivePermuteKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<CollectiveParams>();
  if (s.byte_size == 0) return absl::OkStatus();
  return f.communicator->CollectivePermute(s.in(f, 0), s.out(f), s.byte_size, p.pairs);
}

absl::Status ShardIndexKernel(const KernelStep& s, const ExecutionFrame& f) {
  *s.out<int32_t>(f) =
      f.communicator == nullptr ? 0 : static_cast<int32_t>(f.communicator->rank());
  return absl::OkStatus();
}

}  // namespace

absl::Status PrepareCollective(const ir::Function& fn, const ir::Instruction& inst,
                               KernelStep& step) {
  if (inst.op == OpCode::kShardIndex) {
    step.fn = &ShardIndexKernel;
    return absl::OkStatus();
  }
  const ir::TensorType& in = fn.instruction(inst.operands[0]).type;
  const absl::Span<const int64_t> in_dims = in.shape.dims();
  const int64_t es = ir::DTypeSize(in.dtype);
  auto p = std::make_unique<CollectiveParams>();
  if (!inst.attrs.groups.empty()) {
    absl::StatusOr<ShardGroupIndex> index = ShardGroupIndex::Create(inst.attrs.groups, fn.num_shards);
    if (!index.ok()) return index.status();
    p->groups = *std::move(index);
  }
  // The communicating group's size: blocks are laid out per member of the group.
  const int64_t shards = p->groups.has_value() ? p->groups->group_size() : fn.num_shards;
  p->dtype = in.dtype;
  p->kind = inst.attrs.reduce_kind;
  int64_t temp = 0;
  auto reserve = [&temp](int64_t bytes) {
    const int64_t offset = temp;
    temp += AlignUp(bytes);
    return offset;
  };
  switch (inst.op) {
    case OpCode::kAllReduce:
      p->count = in.num_elements();
      step.fn = &AllReduceKernel;
      break;
    case OpCode::kAllGather: {
      // Gathered blocks arrive as [shards, pre, axis * post]; the result is [pre, shards, ...].
      const int64_t axis = inst.attrs.axis;
      const int64_t pre = Product(in_dims, 0, axis);
      p->count = in.num_elements();
      if (pre > 1) {
        p->after = BlockTranspose(es, pre, shards, p->count / pre, /*to_blocks=*/false);
        p->after_offset = reserve(step.byte_size);
      }
      step.fn = &AllGatherKernel;
      break;
    }
    case OpCode::kReduceScatter: {
      // The operand [pre, shards * a, post] goes out as blocks [shards, pre, a * post].
      const int64_t axis = inst.attrs.axis;
      const int64_t pre = Product(in_dims, 0, axis);
      p->count = step.num_elements;
      if (pre > 1) {
        p->before = BlockTranspose(es, pre, shards, p->count / pre, /*to_blocks=*/true);
        p->before_offset = reserve(in.byte_size());
      }
      step.fn = &ReduceScatterKernel;
      break;
    }
    case OpCode::kAllToAll: {
      // Send block j = the j-th split along split_axis; receive block j = rank j's chunk,
      // which lands at position j along concat_axis.
      const int64_t split = inst.attrs.split_axis, concat = inst.attrs.concat_axis;
      p->count = in.num_elements() / shards;
      if (p->count > 0) {
        const int64_t pre_split = Product(in_dims, 0, split);
        if (pre_split > 1) {
          const int64_t rest = in.num_elements() / pre_split / shards;
          p->before = BlockTranspose(es, pre_split, shards, rest, /*to_blocks=*/true);
          p->before_offset = reserve(in.byte_size());
        }
        // Received chunk shape: the operand with split_axis divided by the gang size.
        std::vector<int64_t> chunk(in_dims.begin(), in_dims.end());
        chunk[split] /= shards;
        const int64_t pre_concat = Product(chunk, 0, concat);
        if (pre_concat > 1) {
          p->after = BlockTranspose(es, pre_concat, shards, p->count / pre_concat,
                                    /*to_blocks=*/false);
          p->after_offset = reserve(step.byte_size);
        }
      }
      step.fn = &AllToAllKernel;
      break;
    }
    case OpCode::kCollectivePermute:
      p->pairs = inst.attrs.pairs;
      step.fn = &CollectivePermuteKernel;
      break;
    default:
      return absl::InternalError(absl::StrCat(inst.DebugName(), ": not a collective"));
  }
  step.temp_bytes = temp;
  step.params = std::move(p);
  return absl::OkStatus();
}

}  // namespace pw::cpu
