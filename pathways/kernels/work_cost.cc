// EstimateCost: a roofline-style cost of an ir::Function, op by op.
#include "pathways/kernels/work_cost.h"

#include <vector>

#include "pathways/ir/function.h"
#include "pathways/ir/op.h"

namespace pw {

using ir::OpCode;

namespace {

WorkCost Scaled(WorkCost c, double k) {
  c.flops *= k;
  c.bytes_accessed *= k;
  c.collective_bytes *= k;
  for (CollectiveWork& w : c.collectives) {
    w.count = static_cast<int64_t>(static_cast<double>(w.count) * k);
    w.bytes *= k;
  }
  return c;
}

// A loop at its bound (cond and body max_iterations times, the last cond once more is
// ignored); a case as its most expensive branch (by flops, then bytes).
WorkCost ControlFlowCost(const ir::Instruction& inst) {
  const ir::Regions& r = inst.attrs.regions;
  if (inst.op == OpCode::kWhile) {
    WorkCost once = EstimateCost(r[0]);
    once += EstimateCost(r[1]);
    return Scaled(std::move(once), static_cast<double>(inst.attrs.max_iterations));
  }
  WorkCost worst;
  for (size_t i = 0; i < r.size(); ++i) {
    WorkCost c = EstimateCost(r[i]);
    if (i == 0 || c.flops > worst.flops ||
        (c.flops == worst.flops && c.bytes_accessed > worst.bytes_accessed)) {
      worst = std::move(c);
    }
  }
  return worst;
}

}  // namespace

WorkCost EstimateCost(const ir::Function& function) {
  WorkCost total;
  // Only instructions an output depends on run.
  const std::vector<bool> live = function.live_instructions();
  for (const ir::Instruction& inst : function.instructions) {
    if (!live[inst.id]) continue;
    WorkCost c;
    const double out_elements = static_cast<double>(inst.type.num_elements());
    const double out_bytes = static_cast<double>(inst.type.byte_size());
    double in_bytes = 0;
    for (int64_t o : inst.operands) {
      in_bytes += static_cast<double>(function.instruction(o).type.byte_size());
    }
    const double first_operand_bytes =
        inst.operands.empty()
            ? 0.0
            : static_cast<double>(function.instruction(inst.operands[0]).type.byte_size());
    // A collective's gang: its groups' size (a mesh axis), else every shard.
    const int64_t n = inst.attrs.groups.empty() ? function.num_shards
                                                : static_cast<int64_t>(inst.attrs.groups[0].size());
    // What a ring moves per shard, as a fraction of the buffer: (n - 1) / n.
    const double ring = n > 1 ? static_cast<double>(n - 1) / static_cast<double>(n) : 0.0;
    switch (inst.op) {
      case OpCode::kParameter:
      case OpCode::kConstant:
      case OpCode::kShardIndex:
      case OpCode::kInvalid:
        continue;  // no kernel
      case OpCode::kWhile:
      case OpCode::kCase:
        c = ControlFlowCost(inst);
        break;
      case OpCode::kGetResult:
        c.bytes_accessed = 2.0 * out_bytes;  // copies its result out of the tuple
        break;
      case OpCode::kIota:
        c.flops = out_elements;
        c.bytes_accessed = out_bytes;
        break;
      case OpCode::kDotGeneral: {
        // 2 * (result elements) * (product of the contracted dims) = 2*M*N*K for a matmul.
        const ir::Shape& lhs = function.instruction(inst.operands[0]).type.shape;
        double k = 1;
        for (int64_t d : inst.attrs.dot.lhs_contracting) k *= static_cast<double>(lhs.dim(d));
        c.flops = 2.0 * out_elements * k;
        c.bytes_accessed = in_bytes + out_bytes;
        break;
      }
      case OpCode::kReduce:
        // One operation per input element.
        c.flops = static_cast<double>(function.instruction(inst.operands[0]).type.num_elements());
        c.bytes_accessed = in_bytes + out_bytes;
        break;
      case OpCode::kScatterAdd:
        // One addition per element of the updates; the operand is copied.
        c.flops = static_cast<double>(function.instruction(inst.operands[2]).type.num_elements());
        c.bytes_accessed = in_bytes + out_bytes;
        break;
      case OpCode::kDynamicSlice:
        // Reads only its block (and the start scalars), writes it.
        c.bytes_accessed = 2.0 * out_bytes + (in_bytes - first_operand_bytes);
        break;
      case OpCode::kTopK:
        // At least one comparison per operand element.
        c.flops = static_cast<double>(function.instruction(inst.operands[0]).type.num_elements());
        c.bytes_accessed = in_bytes + out_bytes;
        break;
      case OpCode::kDynamicUpdateSlice:  // copies the operand, then the update into it
      case OpCode::kBroadcastInDim:
      case OpCode::kReshape:
      case OpCode::kTranspose:
      case OpCode::kSlice:
      case OpCode::kConcatenate:
      case OpCode::kGather:
      case OpCode::kConvert:
        // Data movement: bytes only.
        c.bytes_accessed = in_bytes + out_bytes;
        break;
      case OpCode::kAllReduce:
        c.flops = out_elements * ring;
        c.bytes_accessed = in_bytes + out_bytes;
        c.collective_bytes = 2.0 * first_operand_bytes * ring;  // reduce-scatter + all-gather
        c.collective_participants = n;
        c.AddCollective({CollectiveKind::kAllReduce, n, 1, first_operand_bytes});
        break;
      case OpCode::kAllGather:
        c.bytes_accessed = in_bytes + out_bytes;
        c.collective_bytes = out_bytes * ring;
        c.collective_participants = n;
        c.AddCollective({CollectiveKind::kAllGather, n, 1, out_bytes});
        break;
      case OpCode::kReduceScatter:
        c.flops = out_elements * static_cast<double>(n > 1 ? n - 1 : 0);
        c.bytes_accessed = in_bytes + out_bytes;
        c.collective_bytes = first_operand_bytes * ring;
        c.collective_participants = n;
        c.AddCollective({CollectiveKind::kReduceScatter, n, 1, first_operand_bytes});
        break;
      case OpCode::kAllToAll:
        c.bytes_accessed = in_bytes + out_bytes;
        c.collective_bytes = first_operand_bytes * ring;
        c.collective_participants = n;
        c.AddCollective({CollectiveKind::kAllToAll, n, 1, first_operand_bytes});
        break;
      case OpCode::kCollectivePermute:
        c.bytes_accessed = in_bytes + out_bytes;
        c.collective_bytes = first_operand_bytes;
        c.collective_participants = n;
        c.AddCollective({CollectiveKind::kPermute, n, 1, first_operand_bytes});
        break;
      default:
        // Elementwise (unary, binary, compare, select, power): one operation per element.
        c.flops = out_elements;
        c.bytes_accessed = in_bytes + out_bytes;
        break;
    }
    total += c;
  }
  return total;
}

}  // namespace pw
