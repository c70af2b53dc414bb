// Tests for AsyncEvent, AsyncValue and WhenAll.
#include "pathways/base/async_value.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"

namespace pw {
namespace {

TEST(AsyncEventTest, CallbackRegisteredBeforeReadyRunsOnSet) {
  EventRef e = AsyncEvent::Create();
  int calls = 0;
  e->AndThen([&](const absl::Status& s) {
    EXPECT_TRUE(s.ok());
    ++calls;
  });
  EXPECT_EQ(calls, 0);
  e->SetReady();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(e->IsAvailable());
  EXPECT_FALSE(e->IsError());
}

TEST(AsyncEventTest, CallbackAfterReadyRunsInline) {
  EventRef e = AsyncEvent::CreateError(absl::ResourceExhaustedError("oom on device:3"));
  absl::Status seen;
  e->AndThen([&](const absl::Status& s) { seen = s; });
  EXPECT_THAT(seen, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(seen.message(), "oom on device:3");
}

TEST(AsyncEventTest, AwaitWakesOnOtherThread) {
  auto v = MakeAsyncValue<int>();
  std::thread t([v] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    v->SetValue(42);
  });
  absl::StatusOr<int> got = v->AwaitValue();
  t.join();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 42);
}

TEST(AsyncEventTest, ErrorValueAwaitReturnsError) {
  auto v = MakeAsyncValue<int>();
  v->SetError(absl::InternalError("boom"));
  EXPECT_EQ(v->AwaitValue().status().message(), "boom");
}

TEST(AsyncEventTest, SettingTwiceDies) {
  EXPECT_DEATH(
      {
        EventRef e = AsyncEvent::Create();
        e->SetReady();
        e->SetReady();
      },
      "made available twice");
}

TEST(WhenAllTest, ReadyWhenAllReady) {
  std::vector<EventRef> in = {AsyncEvent::Create(), AsyncEvent::Create(), AsyncEvent::Create()};
  EventRef all = WhenAll(in);
  in[0]->SetReady();
  in[2]->SetReady();
  EXPECT_FALSE(all->IsAvailable());
  in[1]->SetReady();
  EXPECT_TRUE(all->IsAvailable());
  EXPECT_TRUE(all->status().ok());
}

TEST(WhenAllTest, PropagatesFirstError) {
  std::vector<EventRef> in = {AsyncEvent::Create(), AsyncEvent::Create()};
  EventRef all = WhenAll(in);
  in[1]->SetError(absl::AbortedError("first"));
  in[0]->SetError(absl::AbortedError("second"));
  ASSERT_TRUE(all->IsError());
  EXPECT_EQ(all->status().message(), "first");
}

TEST(WhenAllTest, EmptyIsReady) { EXPECT_TRUE(WhenAll({})->IsAvailable()); }

TEST(AsyncEventTest, ManyThreadsRaceOnAndThen) {
  for (int round = 0; round < 50; ++round) {
    EventRef e = AsyncEvent::Create();
    std::atomic<int> calls{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        for (int j = 0; j < 100; ++j) e->AndThen([&](const absl::Status&) { calls++; });
      });
    }
    std::thread setter([&] { e->SetReady(); });
    for (auto& t : threads) t.join();
    setter.join();
    EXPECT_EQ(calls.load(), 400);
  }
}

}  // namespace
}  // namespace pw
