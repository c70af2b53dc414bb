// The WorkerService conformance suite's tests.
#include "pathways/service/worker_service_conformance.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "pathways/base/status_matchers.h"
#include "pathways/ir/builder.h"

namespace pw::worker_service_testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ir::TensorType F32x4() { return ir::TensorType{ir::DType::kF32, ir::Shape({4})}; }

std::vector<float> Floats(const ir::Literal& literal) {
  auto data = literal.data<float>();
  return std::vector<float>(data.begin(), data.end());
}

const HostId kHostId(kHost);
const DeviceId kD0(kDevice0);
const DeviceId kD1(kDevice1);

TEST_P(WorkerServiceConformanceTest, ServesTheHostItWasMadeFor) {
  EXPECT_EQ(worker().host(), kHostId);
  const HostStatus status = worker().Status();
  EXPECT_THAT(status.status, IsOk());
  EXPECT_EQ(status.host, kHostId);
}

TEST_P(WorkerServiceConformanceTest, PutShardThenFetchShardGivesTheDataBack) {
  ASSERT_THAT(worker().PutShard(ArrayId(1), 0, kD0, F32Vector({1, 2, 3, 4})), IsOk());
  ASSERT_THAT(worker().PutShard(ArrayId(1), 1, kD1, F32Vector({5, 6, 7, 8})), IsOk());
  absl::StatusOr<ir::Literal> first = worker().FetchShard(ArrayId(1), 0)->AwaitValue();
  absl::StatusOr<ir::Literal> second = worker().FetchShard(ArrayId(1), 1)->AwaitValue();
  ASSERT_THAT(first.status(), IsOk());
  ASSERT_THAT(second.status(), IsOk());
  EXPECT_THAT(Floats(*first), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(Floats(*second), ElementsAre(5, 6, 7, 8));
}

TEST_P(WorkerServiceConformanceTest, PutShardTwiceIsAlreadyExists) {
  ASSERT_THAT(worker().PutShard(ArrayId(2), 0, kD0, F32Vector({1, 2, 3, 4})), IsOk());
  EXPECT_THAT(worker().PutShard(ArrayId(2), 0, kD0, F32Vector({1, 2, 3, 4})),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_P(WorkerServiceConformanceTest, PutShardOnAnotherHostsDeviceIsInvalidArgument) {
  EXPECT_THAT(worker().PutShard(ArrayId(3), 0, DeviceId(77), F32Vector({1, 2, 3, 4})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("77")));
}

TEST_P(WorkerServiceConformanceTest, FetchOfAnUnknownShardIsNotFound) {
  EXPECT_THAT(worker().FetchShard(ArrayId(404), 0)->Await(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(WorkerServiceConformanceTest, FailedShardsFailTheirFetchesAndTheRunsReadingThem) {
  worker().FailShards(ArrayId(40), std::vector<int32_t>{0, 1},
                      absl::AbortedError("the data-dependent step failed"));
  // The call returns at once; a remote worker applies it when it arrives.
  absl::Status fetched;
  for (int attempt = 0; attempt < 500; ++attempt) {
    fetched = worker().FetchShard(ArrayId(40), 1)->Await();
    if (!absl::IsNotFound(fetched)) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(fetched, StatusIs(absl::StatusCode::kAborted, HasSubstr("step failed")));
  if (!harness_->computes()) return;
  ASSERT_THAT(worker().RegisterFunction(FunctionId(7), TwiceFunction()), IsOk());
  worker().Run(MakeHostRun(TwiceProgram(kHostId, kD0, kD1), kHostId, RunId(41),
                           {ArrayId(40), ArrayId(42)}));
  std::optional<HostRunResult> result = observer_.Await(RunId(41));
  ASSERT_TRUE(result.has_value()) << "no report of run 41";
  ASSERT_FALSE(result->outputs.empty());
  for (const HostRunResult::ShardStatus& out : result->outputs) {
    EXPECT_THAT(out.status, StatusIs(absl::StatusCode::kAborted, HasSubstr("step failed")));
  }
}

// A scratch directory for one test's shard files, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = absl::StrCat("pw_ws_conformance_", ::getpid(), "_", info->name());
    std::replace(name.begin(), name.end(), '/', '_');  // parameterized names hold '/'
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

TEST_P(WorkerServiceConformanceTest, SaveShardWritesAFileThatLoadShardReadsBack) {
  ScratchDir dir;
  ASSERT_THAT(worker().PutShard(ArrayId(30), 0, kD0, F32Vector({1, 2, 3, 4})), IsOk());
  absl::StatusOr<checkpoint::ShardFile> saved =
      worker().SaveShard(ArrayId(30), 0, dir.File("a.shard0"))->AwaitValue();
  ASSERT_THAT(saved.status(), IsOk());
  EXPECT_EQ(saved->path, dir.File("a.shard0"));
  EXPECT_EQ(saved->type, F32x4());
  EXPECT_EQ(saved->bytes, 16);
  EXPECT_TRUE(std::filesystem::exists(dir.File("a.shard0")));
  ASSERT_THAT(worker().LoadShard(ArrayId(31), 1, kD1, *saved), IsOk());
  absl::StatusOr<ir::Literal> back = worker().FetchShard(ArrayId(31), 1)->AwaitValue();
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_THAT(Floats(*back), ElementsAre(1, 2, 3, 4));
}

TEST_P(WorkerServiceConformanceTest, SaveAndLoadNameWhatIsWrong) {
  ScratchDir dir;
  EXPECT_THAT(worker().SaveShard(ArrayId(404), 0, dir.File("x"))->Await(),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(worker().PutShard(ArrayId(32), 0, kD0, F32Vector({1, 2, 3, 4})), IsOk());
  EXPECT_THAT(worker().SaveShard(ArrayId(32), 0, "relative/x")->Await(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absolute")));
  EXPECT_THAT(worker().SaveShard(ArrayId(32), 0, dir.File("no/such/dir"))->Await(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no/such/dir")));
  absl::StatusOr<checkpoint::ShardFile> saved =
      worker().SaveShard(ArrayId(32), 0, dir.File("b"))->AwaitValue();
  ASSERT_THAT(saved.status(), IsOk());
  checkpoint::ShardFile changed = *saved;
  changed.crc32 ^= 1;
  EXPECT_THAT(worker().LoadShard(ArrayId(33), 0, kD0, changed),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(dir.File("b"))));
  checkpoint::ShardFile missing = *saved;
  missing.path = dir.File("gone");
  EXPECT_THAT(worker().LoadShard(ArrayId(33), 0, kD0, missing),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("gone")));
  EXPECT_THAT(worker().LoadShard(ArrayId(33), 0, DeviceId(77), *saved),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("77")));
  // A failed load leaves nothing behind: the shard can still be loaded.
  EXPECT_THAT(worker().LoadShard(ArrayId(33), 0, kD0, *saved), IsOk());
  EXPECT_THAT(worker().LoadShard(ArrayId(33), 0, kD0, *saved),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

// Release returns before the memory is freed (the host may still be running steps that use the
// shard): the host lets go of it soon after, and says so in its status.
TEST_P(WorkerServiceConformanceTest, ReleaseDropsTheShardsAndIgnoresUnknownArrays) {
  ASSERT_THAT(worker().PutShard(ArrayId(4), 0, kD0, F32Vector({1, 2, 3, 4})), IsOk());
  ASSERT_THAT(worker().PutShard(ArrayId(4), 1, kD1, F32Vector({1, 2, 3, 4})), IsOk());
  EXPECT_EQ(worker().Status().live_buffers, 2);
  worker().Release({ArrayId(4), ArrayId(999)});
  worker().Release({ArrayId(4)});  // idempotent
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  int64_t live = worker().Status().live_buffers;
  while (live != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
    live = worker().Status().live_buffers;
  }
  EXPECT_EQ(live, 0) << "the released shards are still held";
  EXPECT_THAT(worker().FetchShard(ArrayId(4), 0)->Await(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(WorkerServiceConformanceTest, RegisterFunctionIsIdempotentButNeverRebindsAnId) {
  EXPECT_THAT(worker().RegisterFunction(FunctionId(7), TwiceFunction()), IsOk());
  EXPECT_THAT(worker().RegisterFunction(FunctionId(7), TwiceFunction()), IsOk());
  ir::FunctionBuilder b("other", {.num_shards = 2});
  ir::Value x = b.Parameter(F32x4(), "x");
  absl::StatusOr<ir::Function> other = b.Build({b.Multiply(x, x)});
  ASSERT_THAT(other.status(), IsOk());
  EXPECT_THAT(worker().RegisterFunction(FunctionId(7), *other),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(WorkerServiceConformanceTest, RunReportsEveryOutputShardOnce) {
  ASSERT_THAT(worker().RegisterFunction(FunctionId(7), TwiceFunction()), IsOk());
  ASSERT_THAT(worker().PutShard(ArrayId(10), 0, kD0, F32Vector({1, 2, 3, 4})), IsOk());
  ASSERT_THAT(worker().PutShard(ArrayId(10), 1, kD1, F32Vector({5, 6, 7, 8})), IsOk());
  auto lowered = TwiceProgram(kHostId, kD0, kD1);
  worker().Run(MakeHostRun(lowered, kHostId, RunId(5), {ArrayId(10), ArrayId(11)}));
  std::optional<HostRunResult> result = observer_.Await(RunId(5));
  ASSERT_TRUE(result.has_value()) << "no report of run 5";
  EXPECT_THAT(result->status, IsOk());
  EXPECT_EQ(result->host, kHostId);
  std::vector<int32_t> shards;
  for (const HostRunResult::ShardStatus& out : result->outputs) {
    EXPECT_EQ(out.value, 1) << "the program output is value slot 1";
    EXPECT_THAT(out.status, IsOk());
    shards.push_back(out.shard);
  }
  std::sort(shards.begin(), shards.end());
  EXPECT_THAT(shards, ElementsAre(0, 1));
  if (!harness_->computes()) return;
  absl::StatusOr<ir::Literal> y = worker().FetchShard(ArrayId(11), 1)->AwaitValue();
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_THAT(Floats(*y), ElementsAre(10, 12, 14, 16));
}

TEST_P(WorkerServiceConformanceTest, RunsAreReportedInTheOrderTheyWereHandedOver) {
  ASSERT_THAT(worker().RegisterFunction(FunctionId(7), TwiceFunction()), IsOk());
  ASSERT_THAT(worker().PutShard(ArrayId(20), 0, kD0, F32Vector({1, 1, 1, 1})), IsOk());
  ASSERT_THAT(worker().PutShard(ArrayId(20), 1, kD1, F32Vector({2, 2, 2, 2})), IsOk());
  auto lowered = TwiceProgram(kHostId, kD0, kD1);
  // A chain: each run doubles the previous run's output.
  for (int64_t r = 0; r < 4; ++r) {
    worker().Run(MakeHostRun(lowered, kHostId, RunId(100 + r), {ArrayId(20 + r), ArrayId(21 + r)}));
  }
  for (int64_t r = 0; r < 4; ++r) {
    std::optional<HostRunResult> result = observer_.Await(RunId(100 + r));
    ASSERT_TRUE(result.has_value()) << "no report of run " << 100 + r;
    EXPECT_THAT(result->status, IsOk());
  }
  if (!harness_->computes()) return;
  absl::StatusOr<ir::Literal> last = worker().FetchShard(ArrayId(24), 1)->AwaitValue();
  ASSERT_THAT(last.status(), IsOk());
  EXPECT_THAT(Floats(*last), ElementsAre(32, 32, 32, 32));
}

}  // namespace
}  // namespace pw::worker_service_testing
