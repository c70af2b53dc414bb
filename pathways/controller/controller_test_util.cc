// FakeWorker and IR helpers for the controller tests.
#include "pathways/controller/controller_test_util.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/ir/builder.h"

namespace pw::controller_testing {

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return done();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

ir::TensorType F32(std::initializer_list<int64_t> dims) {
  return ir::TensorType{ir::DType::kF32, ir::Shape(dims)};
}

ir::Function ElementwiseFunction(std::string name, Arith op, float c, int64_t num_shards,
                                 int64_t n) {
  ir::FunctionBuilder b(name, ir::FunctionOptions{num_shards});
  ir::Value x = b.Parameter(ir::TensorType{ir::DType::kF32, ir::Shape({n})}, "x");
  ir::Value k = b.ScalarLike(ir::DType::kF32, c);
  ir::Value y = op == Arith::kMul ? b.Multiply(x, k) : op == Arith::kAdd ? b.Add(x, k) : b.Divide(x, k);
  absl::StatusOr<ir::Function> f = b.Build({y});
  PW_CHECK(f.ok()) << f.status();
  return *std::move(f);
}

ir::Literal Vec(std::vector<float> values) {
  absl::StatusOr<ir::Literal> l = ir::Literal::Create<float>(
      ir::Shape({static_cast<int64_t>(values.size())}), absl::MakeConstSpan(values));
  PW_CHECK(l.ok()) << l.status();
  return *std::move(l);
}

std::vector<float> Values(const ir::Literal& literal) {
  std::vector<float> out(literal.num_elements());
  std::memcpy(out.data(), literal.untyped_data(), out.size() * sizeof(float));
  return out;
}

}  // namespace pw::controller_testing
