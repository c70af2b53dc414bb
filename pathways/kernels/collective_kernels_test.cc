// Tests of the collective kernels with 4 shards on threads, through an in-test fake Communicator.
#include <thread>

#include "absl/synchronization/mutex.h"
#include "pathways/base/status_matchers.h"
#include "pathways/ir/mesh.h"
#include "pathways/kernels/kernels_test_util.h"

namespace pw::testing {
namespace {

using ir::DType;

// Shared state of a group of fake communicators: a reusable barrier and each rank's buffers.
class FakeGroup {
 public:
  explicit FakeGroup(int64_t size) : size_(size), inputs_(size) {}
  int64_t size() const { return size_; }

  // Publishes `input`, waits for every rank, runs `compute(inputs)`, and waits again so no
  // rank's input is released while another still reads it.
  template <typename F>
  void Exchange(int64_t rank, const void* input, F&& compute) {
    inputs_[rank] = input;
    Barrier();
    compute(inputs_);
    Barrier();
  }

 private:
  void Barrier() {
    absl::MutexLock lock(&mu_);
    const int64_t generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      cv_.SignalAll();
      return;
    }
    while (generation_ == generation) cv_.Wait(&mu_);
  }

  const int64_t size_;
  std::vector<const void*> inputs_;
  absl::Mutex mu_;
  int64_t arrived_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::CondVar cv_;
};

class FakeCommunicator : public Communicator {
 public:
  FakeCommunicator(FakeGroup* group, int64_t rank) : group_(group), rank_(rank) {}
  int64_t size() const override { return group_->size(); }
  int64_t rank() const override { return rank_; }

  absl::Status AllReduce(const void* in, void* out, int64_t count, ir::DType dtype,
                         ir::ReduceKind kind) override {
    group_->Exchange(rank_, in, [&](const std::vector<const void*>& ins) {
      ReduceBlocks(ins, 0, out, count, dtype, kind);
    });
    return absl::OkStatus();
  }
  absl::Status AllGather(const void* in, void* out, int64_t count, ir::DType dtype) override {
    const int64_t bytes = count * ir::DTypeSize(dtype);
    group_->Exchange(rank_, in, [&](const std::vector<const void*>& ins) {
      for (int64_t r = 0; r < size(); ++r) std::memcpy(static_cast<char*>(out) + r * bytes, ins[r], bytes);
    });
    return absl::OkStatus();
  }
  absl::Status ReduceScatter(const void* in, void* out, int64_t count, ir::DType dtype,
                             ir::ReduceKind kind) override {
    group_->Exchange(rank_, in, [&](const std::vector<const void*>& ins) {
      ReduceBlocks(ins, rank_ * count, out, count, dtype, kind);
    });
    return absl::OkStatus();
  }
  absl::Status AllToAll(const void* in, void* out, int64_t count, ir::DType dtype) override {
    const int64_t bytes = count * ir::DTypeSize(dtype);
    group_->Exchange(rank_, in, [&](const std::vector<const void*>& ins) {
      for (int64_t r = 0; r < size(); ++r) {
        std::memcpy(static_cast<char*>(out) + r * bytes,
                    static_cast<const char*>(ins[r]) + rank_ * bytes, bytes);
      }
    });
    return absl::OkStatus();
  }
  absl::Status CollectivePermute(const void* in, void* out, int64_t bytes,
                                 absl::Span<const std::pair<int64_t, int64_t>> pairs) override {
    group_->Exchange(rank_, in, [&](const std::vector<const void*>& ins) {
      std::memset(out, 0, bytes);
      for (const auto& [s, t] : pairs) {
        if (t == rank_) std::memcpy(out, ins[s], bytes);
      }
    });
    return absl::OkStatus();
  }
  std::string DebugString() const override { return absl::StrCat("fake rank ", rank_); }

 private:
  void ReduceBlocks(const std::vector<const void*>& ins, int64_t offset, void* out, int64_t count,
                    ir::DType dtype, ir::ReduceKind kind) {
    ir::DispatchDType(dtype, [&](auto t) {
      using E = decltype(t);
      E* o = static_cast<E*>(out);
      for (int64_t i = 0; i < count; ++i) {
        E acc = static_cast<const E*>(ins[0])[offset + i];
        for (size_t r = 1; r < ins.size(); ++r) {
          E v = static_cast<const E*>(ins[r])[offset + i];
          acc = kind == ir::ReduceKind::kSum ? E(acc + v) : kind == ir::ReduceKind::kMax ? std::max(acc, v) : std::min(acc, v);
        }
        o[i] = acc;
      }
    });
  }

  FakeGroup* group_;
  int64_t rank_;
};

// A communicator whose every operation fails, as an aborted gang's would.
class AbortedCommunicator : public Communicator {
 public:
  int64_t size() const override { return 4; }
  int64_t rank() const override { return 2; }
  absl::Status AllReduce(const void*, void*, int64_t, ir::DType, ir::ReduceKind) override { return Err(); }
  absl::Status AllGather(const void*, void*, int64_t, ir::DType) override { return Err(); }
  absl::Status ReduceScatter(const void*, void*, int64_t, ir::DType, ir::ReduceKind) override { return Err(); }
  absl::Status AllToAll(const void*, void*, int64_t, ir::DType) override { return Err(); }
  absl::Status CollectivePermute(const void*, void*, int64_t,
                                 absl::Span<const std::pair<int64_t, int64_t>>) override { return Err(); }
  std::string DebugString() const override { return "aborted"; }

 private:
  static absl::Status Err() { return absl::AbortedError("group aborted by rank 1"); }
};

constexpr int64_t kShards = 4;

// x_r[i, j] = 100 r + 10 i + j.
double X(int64_t r, int64_t i, int64_t j) { return 100.0 * r + 10.0 * i + j; }

ir::Function CollectivesFunction(DType dt) {
  ir::FunctionBuilder b("collectives", {.num_shards = kShards});
  ir::Value x = b.Parameter(T(dt, {2, 8}), "x");
  ir::Value y = b.Parameter(T(dt, {4, 3}), "y");
  std::vector<ir::Value> outs = {
      b.AllReduce(x, ir::ReduceKind::kSum),
      b.AllReduce(x, ir::ReduceKind::kMax),
      b.AllGather(x, 1),                         // [2, 32]
      b.ReduceScatter(x, 1, ir::ReduceKind::kSum),  // [2, 2]
      b.AllToAll(x, 1, 0),                       // [8, 2]
      b.AllToAll(y, 0, 1),                       // [1, 12]
      b.CollectivePermute(x, {{0, 1}, {1, 2}, {2, 3}}),
      b.ShardIndex(),
      b.AllGather(y, 0),                         // [16, 3]: leading axis, no rearrangement
      b.AllToAll(x, 1, 1),                       // [2, 8]: rearranged on both sides
  };
  auto f = b.Build(outs);
  EXPECT_TRUE(f.ok()) << f.status();
  return *std::move(f);
}

TEST(CollectiveKernelsTest, AllCollectivesWithFourShards) {
  for (DType dt : {DType::kF32, DType::kI32}) {
    auto exe = CpuExecutable::Compile(CollectivesFunction(dt));
    ASSERT_TRUE(exe.ok()) << exe.status();
    FakeGroup group(kShards);
    std::vector<std::vector<ir::Literal>> results(kShards);
    std::vector<absl::Status> statuses(kShards);
    std::vector<std::thread> threads;
    for (int64_t r = 0; r < kShards; ++r) {
      threads.emplace_back([&, r] {
        RefArray xr = RefArray::Zeros({2, 8}), yr = RefArray::Zeros({4, 3});
        ForEachIndex(xr.dims, [&](const auto& i) { xr.at(i) = X(r, i[0], i[1]); });
        ForEachIndex(yr.dims, [&](const auto& i) { yr.at(i) = X(r, i[0], i[1]); });
        FakeCommunicator comm(&group, r);
        auto out = (*exe)->ExecuteLiterals(
            {LiteralFrom(T(dt, {2, 8}), xr.data), LiteralFrom(T(dt, {4, 3}), yr.data)}, &comm);
        statuses[r] = out.status();
        if (out.ok()) results[r] = *std::move(out);
      });
    }
    for (auto& t : threads) t.join();
    for (int64_t r = 0; r < kShards; ++r) {
      ASSERT_TRUE(statuses[r].ok()) << statuses[r];
      const auto& o = results[r];
      SCOPED_TRACE(absl::StrCat(ir::DTypeName(dt), " rank ", r));
      RefArray sum = RefArray::Zeros({2, 8}), max = RefArray::Zeros({2, 8});
      ForEachIndex(sum.dims, [&](const auto& i) {
        for (int64_t s = 0; s < kShards; ++s) sum.at(i) += X(s, i[0], i[1]);
        max.at(i) = X(kShards - 1, i[0], i[1]);
      });
      ExpectMatches(o[0], sum, 0.0);
      ExpectMatches(o[1], max, 0.0);
      RefArray gathered = RefArray::Zeros({2, 32});
      ForEachIndex(gathered.dims, [&](const auto& i) { gathered.at(i) = X(i[1] / 8, i[0], i[1] % 8); });
      ExpectMatches(o[2], gathered, 0.0);
      RefArray scattered = RefArray::Zeros({2, 2});
      ForEachIndex(scattered.dims, [&](const auto& i) {
        for (int64_t s = 0; s < kShards; ++s) scattered.at(i) += X(s, i[0], r * 2 + i[1]);
      });
      ExpectMatches(o[3], scattered, 0.0);
      RefArray a2a = RefArray::Zeros({8, 2});  // chunk from rank s lands at rows 2s, 2s+1
      ForEachIndex(a2a.dims, [&](const auto& i) { a2a.at(i) = X(i[0] / 2, i[0] % 2, r * 2 + i[1]); });
      ExpectMatches(o[4], a2a, 0.0);
      RefArray a2a2 = RefArray::Zeros({1, 12});  // rank s's row r lands at columns 3s..3s+2
      ForEachIndex(a2a2.dims, [&](const auto& i) { a2a2.at(i) = X(i[1] / 3, r, i[1] % 3); });
      ExpectMatches(o[5], a2a2, 0.0);
      RefArray permuted = RefArray::Zeros({2, 8});
      if (r > 0) ForEachIndex(permuted.dims, [&](const auto& i) { permuted.at(i) = X(r - 1, i[0], i[1]); });
      ExpectMatches(o[6], permuted, 0.0);
      EXPECT_EQ(o[7].data<int32_t>()[0], r);
      RefArray gathered0 = RefArray::Zeros({16, 3});
      ForEachIndex(gathered0.dims, [&](const auto& i) { gathered0.at(i) = X(i[0] / 4, i[0] % 4, i[1]); });
      ExpectMatches(o[8], gathered0, 0.0);
      RefArray a2a3 = RefArray::Zeros({2, 8});  // rank s's columns 2r, 2r+1 land at 2s, 2s+1
      ForEachIndex(a2a3.dims, [&](const auto& i) { a2a3.at(i) = X(i[1] / 2, i[0], r * 2 + i[1] % 2); });
      ExpectMatches(o[9], a2a3, 0.0);
    }
  }
}

// Collectives within shard groups (a 2 x 2 mesh's axis 0: groups {0, 2} and {1, 3}) through the
// GroupCommunicator, over the gang communicator's collective_permute.
TEST(CollectiveKernelsTest, CollectivesWithinMeshAxisGroups) {
  absl::StatusOr<ir::ShardGroups> groups = ir::MeshAxisGroups({2, 2}, {0});
  ASSERT_TRUE(groups.ok()) << groups.status();
  ASSERT_EQ(*groups, (ir::ShardGroups{{0, 2}, {1, 3}}));
  ir::FunctionBuilder b("grouped", ir::FunctionOptions{.num_shards = kShards});
  ir::Value x = b.Parameter(T(DType::kF32, {2, 4}));
  auto f = b.Build({b.AllReduce(x, ir::ReduceKind::kSum, *groups), b.AllGather(x, 1, *groups),
                    b.ReduceScatter(x, 1, ir::ReduceKind::kSum, *groups),
                    b.AllToAll(x, 1, 0, *groups)});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->instruction(f->outputs[1]).type, T(DType::kF32, {2, 8}));  // gathered over 2
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  FakeGroup group(kShards);
  std::vector<std::vector<ir::Literal>> results(kShards);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < kShards; ++r) {
    threads.emplace_back([&, r] {
      RefArray xr = RefArray::Zeros({2, 4});
      ForEachIndex(xr.dims, [&](const auto& i) { xr.at(i) = X(r, i[0], i[1]); });
      FakeCommunicator comm(&group, r);
      auto out = (*exe)->ExecuteLiterals({LiteralFrom(T(DType::kF32, {2, 4}), xr.data)}, &comm);
      ASSERT_TRUE(out.ok()) << out.status();
      results[r] = *std::move(out);
    });
  }
  for (auto& t : threads) t.join();
  for (int64_t r = 0; r < kShards; ++r) {
    SCOPED_TRACE(absl::StrCat("rank ", r));
    const int64_t members[2] = {r % 2, r % 2 + 2};
    const int64_t position = r / 2;
    RefArray sum = RefArray::Zeros({2, 4}), gathered = RefArray::Zeros({2, 8});
    RefArray scattered = RefArray::Zeros({2, 2}), a2a = RefArray::Zeros({4, 2});
    ForEachIndex(sum.dims, [&](const auto& i) { sum.at(i) = X(members[0], i[0], i[1]) + X(members[1], i[0], i[1]); });
    ForEachIndex(gathered.dims, [&](const auto& i) { gathered.at(i) = X(members[i[1] / 4], i[0], i[1] % 4); });
    ForEachIndex(scattered.dims, [&](const auto& i) {
      scattered.at(i) = X(members[0], i[0], position * 2 + i[1]) + X(members[1], i[0], position * 2 + i[1]);
    });
    ForEachIndex(a2a.dims, [&](const auto& i) { a2a.at(i) = X(members[i[0] / 2], i[0] % 2, position * 2 + i[1]); });
    ASSERT_EQ(results[r].size(), 4u);
    ExpectMatches(results[r][0], sum, 0.0);
    ExpectMatches(results[r][1], gathered, 0.0);
    ExpectMatches(results[r][2], scattered, 0.0);
    ExpectMatches(results[r][3], a2a, 0.0);
  }
}

// Runs `exe` on every shard at once (shard r's arguments from args(r)), each with its rank's
// fake communicator; each shard's result.
std::vector<absl::StatusOr<std::vector<ir::Literal>>> RunOnEveryShard(
    const CpuExecutable& exe, const std::function<std::vector<ir::Literal>(int64_t)>& args) {
  FakeGroup group(kShards);
  std::vector<absl::StatusOr<std::vector<ir::Literal>>> results(kShards);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < kShards; ++r) {
    threads.emplace_back([&, r] {
      FakeCommunicator comm(&group, r);
      results[r] = exe.ExecuteLiterals(args(r), &comm);
    });
  }
  for (auto& t : threads) t.join();
  return results;
}

// A loop of all_reduce: `bound` comes from each shard's argument. Equal bounds run in lockstep;
// bounds that differ make every shard fail with FAILED_PRECONDITION instead of deadlocking.
std::vector<absl::StatusOr<std::vector<ir::Literal>>> RunCollectiveLoop(
    const std::vector<int32_t>& bounds) {
  const ir::TensorType i32 = T(DType::kI32, {}), f32 = T(DType::kF32, {2});
  ir::FunctionBuilder cond("below", ir::FunctionOptions{.num_shards = kShards});
  ir::Value ci = cond.Parameter(i32), cn = cond.Parameter(i32);
  cond.Parameter(f32);
  ir::FunctionBuilder body("sum_step", ir::FunctionOptions{.num_shards = kShards});
  ir::Value bi = body.Parameter(i32), bn = body.Parameter(i32), bx = body.Parameter(f32);
  ir::FunctionBuilder b("collective_loop", ir::FunctionOptions{.num_shards = kShards});
  ir::Value n = b.Parameter(i32), x = b.Parameter(f32);
  std::vector<ir::Value> out = b.While(
      *cond.Build({cond.Compare(ci, cn, ir::ComparisonDirection::kLt)}),
      *body.Build({body.Add(bi, body.ConstantScalar<int32_t>(1)), bn,
                   body.AllReduce(bx, ir::ReduceKind::kSum)}),
      {b.ConstantScalar<int32_t>(0), n, x}, 10);
  auto f = b.Build({out[0], out[2]});
  EXPECT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  EXPECT_TRUE(exe.ok()) << exe.status();
  return RunOnEveryShard(**exe, [&](int64_t r) {
    return std::vector<ir::Literal>{LiteralFrom(i32, {static_cast<double>(bounds[r])}),
                                    LiteralFrom(f32, {1.0, 0.5})};
  });
}

TEST(CollectiveKernelsTest, LoopsWithCollectivesRunInLockstep) {
  auto results = RunCollectiveLoop({3, 3, 3, 3});
  for (int64_t r = 0; r < kShards; ++r) {
    ASSERT_TRUE(results[r].ok()) << results[r].status();
    EXPECT_EQ((*results[r])[0].GetAsDouble(0), 3);
    ExpectMatches((*results[r])[1], RefArray{{2}, {64.0, 32.0}}, 0.0);  // 4^3 * x
  }
}

TEST(CollectiveKernelsTest, AShardDependentLoopPredicateFailsEveryShardInsteadOfDeadlocking) {
  auto results = RunCollectiveLoop({3, 3, 2, 3});
  for (int64_t r = 0; r < kShards; ++r) {
    ASSERT_FALSE(results[r].ok());
    EXPECT_EQ(results[r].status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(results[r].status().message()),
                ::testing::HasSubstr("loop predicate differs across shards"));
  }
}

TEST(CollectiveKernelsTest, ACaseWithCollectivesNeedsTheSameBranchEverywhere) {
  const ir::TensorType f32 = T(DType::kF32, {2});
  auto branch = [&](bool reduce) {
    ir::FunctionBuilder fb(reduce ? "reduce" : "keep", ir::FunctionOptions{.num_shards = kShards});
    ir::Value v = fb.Parameter(f32);
    return *fb.Build({reduce ? fb.AllReduce(v, ir::ReduceKind::kSum) : v});
  };
  ir::FunctionBuilder b("collective_case", ir::FunctionOptions{.num_shards = kShards});
  ir::Value x = b.Parameter(f32);
  // A replicated index (1 everywhere), then a shard-dependent one (the shard's own number).
  std::vector<ir::Value> same = b.Case(b.ConstantScalar<int32_t>(1), {branch(false), branch(true)}, {x});
  auto ok = b.Build({same[0]});
  ASSERT_TRUE(ok.ok()) << ok.status();
  ir::FunctionBuilder b2("collective_case_mixed", ir::FunctionOptions{.num_shards = kShards});
  ir::Value x2 = b2.Parameter(f32);
  auto bad = b2.Build({b2.Case(b2.ShardIndex(), {branch(false), branch(true)}, {x2})[0]});
  ASSERT_TRUE(bad.ok()) << bad.status();
  for (const auto* f : {&*ok, &*bad}) {
    auto exe = CpuExecutable::Compile(*f);
    ASSERT_TRUE(exe.ok()) << exe.status();
    auto results = RunOnEveryShard(**exe, [&](int64_t) {
      return std::vector<ir::Literal>{LiteralFrom(f32, {1.0, 2.0})};
    });
    for (int64_t r = 0; r < kShards; ++r) {
      if (f == &*ok) {
        ASSERT_TRUE(results[r].ok()) << results[r].status();
        ExpectMatches((*results[r])[0], RefArray{{2}, {4.0, 8.0}}, 0.0);
      } else {
        EXPECT_EQ(results[r].status().code(), absl::StatusCode::kFailedPrecondition)
            << results[r].status();
        EXPECT_THAT(std::string(results[r].status().message()),
                    ::testing::HasSubstr("branch index differs across shards"));
      }
    }
  }
}

TEST(CollectiveKernelsTest, ShardGroupsThatDoNotPartitionTheGangAreRefused) {
  ir::FunctionBuilder b("bad", ir::FunctionOptions{.num_shards = 4});
  ir::Value x = b.Parameter(T(DType::kF32, {2}));
  b.AllReduce(x, ir::ReduceKind::kSum, {{0, 1, 3}, {2}});
  EXPECT_THAT(std::string(b.status().message()), ::testing::HasSubstr("shard group 1 has 1 shards"));
  ir::FunctionBuilder c("bad2", ir::FunctionOptions{.num_shards = 4});
  c.AllReduce(c.Parameter(T(DType::kF32, {2})), ir::ReduceKind::kSum, {{0, 1}, {1, 3}});
  EXPECT_THAT(std::string(c.status().message()), ::testing::HasSubstr("shard 1 is in two shard groups"));
  ir::FunctionBuilder d("bad3", ir::FunctionOptions{.num_shards = 4});
  d.AllReduce(d.Parameter(T(DType::kF32, {2})), ir::ReduceKind::kSum, {{0, 7}, {1, 3}});
  EXPECT_THAT(std::string(d.status().message()), ::testing::HasSubstr("names shard 7"));
  EXPECT_THAT(std::string(ir::MeshAxisGroups({2, 2}, {2}).status().message()), ::testing::HasSubstr("axis 2"));
}

TEST(CollectiveKernelsTest, MissingOrMismatchedCommunicatorIsAnError) {
  auto exe = CpuExecutable::Compile(CollectivesFunction(DType::kF32));
  ASSERT_TRUE(exe.ok());
  std::vector<ir::Literal> args = {ir::Literal(T(DType::kF32, {2, 8})), ir::Literal(T(DType::kF32, {4, 3}))};
  auto missing = (*exe)->ExecuteLiterals(args);
  EXPECT_THAT(missing.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  FakeGroup two(2);
  FakeCommunicator wrong(&two, 0);
  auto mismatched = (*exe)->ExecuteLiterals(args, &wrong);
  EXPECT_THAT(mismatched.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(mismatched.status().message(), ::testing::HasSubstr("4 shards"));
}

TEST(CollectiveKernelsTest, CommunicatorErrorsPropagateNamingTheInstruction) {
  ir::FunctionBuilder b("f", {.num_shards = 4});
  ir::Value x = b.Parameter(T(DType::kF32, {4}));
  auto f = b.Build({b.AllGather(b.Negate(x), 0)});
  ASSERT_TRUE(f.ok());
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok());
  AbortedCommunicator comm;
  auto out = (*exe)->ExecuteLiterals({ir::Literal(T(DType::kF32, {4}))}, &comm);
  EXPECT_THAT(out.status(), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(out.status().message(), ::testing::HasSubstr("(all_gather)"));
  EXPECT_THAT(out.status().message(), ::testing::HasSubstr("group aborted"));
}

TEST(CollectiveKernelsTest, ShardIndexWithoutCommunicatorIsZero) {
  ir::FunctionBuilder b("f");
  auto f = b.Build({b.ShardIndex()});
  ASSERT_TRUE(f.ok());
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok());
  auto out = (*exe)->ExecuteLiterals({});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].data<int32_t>()[0], 0);
}

}  // namespace
}  // namespace pw::testing
