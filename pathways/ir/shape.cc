// Shape and TensorType.
#include "pathways/ir/shape.h"

#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pw::ir {

int64_t Shape::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims_) n *= d;
  return n;
}

absl::InlinedVector<int64_t, 6> Shape::strides() const {
  absl::InlinedVector<int64_t, 6> s(dims_.size());
  int64_t acc = 1;
  for (int64_t i = rank() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= dims_[i];
  }
  return s;
}

bool Shape::IsValid() const {
  if (rank() > kMaxRank) return false;
  int64_t n = 1;
  for (int64_t d : dims_) {
    if (d < 0 || d > kMaxElements) return false;
    if (d != 0 && n > kMaxElements / d) return false;
    n *= d;
  }
  return n <= kMaxElements;
}

std::string Shape::DebugString() const { return absl::StrCat("[", absl::StrJoin(dims_, ","), "]"); }

std::string TensorType::DebugString() const {
  return absl::StrCat(DTypeName(dtype), shape.DebugString());
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape.DebugString(); }
std::ostream& operator<<(std::ostream& os, const TensorType& type) {
  return os << type.DebugString();
}

}  // namespace pw::ir
