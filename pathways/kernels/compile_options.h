// CompileOptions: knobs of CpuExecutable::Compile.
#ifndef PATHWAYS_KERNELS_COMPILE_OPTIONS_H_
#define PATHWAYS_KERNELS_COMPILE_OPTIONS_H_

namespace pw {

// How f32 dot_general runs. f64 and i32 always use the loop kernel.
enum class DotImplementation {
  kOneDnn,  // a oneDNN matmul primitive created at compile time (fast; the default)
  kLoops,   // plain loops (a reference for tests, and a fallback)
};

struct CompileOptions {
  DotImplementation dot = DotImplementation::kOneDnn;
};

}  // namespace pw

#endif  // PATHWAYS_KERNELS_COMPILE_OPTIONS_H_
