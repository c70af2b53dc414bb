// Tests for the Chrome trace-event recorder.
#include "pathways/base/trace.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

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
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
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
