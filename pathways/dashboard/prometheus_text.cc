// PrometheusText: the exposition format's lines.
#include "pathways/dashboard/prometheus_text.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pw {
namespace {

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // The shortest form that reads back as the same double (1e-06, not 9.9999999999999995e-07).
  for (int precision = 1; precision < 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, v);
    if (std::strtod(text.c_str(), nullptr) == v) return text;
  }
  return absl::StrFormat("%.17g", v);
}

// Label values escape double quotes; HELP text leaves them alone.
enum class Quotes { kKeep, kEscape };

// Backslash and newline as \\ and \n, and double quotes as \" if asked.
std::string Escape(absl::string_view text, Quotes quotes) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\' || (quotes == Quotes::kEscape && c == '"')) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) { return Escape(value, Quotes::kEscape); }

void PrometheusText::Family(absl::string_view name, MetricType type, absl::string_view help) {
  const char* type_name = type == MetricType::kCounter ? "counter"
                          : type == MetricType::kGauge ? "gauge"
                                                       : "histogram";
  absl::StrAppend(&out_, "# HELP ", name, " ", Escape(help, Quotes::kKeep), "\n# TYPE ", name, " ",
                  type_name, "\n");
}

void PrometheusText::Line(absl::string_view name, const MetricLabels& labels,
                          absl::string_view value) {
  absl::StrAppend(&out_, name);
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      absl::StrAppend(&out_, i == 0 ? "" : ",", labels[i].first, "=\"",
                      EscapeLabelValue(labels[i].second), "\"");
    }
    out_ += '}';
  }
  absl::StrAppend(&out_, " ", value, "\n");
}

void PrometheusText::Sample(absl::string_view name, const MetricLabels& labels, double value) {
  Line(name, labels, FormatDouble(value));
}

void PrometheusText::Sample(absl::string_view name, const MetricLabels& labels, int64_t value) {
  Line(name, labels, absl::StrCat(value));
}

void PrometheusText::Histogram(absl::string_view name, const MetricLabels& labels,
                               const LatencyHistogram::Snapshot& snapshot) {
  const auto& bounds = LatencyHistogram::BoundsNanos();
  const std::string bucket = absl::StrCat(name, "_bucket");
  for (size_t i = 0; i < snapshot.cumulative.size(); ++i) {
    MetricLabels with_le = labels;
    with_le.emplace_back("le", i < bounds.size() ? FormatDouble(bounds[i] / 1e9) : "+Inf");
    Line(bucket, with_le, absl::StrCat(snapshot.cumulative[i]));
  }
  Line(absl::StrCat(name, "_sum"), labels, FormatDouble(snapshot.sum_nanos / 1e9));
  Line(absl::StrCat(name, "_count"), labels, absl::StrCat(snapshot.count));
}

}  // namespace pw
