// Helpers for tests of WorkerService implementations and their callers.
#include "pathways/service/worker_service_test_util.h"

#include <utility>

#include "absl/types/span.h"
#include "pathways/base/logging.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/ir/builder.h"

namespace pw::worker_service_testing {
namespace {

ir::TensorType F32x4() { return ir::TensorType{ir::DType::kF32, ir::Shape({4})}; }

}  // namespace

void RecordingObserver::OnHostRunDone(HostRunResult result) {
  absl::MutexLock lock(&mu_);
  results_.push_back(std::move(result));
}

std::optional<HostRunResult> RecordingObserver::Await(RunId run, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto found = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (const HostRunResult& r : results_) {
      if (r.run == run) return true;
    }
    return false;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&found), timeout)) return std::nullopt;
  for (const HostRunResult& r : results_) {
    if (r.run == run) return r;
  }
  return std::nullopt;
}

ir::Function TwiceFunction() {
  ir::FunctionBuilder b("twice", {.num_shards = 2});
  ir::Value x = b.Parameter(F32x4(), "x");
  auto f = b.Build({b.Add(x, x)});
  PW_CHECK(f.ok()) << f.status();
  return *std::move(f);
}

std::shared_ptr<const LoweredProgram> TwiceProgram(HostId host, DeviceId d0, DeviceId d1) {
  LoweringContext context;
  context.devices[d0] = DeviceLocation{host, IslandId(0)};
  context.devices[d1] = DeviceLocation{host, IslandId(0)};
  context.slices[SliceId(0)] = {d0, d1};
  context.functions[FunctionId(7)] =
      FunctionSignature{FunctionId(7), "twice", 2, {F32x4()}, {F32x4()}};
  ProgramDef program;
  program.name = "twice";
  program.inputs = {ArraySpec{F32x4(), SliceId(0)}};
  program.calls = {ProgramCall{"a", FunctionId(7), SliceId(0), {ValueRef{-1, 0}}}};
  program.outputs = {ValueRef{0, 0}};
  auto lowered = LowerProgram(program, context);
  PW_CHECK(lowered.ok()) << lowered.status();
  return *std::move(lowered);
}

HostRun MakeHostRun(const std::shared_ptr<const LoweredProgram>& lowered, HostId host, RunId run,
                    std::vector<ArrayId> arrays) {
  HostRun r;
  r.run = run;
  r.client = ClientId(1);
  r.program = lowered->hosts.at(host);
  r.lowered = lowered;
  r.value_arrays = std::make_shared<std::vector<ArrayId>>(std::move(arrays));
  r.gang_base = 1000 * run.value();
  r.mode = DispatchMode::kParallel;
  r.stage = -1;
  return r;
}

ir::Literal F32Vector(std::vector<float> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  auto lit = ir::Literal::Create<float>(ir::Shape({n}), absl::Span<const float>(values));
  PW_CHECK(lit.ok()) << lit.status();
  return *std::move(lit);
}

}  // namespace pw::worker_service_testing
