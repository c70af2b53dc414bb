// GlooCommunicator's data movement: each collective kind over the connected mesh (after the
// arrival exchange agreed on the call), and the single-rank case.
#include <chrono>
#include <cstring>
#include <memory>

#include "gloo/allgather.h"
#include "gloo/allreduce.h"
#include "gloo/alltoall.h"
#include "gloo/common/error.h"
#include "gloo/context.h"
#include "gloo/transport/unbound_buffer.h"
#include "gloo/types.h"
#include "pathways/base/logging.h"
#include "pathways/collectives/collective_checks.h"
#include "pathways/collectives/gloo/gloo_communicator.h"
#include "pathways/kernels/reduction.h"

namespace pw {
namespace {

// Slot prefix of our permute transfers (the arrival exchange uses 0x70; Gloo's own algorithms
// use 0x01..0x08).
constexpr uint8_t kPermuteSlotPrefix = 0x71;

template <typename T>
void GlooAllReduce(const std::shared_ptr<gloo::Context>& context, const void* input,
                   void* output, int64_t count, ir::ReduceKind kind, uint32_t tag,
                   std::chrono::milliseconds timeout) {
  gloo::AllreduceOptions opts(context);
  // Gloo reduces the input into the output first and never writes the input.
  opts.setInput(const_cast<T*>(static_cast<const T*>(input)), static_cast<size_t>(count));
  opts.setOutput(static_cast<T*>(output), static_cast<size_t>(count));
  opts.setReduceFunction([kind](void* c, const void* a, const void* b, size_t n) {
    T* out = static_cast<T*>(c);
    const T* x = static_cast<const T*>(a);
    const T* y = static_cast<const T*>(b);
    if (y == out) std::swap(x, y);  // Combine lets only its first operand alias the output
    collectives::Combine<T>(out, x, y, static_cast<int64_t>(n), kind);
  });
  opts.setTag(tag);
  opts.setTimeout(timeout);
  gloo::allreduce(opts);
}

void AllReduceOf(ir::DType dtype, const std::shared_ptr<gloo::Context>& context,
                 const void* input, void* output, int64_t count, ir::ReduceKind kind,
                 uint32_t tag, std::chrono::milliseconds timeout) {
  switch (dtype) {
    case ir::DType::kF32:
      return GlooAllReduce<float>(context, input, output, count, kind, tag, timeout);
    case ir::DType::kF64:
      return GlooAllReduce<double>(context, input, output, count, kind, tag, timeout);
    case ir::DType::kI32:
      return GlooAllReduce<int32_t>(context, input, output, count, kind, tag, timeout);
    default:
      PW_CHECK(false) << "validated: reductions take f32, f64, i32";
  }
}

}  // namespace

void GlooCommunicator::MoveDataLocked(const Call& call, uint32_t tag) {
  const std::chrono::milliseconds timeout = ToMillis(options_.timeout);
  const int64_t size = options_.size;
  const int64_t me = options_.rank;
  switch (call.kind) {
    case Kind::kAllReduce:
      AllReduceOf(call.dtype, mesh_->context, call.input, call.output, call.count, call.reduce, tag,
                  timeout);
      return;
    case Kind::kReduceScatter: {
      // Gloo's reduce-scatter works in place on mutable inputs; a full all-reduce into scratch
      // keeps our input const at twice the bytes on the wire.
      const int64_t block = call.count * ir::DTypeSize(call.dtype);
      std::vector<char> scratch(static_cast<size_t>(block * size));
      AllReduceOf(call.dtype, mesh_->context, call.input, scratch.data(), call.count * size,
                  call.reduce, tag, timeout);
      std::memcpy(call.output, scratch.data() + me * block, block);
      return;
    }
    case Kind::kAllGather: {
      const size_t block = static_cast<size_t>(call.count * ir::DTypeSize(call.dtype));
      gloo::AllgatherOptions opts(mesh_->context);
      opts.setInput(const_cast<char*>(static_cast<const char*>(call.input)), block);
      opts.setOutput(static_cast<char*>(call.output), block * size);
      opts.setTag(tag);
      opts.setTimeout(timeout);
      gloo::allgather(opts);
      return;
    }
    case Kind::kAllToAll: {
      const size_t all = static_cast<size_t>(call.count * ir::DTypeSize(call.dtype) * size);
      gloo::AlltoallOptions opts(mesh_->context);
      opts.setInput(const_cast<char*>(static_cast<const char*>(call.input)), all);
      opts.setOutput(static_cast<char*>(call.output), all);
      opts.setTag(tag);
      opts.setTimeout(timeout);
      gloo::alltoall(opts);
      return;
    }
    case Kind::kCollectivePermute: {
      const size_t bytes = static_cast<size_t>(call.count);
      int64_t target = -1, source = -1;
      for (const auto& [s, t] : call.pairs) {
        if (s == me) target = t;
        if (t == me) source = s;
      }
      const uint64_t slot = gloo::Slot::build(kPermuteSlotPrefix, tag);
      std::unique_ptr<gloo::transport::UnboundBuffer> send, recv;
      if (target >= 0 && target != me) {
        send = mesh_->context->createUnboundBuffer(
            const_cast<char*>(static_cast<const char*>(call.input)), bytes);
        send->send(static_cast<int>(target), slot);
      }
      if (source == me) {
        std::memcpy(call.output, call.input, bytes);
      } else if (source >= 0) {
        recv = mesh_->context->createUnboundBuffer(call.output, bytes);
        recv->recv(static_cast<int>(source), slot);
      } else {
        std::memset(call.output, 0, bytes);
      }
      if (recv != nullptr && !recv->waitRecv(timeout)) {
        throw gloo::IoException("receive aborted");
      }
      if (send != nullptr && !send->waitSend(timeout)) {
        throw gloo::IoException("send aborted");
      }
      return;
    }
  }
}

void GlooCommunicator::ComputeAlone(const Call& call) const {
  const int64_t bytes = call.kind == Kind::kCollectivePermute
                            ? call.count
                            : call.count * ir::DTypeSize(call.dtype);
  if (bytes == 0) return;
  if (call.kind == Kind::kCollectivePermute && call.pairs.empty()) {
    std::memset(call.output, 0, bytes);
    return;
  }
  // One rank: every collective is the identity on its block.
  std::memcpy(call.output, call.input, bytes);
}

}  // namespace pw
