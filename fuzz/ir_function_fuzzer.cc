// libFuzzer target: the IR reader a peer reaches (RegisterFunction, a host program's functions):
// DeserializeFunction parses, sorts, renumbers and verifies. Whatever it accepts must print,
// fingerprint, and survive a serialization round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pathways/ir/serialization.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<pw::ir::Function> f = pw::ir::DeserializeFunction(bytes);
  if (!f.ok()) return 0;
  (void)f->ToString();
  const uint64_t fingerprint = pw::ir::Fingerprint(*f);
  absl::StatusOr<std::string> again = pw::ir::SerializeFunction(*f);
  if (!again.ok()) std::abort();
  absl::StatusOr<pw::ir::Function> back = pw::ir::DeserializeFunction(*again);
  if (!back.ok() || !(*back == *f) || pw::ir::Fingerprint(*back) != fingerprint) std::abort();
  return 0;
}
