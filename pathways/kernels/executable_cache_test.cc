// Tests of ExecutableCache: hits, misses, signatures, errors and concurrent use.
#include "pathways/kernels/executable_cache.h"

#include <thread>

#include "pathways/base/status_matchers.h"
#include "pathways/kernels/kernels_test_util.h"

namespace pw::testing {
namespace {

using ir::DType;

ir::Function AddOne(ir::TensorType type, std::string name = "add_one") {
  ir::FunctionBuilder b(std::move(name));
  ir::Value x = b.Parameter(type);
  auto f = b.Build({b.Add(x, b.BroadcastTo(b.ScalarLike(type.dtype, 1), type.shape))});
  EXPECT_TRUE(f.ok()) << f.status();
  return *std::move(f);
}

TEST(ExecutableCacheTest, SecondLookupOfAnEqualFunctionHits) {
  ExecutableCache cache;
  auto a = cache.GetOrCompile(AddOne(T(DType::kF32, {4})));
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = cache.GetOrCompile(AddOne(T(DType::kF32, {4})));  // equal, separately built
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(cache.hits(), 1);
  EXPECT_EQ(cache.misses(), 1);
  auto out = (*b)->ExecuteLiterals({ir::Literal::Create<float>({4}, {1, 2, 3, 4})});
  ASSERT_TRUE(out.ok());
  EXPECT_THAT((*out)[0].data<float>(), ::testing::ElementsAre(2, 3, 4, 5));
}

TEST(ExecutableCacheTest, DifferentSignaturesOrFunctionsMiss) {
  ExecutableCache cache;
  ASSERT_TRUE(cache.GetOrCompile(AddOne(T(DType::kF32, {4}))).ok());
  ASSERT_TRUE(cache.GetOrCompile(AddOne(T(DType::kF32, {5}))).ok());
  ASSERT_TRUE(cache.GetOrCompile(AddOne(T(DType::kI32, {4}))).ok());
  ASSERT_TRUE(cache.GetOrCompile(AddOne(T(DType::kF32, {4}), "other_name")).ok());
  EXPECT_EQ(cache.misses(), 4);
  EXPECT_EQ(cache.hits(), 0);
  EXPECT_EQ(cache.size(), 4);
}

TEST(ExecutableCacheTest, CompileErrorsAreReturnedAndNotCached) {
  ExecutableCache cache;
  ir::Function bad = AddOne(T(DType::kF32, {4}));
  bad.outputs = {42};
  for (int i = 0; i < 2; ++i) {
    auto r = cache.GetOrCompile(bad);
    EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(cache.size(), 0);
  EXPECT_EQ(cache.misses(), 2);
  EXPECT_EQ(cache.hits(), 0);
}

TEST(ExecutableCacheTest, ConcurrentLookupsShareOneExecutable) {
  ExecutableCache cache;
  const ir::Function f = AddOne(T(DType::kF32, {16}));
  ASSERT_TRUE(cache.GetOrCompile(f).ok());
  std::vector<std::thread> threads;
  std::vector<const CpuExecutable*> seen(4, nullptr);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        auto e = cache.GetOrCompile(f);
        if (e.ok()) seen[t] = e->get();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_THAT(seen, ::testing::Each(seen[0]));
  EXPECT_NE(seen[0], nullptr);
  EXPECT_EQ(cache.hits(), 400);
  EXPECT_EQ(cache.misses(), 1);
}

}  // namespace
}  // namespace pw::testing
