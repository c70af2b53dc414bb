// Tests for BufferStore and ShardEntry: first mention creates one shared entry, single claim and
// completion, buffer installed once, release and stats.
#include "pathways/worker/buffer_store.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pathways/device/memory_pool.h"

namespace pw {
namespace {

const ir::TensorType kF32x4{ir::DType::kF32, {4}};

TEST(BufferStoreTest, ConsumerAndProducerMentionsShareOneReadyEvent) {
  BufferStore store;
  ShardEntryRef consumer_view = store.GetOrCreate(ArrayId(1), 2);
  ShardEntryRef producer_view = store.GetOrCreate(ArrayId(1), 2);
  EXPECT_EQ(consumer_view, producer_view);
  EXPECT_EQ(store.Find(ArrayId(1), 0), nullptr);  // shards are distinct entries
  EXPECT_EQ(store.Find(ArrayId(1), 2), consumer_view);
  EXPECT_FALSE(consumer_view->ready()->IsAvailable());
  EXPECT_TRUE(producer_view->Claim());
  EXPECT_FALSE(consumer_view->Claim());
  EXPECT_TRUE(producer_view->Complete(absl::OkStatus()));
  EXPECT_FALSE(producer_view->Complete(absl::InternalError("second completion is ignored")));
  EXPECT_TRUE(consumer_view->ready()->IsAvailable());
  EXPECT_FALSE(consumer_view->ready()->IsError());
}

TEST(BufferStoreTest, BufferIsInstalledOnceAndCountedUntilRelease) {
  MemoryPool pool({.name = "test pool", .capacity_bytes = 1 << 20});
  BufferStore store;
  ShardEntryRef entry = store.GetOrCreate(ArrayId(3), 0);
  auto first = std::make_shared<DeviceBuffer>(*pool.Allocate(16));
  auto second = std::make_shared<DeviceBuffer>(*pool.Allocate(16));
  EXPECT_EQ(entry->InstallBuffer(DeviceId(0), kF32x4, first), first);
  EXPECT_EQ(entry->InstallBuffer(DeviceId(1), kF32x4, second), first);  // lost the race
  EXPECT_EQ(entry->device(), DeviceId(0));
  second.reset();
  EXPECT_EQ(pool.bytes_in_use(), 16);  // the losing buffer went back to the pool
  BufferStore::Stats stats = store.GetStats();
  EXPECT_EQ(stats.entries, 1);
  EXPECT_EQ(stats.bytes, 16);
  EXPECT_EQ(store.DebugString(), "buffer store (1 shards, 16 bytes)");
  first.reset();
  ShardEntryRef held = entry;  // an in-flight step keeps the entry (and buffer) alive
  entry.reset();
  store.Release(ArrayId(3));
  store.Release(ArrayId(3));  // idempotent
  EXPECT_EQ(store.GetStats().entries, 0);
  EXPECT_EQ(pool.bytes_in_use(), 16);
  held.reset();
  EXPECT_EQ(pool.bytes_in_use(), 0);
}

TEST(BufferStoreTest, ConcurrentMentionsFromManyThreadsAgree) {
  BufferStore store;
  constexpr int kThreads = 4, kArrays = 500;
  std::vector<std::vector<ShardEntryRef>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int a = 0; a < kArrays; ++a) seen[t].push_back(store.GetOrCreate(ArrayId(a), a % 3));
    });
  }
  for (auto& t : threads) t.join();
  for (int a = 0; a < kArrays; ++a) {
    for (int t = 1; t < kThreads; ++t) ASSERT_EQ(seen[t][a], seen[0][a]);
  }
  EXPECT_EQ(store.GetStats().entries, kArrays);
  EXPECT_EQ(store.TakeAll().size(), static_cast<size_t>(kArrays));
  EXPECT_EQ(store.GetStats().entries, 0);
}

}  // namespace
}  // namespace pw
