#include "pathways/dashboard/prometheus_text.h"

#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

TEST(PrometheusTextTest, FamilyHasHelpAndTypeThenSamples) {
  PrometheusText out;
  out.Family("pathways_x_total", MetricType::kCounter, "Things.\nWith a \\ newline.");
  out.Sample("pathways_x_total", {{"client", "a\"b\\c\nd"}}, int64_t{7});
  out.Family("pathways_y_ratio", MetricType::kGauge, "A ratio.");
  out.Sample("pathways_y_ratio", {}, 0.25);
  EXPECT_EQ(out.text(),
            "# HELP pathways_x_total Things.\\nWith a \\\\ newline.\n"
            "# TYPE pathways_x_total counter\n"
            "pathways_x_total{client=\"a\\\"b\\\\c\\nd\"} 7\n"
            "# HELP pathways_y_ratio A ratio.\n"
            "# TYPE pathways_y_ratio gauge\n"
            "pathways_y_ratio 0.25\n");
}

TEST(PrometheusTextTest, HistogramHasCumulativeBucketsInSecondsSumAndCount) {
  LatencyHistogram h;
  h.Observe(500);       // 0.5 µs
  h.Observe(2'000'000);  // 2 ms
  PrometheusText out;
  out.Family("pathways_t_seconds", MetricType::kHistogram, "Latency.");
  out.Histogram("pathways_t_seconds", {{"island", "0"}}, h.Read());
  const std::string& text = out.text();
  EXPECT_THAT(text, HasSubstr("# TYPE pathways_t_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("pathways_t_seconds_bucket{island=\"0\",le=\"1e-06\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pathways_t_seconds_bucket{island=\"0\",le=\"0.004096\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("pathways_t_seconds_bucket{island=\"0\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("pathways_t_seconds_sum{island=\"0\"} 0.0020005\n"));
  EXPECT_THAT(text, HasSubstr("pathways_t_seconds_count{island=\"0\"} 2\n"));
}

TEST(PrometheusTextTest, SpecialValues) {
  PrometheusText out;
  out.Family("pathways_z", MetricType::kGauge, "z");
  out.Sample("pathways_z", {}, std::numeric_limits<double>::infinity());
  out.Sample("pathways_z", {}, 0.1);
  EXPECT_THAT(out.text(), HasSubstr("pathways_z +Inf\npathways_z 0.1\n"));
}

}  // namespace
}  // namespace pw
