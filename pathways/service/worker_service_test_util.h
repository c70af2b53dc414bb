// Helpers for tests of WorkerService implementations and their callers: a recording observer
// and a one-call program with its HostRun (what the WorkerService conformance suite runs).
#ifndef PATHWAYS_SERVICE_WORKER_SERVICE_TEST_UTIL_H_
#define PATHWAYS_SERVICE_WORKER_SERVICE_TEST_UTIL_H_

#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/base/ids.h"
#include "pathways/dataflow/lowered_program.h"
#include "pathways/ir/function.h"
#include "pathways/ir/literal.h"
#include "pathways/service/worker_service.h"

namespace pw::worker_service_testing {

// The host every harness serves and its two devices.
inline constexpr int64_t kHost = 0;
inline constexpr int64_t kDevice0 = 0;
inline constexpr int64_t kDevice1 = 1;

// Records every HostRunResult; thread-safe.
class RecordingObserver final : public RunObserver {
 public:
  void OnHostRunDone(HostRunResult result) override;
  // The result of `run`, once it came; nullopt after `timeout`.
  std::optional<HostRunResult> Await(RunId run, absl::Duration timeout = absl::Seconds(20));

 private:
  absl::Mutex mu_;
  std::vector<HostRunResult> results_ ABSL_GUARDED_BY(mu_);
};

// y = x + x over two shards of f32[4] (registered as FunctionId(7)).
ir::Function TwiceFunction();
// The one-call program running TwiceFunction on `host`'s devices {d0, d1}: value slot 0 is x
// (the program input), slot 1 is y (its output).
std::shared_ptr<const LoweredProgram> TwiceProgram(HostId host, DeviceId d0, DeviceId d1);
// `host`'s whole part of `lowered` as run `run`, binding value slot i to arrays[i].
HostRun MakeHostRun(const std::shared_ptr<const LoweredProgram>& lowered, HostId host, RunId run,
                    std::vector<ArrayId> arrays);
ir::Literal F32Vector(std::vector<float> values);

}  // namespace pw::worker_service_testing

#endif  // PATHWAYS_SERVICE_WORKER_SERVICE_TEST_UTIL_H_
