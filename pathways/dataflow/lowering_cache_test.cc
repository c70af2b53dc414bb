// Tests of LoweringCache: lookups by (program, slice versions), hit/miss counts, erase.
#include "gtest/gtest.h"
#include "pathways/dataflow/lowering.h"

namespace pw {
namespace {

std::shared_ptr<const LoweredProgram> Lowering(const char* name) {
  auto lowered = std::make_shared<LoweredProgram>();
  lowered->name = name;
  return lowered;
}

TEST(LoweringCacheTest, HitsMissesAndVersions) {
  LoweringCache cache;
  const LoweringCache::Key v1{ProgramId(1), {{SliceId(0), 1}, {SliceId(2), 5}}};
  const LoweringCache::Key v2{ProgramId(1), {{SliceId(0), 2}, {SliceId(2), 5}}};
  EXPECT_EQ(cache.Lookup(v1), nullptr);
  EXPECT_EQ(cache.misses(), 1);
  EXPECT_EQ(cache.hits(), 0);

  auto first = Lowering("first");
  cache.Insert(v1, first);
  EXPECT_EQ(cache.Lookup(v1), first);
  EXPECT_EQ(cache.hits(), 1);
  // A slice remapped since: a different key, so a miss.
  EXPECT_EQ(cache.Lookup(v2), nullptr);
  EXPECT_EQ(cache.misses(), 2);

  auto replaced = Lowering("replaced");
  cache.Insert(v1, replaced);
  EXPECT_EQ(cache.Lookup(v1), replaced);
  EXPECT_EQ(cache.hits(), 2);
}

TEST(LoweringCacheTest, EraseDropsEveryVersionOfOneProgramOnly) {
  LoweringCache cache;
  const LoweringCache::Key a1{ProgramId(1), {{SliceId(0), 1}}};
  const LoweringCache::Key a2{ProgramId(1), {{SliceId(0), 2}}};
  const LoweringCache::Key b1{ProgramId(2), {{SliceId(0), 1}}};
  cache.Insert(a1, Lowering("a1"));
  cache.Insert(a2, Lowering("a2"));
  cache.Insert(b1, Lowering("b1"));
  cache.Erase(ProgramId(1));
  EXPECT_EQ(cache.Lookup(a1), nullptr);
  EXPECT_EQ(cache.Lookup(a2), nullptr);
  ASSERT_NE(cache.Lookup(b1), nullptr);
  EXPECT_EQ(cache.Lookup(b1)->name, "b1");
  EXPECT_EQ(cache.misses(), 2);
  EXPECT_EQ(cache.hits(), 2);
}

}  // namespace
}  // namespace pw
