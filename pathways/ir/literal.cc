// Literal.
#include "pathways/ir/literal.h"

#include "absl/strings/str_cat.h"

namespace pw::ir {

Literal::Literal(TensorType type) : type_(std::move(type)) {
  PW_CHECK(type_.IsValid()) << "Literal of invalid type " << type_.DebugString();
  bytes_.assign(static_cast<size_t>(type_.byte_size()), '\0');
}

absl::StatusOr<Literal> Literal::FromBytes(TensorType type, std::string bytes) {
  if (!type.IsValid()) {
    return absl::InvalidArgumentError(absl::StrCat("literal has invalid type ", type.DebugString()));
  }
  if (static_cast<int64_t>(bytes.size()) != type.byte_size()) {
    return absl::InvalidArgumentError(absl::StrCat("literal of type ", type.DebugString(), " needs ",
                                                   type.byte_size(), " bytes, got ", bytes.size()));
  }
  Literal l;
  l.type_ = std::move(type);
  l.bytes_ = std::move(bytes);
  if (l.dtype() == DType::kBool) {
    for (char& c : l.bytes_) c = c != 0 ? 1 : 0;
  }
  return l;
}

double Literal::GetAsDouble(int64_t i) const {
  return DispatchDType(type_.dtype, [&](auto t) -> double {
    using T = decltype(t);
    T v;
    std::memcpy(&v, bytes_.data() + i * sizeof(T), sizeof(T));
    return static_cast<double>(v);
  });
}

std::string Literal::DebugString(int64_t max_elements) const {
  std::string out = absl::StrCat(type_.DebugString(), " {");
  int64_t n = num_elements();
  for (int64_t i = 0; i < n && i < max_elements; ++i) {
    if (i > 0) out += ", ";
    absl::StrAppend(&out, GetAsDouble(i));
  }
  if (n > max_elements) absl::StrAppend(&out, ", ... (", n, " elements)");
  out += "}";
  return out;
}

}  // namespace pw::ir
