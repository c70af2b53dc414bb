// The RendezvousStore conformance suite: the behaviour every store (in memory, over gRPC) must
// show, instantiated by each implementation's test with its own environment.
//
// Usage, in an implementation's test file:
//   struct MyStoreEnv {            // default-constructible; owns whatever the store needs
//     RendezvousStore& store();
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, RendezvousStoreConformanceTest, MyStoreEnv);
#ifndef PATHWAYS_COLLECTIVES_RENDEZVOUS_STORE_CONFORMANCE_H_
#define PATHWAYS_COLLECTIVES_RENDEZVOUS_STORE_CONFORMANCE_H_

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/collectives/rendezvous_store.h"

namespace pw::conformance {

template <typename Env>
class RendezvousStoreConformanceTest : public ::testing::Test {
 protected:
  RendezvousStore& store() { return env_.store(); }
  Env env_;
};

TYPED_TEST_SUITE_P(RendezvousStoreConformanceTest);

TYPED_TEST_P(RendezvousStoreConformanceTest, SetGetAndFirstWriterWins) {
  RendezvousStore& store = this->store();
  EXPECT_THAT(store.Get("a").status(), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_TRUE(store.Set("a", "1").ok());
  EXPECT_EQ(*store.Get("a"), "1");
  ASSERT_TRUE(store.Set("a", "2").ok());
  EXPECT_EQ(*store.Get("a"), "2");
  EXPECT_EQ(*store.SetIfAbsent("b", "first"), "first");
  EXPECT_EQ(*store.SetIfAbsent("b", "second"), "first");
  EXPECT_EQ(*store.Get("b"), "first");
  // Keys and values are bytes; an empty value still makes the key exist.
  const std::string key("k\0\xff", 3), value("v\0\x80", 3);
  ASSERT_TRUE(store.Set(key, value).ok());
  EXPECT_EQ(*store.Get(key), value);
  ASSERT_TRUE(store.Set("empty", "").ok());
  EXPECT_TRUE(store.Wait({"empty"}, absl::ZeroDuration(), "").ok());
  EXPECT_FALSE(store.DebugString().empty());
}

TYPED_TEST_P(RendezvousStoreConformanceTest, RacingSetIfAbsentAgreesOnOneValue) {
  RendezvousStore& store = this->store();
  std::vector<std::string> seen(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::string> v = store.SetIfAbsent("race", std::to_string(i));
      seen[i] = v.ok() ? *v : std::string(v.status().message());
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& v : seen) EXPECT_EQ(v, seen[0]);
  EXPECT_EQ(*store.Get("race"), seen[0]);
}

TYPED_TEST_P(RendezvousStoreConformanceTest, WaitReturnsOnceEveryKeyIsSetByAnotherThread) {
  RendezvousStore& store = this->store();
  EXPECT_TRUE(store.Wait({}, absl::ZeroDuration(), "").ok());
  std::thread writer([&] {
    // Usually after the waiter blocked; the wait must succeed either way.
    absl::SleepFor(absl::Milliseconds(20));
    (void)store.Set("x", "1");
    (void)store.Set("y", "2");
  });
  EXPECT_TRUE(store.Wait({"x", "y"}, absl::Seconds(10), "abort").ok());
  writer.join();
}

TYPED_TEST_P(RendezvousStoreConformanceTest, WaitTimesOutNamingMissingKeysAndStopsOnAbortKey) {
  RendezvousStore& store = this->store();
  (void)store.Set("x", "1");
  absl::Status s = store.Wait({"x", "y"}, absl::Milliseconds(30), "");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("'y'"));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(::testing::HasSubstr("'x'")));

  std::thread aborter([&] {
    absl::SleepFor(absl::Milliseconds(20));
    (void)store.Set("gang/abort", "shard 3 failed");
  });
  const absl::Time start = absl::Now();
  s = store.Wait({"y"}, absl::Seconds(10), "gang/abort");
  aborter.join();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(s.message(), "shard 3 failed");
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // A key set before the wait aborts it at once.
  EXPECT_THAT(store.Wait({"y"}, absl::Seconds(10), "gang/abort"),
              StatusIs(absl::StatusCode::kAborted));
}

TYPED_TEST_P(RendezvousStoreConformanceTest, DeletePrefixErasesOnlyThatGangsKeys) {
  RendezvousStore& store = this->store();
  (void)store.Set("g/1/a", "");
  (void)store.Set("g/1/b", "");
  (void)store.Set("g/10/a", "");
  (void)store.Set("g/2/a", "");
  EXPECT_EQ(*store.DeletePrefix("g/1/"), 2);
  EXPECT_EQ(*store.DeletePrefix("g/1/"), 0);
  EXPECT_THAT(store.Get("g/1/a").status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(store.Get("g/10/a").ok());
  EXPECT_TRUE(store.Get("g/2/a").ok());
}

REGISTER_TYPED_TEST_SUITE_P(RendezvousStoreConformanceTest, SetGetAndFirstWriterWins,
                            RacingSetIfAbsentAgreesOnOneValue,
                            WaitReturnsOnceEveryKeyIsSetByAnotherThread,
                            WaitTimesOutNamingMissingKeysAndStopsOnAbortKey,
                            DeletePrefixErasesOnlyThatGangsKeys);

}  // namespace pw::conformance

#endif  // PATHWAYS_COLLECTIVES_RENDEZVOUS_STORE_CONFORMANCE_H_
