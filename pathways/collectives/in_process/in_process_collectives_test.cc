// Tests for InProcessCollectiveGroup: every collective for 1, 2, 3 and 8 ranks and each dtype
// and reduction, matching across many calls, argument mismatches, abort and timeouts.
#include "pathways/collectives/in_process/in_process_collectives.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/device/cpu/cpu_device.h"

namespace pw {
namespace {

using ::testing::HasSubstr;
using ir::DType;
using ir::ReduceKind;

std::shared_ptr<InProcessCollectiveGroup> MakeGroup(int64_t size,
                                                    InProcessCollectiveOptions options = {}) {
  absl::StatusOr<std::shared_ptr<InProcessCollectiveGroup>> group =
      InProcessCollectiveGroup::Create(size, std::move(options));
  PW_CHECK(group.ok()) << group.status();
  return *group;
}

// Runs fn(rank, communicator) on one thread per rank; returns each rank's status.
std::vector<absl::Status> RunRanks(
    InProcessCollectiveGroup& group,
    const std::function<absl::Status(int64_t, Communicator&)>& fn) {
  std::vector<absl::Status> results(group.size());
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < group.size(); ++r) {
    threads.emplace_back([&, r] {
      absl::StatusOr<std::unique_ptr<Communicator>> comm = group.CommunicatorForRank(r);
      results[r] = comm.ok() ? fn(r, **comm) : comm.status();
    });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

// A deterministic, exactly representable value for rank r, element i.
double Value(int64_t r, int64_t i) { return static_cast<double>((r * 7 + i * 3) % 23) - 11.0; }

template <typename T>
std::vector<T> Input(int64_t rank, int64_t n) {
  std::vector<T> v(n);
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, bool>) {
      v[i] = Value(rank, i) > 0;
    } else {
      v[i] = static_cast<T>(Value(rank, i));
    }
  }
  return v;
}

template <typename T>
T Reduce(T a, T b, ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kSum: return a + b;
    case ReduceKind::kMax: return std::max(a, b);
    case ReduceKind::kMin: return std::min(a, b);
  }
  return a;
}

// std::vector<bool> is packed; keep bool data in a byte vector.
template <typename T>
using Buffer = std::vector<std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>>;

template <typename T>
Buffer<T> ToBuffer(const std::vector<T>& v) {
  return Buffer<T>(v.begin(), v.end());
}

// ---------------------------------------------------------------------------------------------
// Reductions: (ranks, dtype, reduction).

class ReductionTest
    : public ::testing::TestWithParam<std::tuple<int64_t, DType, ReduceKind>> {};

template <typename T>
void CheckAllReduce(int64_t ranks, ReduceKind kind, int64_t n) {
  auto group = MakeGroup(ranks);
  std::vector<Buffer<T>> outputs(ranks, Buffer<T>(n));
  std::vector<absl::Status> st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    Buffer<T> in = ToBuffer(Input<T>(r, n));
    return comm.AllReduce(in.data(), outputs[r].data(), n, ir::DTypeOf<T>::value, kind);
  });
  for (int64_t r = 0; r < ranks; ++r) ASSERT_TRUE(st[r].ok()) << st[r];
  std::vector<std::vector<T>> inputs;
  for (int64_t r = 0; r < ranks; ++r) inputs.push_back(Input<T>(r, n));
  for (int64_t i = 0; i < n; ++i) {
    T expected = inputs[0][i];
    for (int64_t r = 1; r < ranks; ++r) expected = Reduce<T>(expected, inputs[r][i], kind);
    for (int64_t r = 0; r < ranks; ++r) {
      ASSERT_EQ(outputs[r][i], expected) << "rank " << r << " element " << i << " of " << n;
    }
  }
}

template <typename T>
void CheckReduceScatter(int64_t ranks, ReduceKind kind, int64_t n) {
  auto group = MakeGroup(ranks);
  std::vector<Buffer<T>> outputs(ranks, Buffer<T>(n));
  std::vector<absl::Status> st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    Buffer<T> in = ToBuffer(Input<T>(r, n * ranks));
    return comm.ReduceScatter(in.data(), outputs[r].data(), n, ir::DTypeOf<T>::value, kind);
  });
  for (int64_t r = 0; r < ranks; ++r) ASSERT_TRUE(st[r].ok()) << st[r];
  std::vector<std::vector<T>> inputs;
  for (int64_t p = 0; p < ranks; ++p) inputs.push_back(Input<T>(p, n * ranks));
  for (int64_t r = 0; r < ranks; ++r) {
    for (int64_t i = 0; i < n; ++i) {
      T expected = inputs[0][r * n + i];
      for (int64_t p = 1; p < ranks; ++p) {
        expected = Reduce<T>(expected, inputs[p][r * n + i], kind);
      }
      ASSERT_EQ(outputs[r][i], expected) << "rank " << r << " element " << i;
    }
  }
}

TEST_P(ReductionTest, AllReduceAndReduceScatterMatchTheReference) {
  auto [ranks, dtype, kind] = GetParam();
  ir::DispatchDType(dtype, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (!std::is_same_v<T, bool>) {
      CheckAllReduce<T>(ranks, kind, 37);
      CheckAllReduce<T>(ranks, kind, 0);
      // Past the sliced-all-reduce threshold (each rank reduces one slice for everyone).
      CheckAllReduce<T>(ranks, kind, 40'000 / sizeof(T) * 2 + 5);
      CheckReduceScatter<T>(ranks, kind, 13);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(
    AllRanksDTypesReductions, ReductionTest,
    ::testing::Combine(::testing::Values(1, 2, 3, 8),
                       ::testing::Values(DType::kF32, DType::kF64, DType::kI32),
                       ::testing::Values(ReduceKind::kSum, ReduceKind::kMax, ReduceKind::kMin)));

// ---------------------------------------------------------------------------------------------
// Data movement: (ranks, dtype).

class DataMovementTest : public ::testing::TestWithParam<std::tuple<int64_t, DType>> {};

template <typename T>
void CheckDataMovement(int64_t ranks) {
  constexpr int64_t n = 11;
  auto group = MakeGroup(ranks);
  const DType dtype = ir::DTypeOf<T>::value;
  // AllGather: output block p is rank p's input.
  std::vector<Buffer<T>> gathered(ranks, Buffer<T>(n * ranks));
  // AllToAll: output block j is rank j's input block r.
  std::vector<Buffer<T>> exchanged(ranks, Buffer<T>(n * ranks));
  std::vector<absl::Status> st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    Buffer<T> in = ToBuffer(Input<T>(r, n));
    absl::Status s = comm.AllGather(in.data(), gathered[r].data(), n, dtype);
    if (!s.ok()) return s;
    Buffer<T> blocks = ToBuffer(Input<T>(r + 100, n * ranks));
    return comm.AllToAll(blocks.data(), exchanged[r].data(), n, dtype);
  });
  for (int64_t r = 0; r < ranks; ++r) ASSERT_TRUE(st[r].ok()) << st[r];
  for (int64_t r = 0; r < ranks; ++r) {
    for (int64_t p = 0; p < ranks; ++p) {
      Buffer<T> gathered_block = ToBuffer(Input<T>(p, n));
      Buffer<T> sent_blocks = ToBuffer(Input<T>(p + 100, n * ranks));
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(gathered[r][p * n + i], gathered_block[i]) << r << "," << p;
        ASSERT_EQ(exchanged[r][p * n + i], sent_blocks[r * n + i]) << r << "," << p;
      }
    }
  }
}

TEST_P(DataMovementTest, AllGatherAndAllToAllMoveTheRightBlocks) {
  auto [ranks, dtype] = GetParam();
  ir::DispatchDType(dtype, [&](auto zero) { CheckDataMovement<decltype(zero)>(ranks); });
}

INSTANTIATE_TEST_SUITE_P(AllRanksDTypes, DataMovementTest,
                         ::testing::Combine(::testing::Values(1, 2, 3, 8),
                                            ::testing::Values(DType::kF32, DType::kF64,
                                                              DType::kI32, DType::kBool)));

class PermuteTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(PermuteTest, ShiftsAlongPairsAndZeroFillsNonTargets) {
  const int64_t ranks = GetParam();
  auto group = MakeGroup(ranks);
  // Shift right by one, except nothing is sent to rank 0 (so it must read zeros).
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (int64_t r = 0; r + 1 < ranks; ++r) pairs.push_back({r, r + 1});
  constexpr int64_t kBytes = 24;
  std::vector<std::vector<uint8_t>> outputs(ranks, std::vector<uint8_t>(kBytes, 0xee));
  std::vector<absl::Status> st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    std::vector<uint8_t> in(kBytes, static_cast<uint8_t>(r + 1));
    return comm.CollectivePermute(in.data(), outputs[r].data(), kBytes, pairs);
  });
  for (int64_t r = 0; r < ranks; ++r) ASSERT_TRUE(st[r].ok()) << st[r];
  EXPECT_EQ(outputs[0], std::vector<uint8_t>(kBytes, 0));
  for (int64_t r = 1; r < ranks; ++r) {
    EXPECT_EQ(outputs[r], std::vector<uint8_t>(kBytes, static_cast<uint8_t>(r))) << r;
  }
}

INSTANTIATE_TEST_SUITE_P(AllRanks, PermuteTest, ::testing::Values(1, 2, 3, 8));

// ---------------------------------------------------------------------------------------------

TEST(InProcessCollectivesTest, ThousandBackToBackAllReducesStayMatched) {
  auto group = MakeGroup(4);
  constexpr int kIters = 1000;
  std::vector<int> wrong(4, 0);
  std::vector<absl::Status> st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    for (int it = 0; it < kIters; ++it) {
      float in = static_cast<float>(r * 1000 + it);
      float out = -1;
      absl::Status s = comm.AllReduce(&in, &out, 1, DType::kF32, ReduceKind::kSum);
      if (!s.ok()) return s;
      if (out != static_cast<float>(6000 + 4 * it)) ++wrong[r];
    }
    return absl::OkStatus();
  });
  for (int r = 0; r < 4; ++r) {
    EXPECT_TRUE(st[r].ok()) << st[r];
    EXPECT_EQ(wrong[r], 0) << "rank " << r;
  }
}

TEST(InProcessCollectivesTest, NaNWinsMaxAndMinOnEveryRank) {
  auto group = MakeGroup(3);
  std::vector<std::vector<float>> out(3, std::vector<float>(2));
  std::vector<absl::Status> st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    float in = r == 1 ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(r);
    absl::Status s = comm.AllReduce(&in, &out[r][0], 1, DType::kF32, ReduceKind::kMax);
    if (!s.ok()) return s;
    return comm.AllReduce(&in, &out[r][1], 1, DType::kF32, ReduceKind::kMin);
  });
  for (int64_t r = 0; r < 3; ++r) {
    ASSERT_TRUE(st[r].ok()) << st[r];
    EXPECT_TRUE(std::isnan(out[r][0])) << r;
    EXPECT_TRUE(std::isnan(out[r][1])) << r;
  }
}

TEST(InProcessCollectivesTest, MismatchedCountsAreInvalidArgumentOnEveryRankNamingThem) {
  auto group = MakeGroup(3);
  std::vector<absl::Status> st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    std::vector<float> in(8, 1.0f), out(8);
    int64_t count = r == 2 ? 5 : 4;
    absl::Status s = comm.AllReduce(in.data(), out.data(), count, DType::kF32, ReduceKind::kSum);
    if (!s.ok()) return s;
    return absl::InternalError("mismatch went unnoticed");
  });
  for (int64_t r = 0; r < 3; ++r) {
    EXPECT_THAT(st[r], StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(st[r].message(), HasSubstr("rank 0 called AllReduce(count=4, f32, sum)"));
    EXPECT_THAT(st[r].message(), HasSubstr("rank 2 called AllReduce(count=5, f32, sum)"));
  }
  // A mismatch fails that call only; the group keeps working.
  st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    int32_t in = static_cast<int32_t>(r), out = -1;
    absl::Status s = comm.AllReduce(&in, &out, 1, DType::kI32, ReduceKind::kMax);
    if (s.ok() && out != 2) return absl::InternalError("wrong max");
    return s;
  });
  for (int64_t r = 0; r < 3; ++r) EXPECT_TRUE(st[r].ok()) << st[r];
}

TEST(InProcessCollectivesTest, DifferentOperationsAcrossRanksAreInvalidArgument) {
  auto group = MakeGroup(2);
  std::vector<absl::Status> st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    float in[2] = {1, 2}, out[4];
    if (r == 0) return comm.AllGather(in, out, 2, DType::kF32);
    return comm.AllReduce(in, out, 2, DType::kF32, ReduceKind::kMin);
  });
  for (int64_t r = 0; r < 2; ++r) {
    EXPECT_THAT(st[r], StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(st[r].message(), HasSubstr("rank 1 called AllReduce(count=2, f32, min)"));
  }
}

TEST(InProcessCollectivesTest, InvalidArgumentsOnOneRankFailEveryRankWithoutWaiting) {
  auto group = MakeGroup(3, {.timeout = absl::Seconds(20)});
  auto start = std::chrono::steady_clock::now();
  std::vector<absl::Status> st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    bool in[4] = {true, false, true, false}, out[4];
    // Reducing bools is not allowed: every rank reports it.
    absl::Status s = comm.AllReduce(in, out, 4, DType::kBool, ReduceKind::kSum);
    if (s.code() != absl::StatusCode::kInvalidArgument) return absl::InternalError("bool reduce");
    // One rank passes a negative count, another a bad permutation.
    float f[4] = {}, g[4];
    if (r == 1) return comm.AllGather(f, g, -1, DType::kF32);
    return comm.AllGather(f, g, 1, DType::kF32);
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  for (int64_t r = 0; r < 3; ++r) {
    EXPECT_THAT(st[r], StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(st[r].message(), HasSubstr("rank 1: AllGather count -1 is negative"));
  }
  st = RunRanks(*group, [&](int64_t r, Communicator& comm) {
    char in = 1, out;
    std::vector<std::pair<int64_t, int64_t>> pairs = {{0, 1}, {2, 1}};
    return comm.CollectivePermute(&in, &out, 1, pairs);
  });
  for (int64_t r = 0; r < 3; ++r) {
    EXPECT_THAT(st[r], StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(st[r].message(), HasSubstr("repeats a source or a target"));
  }
}

TEST(InProcessCollectivesTest, AbortWakesBlockedRanksWithTheReason) {
  auto group = MakeGroup(3);
  std::vector<absl::Status> st(3);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      auto comm = group->CommunicatorForRank(r);
      float in = 1, out;
      st[r] = (*comm)->AllReduce(&in, &out, 1, DType::kF32, ReduceKind::kSum);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // both are asleep by now
  auto start = std::chrono::steady_clock::now();
  group->Abort(absl::ResourceExhaustedError("shard 2 failed: out of memory on device:2"));
  for (std::thread& t : threads) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  for (int64_t r = 0; r < 2; ++r) {
    EXPECT_THAT(st[r], StatusIs(absl::StatusCode::kAborted));
    EXPECT_THAT(st[r].message(), HasSubstr("shard 2 failed: out of memory on device:2"));
  }
  // The late rank, and any later call, fails the same way instead of waiting.
  auto late = group->CommunicatorForRank(2);
  float in = 1, out;
  absl::Status s = (*late)->AllReduce(&in, &out, 1, DType::kF32, ReduceKind::kSum);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAborted));
  EXPECT_TRUE(group->broken());
  EXPECT_THAT(group->DebugString(), HasSubstr("shard 2 failed"));
}

TEST(InProcessCollectivesTest, MissingRankIsDeadlineExceededNamingIt) {
  auto group = MakeGroup(3, {.name = "gang 7", .timeout = absl::Milliseconds(100)});
  std::vector<absl::Status> st(2);
  std::vector<std::thread> threads;
  auto start = std::chrono::steady_clock::now();
  for (int64_t r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      auto comm = group->CommunicatorForRank(r);
      float in[2] = {1, 2}, out[6];
      st[r] = (*comm)->AllGather(in, out, 2, DType::kF32);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  for (int64_t r = 0; r < 2; ++r) {
    EXPECT_THAT(st[r], StatusIs(absl::StatusCode::kDeadlineExceeded));
    EXPECT_THAT(st[r].message(), HasSubstr("rank 2 did not arrive"));
    EXPECT_THAT(st[r].message(), HasSubstr("gang 7"));
  }
}

TEST(InProcessCollectivesTest, BadGroupSizeAndRankAreInvalidArgument) {
  EXPECT_THAT(InProcessCollectiveGroup::Create(0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto group = MakeGroup(2);
  EXPECT_THAT(group->CommunicatorForRank(2).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(group->CommunicatorForRank(-1).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto comm = group->CommunicatorForRank(1);
  ASSERT_TRUE(comm.ok());
  EXPECT_EQ((*comm)->rank(), 1);
  EXPECT_EQ((*comm)->size(), 2);
}

TEST(InProcessCollectivesTest, EightCpuDevicesRunCollectivesAsStreamWork) {
  constexpr int kRanks = 8;
  constexpr int kSteps = 20;
  constexpr int64_t kCount = 1000;
  auto group = MakeGroup(kRanks);
  std::vector<std::unique_ptr<CpuDevice>> devices;
  std::vector<std::unique_ptr<Communicator>> comms;
  // Each device keeps a running vector x and does x = allreduce_sum(x) / 8 + 1 every step.
  std::vector<std::vector<float>> x(kRanks, std::vector<float>(kCount));
  std::vector<std::vector<float>> tmp(kRanks, std::vector<float>(kCount));
  for (int r = 0; r < kRanks; ++r) {
    devices.push_back(std::make_unique<CpuDevice>(
        CpuDeviceOptions{.id = DeviceId(r), .host = HostId(0)}));
    comms.push_back(*group->CommunicatorForRank(r));
    for (int64_t i = 0; i < kCount; ++i) x[r][i] = static_cast<float>(r);
  }
  std::vector<EventRef> last(kRanks);
  for (int step = 0; step < kSteps; ++step) {
    for (int r = 0; r < kRanks; ++r) {
      last[r] = devices[r]->Enqueue(StreamWork{
          .name = "allreduce", .fn = [&, r]() -> absl::Status {
            absl::Status s = comms[r]->AllReduce(x[r].data(), tmp[r].data(), kCount,
                                                 DType::kF32, ReduceKind::kSum);
            if (!s.ok()) return s;
            for (int64_t i = 0; i < kCount; ++i) x[r][i] = tmp[r][i] / kRanks + 1;
            return absl::OkStatus();
          }});
    }
  }
  const float expected = 3.5f + kSteps;  // the mean of 0..7, then +1 per step
  for (int r = 0; r < kRanks; ++r) {
    ASSERT_TRUE(last[r]->Await().ok()) << last[r]->status();
    EXPECT_EQ(devices[r]->completed(), kSteps);
    for (int64_t i = 0; i < kCount; ++i) ASSERT_FLOAT_EQ(x[r][i], expected) << r << "," << i;
  }
}

}  // namespace
}  // namespace pw
