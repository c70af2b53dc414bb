// Tests for the Chrome trace-event recorder.
#include "pathways/base/trace.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"

namespace pw {
namespace {
using ::testing::HasSubstr;

TEST(TraceRecorderTest, DisabledRecordsNothing) {
  TraceRecorder rec;
  { TraceScope s(&rec, "work", "execute", 0, 1); }
  EXPECT_EQ(rec.num_events(), 0u);
}

TEST(TraceRecorderTest, ScopeRecordsCompleteEventWithEscapedArgs) {
  TraceRecorder rec;
  rec.Start();
  rec.NameThread(2, 5, "device 5");
  {
    TraceScope s(&rec, "run \"f\"", "execute", 2, 5);
    s.AddArg("shape", "f32[2,3]\n");
  }
  ASSERT_EQ(rec.num_events(), 1u);
  std::string json = rec.ToJson();
  EXPECT_THAT(json, HasSubstr("\"name\":\"run \\\"f\\\"\""));
  EXPECT_THAT(json, HasSubstr("\"ph\":\"X\",\"pid\":2,\"tid\":5"));
  EXPECT_THAT(json, HasSubstr("\"shape\":\"f32[2,3]\\n\""));
  EXPECT_THAT(json, HasSubstr("\"thread_name\""));
}

TEST(TraceRecorderTest, WriteJsonToBadPathIsError) {
  TraceRecorder rec;
  absl::Status s = rec.WriteJson("/nonexistent-dir/x/trace.json");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(s.message()), HasSubstr("/nonexistent-dir/x/trace.json"));
}

TEST(TraceRecorderTest, WriteJsonRoundTripsToFile) {
  TraceRecorder rec;
  rec.Start();
  rec.Record({.name = "x", .category = "dispatch", .pid = 1, .tid = 2, .start_ns = 1000, .dur_ns = 2000});
  std::string path = testing::TempDir() + "/trace_test.json";
  ASSERT_TRUE(rec.WriteJson(path).ok());
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_THAT(ss.str(), HasSubstr("\"ts\":1.000,\"dur\":2.000"));
}

}  // namespace
}  // namespace pw

namespace pw {
namespace {

TEST(TraceRecorderTest, MaxEventsKeepsTheMostRecent) {
  TraceRecorder recorder;
  recorder.Start();
  recorder.set_max_events(100);
  for (int i = 0; i < 1000; ++i) recorder.Record({.name = absl::StrCat("e", i), .category = "t"});
  std::vector<TraceEvent> events = recorder.Events();
  ASSERT_LE(events.size(), 100u);
  ASSERT_GE(events.size(), 75u);
  EXPECT_EQ(events.back().name, "e999");
  // Oldest kept events are contiguous up to the newest.
  EXPECT_EQ(events.front().name, absl::StrCat("e", 1000 - events.size()));
}

TEST(TraceRecorderTest, LaneNamesCopyAndMerge) {
  TraceRecorder a, b;
  a.NameProcess(3, "host 3");
  a.NameThread(3, 7, "device 7");
  for (TraceEvent e : a.LaneNames()) b.AddLaneName(std::move(e));
  b.Start();
  const std::string json = b.ToJson();
  EXPECT_NE(json.find("host 3"), std::string::npos);
  EXPECT_NE(json.find("device 7"), std::string::npos);
}

}  // namespace
}  // namespace pw
