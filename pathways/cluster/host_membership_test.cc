// Tests for HostMembership with fake workers and a fake clock: joining, heartbeats and their
// timeout (no sleeping: the test moves the clock), reported failures, and what a loss does.
#include "pathways/cluster/host_membership.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/controller/controller_test_util.h"
#include "pathways/service/fake_worker.h"

namespace pw {
namespace {

using ::pw::controller_testing::Arith;
using ::pw::controller_testing::ElementwiseFunction;
using ::pw::controller_testing::F32;
using ::pw::controller_testing::Vec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kGiB = int64_t{1} << 30;

struct AbortedGang {
  GangId gang;
  int64_t size;
  std::string reason;
};

class HostMembershipTest : public ::testing::Test {
 protected:
  HostMembershipTest()
      : controller_(ControllerOptions{.resources = &resources_}),
        membership_(HostMembershipOptions{
            .controller = &controller_,
            .resources = &resources_,
            .clock = &clock_,
            .heartbeat_timeout = absl::Seconds(1),
            .abort_gang =
                [this](GangId gang, int64_t size, const absl::Status& reason) {
                  aborted_.push_back({gang, size, std::string(reason.message())});
                },
            .name = "the test cluster"}) {}

  ~HostMembershipTest() override {
    for (auto& worker : workers_) worker->StopReplying();
    membership_.RemoveAll(absl::CancelledError("test over"));
  }

  // Joins a host with `devices` devices at `address`; its on_lost records the reason.
  HostId Join(std::string address, int devices = 2) {
    HostSpec spec;
    spec.island = IslandId(0);
    spec.address = std::move(address);
    spec.num_devices = devices;
    spec.memory_bytes_per_device = kGiB;
    absl::StatusOr<HostInfo> info = membership_.Join(spec, [&](const HostInfo& info) {
      workers_.push_back(
          std::make_unique<FakeWorker>(info.id, &controller_, FakeWorker::Reply::kManual));
      return HostMembership::Member{
          .worker = workers_.back().get(),
          .on_lost = [this, host = info.id](const absl::Status& reason) {
            lost_.push_back(absl::StrCat(host.DebugString(), ": ", reason.message()));
          }};
    });
    EXPECT_THAT(info.status(), IsOk());
    return info.ok() ? info->id : HostId();
  }

  ResourceManager resources_;
  Controller controller_;
  FakeClock clock_;
  std::vector<AbortedGang> aborted_;
  std::vector<std::string> lost_;
  std::vector<std::unique_ptr<FakeWorker>> workers_;
  HostMembership membership_;  // last: goes first
};

TEST_F(HostMembershipTest, JoinRegistersTheHostWithResourcesAndController) {
  const HostId a = Join("10.0.0.1:7000", 3);
  const HostId b = Join("10.0.0.2:7000");
  EXPECT_THAT(membership_.hosts(), ElementsAre(a, b));
  EXPECT_EQ(membership_.num_hosts(), 2);
  absl::StatusOr<HostInfo> info = resources_.GetHost(a);
  ASSERT_THAT(info.status(), IsOk());
  EXPECT_EQ(info->devices.size(), 3u);
  // The controller knows the worker: a second AddWorker is refused.
  EXPECT_THAT(controller_.AddWorker(a, workers_[0].get()),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(membership_.WaitForHosts(2, absl::ZeroDuration()), IsOk());
  EXPECT_THAT(membership_.WaitForHosts(3, absl::Milliseconds(1)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("only 2 of 3")));
}

TEST_F(HostMembershipTest, FailedMakeMemberLeavesNoHostBehind) {
  HostSpec spec;
  spec.island = IslandId(0);
  spec.address = "10.0.0.9:7000";
  spec.num_devices = 1;
  spec.memory_bytes_per_device = kGiB;
  absl::StatusOr<HostInfo> info =
      membership_.Join(spec, [](const HostInfo&) -> absl::StatusOr<HostMembership::Member> {
        return absl::ResourceExhaustedError("no devices today");
      });
  EXPECT_THAT(info.status(), StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("no devices")));
  EXPECT_THAT(membership_.hosts(), IsEmpty());
  EXPECT_THAT(resources_.Hosts(), IsEmpty());
}

TEST_F(HostMembershipTest, SilentHostIsLostOnlyOnceTheClockPassesTheTimeout) {
  const HostId a = Join("10.0.0.1:7000");
  clock_.AdvanceNanos(absl::ToInt64Nanoseconds(absl::Milliseconds(900)));
  membership_.CheckHeartbeats();
  EXPECT_TRUE(membership_.Contains(a));
  EXPECT_THAT(membership_.Heartbeat(a), IsOk());
  clock_.AdvanceNanos(absl::ToInt64Nanoseconds(absl::Milliseconds(900)));
  membership_.CheckHeartbeats();
  EXPECT_TRUE(membership_.Contains(a)) << "the heartbeat reset the timer";
  clock_.AdvanceNanos(absl::ToInt64Nanoseconds(absl::Milliseconds(200)));
  membership_.CheckHeartbeats();
  EXPECT_FALSE(membership_.Contains(a));
  ASSERT_EQ(lost_.size(), 1u);
  EXPECT_THAT(lost_[0], HasSubstr("10.0.0.1:7000) lost: no heartbeat for 1.1s (timeout 1s)"));
  EXPECT_THAT(membership_.WaitForHostLost(a, absl::ZeroDuration()), IsOk());
  EXPECT_THAT(resources_.GetHost(a).status(), StatusIs(absl::StatusCode::kNotFound));
  // A lost host that still beats is told it is out.
  EXPECT_THAT(membership_.Heartbeat(a), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                 HasSubstr("is not part of the cluster of the test cluster")));
}

TEST_F(HostMembershipTest, ReportedFailureLosesTheHostAtTheNextCheckOnly) {
  const HostId a = Join("10.0.0.1:7000");
  const HostId b = Join("10.0.0.2:7000");
  membership_.ReportFailure(b, absl::UnavailableError("connection reset"));
  EXPECT_TRUE(membership_.Contains(b)) << "ReportFailure only queues";
  membership_.CheckHeartbeats();
  EXPECT_THAT(membership_.hosts(), ElementsAre(a));
  ASSERT_EQ(lost_.size(), 1u);
  EXPECT_THAT(lost_[0], HasSubstr("lost: connection reset"));
}

TEST_F(HostMembershipTest, LoseHappensOnceAndAbortsTheHostsInFlightGangs) {
  const HostId a = Join("10.0.0.1:7000");
  ClientId client = *controller_.Connect("client");
  SliceRequest request;
  request.num_devices = 2;
  VirtualSlice slice = *controller_.AllocateSlice(client, request);
  FunctionId f = *controller_.RegisterFunction(
      client, ElementwiseFunction("double", Arith::kMul, 2.0f, /*num_shards=*/2));
  ProgramDef def;
  def.name = "one";
  def.inputs.push_back(ArraySpec{F32({2}), slice.id});
  def.calls.push_back(ProgramCall{"f0", f, slice.id, {ValueRef{ValueRef::kProgramInput, 0}}});
  def.outputs.push_back(ValueRef{0, 0});
  ProgramId program = *controller_.RegisterProgram(client, def);
  ArrayInfo input = *controller_.PutArray(client, slice.id, {Vec({1, 2}), Vec({3, 4})});
  absl::StatusOr<RunResult> run = controller_.Run(client, program, {input.id}, RunOptions{});
  ASSERT_THAT(run.status(), IsOk());
  // The fake never replies: the run's gang of two stays in flight on host a.
  ASSERT_EQ(controller_.InFlightGangs(a).size(), 1u);

  EXPECT_TRUE(membership_.Lose(a, "power cut"));
  EXPECT_FALSE(membership_.Lose(a, "again"));
  ASSERT_EQ(lost_.size(), 1u);
  const std::vector<LostHost> lost_hosts = membership_.LostHosts();
  ASSERT_EQ(lost_hosts.size(), 1u);
  EXPECT_EQ(lost_hosts[0].host, a);
  EXPECT_EQ(lost_hosts[0].address, "10.0.0.1:7000");
  EXPECT_THAT(lost_hosts[0].reason, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("lost: power cut")));
  ASSERT_FALSE(aborted_.empty());
  EXPECT_EQ(aborted_[0].size, 2);
  EXPECT_THAT(aborted_[0].reason, HasSubstr("lost: power cut"));
  // Everything depending on the host fails, naming it and the reason.
  EXPECT_THAT(controller_.AwaitArray(client, run->outputs[0].id)->Await(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("power cut")));
}

TEST_F(HostMembershipTest, JoiningFromALiveHostsAddressLosesTheOldHost) {
  const HostId old_host = Join("10.0.0.1:7000");
  const HostId new_host = Join("10.0.0.1:7000");
  EXPECT_NE(old_host, new_host);
  EXPECT_THAT(membership_.hosts(), ElementsAre(new_host));
  ASSERT_EQ(lost_.size(), 1u);
  EXPECT_THAT(lost_[0], HasSubstr("a new worker joined from 10.0.0.1:7000"));
}

TEST_F(HostMembershipTest, StoppedMembershipRefusesJoinsAndIgnoresFailures) {
  const HostId a = Join("10.0.0.1:7000");
  membership_.Stop();
  membership_.ReportFailure(a, absl::UnavailableError("late"));
  membership_.CheckHeartbeats();
  EXPECT_TRUE(membership_.Contains(a));
  HostSpec spec;
  spec.island = IslandId(0);
  spec.address = "10.0.0.2:7000";
  spec.num_devices = 1;
  spec.memory_bytes_per_device = kGiB;
  EXPECT_THAT(membership_
                  .Join(spec, [](const HostInfo&) -> absl::StatusOr<HostMembership::Member> {
                    ADD_FAILURE() << "no member is made once stopped";
                    return absl::InternalError("unreachable");
                  })
                  .status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("the test cluster is shutting down")));
}

TEST(HostMembershipOptionsTest, ValidateNamesTheBadField) {
  EXPECT_THAT(HostMembershipOptions{}.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("controller")));
  ResourceManager resources;
  Controller controller(ControllerOptions{.resources = &resources});
  HostMembershipOptions options{.controller = &controller, .resources = &resources};
  EXPECT_THAT(options.Validate(), IsOk());
  options.heartbeat_timeout = absl::ZeroDuration();
  EXPECT_THAT(options.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("heartbeat_timeout")));
}

}  // namespace
}  // namespace pw
