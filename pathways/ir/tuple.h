// Tuples: how a control-flow op (while, case) holds its several results in one value.
//
// The IR is single-result; a while or case instead returns one *tuple* value whose bytes hold
// every result, each at a 64-byte-aligned offset, and get_result projects one of them out. A
// tuple is typed bool[total bytes] (bool is one byte an element) so it is allocated and passed
// like any value; only get_result may read it, and it is never a function output (Verify).
#ifndef PATHWAYS_IR_TUPLE_H_
#define PATHWAYS_IR_TUPLE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "pathways/ir/shape.h"

namespace pw::ir {

// Byte offset of each result in the tuple of `types`, in order.
std::vector<int64_t> TupleOffsets(absl::Span<const TensorType> types);
// bool[total bytes] for a tuple of `types` (bool[0] for none).
TensorType TupleType(absl::Span<const TensorType> types);

}  // namespace pw::ir

#endif  // PATHWAYS_IR_TUPLE_H_
