// CopyBox: copies a block of one row-major array into a block of another (the data movement of
// resharding: cutting a piece out of a shard, writing a piece into a shard). Pure; thread-safe.
#ifndef PATHWAYS_DATAFLOW_BOX_COPY_H_
#define PATHWAYS_DATAFLOW_BOX_COPY_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace pw {

// One piece: the block [src_offset, src_offset + extent) of a row-major array of `src_dims`
// goes to [dst_offset, dst_offset + extent) of one of `dst_dims`.
struct BoxCopy {
  absl::Span<const int64_t> src_dims;
  absl::Span<const int64_t> src_offset;
  absl::Span<const int64_t> dst_dims;
  absl::Span<const int64_t> dst_offset;
  absl::Span<const int64_t> extent;
};

// Elements of a row-major array of `dims`; -1 when a dimension is negative or the count would
// exceed ir::kMaxElements (never overflows, whatever the dims).
int64_t ElementsOf(absl::Span<const int64_t> dims);

// Checks that every span has one rank, every dimension and extent is >= 0 and both blocks lie
// inside their arrays. INVALID_ARGUMENT saying which dimension is out of bounds.
absl::Status CheckBoxCopy(const BoxCopy& copy);

// Copies `copy` between buffers of `elem_bytes`-byte elements holding whole arrays of
// src_dims and dst_dims; checks the piece first (CheckBoxCopy). Contiguous runs move with one
// memcpy each.
absl::Status CopyBox(const BoxCopy& copy, int64_t elem_bytes, const void* src, void* dst);

}  // namespace pw

#endif  // PATHWAYS_DATAFLOW_BOX_COPY_H_
