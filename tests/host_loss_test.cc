// Host loss in a cluster of processes: a pw-worker killed mid-run (SIGKILL) or that stops
// answering (SIGSTOP) is detected within a couple of seconds; every array depending on it fails
// with an error naming the host; programs on the surviving hosts carry on; nothing hangs.
#include <cstdio>
#include <signal.h>

#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/cluster/process_cluster.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using testing_util::Unwrap;

using ::testing::HasSubstr;
using ir::FunctionBuilder;
using ir::Value;

class HostLossTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    cluster_ = Unwrap(ProcessCluster::Start({.hosts_per_island = 3, .devices_per_host = 2,
                                             .memory_per_device_bytes = int64_t{64} << 20,
                                             .heartbeat_timeout = absl::Milliseconds(2000)}));
    stub_ = std::shared_ptr<GrpcControllerClient>(Unwrap(GrpcControllerClient::Connect(cluster_->address())));
    client_ = Unwrap(Client::Connect(std::shared_ptr<ControllerService>(stub_), "host-loss"));
  }
  void TearDown() override {
    client_.reset();
    stub_.reset();
    cluster_.reset();
  }
  // The host owning `device`.
  int64_t HostOf(DeviceId device) {
    for (const HostStatus& h : stub_->Status().hosts) {
      for (const DeviceStatus& d : h.devices) {
        if (d.id == device) return h.host.value();
      }
    }
    return -1;
  }

  // Two 2-device slices, each on one host (load spreading puts them on different hosts): the
  // victim's, whose worker the test kills or stops, and a survivor's.
  struct Placement {
    VirtualSlice victim_slice;
    VirtualSlice survivor_slice;
    int64_t victim_host = -1;
    int64_t victim_index = -1;  // in cluster_->worker_pids()
  };
  absl::StatusOr<Placement> PlaceVictimAndSurvivor() {
    Placement p;
    PW_ASSIGN_OR_RETURN(p.victim_slice, client_->GetDevices(2));
    PW_ASSIGN_OR_RETURN(p.survivor_slice, client_->GetDevices(2));
    p.victim_host = HostOf(p.victim_slice.devices[0]);
    if (p.victim_host < 0 || HostOf(p.victim_slice.devices[1]) != p.victim_host) {
      return absl::InternalError("the victim's slice does not sit on one host");
    }
    for (DeviceId d : p.survivor_slice.devices) {
      if (HostOf(d) == p.victim_host) return absl::InternalError("the survivor's slice shares the victim's host");
    }
    PW_ASSIGN_OR_RETURN(p.victim_index, cluster_->WorkerIndexOf(p.victim_host));
    return p;
  }

  std::unique_ptr<ProcessCluster> cluster_;
  std::shared_ptr<GrpcControllerClient> stub_;
  std::unique_ptr<Client> client_;
};

// A chain of 40 products of 512x512 matrices per shard (a few hundred milliseconds of device
// work here): what the worker is busy with when it dies.
std::vector<Value> Busy(FunctionBuilder& b, absl::Span<const Value> x) {
  Value m = x[0];
  for (int i = 0; i < 40; ++i) m = b.Tanh(b.Dot(m, m));
  return {m};
}

TEST_P(HostLossTest, LostWorkerFailsItsArraysNamingTheHostAndSurvivorsCarryOn) {
  const int signal = GetParam();
  // Three 2-device slices spread over the three hosts: one per host.
  const auto [victim_slice, survivor_slice, victim_host, victim_index] = Unwrap(PlaceVictimAndSurvivor());
  PmapFunction busy = client_->Pmap("busy", victim_slice, Busy);
  PmapFunction inc = client_->Pmap("inc", survivor_slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(x[0], b.ConstantScalar(1.0f))};
  });
  Array m = Unwrap(client_->PutGlobal(victim_slice, ir::Literal(ir::TensorType{ir::DType::kF32, {2, 512, 512}})));
  std::vector<Array> doomed;
  for (int i = 0; i < 6; ++i) doomed.push_back(Unwrap(busy({m}))[0]);
  // A program on the survivors, submitted before the loss, also completes.
  Array s = Unwrap(client_->PutGlobal(survivor_slice, ir::Literal::Create<float>({2}, {1, 2})));
  absl::SleepFor(absl::Milliseconds(300));  // the victim is busy with the first run
  ASSERT_TRUE(cluster_->SignalWorker(victim_index, signal).ok());
  const absl::Time lost_at = absl::Now();

  // Every array depending on the lost host fails, naming it; within a few seconds, no hang.
  // (A run that finished before the loss has its data on the lost host: fetching it fails.)
  for (Array& a : doomed) {
    const absl::Status st = a.ToLiteral().status();
    EXPECT_FALSE(st.ok());
    EXPECT_THAT(st, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(std::string(st.message()), HasSubstr(absl::StrCat("host:", victim_host))) << st;
  }
  const absl::Duration detect = absl::Now() - lost_at;
  EXPECT_LT(detect, absl::Seconds(8)) << "errors took " << detect;

  // The host has left the resource manager; survivors run new work.
  for (const HostStatus& h : stub_->Status().hosts) EXPECT_NE(h.host.value(), victim_host);
  Array t = Unwrap(inc({s}))[0];
  absl::StatusOr<ir::Literal> out = t.ToLiteral();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->data<float>(), ::testing::ElementsAre(2.0f, 3.0f));
  // A new slice fits on what is left (2 hosts x 2 devices).
  EXPECT_TRUE(client_->GetDevices(4).ok());
}

// The victim was feeding a survivor through host-to-host transfers: the survivor's receives
// from it fail naming it (the controller tells every remaining worker, PeerLost), so the
// survivor's arrays fail within seconds instead of waiting forever for pushes that never come,
// and the survivor's devices then run new work.
TEST_P(HostLossTest, SurvivorFedByTheLostHostFailsNamingItAndCarriesOn) {
  const int signal = GetParam();
  const auto [victim_slice, survivor_slice, victim_host, victim_index] = Unwrap(PlaceVictimAndSurvivor());
  PmapFunction busy = client_->Pmap("busy", victim_slice, Busy);
  PmapFunction inc = client_->Pmap("inc", survivor_slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(x[0], b.ConstantScalar(1.0f))};
  });
  // busy on the victim, its result pushed to the survivor, two steps there.
  ProgramTracer t(*client_, "victim_feeds_survivor");
  Traced m = t.Input({{ir::DType::kF32, {512, 512}}, victim_slice.id});
  Traced fed = inc(t, busy(t, {m}))[0];
  Program program = Unwrap(t.Build({fed, inc(t, {fed})[0]}));
  Array input = Unwrap(client_->PutGlobal(victim_slice, ir::Literal(ir::TensorType{ir::DType::kF32, {2, 512, 512}})));
  // Many runs of victim work queued: when the first has reached the survivor the victim goes,
  // so the last runs' pushes are far off however fast this machine runs them.
  std::vector<std::vector<Array>> runs;
  for (int i = 0; i < 12; ++i) runs.push_back(Unwrap(program.Run({input})));
  for (const Array& out : runs[0]) ASSERT_EQ(out.devices(), survivor_slice.devices);
  Array s = Unwrap(client_->PutGlobal(survivor_slice, ir::Literal::Create<float>({2}, {1, 2})));
  ASSERT_TRUE(runs[0][0].Await().ok());
  ASSERT_TRUE(cluster_->SignalWorker(victim_index, signal).ok());
  const absl::Time lost_at = absl::Now();

  // Arrays on the survivor only: the controller does not fail them itself; the survivor does.
  // (A run whose push was under way fails from the broken push, naming the sender's address.)
  for (const std::vector<Array>& run : runs) {
    for (const Array& out : run) {
      const absl::Status st = out.Await();
      if (st.ok()) continue;  // the victim finished this run before it went
      EXPECT_THAT(st, StatusIs(absl::StatusCode::kUnavailable));
    }
  }
  for (const Array& out : runs.back()) {
    const absl::Status st = out.Await();
    EXPECT_THAT(st, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(std::string(st.message()),
                HasSubstr(absl::StrCat("its sender host:", victim_host, " was lost"))) << st;
  }
  const absl::Duration detect = absl::Now() - lost_at;
  EXPECT_LT(detect, absl::Seconds(8)) << "errors took " << detect;

  // The survivor's devices, behind the steps that read the lost shards, run new work.
  Array u = Unwrap(inc({s}))[0];
  absl::StatusOr<ir::Literal> out = u.ToLiteral();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->data<float>(), ::testing::ElementsAre(2.0f, 3.0f));
}

// Recovery: the lost host's slice is remapped onto the spare host (the resource manager moves
// only the lost virtual devices), and the client re-runs its step from the values it still
// holds, on the same slice, as soon as the loss is known.
TEST_P(HostLossTest, TheLostHostsSliceIsRemappedAndTheClientReRunsFromItsOwnValues) {
  const int signal = GetParam();
  const auto [victim_slice, survivor_slice, victim_host, victim_index] = Unwrap(PlaceVictimAndSurvivor());
  PmapFunction step = client_->Pmap("step", victim_slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(b.Multiply(x[0], b.ConstantScalar(2.0f)), b.ConstantScalar(1.0f))};
  });
  const ir::Literal values = ir::Literal::Create<float>({2, 2}, {1, 2, 3, 4});  // the client's copy
  auto run_step = [&]() -> absl::StatusOr<ir::Literal> {
    PW_ASSIGN_OR_RETURN(Array x, client_->PutGlobal(victim_slice, values));
    PW_ASSIGN_OR_RETURN(std::vector<Array> y, step({x}));
    return y[0].ToLiteral();
  };
  ASSERT_TRUE(run_step().ok());
  ASSERT_TRUE(cluster_->SignalWorker(victim_index, signal).ok());
  const absl::Time lost_at = absl::Now();
  absl::StatusOr<ir::Literal> out = absl::UnavailableError("not run");
  int attempts = 0;
  while (absl::Now() - lost_at < absl::Seconds(30)) {
    ++attempts;
    out = run_step();
    if (out.ok()) break;
    // Until the loss is declared, the step fails naming the host (or waits for it).
    EXPECT_THAT(out.status(), StatusIs(absl::StatusCode::kUnavailable)) << out.status();
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->data<float>(), ::testing::ElementsAre(3.0f, 5.0f, 7.0f, 9.0f));
  const absl::Duration recovered = absl::Now() - lost_at;
  RecordProperty("kill_to_first_good_step_ms", static_cast<int>(absl::ToInt64Milliseconds(recovered)));
  std::printf("host lost -> first good step on the remapped slice: %.2f s (%d attempts)\n",
              absl::ToDoubleSeconds(recovered), attempts);
  // The slice now lives on the spare host: none of its devices is on the lost one.
  for (const VirtualSlice& s : stub_->Status().slices) {
    if (s.id != victim_slice.id) continue;
    for (DeviceId d : s.devices) EXPECT_NE(HostOf(d), victim_host);
  }
}

// No spare devices: a slice over the whole island fails with its host. A worker joins in the lost
// host's place, the client repairs the slice (Client::RepairSlice waits for the join), puts the
// values it still holds again and runs the same function on the new mapping.
TEST_P(HostLossTest, AFailedSliceIsRepairedOnAReplacementWorker) {
  const int signal = GetParam();
  VirtualSlice slice = Unwrap(client_->GetDevices(6));  // every device of the island
  PmapFunction step = client_->Pmap("step", slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(b.Multiply(x[0], b.ConstantScalar(2.0f)), b.ConstantScalar(1.0f))};
  });
  const ir::Literal values = ir::Literal::Create<float>({6}, {0, 1, 2, 3, 4, 5});  // the client's copy
  auto run_step = [&](const VirtualSlice& on) -> absl::StatusOr<ir::Literal> {
    PW_ASSIGN_OR_RETURN(Array x, client_->PutGlobal(on, values));
    PW_ASSIGN_OR_RETURN(std::vector<Array> y, step({x}));
    return y[0].ToLiteral();
  };
  ASSERT_TRUE(run_step(slice).ok());
  const int64_t victim_host = HostOf(slice.devices[0]);
  const int64_t victim_index = Unwrap(cluster_->WorkerIndexOf(victim_host));
  ASSERT_TRUE(cluster_->SignalWorker(victim_index, signal).ok());
  const absl::Time lost_at = absl::Now();
  // Until a host joins, the slice cannot be repaired: the error says why.
  absl::StatusOr<VirtualSlice> early = client_->RepairSlice(slice, absl::Milliseconds(50));
  EXPECT_THAT(early.status(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  const int64_t replacement = Unwrap(cluster_->AddWorker());
  const absl::Duration joined = absl::Now() - lost_at;
  VirtualSlice repaired = Unwrap(client_->RepairSlice(slice, absl::Seconds(30)));
  const absl::Duration repaired_after = absl::Now() - lost_at;
  const absl::StatusOr<ir::Literal> out = run_step(repaired);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->data<float>(), ::testing::ElementsAre(1.0f, 3.0f, 5.0f, 7.0f, 9.0f, 11.0f));
  const absl::Duration recovered = absl::Now() - lost_at;
  RecordProperty("kill_to_first_good_step_on_replacement_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(recovered)));
  std::printf("host lost -> replacement joined (%.2f s) -> slice repaired (%.2f s) -> first good "
              "step: %.2f s\n",
              absl::ToDoubleSeconds(joined), absl::ToDoubleSeconds(repaired_after),
              absl::ToDoubleSeconds(recovered));
  EXPECT_EQ(repaired.id, slice.id);
  EXPECT_GT(repaired.mapping_version, slice.mapping_version);
  std::set<int64_t> hosts;
  for (DeviceId d : repaired.devices) hosts.insert(HostOf(d));
  EXPECT_FALSE(hosts.contains(victim_host));
  EXPECT_EQ(hosts.size(), 3u) << "the replacement worker (index " << replacement << ") holds a part";
  // Another client cannot repair (or learn of) this client's slice.
  std::unique_ptr<Client> other = Unwrap(Client::Connect(std::shared_ptr<ControllerService>(stub_), "other"));
  EXPECT_THAT(other->RepairSlice(slice, absl::Milliseconds(10)).status(),
              StatusIs(absl::StatusCode::kNotFound));
}

INSTANTIATE_TEST_SUITE_P(Signals, HostLossTest, ::testing::Values(SIGKILL, SIGSTOP),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGKILL ? "Killed" : "StopsAnswering");
                         });

}  // namespace
}  // namespace pw
