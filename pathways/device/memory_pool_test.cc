// Tests for MemoryPool and DeviceBuffer: capacity, exact accounting, caching, thread safety.
#include "pathways/device/memory_pool.h"

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"

namespace pw {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

MemoryPoolOptions Options(int64_t capacity) {
  return MemoryPoolOptions{.name = "device:7 (cpu)", .capacity_bytes = capacity};
}

TEST(MemoryPoolTest, AllocationsAreAlignedWritableAndAccountedExactly) {
  MemoryPool pool(Options(1 << 20));
  {
    absl::StatusOr<DeviceBuffer> a = pool.Allocate(100);
    ASSERT_TRUE(a.ok()) << a.status();
    absl::StatusOr<DeviceBuffer> b = pool.Allocate(3 << 18);  // uncached size class path too
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a->data()) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b->data()) % 64, 0u);
    std::memset(a->data(), 0xab, 100);
    std::memset(b->data(), 0xcd, 3 << 18);
    EXPECT_EQ(a->size(), 100);
    EXPECT_EQ(pool.bytes_in_use(), 100 + (3 << 18));
    EXPECT_EQ(pool.num_allocations(), 2);
    EXPECT_EQ(a->pool(), &pool);
  }
  EXPECT_EQ(pool.bytes_in_use(), 0);
  EXPECT_EQ(pool.num_allocations(), 0);
  EXPECT_EQ(pool.peak_bytes_in_use(), 100 + (3 << 18));
}

TEST(MemoryPoolTest, BeyondCapacityIsResourceExhaustedWithHelpfulMessage) {
  MemoryPool pool(Options(1000));
  absl::StatusOr<DeviceBuffer> a = pool.Allocate(600);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<DeviceBuffer> b = pool.Allocate(500);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(b.status().message(), HasSubstr("device:7 (cpu)"));
  EXPECT_THAT(b.status().message(), HasSubstr("500 bytes"));
  EXPECT_THAT(b.status().message(), HasSubstr("600 bytes"));
  EXPECT_THAT(b.status().message(), HasSubstr("1000 bytes"));
  // The failed request left the accounting untouched; exactly the remainder still fits.
  EXPECT_EQ(pool.bytes_in_use(), 600);
  EXPECT_TRUE(pool.Allocate(400).ok());
  EXPECT_EQ(pool.bytes_in_use(), 600);
}

// Back-pressure: a request that fits the capacity waits for releases up to its bound; one larger
// than the capacity fails at once.
TEST(MemoryPoolTest, AWaitingAllocationGetsTheMemoryAReleaseFrees) {
  MemoryPool pool(Options(1000));
  absl::StatusOr<DeviceAllocation> held = pool.Allocate(700);
  ASSERT_THAT(held.status(), IsOk());
  absl::StatusOr<DeviceAllocation> waited = absl::InternalError("not run");
  std::thread waiter([&] { waited = pool.Allocate(600, absl::Seconds(30)); });  // a hang guard
  absl::SleepFor(absl::Milliseconds(20));
  held = absl::CancelledError("released");  // frees 700: the waiter fits now
  waiter.join();
  ASSERT_THAT(waited.status(), IsOk());
  EXPECT_EQ(pool.bytes_in_use(), 600);
  EXPECT_THAT(pool.Allocate(500, absl::Milliseconds(30)).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("after waiting")));
  EXPECT_THAT(pool.Allocate(2000, absl::Seconds(30)).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, Not(HasSubstr("after waiting"))));
}

TEST(MemoryPoolTest, NegativeSizeIsInvalidArgumentAndZeroIsValid) {
  MemoryPool pool(Options(1000));
  EXPECT_THAT(pool.Allocate(-1).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  absl::StatusOr<DeviceBuffer> z1 = pool.Allocate(0);
  absl::StatusOr<DeviceBuffer> z2 = pool.Allocate(0);
  ASSERT_TRUE(z1.ok() && z2.ok());
  EXPECT_NE(z1->data(), nullptr);
  EXPECT_NE(z1->data(), z2->data());
  EXPECT_EQ(pool.bytes_in_use(), 0);
  EXPECT_EQ(pool.num_allocations(), 2);
}

TEST(MemoryPoolTest, FreedSmallBlocksAreReusedAndNotCountedInUse) {
  MemoryPool pool(Options(1 << 20));
  void* first;
  {
    absl::StatusOr<DeviceBuffer> a = pool.Allocate(200);
    ASSERT_TRUE(a.ok());
    first = a->data();
  }
  EXPECT_EQ(pool.bytes_in_use(), 0);
  EXPECT_EQ(pool.cached_bytes(), 256);
  absl::StatusOr<DeviceBuffer> b = pool.Allocate(250);  // same 256-byte class
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->data(), first);
  EXPECT_EQ(pool.cached_bytes(), 0);
  EXPECT_EQ(pool.bytes_in_use(), 250);
}

TEST(MemoryPoolTest, MoveTransfersOwnershipAndResetFrees) {
  MemoryPool pool(Options(1 << 20));
  absl::StatusOr<DeviceBuffer> a = pool.Allocate(64);
  ASSERT_TRUE(a.ok());
  DeviceBuffer moved = std::move(*a);
  EXPECT_FALSE(a->has_value());
  EXPECT_TRUE(moved.has_value());
  EXPECT_EQ(pool.num_allocations(), 1);
  DeviceBuffer other = *pool.Allocate(32);
  other = std::move(moved);  // frees other's old block
  EXPECT_EQ(pool.num_allocations(), 1);
  EXPECT_EQ(pool.bytes_in_use(), 64);
  other.Reset();
  EXPECT_EQ(pool.bytes_in_use(), 0);
  EXPECT_THAT(other.DebugString(), HasSubstr("empty"));
}

TEST(MemoryPoolTest, ConcurrentAllocationsNeverExceedCapacity) {
  constexpr int64_t kCapacity = 64 * 100;
  MemoryPool pool(Options(kCapacity));
  std::atomic<int64_t> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<DeviceBuffer> held;
      for (int i = 0; i < 2000; ++i) {
        absl::StatusOr<DeviceBuffer> b = pool.Allocate(64 + (i + t) % 3 * 64);
        if (b.ok()) {
          held.push_back(std::move(*b));
        } else {
          EXPECT_THAT(b.status(), StatusIs(absl::StatusCode::kResourceExhausted));
          failures.fetch_add(1);
        }
        EXPECT_LE(pool.bytes_in_use(), kCapacity);
        if (held.size() > 100) held.clear();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(pool.bytes_in_use(), 0);
  EXPECT_EQ(pool.num_allocations(), 0);
  EXPECT_LE(pool.peak_bytes_in_use(), kCapacity);
  EXPECT_GT(failures.load(), 0);  // even one thread holding 101 blocks of >= 64 B overflows
}

}  // namespace
}  // namespace pw
