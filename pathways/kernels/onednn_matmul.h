// OneDnnMatmul: one f32 batched matmul as a oneDNN primitive created at compile time.
#ifndef PATHWAYS_KERNELS_ONEDNN_MATMUL_H_
#define PATHWAYS_KERNELS_ONEDNN_MATMUL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pw::cpu {

// Sizes of out[b, m, n] = sum_k lhs[b, m, k] * rhs[b, k, n].
struct MatmulShape {
  int64_t batch = 1, m = 1, k = 1, n = 1;
};

// Element strides of a [batch, rows, cols] view.
using Strides3 = std::array<int64_t, 3>;

// Holds the primitive; Run is thread-safe because the scratchpad comes from the caller
// (scratchpad_mode::user) and each thread uses its own stream.
class OneDnnMatmul {
 public:
  // Fails (Unimplemented) if oneDNN has no kernel for these operand strides; the caller then
  // copies the operands to a dense layout and tries again. The result is always dense.
  // All sizes must be >= 1.
  static absl::StatusOr<std::unique_ptr<OneDnnMatmul>> Create(const MatmulShape& shape,
                                                              const Strides3& lhs_strides,
                                                              const Strides3& rhs_strides);
  ~OneDnnMatmul();
  OneDnnMatmul(const OneDnnMatmul&) = delete;
  OneDnnMatmul& operator=(const OneDnnMatmul&) = delete;

  // Bytes of scratch Run needs (0 if none).
  int64_t scratchpad_bytes() const { return scratchpad_bytes_; }
  // Runs on the calling thread (plus oneDNN's OpenMP workers). `scratchpad` has
  // scratchpad_bytes() bytes, 64-byte aligned.
  absl::Status Run(const float* lhs, const float* rhs, float* out, void* scratchpad) const;
  // oneDNN's implementation name, e.g. "brg:avx512_core".
  const std::string& implementation() const { return implementation_; }

 private:
  struct Impl;
  explicit OneDnnMatmul(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int64_t scratchpad_bytes_ = 0;
  std::string implementation_;
};

}  // namespace pw::cpu

#endif  // PATHWAYS_KERNELS_ONEDNN_MATMUL_H_
