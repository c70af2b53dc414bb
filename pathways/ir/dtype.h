// Element types of the compiled-function IR.
#ifndef PATHWAYS_IR_DTYPE_H_
#define PATHWAYS_IR_DTYPE_H_

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pw::ir {

// Values are stable: they are the wire encoding (ir.proto mirrors them).
enum class DType : uint8_t {
  kInvalid = 0,
  kF32 = 1,
  kF64 = 2,
  kI32 = 3,
  kBool = 4,
};

// "f32", "f64", "i32", "bool" ("invalid" for kInvalid and out-of-range values).
const char* DTypeName(DType dtype);
absl::StatusOr<DType> ParseDType(std::string_view name);
// Bytes per element; 0 for kInvalid.
int64_t DTypeSize(DType dtype);
bool IsValidDType(DType dtype);
bool IsFloating(DType dtype);
bool IsInteger(DType dtype);
// True for types arithmetic ops accept (floating and integer).
bool IsNumeric(DType dtype);
std::ostream& operator<<(std::ostream& os, DType dtype);  // DTypeName()

// Maps a C++ element type to its DType.
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kF32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kF64; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kI32; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };

// Calls f(T{}) with the C++ element type of `dtype` (float, double, int32_t, bool).
// `dtype` must be valid.
template <typename F>
decltype(auto) DispatchDType(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kF32: return f(float{});
    case DType::kF64: return f(double{});
    case DType::kI32: return f(int32_t{});
    default: return f(bool{});
  }
}

}  // namespace pw::ir

#endif  // PATHWAYS_IR_DTYPE_H_
