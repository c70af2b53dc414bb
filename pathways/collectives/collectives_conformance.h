// The CollectiveGroups / Communicator conformance suite: one set of behaviour tests that every
// implementation (in-process, Gloo over TCP) instantiates with its own factory.
//
// Usage, in an implementation's test file:
//   struct MyFactory {
//     static std::unique_ptr<CollectiveGroups> Make(absl::Duration timeout);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, CollectivesConformanceTest, MyFactory);
// `timeout` is the groups' peer-arrival timeout (short in the timeout tests).
#ifndef PATHWAYS_COLLECTIVES_COLLECTIVES_CONFORMANCE_H_
#define PATHWAYS_COLLECTIVES_COLLECTIVES_CONFORMANCE_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/ids.h"
#include "pathways/base/status.h"
#include "pathways/base/status_matchers.h"
#include "pathways/collectives/collective_groups.h"
#include "pathways/ir/dtype.h"
#include "pathways/ir/op.h"

namespace pw::conformance {

using RankFn = std::function<absl::Status(int64_t rank, Communicator& comm)>;

// Joins `size` ranks of `gang` and runs fn on one thread per rank; each rank's status.
inline std::vector<absl::Status> RunGang(CollectiveGroups& groups, GangId gang, int64_t size,
                                         const RankFn& fn) {
  std::vector<absl::Status> results(size);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      absl::StatusOr<std::unique_ptr<Communicator>> comm = groups.Join(gang, size, r);
      results[r] = comm.ok() ? fn(r, **comm) : comm.status();
    });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

inline void ExpectAllOk(const std::vector<absl::Status>& results) {
  for (size_t r = 0; r < results.size(); ++r) {
    EXPECT_TRUE(results[r].ok()) << "rank " << r << ": " << results[r];
  }
}

// A deterministic value for (rank, element, round), exactly representable in every dtype.
inline double Value(int64_t rank, int64_t i, int64_t round = 0) {
  return static_cast<double>((rank * 7 + i * 3 + round * 5) % 23) - 11.0;
}

// Element storage per dtype (bools as bytes).
template <typename T>
using Elem = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;

template <typename T>
std::vector<Elem<T>> Input(int64_t rank, int64_t n, int64_t round = 0) {
  std::vector<Elem<T>> v(n);
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, bool>) {
      v[i] = Value(rank, i, round) > 0;
    } else {
      v[i] = static_cast<T>(Value(rank, i, round));
    }
  }
  return v;
}

template <typename T>
T Reduce(T a, T b, ir::ReduceKind kind) {
  switch (kind) {
    case ir::ReduceKind::kSum: return a + b;
    case ir::ReduceKind::kMax: return std::max(a, b);
    case ir::ReduceKind::kMin: return std::min(a, b);
  }
  return a;
}

// Expected all-reduce of every rank's Input<T>(rank, n, round).
template <typename T>
std::vector<T> Reduced(int64_t size, int64_t n, ir::ReduceKind kind, int64_t round = 0) {
  std::vector<T> out = Input<T>(0, n, round);
  for (int64_t r = 1; r < size; ++r) {
    std::vector<T> in = Input<T>(r, n, round);
    for (int64_t i = 0; i < n; ++i) out[i] = Reduce(out[i], in[i], kind);
  }
  return out;
}

// Turns a value mismatch seen on a rank's thread into that rank's status.
template <typename V>
absl::Status Check(const V& got, const V& want, const std::string& what) {
  if (got == want) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": wrong result"));
}

constexpr ir::ReduceKind kAllReductions[] = {ir::ReduceKind::kSum, ir::ReduceKind::kMax,
                                             ir::ReduceKind::kMin};

template <typename T>
absl::Status AllReduceEveryReduction(int64_t rank, int64_t size, Communicator& comm) {
  constexpr int64_t n = 7;
  for (ir::ReduceKind kind : kAllReductions) {
    const std::vector<T> in = Input<T>(rank, n);
    std::vector<T> out(n, T{99});
    PW_RETURN_IF_ERROR(
        comm.AllReduce(in.data(), out.data(), n, ir::DTypeOf<T>::value, kind));
    PW_RETURN_IF_ERROR(Check(out, Reduced<T>(size, n, kind),
                             absl::StrCat("all-reduce ", ir::ReduceKindName(kind))));
    PW_RETURN_IF_ERROR(Check(in, Input<T>(rank, n), "all-reduce input was modified"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ReduceScatterEveryReduction(int64_t rank, int64_t size, Communicator& comm) {
  constexpr int64_t n = 3;
  for (ir::ReduceKind kind : kAllReductions) {
    const std::vector<T> in = Input<T>(rank, n * size);
    std::vector<T> out(n, T{99});
    PW_RETURN_IF_ERROR(
        comm.ReduceScatter(in.data(), out.data(), n, ir::DTypeOf<T>::value, kind));
    const std::vector<T> all = Reduced<T>(size, n * size, kind);
    const std::vector<T> want(all.begin() + rank * n, all.begin() + (rank + 1) * n);
    PW_RETURN_IF_ERROR(Check(out, want, absl::StrCat("reduce-scatter ",
                                                     ir::ReduceKindName(kind))));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status AllGatherAndAllToAll(int64_t rank, int64_t size, Communicator& comm) {
  constexpr int64_t n = 5;
  const ir::DType dtype = ir::DTypeOf<T>::value;
  {
    const std::vector<Elem<T>> in = Input<T>(rank, n);
    std::vector<Elem<T>> out(n * size, Elem<T>{7});
    PW_RETURN_IF_ERROR(comm.AllGather(in.data(), out.data(), n, dtype));
    std::vector<Elem<T>> want;
    for (int64_t r = 0; r < size; ++r) {
      std::vector<Elem<T>> block = Input<T>(r, n);
      want.insert(want.end(), block.begin(), block.end());
    }
    PW_RETURN_IF_ERROR(Check(out, want, "all-gather"));
  }
  {
    const std::vector<Elem<T>> in = Input<T>(rank, n * size);
    std::vector<Elem<T>> out(n * size, Elem<T>{7});
    PW_RETURN_IF_ERROR(comm.AllToAll(in.data(), out.data(), n, dtype));
    std::vector<Elem<T>> want;
    for (int64_t r = 0; r < size; ++r) {
      std::vector<Elem<T>> all = Input<T>(r, n * size);
      want.insert(want.end(), all.begin() + rank * n, all.begin() + (rank + 1) * n);
    }
    PW_RETURN_IF_ERROR(Check(out, want, "all-to-all"));
  }
  return absl::OkStatus();
}

template <typename Factory>
class CollectivesConformanceTest : public ::testing::Test {
 protected:
  static std::unique_ptr<CollectiveGroups> Make(absl::Duration timeout = absl::Seconds(30)) {
    return Factory::Make(timeout);
  }
};

TYPED_TEST_SUITE_P(CollectivesConformanceTest);

TYPED_TEST_P(CollectivesConformanceTest, AllReduceEveryDTypeAndReductionFor2To4Ranks) {
  auto groups = this->Make();
  for (int64_t size : {2, 3, 4}) {
    SCOPED_TRACE(absl::StrCat(size, " ranks"));
    ExpectAllOk(RunGang(*groups, GangId(100 + size), size, [&](int64_t r, Communicator& c) {
      PW_RETURN_IF_ERROR(AllReduceEveryReduction<float>(r, size, c));
      PW_RETURN_IF_ERROR(AllReduceEveryReduction<double>(r, size, c));
      return AllReduceEveryReduction<int32_t>(r, size, c);
    }));
  }
}

TYPED_TEST_P(CollectivesConformanceTest, ReduceScatterEveryDTypeAndReductionFor2To4Ranks) {
  auto groups = this->Make();
  for (int64_t size : {2, 3, 4}) {
    SCOPED_TRACE(absl::StrCat(size, " ranks"));
    ExpectAllOk(RunGang(*groups, GangId(200 + size), size, [&](int64_t r, Communicator& c) {
      PW_RETURN_IF_ERROR(ReduceScatterEveryReduction<float>(r, size, c));
      PW_RETURN_IF_ERROR(ReduceScatterEveryReduction<double>(r, size, c));
      return ReduceScatterEveryReduction<int32_t>(r, size, c);
    }));
  }
}

TYPED_TEST_P(CollectivesConformanceTest, AllGatherAndAllToAllEveryDTypeFor2To4Ranks) {
  auto groups = this->Make();
  for (int64_t size : {2, 3, 4}) {
    SCOPED_TRACE(absl::StrCat(size, " ranks"));
    ExpectAllOk(RunGang(*groups, GangId(300 + size), size, [&](int64_t r, Communicator& c) {
      PW_RETURN_IF_ERROR(AllGatherAndAllToAll<float>(r, size, c));
      PW_RETURN_IF_ERROR(AllGatherAndAllToAll<double>(r, size, c));
      PW_RETURN_IF_ERROR(AllGatherAndAllToAll<int32_t>(r, size, c));
      return AllGatherAndAllToAll<bool>(r, size, c);
    }));
  }
}

TYPED_TEST_P(CollectivesConformanceTest, CollectivePermuteShiftPartialAndSelfPairs) {
  auto groups = this->Make();
  for (int64_t size : {2, 3, 4}) {
    SCOPED_TRACE(absl::StrCat(size, " ranks"));
    ExpectAllOk(RunGang(*groups, GangId(400 + size), size, [&](int64_t r, Communicator& c) {
      constexpr int64_t n = 6;
      const std::vector<int32_t> in = Input<int32_t>(r, n);
      std::vector<int32_t> out(n, 99);
      // Ring shift: rank r receives rank r-1's input.
      std::vector<std::pair<int64_t, int64_t>> ring;
      for (int64_t s = 0; s < size; ++s) ring.emplace_back(s, (s + 1) % size);
      PW_RETURN_IF_ERROR(c.CollectivePermute(in.data(), out.data(), n * 4, ring));
      PW_RETURN_IF_ERROR(Check(out, Input<int32_t>((r + size - 1) % size, n), "ring shift"));
      // One pair 0 -> last: every other rank gets zeros.
      const std::vector<std::pair<int64_t, int64_t>> one = {{0, size - 1}};
      PW_RETURN_IF_ERROR(c.CollectivePermute(in.data(), out.data(), n * 4, one));
      PW_RETURN_IF_ERROR(Check(out, r == size - 1 ? Input<int32_t>(0, n)
                                                  : std::vector<int32_t>(n, 0),
                               "partial permute"));
      // Self pairs keep each rank's own data.
      std::vector<std::pair<int64_t, int64_t>> self;
      for (int64_t s = 0; s < size; ++s) self.emplace_back(s, s);
      PW_RETURN_IF_ERROR(c.CollectivePermute(in.data(), out.data(), n * 4, self));
      return Check(out, in, "self permute");
    }));
  }
}

TYPED_TEST_P(CollectivesConformanceTest, OneRankGangIsTheIdentity) {
  auto groups = this->Make();
  ExpectAllOk(RunGang(*groups, GangId(500), 1, [&](int64_t r, Communicator& c) {
    PW_RETURN_IF_ERROR(AllReduceEveryReduction<float>(r, 1, c));
    PW_RETURN_IF_ERROR(ReduceScatterEveryReduction<int32_t>(r, 1, c));
    return AllGatherAndAllToAll<bool>(r, 1, c);
  }));
}

TYPED_TEST_P(CollectivesConformanceTest, ManyBackToBackAllReducesStayMatched) {
  auto groups = this->Make();
  constexpr int64_t size = 3, rounds = 100, n = 4;
  ExpectAllOk(RunGang(*groups, GangId(600), size, [&](int64_t r, Communicator& c) {
    for (int64_t round = 0; round < rounds; ++round) {
      const std::vector<float> in = Input<float>(r, n, round);
      std::vector<float> out(n);
      PW_RETURN_IF_ERROR(c.AllReduce(in.data(), out.data(), n, ir::DType::kF32,
                                     ir::ReduceKind::kSum));
      PW_RETURN_IF_ERROR(Check(out, Reduced<float>(size, n, ir::ReduceKind::kSum, round),
                               absl::StrCat("round ", round)));
    }
    return absl::OkStatus();
  }));
}

TYPED_TEST_P(CollectivesConformanceTest, MismatchedCountsAreInvalidArgumentOnEveryRank) {
  auto groups = this->Make();
  std::vector<absl::Status> after(3);
  std::vector<absl::Status> results = RunGang(*groups, GangId(700), 3,
                                              [&](int64_t r, Communicator& c) {
    std::vector<float> in(4, 1.0f), out(4);
    absl::Status s = c.AllReduce(in.data(), out.data(), r == 1 ? 3 : 4, ir::DType::kF32,
                                 ir::ReduceKind::kSum);
    // Disagreement is seen alike by every rank before data moves: the group stays usable.
    after[r] = c.AllReduce(in.data(), out.data(), 4, ir::DType::kF32, ir::ReduceKind::kSum);
    if (after[r].ok() && out[0] != 3.0f) after[r] = absl::InternalError("wrong sum after");
    return s;
  });
  for (int64_t r = 0; r < 3; ++r) {
    EXPECT_THAT(results[r], StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(std::string(results[r].message()), ::testing::HasSubstr("rank 1"));
    EXPECT_TRUE(after[r].ok()) << after[r];
  }
}

TYPED_TEST_P(CollectivesConformanceTest, LocallyInvalidArgumentsFailEveryRankNamingTheCulprit) {
  auto groups = this->Make();
  std::vector<absl::Status> results = RunGang(*groups, GangId(800), 2,
                                              [&](int64_t r, Communicator& c) {
    uint8_t in[4] = {1, 0, 1, 0}, out[4];
    // Rank 0 asks to sum booleans; rank 1 passes a valid call.
    return c.AllReduce(in, out, r == 0 ? 4 : 1, r == 0 ? ir::DType::kBool : ir::DType::kF32,
                       ir::ReduceKind::kSum);
  });
  for (const absl::Status& s : results) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("rank 0"));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("bool"));
  }
  results = RunGang(*groups, GangId(801), 2, [&](int64_t r, Communicator& c) {
    int32_t in = 1, out = 0;
    const std::vector<std::pair<int64_t, int64_t>> pairs = {{0, 2}};
    return c.CollectivePermute(&in, &out, 4, pairs);
  });
  for (const absl::Status& s : results) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("0->2"));
  }
}

TYPED_TEST_P(CollectivesConformanceTest, JoinArgumentErrors) {
  auto groups = this->Make();
  EXPECT_THAT(groups->Join(GangId(900), 0, 0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(groups->Join(GangId(900), 2, 2).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(groups->Join(GangId(900), 2, -1).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  absl::StatusOr<std::unique_ptr<Communicator>> first = groups->Join(GangId(901), 2, 0);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(groups->Join(GangId(901), 2, 0).status(), StatusIs(absl::StatusCode::kAlreadyExists));
  groups->Abort(GangId(901), 2, absl::CancelledError("test over"));
}

TYPED_TEST_P(CollectivesConformanceTest, MissingRankTimesOutNamingItInsteadOfHanging) {
  auto groups = this->Make(absl::Milliseconds(300));
  // Ranks 0 and 1 of a 3-rank gang come; rank 2 never joins.
  std::vector<absl::Status> results(2);
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int64_t r = 0; r < 2; ++r) {
    absl::StatusOr<std::unique_ptr<Communicator>> c = groups->Join(GangId(1000), 3, r);
    ASSERT_TRUE(c.ok()) << c.status();
    comms.push_back(*std::move(c));
  }
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      float in = 1, out = 0;
      results[r] = comms[r]->AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  for (const absl::Status& s : results) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kDeadlineExceeded));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("rank 2"));
  }
  // Sticky: the next call fails the same way at once.
  float in = 1, out = 0;
  EXPECT_THAT(comms[0]->AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TYPED_TEST_P(CollectivesConformanceTest, AbortBeforeTheFirstCollectiveFailsPeersWithTheReason) {
  auto groups = this->Make();
  for (int64_t size : {2, 3}) {
    const GangId gang(1100 + size);
    std::vector<absl::Status> results = RunGang(*groups, gang, size,
                                                [&](int64_t r, Communicator& c) {
      if (r == size - 1) {
        // The last shard fails before its collective (e.g. out of memory) and breaks the gang.
        groups->Abort(gang, size, absl::ResourceExhaustedError("shard ran out of memory"));
        return absl::OkStatus();
      }
      float in = 1, out = 0;
      return c.AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);
    });
    for (int64_t r = 0; r + 1 < size; ++r) {
      EXPECT_THAT(results[r], StatusIs(absl::StatusCode::kAborted));
      EXPECT_THAT(std::string(results[r].message()),
                  ::testing::HasSubstr("shard ran out of memory"));
    }
  }
}

TYPED_TEST_P(CollectivesConformanceTest, AbortAfterACollectiveFailsTheNextOneWithTheReason) {
  auto groups = this->Make();
  const GangId gang(1200);
  std::vector<absl::Status> results = RunGang(*groups, gang, 2, [&](int64_t r, Communicator& c) {
    float in = 1, out = 0;
    PW_RETURN_IF_ERROR(c.AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum));
    if (r == 1) {
      groups->Abort(gang, 2, absl::InternalError("kernel failed on shard 1"));
      return absl::OkStatus();
    }
    return c.AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);
  });
  EXPECT_THAT(results[0], StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(std::string(results[0].message()), ::testing::HasSubstr("kernel failed on shard 1"));
  EXPECT_TRUE(results[1].ok()) << results[1];
}

TYPED_TEST_P(CollectivesConformanceTest, AbortBeforeAnyRankJoinedReachesLateJoiners) {
  auto groups = this->Make();
  groups->Abort(GangId(1300), 2, absl::InternalError("producer failed"));
  std::vector<absl::Status> results = RunGang(*groups, GangId(1300), 2,
                                              [&](int64_t r, Communicator& c) {
    float in = 1, out = 0;
    return c.AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);
  });
  for (const absl::Status& s : results) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kAborted));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("producer failed"));
  }
}

REGISTER_TYPED_TEST_SUITE_P(CollectivesConformanceTest,
                            AllReduceEveryDTypeAndReductionFor2To4Ranks,
                            ReduceScatterEveryDTypeAndReductionFor2To4Ranks,
                            AllGatherAndAllToAllEveryDTypeFor2To4Ranks,
                            CollectivePermuteShiftPartialAndSelfPairs, OneRankGangIsTheIdentity,
                            ManyBackToBackAllReducesStayMatched,
                            MismatchedCountsAreInvalidArgumentOnEveryRank,
                            LocallyInvalidArgumentsFailEveryRankNamingTheCulprit,
                            JoinArgumentErrors, MissingRankTimesOutNamingItInsteadOfHanging,
                            AbortBeforeTheFirstCollectiveFailsPeersWithTheReason,
                            AbortAfterACollectiveFailsTheNextOneWithTheReason,
                            AbortBeforeAnyRankJoinedReachesLateJoiners);

}  // namespace pw::conformance

#endif  // PATHWAYS_COLLECTIVES_COLLECTIVES_CONFORMANCE_H_
