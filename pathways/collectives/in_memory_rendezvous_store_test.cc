// Tests for InMemoryRendezvousStore: set/get, first writer wins, waits that complete, abort or
// time out naming the missing keys, and prefix deletion.
#include "pathways/collectives/in_memory_rendezvous_store.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

TEST(InMemoryRendezvousStoreTest, SetGetAndFirstWriterWins) {
  InMemoryRendezvousStore store;
  EXPECT_EQ(store.Get("a").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store.Set("a", "1").ok());
  EXPECT_EQ(*store.Get("a"), "1");
  EXPECT_EQ(*store.SetIfAbsent("b", "first"), "first");
  EXPECT_EQ(*store.SetIfAbsent("b", "second"), "first");
  EXPECT_EQ(*store.Get("b"), "first");
}

TEST(InMemoryRendezvousStoreTest, WaitReturnsOnceEveryKeyIsSetByAnotherThread) {
  InMemoryRendezvousStore store;
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    (void)store.Set("x", "1");
    (void)store.Set("y", "2");
  });
  EXPECT_TRUE(store.Wait({"x", "y"}, absl::Seconds(10), "abort").ok());
  writer.join();
}

TEST(InMemoryRendezvousStoreTest, WaitTimesOutNamingMissingKeysAndStopsOnAbortKey) {
  InMemoryRendezvousStore store;
  (void)store.Set("x", "1");
  absl::Status s = store.Wait({"x", "y"}, absl::Milliseconds(30), "");
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'y'"));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("'x'")));

  std::thread aborter([&] {
    absl::SleepFor(absl::Milliseconds(20));
    (void)store.Set("gang/abort", "shard 3 failed");
  });
  const absl::Time start = absl::Now();
  s = store.Wait({"y"}, absl::Seconds(10), "gang/abort");
  aborter.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(), "shard 3 failed");
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(InMemoryRendezvousStoreTest, DeletePrefixErasesOnlyThatGangsKeys) {
  InMemoryRendezvousStore store;
  (void)store.Set("g/1/a", "");
  (void)store.Set("g/1/b", "");
  (void)store.Set("g/10/a", "");
  (void)store.Set("g/2/a", "");
  EXPECT_EQ(*store.DeletePrefix("g/1/"), 2);
  EXPECT_EQ(store.num_keys(), 2);
  EXPECT_TRUE(store.Get("g/10/a").ok());
  EXPECT_THAT(store.DebugString(), HasSubstr("2 keys"));
}

}  // namespace
}  // namespace pw
