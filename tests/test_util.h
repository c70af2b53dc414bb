// Helpers shared by the integration tests.
#ifndef PATHWAYS_TESTS_TEST_UTIL_H_
#define PATHWAYS_TESTS_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "pathways/base/logging.h"
#include "pathways/base/trace.h"

namespace pw::testing_util {

// The value, or the test program stops with the status (set-up that cannot fail in a passing run).
template <typename T>
T Unwrap(absl::StatusOr<T> v) {
  PW_CHECK(v.ok()) << v.status();
  return *std::move(v);
}

// Run ids of the "execute" trace events on each device lane (tid = device id), in execution
// order: equal lists on every device mean one gang order.
inline std::map<int64_t, std::vector<int64_t>> RunOrderPerDevice(const std::vector<TraceEvent>& events) {
  std::vector<const TraceEvent*> exec;
  for (const TraceEvent& e : events) {
    if (e.category == "execute") exec.push_back(&e);
  }
  std::sort(exec.begin(), exec.end(), [](auto* a, auto* b) { return a->start_ns < b->start_ns; });
  std::map<int64_t, std::vector<int64_t>> order;
  const std::regex run_re("run:([0-9]+)");
  for (const TraceEvent* e : exec) {
    std::smatch m;
    if (std::regex_search(e->name, m, run_re)) order[e->tid].push_back(std::stoll(m[1].str()));
  }
  return order;
}

}  // namespace pw::testing_util

#endif  // PATHWAYS_TESTS_TEST_UTIL_H_
