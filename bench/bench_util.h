// Small helpers the benchmarks share: a benchmark stops at the first error, with its status.
#ifndef BENCH_BENCH_UTIL_H_
#define BENCH_BENCH_UTIL_H_

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "pathways/base/logging.h"

namespace pw::bench {

// The value, or the benchmark stops with the error.
template <typename T>
T Check(absl::StatusOr<T> v) {
  PW_CHECK(v.ok()) << v.status();
  return *std::move(v);
}

// The upper median (0 for none).
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Closes a results document `json` opened as `{...,"rows":[` and writes it to `path` (nothing
// when empty), saying so on stdout.
inline void WriteJsonRows(std::string json, const std::string& path) {
  json += "]}\n";
  if (path.empty()) return;
  std::ofstream(path) << json;
  std::printf("# wrote %s\n", path.c_str());
}

}  // namespace pw::bench

#endif  // BENCH_BENCH_UTIL_H_
