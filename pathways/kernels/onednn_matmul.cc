// OneDnnMatmul: primitive creation and execution.
//
// oneDNN's C++ API reports failures by throwing dnnl::error; this file catches them at the
// boundary and returns absl::Status, so nothing above it sees an exception.
#include "pathways/kernels/onednn_matmul.h"

#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "pathways/kernels/onednn_engine.h"

namespace pw::cpu {

struct OneDnnMatmul::Impl {
  dnnl::memory::desc lhs_md, rhs_md, out_md, scratchpad_md;
  dnnl::matmul primitive;
};

OneDnnMatmul::OneDnnMatmul(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OneDnnMatmul::~OneDnnMatmul() = default;

absl::StatusOr<std::unique_ptr<OneDnnMatmul>> OneDnnMatmul::Create(const MatmulShape& s,
                                                                   const Strides3& ls,
                                                                   const Strides3& rs) {
  using dims = dnnl::memory::dims;
  using dt = dnnl::memory::data_type;
  try {
    auto impl = std::make_unique<Impl>();
    impl->lhs_md = dnnl::memory::desc(dims{s.batch, s.m, s.k}, dt::f32, dims{ls[0], ls[1], ls[2]});
    impl->rhs_md = dnnl::memory::desc(dims{s.batch, s.k, s.n}, dt::f32, dims{rs[0], rs[1], rs[2]});
    impl->out_md = dnnl::memory::desc(dims{s.batch, s.m, s.n}, dt::f32, dims{s.m * s.n, s.n, 1});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::desc desc(impl->lhs_md, impl->rhs_md, impl->out_md);
    dnnl::matmul::primitive_desc pd(desc, attr, OneDnnCpuEngine(), /*allow_empty=*/true);
    if (!pd) {
      return absl::UnimplementedError(absl::StrCat(
          "oneDNN has no matmul for [", s.batch, ",", s.m, ",", s.k, "] x [", s.batch, ",", s.k,
          ",", s.n, "] with lhs strides [", ls[0], ",", ls[1], ",", ls[2], "] and rhs strides [",
          rs[0], ",", rs[1], ",", rs[2], "]"));
    }
    impl->scratchpad_md = pd.scratchpad_desc();
    const char* name = pd.impl_info_str();
    impl->primitive = dnnl::matmul(pd);
    auto result = std::unique_ptr<OneDnnMatmul>(new OneDnnMatmul(std::move(impl)));
    result->scratchpad_bytes_ = static_cast<int64_t>(result->impl_->scratchpad_md.get_size());
    result->implementation_ = name != nullptr ? name : "";
    return result;
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN matmul creation failed: ", e.what()));
  }
}

absl::Status OneDnnMatmul::Run(const float* lhs, const float* rhs, float* out,
                               void* scratchpad) const {
  try {
    const dnnl::engine& engine = OneDnnCpuEngine();
    // oneDNN takes non-const handles but does not write its sources.
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, dnnl::memory(impl_->lhs_md, engine, const_cast<float*>(lhs))},
        {DNNL_ARG_WEIGHTS, dnnl::memory(impl_->rhs_md, engine, const_cast<float*>(rhs))},
        {DNNL_ARG_DST, dnnl::memory(impl_->out_md, engine, out)},
    };
    if (scratchpad_bytes_ > 0) {
      args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(impl_->scratchpad_md, engine, scratchpad));
    }
    dnnl::stream& stream = OneDnnThreadStream();
    impl_->primitive.execute(stream, args);
    stream.wait();
    return absl::OkStatus();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN matmul failed: ", e.what()));
  }
}

}  // namespace pw::cpu
