// OneDnnEltwise: one f32 elementwise function (tanh, exp, log) over a dense buffer as a oneDNN
// eltwise primitive created at compile time: vectorised where the scalar loop calls libm once
// per element.
#ifndef PATHWAYS_KERNELS_ONEDNN_ELTWISE_H_
#define PATHWAYS_KERNELS_ONEDNN_ELTWISE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace pw::cpu {

class OneDnnEltwise {
 public:
  enum class Kind { kTanh, kExp, kLog };
  // `num_elements` >= 1. INTERNAL if oneDNN refuses.
  static absl::StatusOr<std::unique_ptr<OneDnnEltwise>> Create(Kind kind, int64_t num_elements);
  ~OneDnnEltwise();
  OneDnnEltwise(const OneDnnEltwise&) = delete;
  OneDnnEltwise& operator=(const OneDnnEltwise&) = delete;

  // out[i] = f(in[i]); `in` and `out` may be the same buffer. Runs on the calling thread (and
  // oneDNN's OpenMP workers). Thread-safe (each thread uses its own oneDNN stream).
  absl::Status Run(const float* in, float* out) const;

 private:
  struct Impl;
  explicit OneDnnEltwise(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pw::cpu

#endif  // PATHWAYS_KERNELS_ONEDNN_ELTWISE_H_
