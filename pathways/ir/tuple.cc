// TupleOffsets and TupleType.
#include "pathways/ir/tuple.h"

namespace pw::ir {
namespace {
constexpr int64_t kTupleAlignment = 64;
int64_t AlignUp(int64_t n) { return (n + kTupleAlignment - 1) / kTupleAlignment * kTupleAlignment; }
}  // namespace

std::vector<int64_t> TupleOffsets(absl::Span<const TensorType> types) {
  std::vector<int64_t> offsets;
  offsets.reserve(types.size());
  int64_t at = 0;
  for (const TensorType& t : types) {
    offsets.push_back(at);
    at += AlignUp(t.byte_size());
  }
  return offsets;
}

TensorType TupleType(absl::Span<const TensorType> types) {
  int64_t total = 0;
  for (const TensorType& t : types) total += AlignUp(t.byte_size());
  return TensorType{DType::kBool, Shape{total}};
}

}  // namespace pw::ir
