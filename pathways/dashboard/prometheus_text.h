// PrometheusText: writes the Prometheus text exposition format, version 0.0.4 — families with
// HELP and TYPE lines, samples with escaped labels, histograms as cumulative `_bucket` series
// with `le`, `_sum` and `_count`.
#ifndef PATHWAYS_DASHBOARD_PROMETHEUS_TEXT_H_
#define PATHWAYS_DASHBOARD_PROMETHEUS_TEXT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "pathways/base/metrics.h"

namespace pw {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

// The Content-Type of the format.
inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Not thread-safe: one writer per response. Names are the caller's constants (snake_case,
// "pathways_" prefix); label values are escaped (backslash, quote, newline).
class PrometheusText {
 public:
  // Starts a family: its # HELP and # TYPE lines. Every sample of it follows.
  void Family(absl::string_view name, MetricType type, absl::string_view help);
  // One sample of the current counter or gauge family (`name` is the family's).
  void Sample(absl::string_view name, const MetricLabels& labels, double value);
  void Sample(absl::string_view name, const MetricLabels& labels, int64_t value);
  // The series of a latency histogram in seconds (the family's name ends in _seconds).
  void Histogram(absl::string_view name, const MetricLabels& labels,
                 const LatencyHistogram::Snapshot& snapshot);

  const std::string& text() const { return out_; }

 private:
  void Line(absl::string_view name, const MetricLabels& labels, absl::string_view value);
  std::string out_;
};

// "a\"b" for a"b: the label-value escaping of the format.
std::string EscapeLabelValue(absl::string_view value);

}  // namespace pw

#endif  // PATHWAYS_DASHBOARD_PROMETHEUS_TEXT_H_
