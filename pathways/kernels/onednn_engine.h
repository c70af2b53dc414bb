// The process's oneDNN CPU engine and each thread's stream, shared by the oneDNN kernels.
// Include only from the files that include oneDNN (onednn_*.cc).
#ifndef PATHWAYS_KERNELS_ONEDNN_ENGINE_H_
#define PATHWAYS_KERNELS_ONEDNN_ENGINE_H_

#include "oneapi/dnnl/dnnl.hpp"

namespace pw::cpu {

// One CPU engine for the process: a CPU engine is a stateless handle, and the per-thread
// streams must belong to the engine the primitives were created on.
inline const dnnl::engine& OneDnnCpuEngine() {
  static const dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

// Streams are not thread-safe; a device thread keeps one for its lifetime.
inline dnnl::stream& OneDnnThreadStream() {
  thread_local dnnl::stream stream(OneDnnCpuEngine());
  return stream;
}

}  // namespace pw::cpu

#endif  // PATHWAYS_KERNELS_ONEDNN_ENGINE_H_
