// OneDnnEltwise: primitive creation and execution. oneDNN's exceptions stop here.
#include "pathways/kernels/onednn_eltwise.h"

#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "pathways/kernels/onednn_engine.h"

namespace pw::cpu {

struct OneDnnEltwise::Impl {
  dnnl::memory::desc md;
  dnnl::eltwise_forward primitive;
};

OneDnnEltwise::OneDnnEltwise(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OneDnnEltwise::~OneDnnEltwise() = default;

absl::StatusOr<std::unique_ptr<OneDnnEltwise>> OneDnnEltwise::Create(Kind kind, int64_t n) {
  try {
    auto impl = std::make_unique<Impl>();
    impl->md = dnnl::memory::desc(dnnl::memory::dims{n}, dnnl::memory::data_type::f32,
                                  dnnl::memory::format_tag::a);
    const dnnl::algorithm algorithm = kind == Kind::kTanh  ? dnnl::algorithm::eltwise_tanh
                                      : kind == Kind::kExp ? dnnl::algorithm::eltwise_exp
                                                           : dnnl::algorithm::eltwise_log;
    dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, impl->md);
    dnnl::eltwise_forward::primitive_desc pd(desc, OneDnnCpuEngine());
    impl->primitive = dnnl::eltwise_forward(pd);
    return std::unique_ptr<OneDnnEltwise>(new OneDnnEltwise(std::move(impl)));
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN eltwise creation failed: ", e.what()));
  }
}

absl::Status OneDnnEltwise::Run(const float* in, float* out) const {
  try {
    const dnnl::engine& engine = OneDnnCpuEngine();
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, dnnl::memory(impl_->md, engine, const_cast<float*>(in))},
        {DNNL_ARG_DST, dnnl::memory(impl_->md, engine, out)},
    };
    dnnl::stream& stream = OneDnnThreadStream();
    impl_->primitive.execute(stream, args);
    stream.wait();
    return absl::OkStatus();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN eltwise failed: ", e.what()));
  }
}

}  // namespace pw::cpu
