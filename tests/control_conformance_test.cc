// Conformance of data-dependent steps (ControllerService::RunControl) on every transport: a case
// and a bounded loop whose choices depend on values computed on the devices, the sequential
// fallback limited to that edge (the trace shows it), and the errors.
#include <algorithm>
#include <map>
#include <regex>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/clock.h"
#include "pathways/base/status_matchers.h"
#include "pathways/controller/controller.h"
#include "tests/cluster_conformance.h"

namespace pw {
namespace {

using ir::FunctionBuilder;
using ir::Value;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::Unwrap;

// A program of one call of `f` on inputs of `specs`.
Program OneCall(Client& client, const std::string& name, const PmapFunction& f,
                const std::vector<Array>& like) {
  ProgramTracer t(client, name);
  std::vector<Traced> in;
  for (const Array& a : like) in.push_back(t.InputLike(a));
  return Unwrap(t.Build(f(t, in)));
}

// sum over every shard of x, compared with `bound`: the same bool on every shard.
PmapFunction SumBelow(Client& client, const VirtualSlice& s, float bound) {
  return client.Pmap("sum_below", s, [bound](FunctionBuilder& b, absl::Span<const Value> x) {
    Value total = b.AllReduce(b.Reduce(x[0], {0}, ir::ReduceKind::kSum), ir::ReduceKind::kSum);
    return std::vector<Value>{
        b.Compare(total, b.ConstantScalar(bound), ir::ComparisonDirection::kLt)};
  });
}

TEST_P(ClusterConformanceTest, ACaseRunsTheBranchItsDeviceComputedIndexSelects) {
  auto client = Connect("case");
  VirtualSlice s = Unwrap(client->GetDevices(2));
  PmapFunction twice = client->Pmap(
      "twice", s, [](FunctionBuilder& b, absl::Span<const Value> x) { return Scale(b, x, 2.0); });
  PmapFunction negate =
      client->Pmap("negate", s, [](FunctionBuilder& b, absl::Span<const Value> x) {
        return std::vector<Value>{b.Negate(x[0])};
      });
  PmapFunction small = SumBelow(*client, s, 10.0f);
  const std::vector<std::pair<std::vector<float>, std::vector<float>>> cases = {
      {{1, 2, 3, 4}, {-1, -2, -3, -4}},  // sum 10 < 10 is false: branch 0 (negate)
      {{0.5f, 1, 1, 1}, {1, 2, 2, 2}}};  // sum 3.5 < 10 is true: branch 1 (twice)
  for (const auto& [values, want] : cases) {
    Array x = Unwrap(client->PutGlobal(
        s, Unwrap(ir::Literal::Create<float>({2, 2}, absl::MakeConstSpan(values)))));
    Array pred = Unwrap(small({x}))[0];  // a future: the step waits for it on the controller
    std::vector<Array> out = Unwrap(client->Case(
        pred, {OneCall(*client, "negate", negate, {x}), OneCall(*client, "twice", twice, {x})},
        {x}));
    ASSERT_EQ(out.size(), 1u);
    // The client's own handles may go at once: the step keeps what it reads.
    pred.Release();
    x.Release();
    // A run on the step's output, submitted before the step resolved.
    Array after = Unwrap(twice({out[0]}))[0];
    EXPECT_THAT(Unwrap(out[0].ToLiteral()).data<float>(),
                ElementsAre(want[0], want[1], want[2], want[3]));
    EXPECT_THAT(Unwrap(after.ToLiteral()).data<float>(),
                ElementsAre(2 * want[0], 2 * want[1], 2 * want[2], 2 * want[3]));
  }
}

TEST_P(ClusterConformanceTest, AWhileLoopRunsItsBodyUntilTheDevicesSayStop) {
  auto client = Connect("while");
  VirtualSlice s = Unwrap(client->GetDevices(2));
  PmapFunction twice = client->Pmap(
      "twice", s, [](FunctionBuilder& b, absl::Span<const Value> x) { return Scale(b, x, 2.0); });
  PmapFunction below = SumBelow(*client, s, 100.0f);
  Array x = Unwrap(client->PutGlobal(s, ir::Literal::Create<float>({2, 1}, {1, 2})));
  const Program cond = OneCall(*client, "below_100", below, {x});
  const Program body = OneCall(*client, "double", twice, {x});
  // 3 -> 6 -> ... -> 96 -> 192: six doublings.
  Array out = Unwrap(client->While(cond, body, {x}, 50))[0];
  EXPECT_THAT(Unwrap(out.ToLiteral()).data<float>(), ElementsAre(64, 128));
  // The bound stops it first.
  out = Unwrap(client->While(cond, body, {x}, 2))[0];
  EXPECT_THAT(Unwrap(out.ToLiteral()).data<float>(), ElementsAre(4, 8));
  // A predicate false at once returns a copy of the initial values.
  Array big = Unwrap(client->PutGlobal(s, ir::Literal::Create<float>({2, 1}, {60, 70})));
  out = Unwrap(client->While(cond, body, {big}, 5))[0];
  EXPECT_NE(out.id(), big.id());
  EXPECT_THAT(Unwrap(out.ToLiteral()).data<float>(), ElementsAre(60, 70));
  // Everything the loop made for itself is freed once its results are released.
  out = Array();
  x.Release();
  big.Release();
  EXPECT_TRUE(EventuallyNoArrayMemory()) << ArrayBytesInUse();
}

// The fallback is exactly at the edge: runs before the step are dispatched while the predicate
// is still being computed; a run submitted after it waits for the predicate; and after the step
// dispatch is parallel again (a run is dispatched before its input, the step's output, exists).
TEST_P(ClusterConformanceTest, DispatchFallsBackToSequentialOnlyAtTheDataDependentEdge) {
  auto client = Connect("edge");
  VirtualSlice s = Unwrap(client->GetDevices(2));
  constexpr int64_t kN = 256;
  // Slow functions: 48 products of 256x256 matrices per shard (~50 ms here).
  auto slow_fn = [&](const std::string& name) {
    return client->Pmap(name, s, [](FunctionBuilder& b, absl::Span<const Value> x) {
      Value m = x[0];
      for (int i = 0; i < 48; ++i) m = b.Multiply(b.Dot(m, m), b.ConstantScalar(0.01f));
      return std::vector<Value>{m};
    });
  };
  PmapFunction slow = slow_fn("slow");
  PmapFunction flatten =
      client->Pmap("flatten", s, [](FunctionBuilder& b, absl::Span<const Value> v) {
        return std::vector<Value>{b.Reshape(v[0], ir::Shape{kN * kN})};
      });
  PmapFunction small = SumBelow(*client, s, 1e30f);
  auto scaled = [&](const std::string& name) {
    return client->Pmap(
        name, s, [](FunctionBuilder& b, absl::Span<const Value> x) { return Scale(b, x, 2.0); });
  };
  PmapFunction branch_fn = scaled("branch"), after_fn = slow_fn("after"),
               after2_fn = scaled("after2");
  Array x = Unwrap(client->PutGlobal(s, ir::Literal(ir::TensorType{ir::DType::kF32, {2, kN, kN}})));
  // Trace, compile and register everything first: only dispatch is timed below.
  Array warm = Unwrap(slow({x}))[0];
  Array warm_pred = Unwrap(small({Unwrap(flatten({warm}))[0]}))[0];
  Array warm_after = Unwrap(after2_fn({Unwrap(after_fn({Unwrap(branch_fn({warm}))[0]}))[0]}))[0];
  const Program branch = OneCall(*client, "branch", branch_fn, {warm});
  Array warm_out = Unwrap(client->Case(warm_pred, {branch, branch}, {warm}))[0];
  ASSERT_TRUE(warm_after.Await().ok());
  ASSERT_TRUE(warm_out.Await().ok());

  const int64_t t0 = MonotonicNanos();
  Array m = Unwrap(slow({x}))[0];
  Array pred = Unwrap(small({Unwrap(flatten({m}))[0]}))[0];
  std::vector<Array> out = Unwrap(client->Case(pred, {branch, branch}, {m}));
  Array after = Unwrap(after_fn({out[0]}))[0];
  Array after2 = Unwrap(after2_fn({after}))[0];
  ASSERT_TRUE(after2.Await().ok());

  const std::vector<TraceEvent> events = EventsSince(t0);
  int64_t wait_start = -1, wait_end = -1;
  for (const TraceEvent& e : events) {
    if (e.category == "control" && e.name == "wait for predicate") {
      wait_start = e.start_ns;
      wait_end = e.start_ns + e.dur_ns;
    }
  }
  ASSERT_GE(wait_end, 0) << "no 'wait for predicate' event";
  // Each function's run (from execute events "<function> shard <k> run:<id>"), when its first host
  // received it, and when its last shard finished.
  std::map<std::string, int64_t> run_of;
  std::map<int64_t, int64_t> dispatched, executed_end;
  const std::regex exec_re("^([a-z_0-9]+) shard [0-9]+ run:([0-9]+)");
  const std::regex run_re("run:([0-9]+)");
  for (const TraceEvent& e : events) {
    std::smatch match;
    if (e.category == "execute" && std::regex_search(e.name, match, exec_re)) {
      const int64_t run = std::stoll(match[2].str());
      run_of[match[1].str()] = run;
      executed_end[run] = std::max(executed_end[run], e.start_ns + e.dur_ns);
    } else if (e.category == "dispatch" && e.pid != kControllerTracePid &&
               std::regex_search(e.name, match, run_re)) {
      const int64_t run = std::stoll(match[1].str());
      auto [it, inserted] = dispatched.emplace(run, e.start_ns);
      if (!inserted) it->second = std::min(it->second, e.start_ns);
    }
  }
  for (const char* fn : {"slow", "flatten", "sum_below", "branch", "after", "after2"}) {
    ASSERT_TRUE(run_of.contains(fn)) << fn;
    ASSERT_TRUE(dispatched.contains(run_of[fn])) << fn;
  }
  auto sent = [&](const char* fn) { return dispatched[run_of[fn]]; };
  auto done = [&](const char* fn) { return executed_end[run_of[fn]]; };
  // Before the edge: parallel. flatten and sum_below reached the hosts while slow still ran,
  // and the step was waiting before its predicate existed.
  EXPECT_LT(sent("flatten"), done("slow"));
  EXPECT_LT(sent("sum_below"), done("slow"));
  EXPECT_LT(wait_start, done("sum_below"));
  // At the edge: nothing after the step reached a host before the predicate arrived.
  for (const char* fn : {"branch", "after", "after2"}) EXPECT_GE(sent(fn), wait_end) << fn;
  // After it: parallel again (after2 was dispatched before `after`, its input, was computed).
  EXPECT_LT(sent("after2"), done("after"));
}

TEST_P(ClusterConformanceTest, DataDependentStepErrorsNameTheCulprit) {
  auto client = Connect("control_errors");
  VirtualSlice s = Unwrap(client->GetDevices(2));
  PmapFunction twice = client->Pmap(
      "twice", s, [](FunctionBuilder& b, absl::Span<const Value> x) { return Scale(b, x, 2.0); });
  PmapFunction halve = client->Pmap("halve", s, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Slice(x[0], {0}, {1})};
  });
  PmapFunction below = SumBelow(*client, s, 100.0f);
  Array x = Unwrap(client->PutGlobal(s, ir::Literal::Create<float>({2, 2}, {1, 2, 3, 4})));
  const Program cond = OneCall(*client, "below", below, {x});
  const Program body = OneCall(*client, "double", twice, {x});
  EXPECT_THAT(client->While(cond, body, {x}, 0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs a bound")));
  const Program shrink = OneCall(*client, "shrink", halve, {x});
  EXPECT_THAT(
      client->While(cond, shrink, {x}, 3).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("body 'shrink' returns (f32[1]")));
  Array pred = Unwrap(below({x}))[0];
  EXPECT_THAT(
      client->Case(pred, {body, shrink}, {x}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("branch 1 'shrink' returns (f32[1]")));
  EXPECT_THAT(client->Case(x, {body}, {x}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("branch index")));
  // A predicate that differs across shards fails the outputs with that error.
  PmapFunction mine =
      client->Pmap("first_shard", s, [](FunctionBuilder& b, absl::Span<const Value>) {
        return std::vector<Value>{
            b.Compare(b.ShardIndex(), b.ConstantScalar<int32_t>(0), ir::ComparisonDirection::kEq)};
      });
  Array split = Unwrap(mine({x}))[0];
  std::vector<Array> out = Unwrap(client->Case(split, {body, body}, {x}));
  Array after = Unwrap(twice({out[0]}))[0];  // on the hosts before the step failed
  EXPECT_THAT(out[0].Await(), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("predicate differs across its shards")));
  EXPECT_THAT(after.Await(), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("predicate differs across its shards")));
  // The island is released: later runs go on.
  EXPECT_THAT(Unwrap(Unwrap(twice({x}))[0].ToLiteral()).data<float>(), ElementsAre(2, 4, 6, 8));
}

}  // namespace
}  // namespace pw
