// Communicator: the collective operations a running executable needs from its gang.
//
// The interface lives here, where executables call it; implementations live in
// pathways/collectives (in-process shared memory; Gloo over TCP across processes).
#ifndef PATHWAYS_KERNELS_COMMUNICATOR_H_
#define PATHWAYS_KERNELS_COMMUNICATOR_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "pathways/ir/dtype.h"
#include "pathways/ir/op.h"

namespace pw {

// One rank's handle on a group of `size()` ranks (the shards of one gang).
//
// Every operation is collective: all ranks must call the same sequence of operations with the
// same dtype and count (a gang runs the same executable on every shard, and the gang scheduler
// orders gangs identically on every device, which is what keeps these sequences matched).
// Calls block the calling thread (a device stream thread) until this rank's part is complete.
// Buffers are dense, row-major, and may not overlap. `count` is in elements of `dtype`.
// A rank may not issue two operations concurrently.
//
// Errors: ABORTED once the group was aborted (e.g. another shard of the gang failed before
// reaching the collective), DEADLINE_EXCEEDED naming the missing ranks when peers do not arrive
// within the group's timeout, INVALID_ARGUMENT for arguments that differ across ranks or are
// out of range, UNAVAILABLE when a remote peer is lost.
class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int64_t size() const = 0;
  virtual int64_t rank() const = 0;

  // output[i] = reduce over ranks of input[i]; input and output hold `count` elements.
  virtual absl::Status AllReduce(const void* input, void* output, int64_t count, ir::DType dtype,
                                 ir::ReduceKind kind) = 0;
  // input holds `count` elements; output holds size()*count: rank r's input at block r.
  virtual absl::Status AllGather(const void* input, void* output, int64_t count,
                                 ir::DType dtype) = 0;
  // input holds size()*count elements in blocks; output (count elements) is the reduction over
  // ranks of block rank().
  virtual absl::Status ReduceScatter(const void* input, void* output, int64_t count,
                                     ir::DType dtype, ir::ReduceKind kind) = 0;
  // input and output hold size()*count elements in blocks; output block j is rank j's input
  // block rank().
  virtual absl::Status AllToAll(const void* input, void* output, int64_t count,
                                ir::DType dtype) = 0;
  // For each (source, target) pair, target's output receives source's input (`bytes` bytes).
  // A rank that is no pair's target gets a zero-filled output. Every rank passes the same pairs.
  virtual absl::Status CollectivePermute(const void* input, void* output, int64_t bytes,
                                         absl::Span<const std::pair<int64_t, int64_t>> pairs) = 0;

  virtual std::string DebugString() const = 0;
};

}  // namespace pw

#endif  // PATHWAYS_KERNELS_COMMUNICATOR_H_
