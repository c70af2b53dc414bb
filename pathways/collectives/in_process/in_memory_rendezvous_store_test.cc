// Tests for InMemoryRendezvousStore: the RendezvousStore conformance suite, and its own key count.
#include "pathways/collectives/in_process/in_memory_rendezvous_store.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/collectives/rendezvous_store_conformance.h"

namespace pw::conformance {
namespace {

struct InMemoryStoreEnv {
  RendezvousStore& store() { return store_; }
  InMemoryRendezvousStore store_;
};
INSTANTIATE_TYPED_TEST_SUITE_P(InMemory, RendezvousStoreConformanceTest, InMemoryStoreEnv);

TEST(InMemoryRendezvousStoreTest, CountsKeysAfterDeletePrefix) {
  InMemoryRendezvousStore store;
  (void)store.Set("g/1/a", "");
  (void)store.Set("g/1/b", "");
  (void)store.Set("g/2/a", "");
  EXPECT_EQ(*store.DeletePrefix("g/1/"), 2);
  EXPECT_EQ(store.num_keys(), 1);
  EXPECT_THAT(store.DebugString(), ::testing::HasSubstr("1 keys"));
}

}  // namespace
}  // namespace pw::conformance
