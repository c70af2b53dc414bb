// Shape (static dimensions) and TensorType (dtype + shape) of IR values.
#ifndef PATHWAYS_IR_SHAPE_H_
#define PATHWAYS_IR_SHAPE_H_

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"
#include "pathways/ir/dtype.h"

namespace pw::ir {

// Largest number of elements a value may have; keeps byte sizes far from int64 overflow.
inline constexpr int64_t kMaxElements = int64_t{1} << 40;
inline constexpr int64_t kMaxRank = 16;
// Largest gang a function may be compiled for.
inline constexpr int64_t kMaxShards = 1 << 16;

// A row-major static shape. Dimensions are >= 0 in any shape the builder or verifier accepts.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(absl::Span<const int64_t> dims) : dims_(dims.begin(), dims.end()) {}
  // Element-wise copies: InlinedVector's own copy memcpy's its whole inline buffer, which GCC 12
  // reports as a use of uninitialized memory (-Wmaybe-uninitialized) in every includer.
  Shape(const Shape& other) : dims_(other.dims_.begin(), other.dims_.end()) {}
  Shape& operator=(const Shape& other) {
    if (this != &other) dims_.assign(other.dims_.begin(), other.dims_.end());
    return *this;
  }
  Shape(Shape&& other) noexcept : Shape(static_cast<const Shape&>(other)) {}
  Shape& operator=(Shape&& other) noexcept { return *this = static_cast<const Shape&>(other); }

  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t dim(int64_t i) const { return dims_[i]; }
  absl::Span<const int64_t> dims() const { return dims_; }
  void set_dim(int64_t i, int64_t v) { dims_[i] = v; }
  // Product of dimensions (1 for a scalar). Only meaningful for a valid shape.
  int64_t num_elements() const;
  // Row-major strides in elements.
  absl::InlinedVector<int64_t, 6> strides() const;
  // All dims >= 0, rank <= kMaxRank and element count <= kMaxElements.
  bool IsValid() const;

  friend bool operator==(const Shape& a, const Shape& b) { return a.dims_ == b.dims_; }
  // "[2,3]"; "[]" for a scalar.
  std::string DebugString() const;

 private:
  absl::InlinedVector<int64_t, 6> dims_;
};

struct TensorType {
  DType dtype = DType::kInvalid;
  Shape shape;

  int64_t num_elements() const { return shape.num_elements(); }
  int64_t byte_size() const { return shape.num_elements() * DTypeSize(dtype); }
  bool IsValid() const { return IsValidDType(dtype) && shape.IsValid(); }
  friend bool operator==(const TensorType& a, const TensorType& b) {
    return a.dtype == b.dtype && a.shape == b.shape;
  }
  // "f32[2,3]".
  std::string DebugString() const;
};

// DebugString() forms, for logs and test failure messages.
std::ostream& operator<<(std::ostream& os, const Shape& shape);
std::ostream& operator<<(std::ostream& os, const TensorType& type);

}  // namespace pw::ir

#endif  // PATHWAYS_IR_SHAPE_H_
