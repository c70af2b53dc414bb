// Literal: a host-side dense tensor value (constants in the IR, inputs and results in tests).
#ifndef PATHWAYS_IR_LITERAL_H_
#define PATHWAYS_IR_LITERAL_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/base/logging.h"
#include "pathways/ir/shape.h"

namespace pw::ir {

// Row-major element data of one TensorType. bool elements are stored one byte each (0 or 1).
class Literal {
 public:
  Literal() = default;
  // Zero-filled literal of `type` (which must be valid).
  explicit Literal(TensorType type);

  // Builds from elements; the element count must match the shape.
  template <typename T>
  static absl::StatusOr<Literal> Create(Shape shape, absl::Span<const T> values);
  template <typename T>
  static Literal Create(Shape shape, std::initializer_list<T> values) {
    auto l = Create<T>(std::move(shape), absl::Span<const T>(values.begin(), values.size()));
    PW_CHECK(l.ok()) << l.status();
    return *std::move(l);
  }
  template <typename T>
  static Literal Scalar(T value) {
    return Create<T>(Shape{}, {value});
  }
  // Builds from raw bytes; the size must be type.byte_size().
  static absl::StatusOr<Literal> FromBytes(TensorType type, std::string bytes);

  const TensorType& type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  const Shape& shape() const { return type_.shape; }
  int64_t num_elements() const { return type_.num_elements(); }
  int64_t byte_size() const { return static_cast<int64_t>(bytes_.size()); }

  const void* untyped_data() const { return bytes_.data(); }
  void* untyped_data() { return bytes_.data(); }
  const std::string& bytes() const { return bytes_; }

  // Typed views; T must match dtype().
  template <typename T>
  absl::Span<const T> data() const {
    PW_CHECK(DTypeOf<T>::value == type_.dtype) << "Literal::data<T> of " << type_.DebugString();
    return absl::Span<const T>(reinterpret_cast<const T*>(bytes_.data()), num_elements());
  }
  template <typename T>
  absl::Span<T> mutable_data() {
    PW_CHECK(DTypeOf<T>::value == type_.dtype) << "Literal::mutable_data<T> of " << type_.DebugString();
    return absl::Span<T>(reinterpret_cast<T*>(bytes_.data()), num_elements());
  }
  // Element i converted to double (any dtype).
  double GetAsDouble(int64_t i) const;

  friend bool operator==(const Literal& a, const Literal& b) {
    return a.type_ == b.type_ && a.bytes_ == b.bytes_;
  }
  // "f32[2] {1, 2}" (long literals are elided).
  std::string DebugString(int64_t max_elements = 16) const;

 private:
  TensorType type_;
  std::string bytes_;
};

template <typename T>
absl::StatusOr<Literal> Literal::Create(Shape shape, absl::Span<const T> values) {
  TensorType type{DTypeOf<T>::value, std::move(shape)};
  if (!type.shape.IsValid() || type.num_elements() != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError("literal of shape " + type.DebugString() + " given " +
                                      std::to_string(values.size()) + " elements");
  }
  Literal l(type);
  if constexpr (std::is_same_v<T, bool>) {
    for (size_t i = 0; i < values.size(); ++i) l.bytes_[i] = values[i] ? 1 : 0;
  } else if (!values.empty()) {
    std::memcpy(l.bytes_.data(), values.data(), values.size() * sizeof(T));
  }
  return l;
}

}  // namespace pw::ir

#endif  // PATHWAYS_IR_LITERAL_H_
