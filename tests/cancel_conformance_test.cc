// ControllerService conformance, cancellation: a client cancels runs, or gives them a deadline;
// their outputs fail with CANCELLED or DEADLINE_EXCEEDED naming the run, the devices drop their
// queued kernels, and the cluster runs later work as usual.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/clock.h"
#include "pathways/base/status_matchers.h"
#include "tests/cluster_conformance.h"

namespace pw {
namespace {

using ir::FunctionBuilder;
using ir::Value;
using ::testing::HasSubstr;
using testing_util::Unwrap;

// Tens of milliseconds of device work per shard: a chain of 256x256 matrix products.
std::vector<Value> Busy(FunctionBuilder& b, absl::Span<const Value> x) {
  Value m = x[0];
  for (int i = 0; i < 64; ++i) m = b.Tanh(b.Dot(m, m));
  return {m};
}

// Total time the devices spent executing kernels of `run` (its skipped kernels take ~0).
int64_t ExecutedNanos(const std::vector<TraceEvent>& events, RunId run) {
  const std::string tag = absl::StrCat(" ", run.DebugString());
  int64_t total = 0;
  for (const TraceEvent& e : events) {
    if (e.category == "execute" && absl::EndsWith(e.name, tag)) total += e.dur_ns;
  }
  return total;
}

TEST_P(ClusterConformanceTest, CancelledRunsAndRunsPastTheirDeadlineDropTheirQueuedWork) {
  std::unique_ptr<Client> client = Connect("cancel");
  VirtualSlice slice = Unwrap(client->GetDevices(2));
  PmapFunction busy = client->Pmap("busy", slice, Busy);
  Array m = Unwrap(client->PutGlobal(slice, ir::Literal(ir::TensorType{ir::DType::kF32, {2, 256, 256}})));
  const int64_t t0 = MonotonicNanos();
  Array reference = Unwrap(busy({m}))[0];
  ASSERT_THAT(reference.Await(), IsOk());

  // Six runs queue on the same devices; all but the first are cancelled.
  std::vector<Array> queued;
  for (int i = 0; i < 6; ++i) queued.push_back(Unwrap(busy({m}))[0]);
  for (int i = 1; i < 6; ++i) ASSERT_THAT(client->Cancel(queued[i]), IsOk());
  for (int i = 1; i < 6; ++i) {
    const absl::Status s = queued[i].Await();
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kCancelled));
    EXPECT_THAT(std::string(s.message()),
                HasSubstr(absl::StrCat(queued[i].producer().DebugString(), " was cancelled")));
  }
  EXPECT_THAT(queued[0].Await(), IsOk());

  // Runs that cannot finish within a millisecond fail with DEADLINE_EXCEEDED naming them.
  std::vector<Array> late;
  for (int i = 0; i < 4; ++i) {
    late.push_back(Unwrap(busy({m}, RunOptions{.deadline = absl::Now() + absl::Milliseconds(1)}))[0]);
  }
  for (const Array& a : late) {
    const absl::Status s = a.Await();
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kDeadlineExceeded));
    EXPECT_THAT(std::string(s.message()), HasSubstr("of program 'busy'"));
  }

  // A run that finished, or an array no run computes, cannot be cancelled.
  EXPECT_THAT(client->Cancel(reference), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client->Cancel(m), StatusIs(absl::StatusCode::kInvalidArgument));
  // Nor can another client's run.
  Array mine = Unwrap(busy({m}))[0];
  std::unique_ptr<Client> other = Connect("other");
  EXPECT_THAT(other->controller().CancelRun(other->id(), mine.producer()),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(mine.Await(), IsOk());

  // The devices skipped the kernels they had not started: at most one cancelled run per
  // device got going before its cancel arrived.
  const std::vector<TraceEvent> events = EventsSince(t0);
  const int64_t one = ExecutedNanos(events, reference.producer());
  ASSERT_GT(one, 0) << "no execute events for " << reference.producer();
  int64_t cancelled = 0;
  for (int i = 1; i < 6; ++i) cancelled += ExecutedNanos(events, queued[i].producer());
  for (const Array& a : late) cancelled += ExecutedNanos(events, a.producer());
  std::printf("one run executed %lld ns; the cancelled and late runs %lld ns\n", static_cast<long long>(one), static_cast<long long>(cancelled));
  EXPECT_LT(cancelled, 3 * one) << "cancelled runs executed " << cancelled << " ns, one run "
                                << one << " ns";
  // And the cluster carries on.
  Array after = Unwrap(busy({m}))[0];
  EXPECT_THAT(after.Await(), IsOk());
}

}  // namespace
}  // namespace pw
