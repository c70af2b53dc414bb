// Test helpers for the controller: small IR functions, waiting, and the FakeWorker (which lives
// beside the WorkerService interface it fakes).
#ifndef PATHWAYS_CONTROLLER_CONTROLLER_TEST_UTIL_H_
#define PATHWAYS_CONTROLLER_CONTROLLER_TEST_UTIL_H_

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/ir/function.h"
#include "pathways/service/fake_worker.h"
#include "pathways/service/worker_service.h"

namespace pw::controller_testing {

using ::pw::FakeWorker;

// Polls `done` until true or `timeout`; returns its last value.
bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(10));

ir::TensorType F32(std::initializer_list<int64_t> dims);
// f(x) = x <op> c on f32[n] shards, for a gang of `num_shards`.
enum class Arith { kMul, kAdd, kDiv };
ir::Function ElementwiseFunction(std::string name, Arith op, float c, int64_t num_shards,
                                 int64_t n = 2);
ir::Literal Vec(std::vector<float> values);
std::vector<float> Values(const ir::Literal& literal);

}  // namespace pw::controller_testing

#endif  // PATHWAYS_CONTROLLER_CONTROLLER_TEST_UTIL_H_
