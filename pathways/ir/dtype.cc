// Element type names and sizes.
#include "pathways/ir/dtype.h"

#include <ostream>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"

namespace pw::ir {

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kF64: return "f64";
    case DType::kI32: return "i32";
    case DType::kBool: return "bool";
    default: return "invalid";
  }
}

absl::StatusOr<DType> ParseDType(std::string_view name) {
  for (DType d : {DType::kF32, DType::kF64, DType::kI32, DType::kBool}) {
    if (name == DTypeName(d)) return d;
  }
  if (name == "float32") return DType::kF32;
  if (name == "float64") return DType::kF64;
  if (name == "int32") return DType::kI32;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", ToAbsl(name), "' (expected f32, f64, i32 or bool)"));
}

int64_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF64: return 8;
    case DType::kI32: return 4;
    case DType::kBool: return 1;
    default: return 0;
  }
}

bool IsValidDType(DType dtype) { return DTypeSize(dtype) > 0; }
bool IsFloating(DType dtype) { return dtype == DType::kF32 || dtype == DType::kF64; }
bool IsInteger(DType dtype) { return dtype == DType::kI32; }
bool IsNumeric(DType dtype) { return IsFloating(dtype) || IsInteger(dtype); }

std::ostream& operator<<(std::ostream& os, DType dtype) { return os << DTypeName(dtype); }

}  // namespace pw::ir
