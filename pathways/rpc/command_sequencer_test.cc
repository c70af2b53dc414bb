// Tests for CommandSequencer: commands run in seq order however they arrive (one thread or many),
// unordered ones at once, repeats refused, parked ones dropped with the reason on Stop.
#include "pathways/rpc/command_sequencer.h"

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"

namespace pw {
namespace {

using ::testing::ElementsAre;

TEST(CommandSequencerTest, RunsCommandsInSeqOrderWhateverTheArrivalOrder) {
  CommandSequencer sequencer;
  std::vector<int> applied;
  auto command = [&](int seq) {
    return [&, seq](const absl::Status& turn) {
      ASSERT_TRUE(turn.ok());
      applied.push_back(seq);
    };
  };
  ASSERT_TRUE(sequencer.Submit(3, command(3)).ok());
  ASSERT_TRUE(sequencer.Submit(2, command(2)).ok());
  EXPECT_TRUE(applied.empty());
  EXPECT_EQ(sequencer.parked(), 2u);
  ASSERT_TRUE(sequencer.Submit(0, command(0)).ok());  // unordered: at once
  ASSERT_TRUE(sequencer.Submit(1, command(1)).ok());
  EXPECT_THAT(applied, ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(sequencer.next(), 4u);
  ASSERT_TRUE(sequencer.Submit(4, command(4)).ok());
  EXPECT_THAT(applied, ElementsAre(0, 1, 2, 3, 4));

  bool ran = false;
  absl::Status again = sequencer.Submit(2, [&](const absl::Status&) { ran = true; });
  EXPECT_THAT(again, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(again.message()), ::testing::HasSubstr("seq 2"));
  ASSERT_TRUE(sequencer.Submit(9, command(9)).ok());
  EXPECT_THAT(sequencer.Submit(9, [&](const absl::Status&) { ran = true; }),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(ran);
}

TEST(CommandSequencerTest, ShuffledConcurrentArrivalsApplyInOrder) {
  constexpr int kCommands = 400;
  std::vector<uint64_t> seqs(kCommands);
  for (int i = 0; i < kCommands; ++i) seqs[i] = i + 1;
  std::shuffle(seqs.begin(), seqs.end(), std::mt19937(42));
  CommandSequencer sequencer;
  std::vector<uint64_t> applied;  // only the draining thread appends: no lock needed
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kCommands; i += 4) {
        const uint64_t seq = seqs[i];
        EXPECT_TRUE(sequencer.Submit(seq, [&, seq](const absl::Status& turn) {
                       EXPECT_TRUE(turn.ok());
                       applied.push_back(seq);
                     }).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(applied.size(), static_cast<size_t>(kCommands));
  for (int i = 0; i < kCommands; ++i) ASSERT_EQ(applied[i], static_cast<uint64_t>(i + 1));
}

TEST(CommandSequencerTest, StopDropsParkedCommandsWithTheReasonAndRefusesLaterOnes) {
  CommandSequencer sequencer;
  absl::Status dropped;
  ASSERT_TRUE(sequencer.Submit(2, [&](const absl::Status& turn) { dropped = turn; }).ok());
  sequencer.Stop(absl::UnavailableError("host:1 is shutting down"));
  EXPECT_THAT(dropped, StatusIs(absl::StatusCode::kUnavailable));
  bool ran = false;
  absl::Status late = sequencer.Submit(1, [&](const absl::Status&) { ran = true; });
  EXPECT_THAT(late, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_FALSE(ran);
  EXPECT_THAT(sequencer.Submit(0, [&](const absl::Status&) { ran = true; }),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace pw
