#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/checkpoint/checkpoint_index.h"
#include "pathways/checkpoint/shard_file.h"

namespace pw::checkpoint {
namespace {

using ::testing::HasSubstr;

class CheckpointFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pw_checkpoint_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Overwrite(const std::string& name, const std::string& contents) const {
    std::ofstream(Path(name), std::ios::binary | std::ios::trunc) << contents;
  }
  std::filesystem::path dir_;
};

TEST_F(CheckpointFilesTest, AShardFileReadsBackWhatWasWritten) {
  const ir::Literal data = ir::Literal::Create<float>(ir::Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  absl::StatusOr<ShardFile> file = WriteShardFile(Path("a.shard0"), data);
  ASSERT_THAT(file, IsOk());
  EXPECT_EQ(file->bytes, 24);
  EXPECT_EQ(file->crc32, Crc32(data.bytes()));
  EXPECT_THAT(ReadShardFile(*file), IsOkAndHolds(data));
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

TEST_F(CheckpointFilesTest, ACorruptedOrTruncatedShardIsDataLoss) {
  const ir::Literal data = ir::Literal::Create<int32_t>(ir::Shape{4}, {1, 2, 3, 4});
  absl::StatusOr<ShardFile> file = WriteShardFile(Path("s"), data);
  ASSERT_THAT(file, IsOk());
  std::string bytes = data.bytes();
  bytes[5] ^= 0x40;
  Overwrite("s", bytes);
  EXPECT_THAT(ReadShardFile(*file), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("CRC-32")));
  Overwrite("s", data.bytes().substr(0, 10));
  EXPECT_THAT(ReadShardFile(*file), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("holds 10 bytes")));
  Overwrite("s", data.bytes() + "extra");
  EXPECT_THAT(ReadShardFile(*file), StatusIs(absl::StatusCode::kDataLoss));
  std::filesystem::remove(Path("s"));
  EXPECT_THAT(ReadShardFile(*file), StatusIs(absl::StatusCode::kNotFound, HasSubstr(Path("s"))));
}

TEST_F(CheckpointFilesTest, ARecordDisagreeingWithItsTypeIsRefusedBeforeReading) {
  const ir::Literal data = ir::Literal::Create<float>(ir::Shape{2}, {1, 2});
  absl::StatusOr<ShardFile> file = WriteShardFile(Path("s"), data);
  ASSERT_THAT(file, IsOk());
  ShardFile wrong = *file;
  wrong.type = ir::TensorType{ir::DType::kF32, ir::Shape{3}};
  EXPECT_THAT(ReadShardFile(wrong), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("12 bytes")));
}

TEST_F(CheckpointFilesTest, PathsMustBeAbsoluteAndCleanAndNamesPlain) {
  EXPECT_THAT(CheckPath("relative/x", "p"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absolute")));
  EXPECT_THAT(CheckPath("/a/../etc", "p"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("..")));
  EXPECT_THAT(CheckPath(std::string("/a\0b", 4), "p"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  EXPECT_THAT(CheckPath(std::string(5000, '/'), "p"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer")));
  EXPECT_THAT(CheckPath("/tmp/ok/x.shard0", "p"), IsOk());
  EXPECT_THAT(CheckFileName("a/b", "f"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckFileName("..", "f"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckFileName("array0.shard1", "f"), IsOk());
  EXPECT_THAT(WriteShardFile("x.bin", ir::Literal::Scalar<float>(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x.bin")));
}

CheckpointIndex TwoArrays() {
  CheckpointIndex index;
  index.metadata = R"({"step": 7})";
  index.arrays.push_back({"params/w", ir::TensorType{ir::DType::kF32, ir::Shape{2, 3}},
                          {{ShardFileName(0, 0), 24, 11}, {ShardFileName(0, 1), 24, 12}}});
  index.arrays.push_back({"step", ir::TensorType{ir::DType::kI32, ir::Shape{}},
                          {{ShardFileName(1, 0), 4, 13}}});
  return index;
}

TEST_F(CheckpointFilesTest, TheIndexRoundTripsThroughJson) {
  const CheckpointIndex index = TwoArrays();
  ASSERT_THAT(WriteIndex(dir_.string(), index), IsOk());
  EXPECT_THAT(ReadIndex(dir_.string()), IsOkAndHolds(index));
  absl::StatusOr<CheckpointIndex> read = ReadIndex(dir_.string());
  ASSERT_THAT(read, IsOk());
  EXPECT_THAT(read->Find("step"), IsOk());
  EXPECT_THAT(read->Find("nope"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("params/w")));
  const ShardFile f = ShardFileOf(dir_.string(), read->arrays[0], 1);
  EXPECT_EQ(f.path, Path("array0.shard1"));
  EXPECT_EQ(f.crc32, 12u);
}

TEST_F(CheckpointFilesTest, AnIndexIsNeverReplaced) {
  ASSERT_THAT(WriteIndex(dir_.string(), TwoArrays()), IsOk());
  CheckpointIndex other = TwoArrays();
  other.metadata = "other";
  EXPECT_THAT(WriteIndex(dir_.string(), other), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(ReadIndex(dir_.string()), IsOkAndHolds(TwoArrays()));
  // Only the index and no temporary file are left.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

TEST_F(CheckpointFilesTest, ADirectoryWithoutAnIndexIsNotACheckpoint) {
  EXPECT_THAT(ReadIndex(dir_.string()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("did not finish")));
  EXPECT_THAT(ReadIndex("relative"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CheckpointFilesTest, AHostileIndexIsRefusedNamingTheField) {
  auto expect_refused = [&](const std::string& json, const std::string& field) {
    Overwrite("index.json", json);
    EXPECT_THAT(ReadIndex(dir_.string()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(field)))
        << json;
  };
  expect_refused("not json", "not a checkpoint index");
  expect_refused(R"({"formatVersion": 9})", "format_version");
  expect_refused(R"({"formatVersion": 1, "surprise": 1})", "not a checkpoint index");
  expect_refused(R"({"formatVersion": 1, "arrays": [{"name": "a", "dtype": "q7"}]})",
                 "arrays[0].dtype");
  expect_refused(R"({"formatVersion": 1, "arrays": [{"name": "a", "dtype": "f32",
                     "shardDims": [-1]}]})", "invalid shard type");
  expect_refused(R"({"formatVersion": 1, "arrays": [{"name": "a", "dtype": "f32",
                     "shardDims": [1099511627776, 1099511627776]}]})", "invalid shard type");
  expect_refused(R"({"formatVersion": 1, "arrays": [{"name": "a", "dtype": "f32",
                     "shards": [{"file": "../../etc/passwd", "bytes": 4}]}]})", "shards[0].file");
  expect_refused(R"({"formatVersion": 1, "arrays": [{"name": "a", "dtype": "f32",
                     "shards": [{"file": "x", "bytes": 400}]}]})", "shards[0].bytes");
  expect_refused(R"({"formatVersion": 1, "arrays": [{"name": "a", "dtype": "f32"},
                     {"name": "a", "dtype": "f32"}]})", "appears twice");
  expect_refused(R"({"formatVersion": 1, "arrays": [{"name": "", "dtype": "f32"}]})",
                 "arrays[0].name");
  expect_refused(R"({"formatVersion": 1, "arrays": [{"name": "a", "dtype": "f32",
                     "shards": [{"file": "x", "bytes": 4}, {"file": "x", "bytes": 4}]}]})",
                 "appears twice");
}

}  // namespace
}  // namespace pw::checkpoint
