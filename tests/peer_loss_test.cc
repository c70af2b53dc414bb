// Host loss seen from a surviving host, in one process (LocalCluster): a host removed while the
// shards it was going to push to another host are still being produced. The survivor's
// receives fail naming the lost host (the controller's PeerLost), so its dependent arrays fail
// instead of waiting forever and its devices run new work.
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/logging.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/cluster/local_cluster.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using testing_util::Unwrap;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ir::FunctionBuilder;
using ir::Value;

// Holds the devices of one host closed: everything enqueued on them after Close waits until
// Open (or destruction), so work on that host is "slow" for exactly as long as a test needs.
class DeviceGate {
 public:
  void Close(const std::vector<Device*>& devices) {
    for (Device* d : devices) {
      d->Enqueue(StreamWork{.name = "gate", .wait_for = {gate_}, .fn = [] { return absl::OkStatus(); }});
    }
  }
  void Open() {
    if (!gate_->IsAvailable()) gate_->SetReady();
  }
  ~DeviceGate() { Open(); }

 private:
  const EventRef gate_ = AsyncEvent::Create();
};

TEST(PeerLossTest, ReceivesFromARemovedHostFailNamingItAndTheReceiverRunsNewWork) {
  auto cluster = Unwrap(LocalCluster::Start({.hosts_per_island = 2, .devices_per_host = 2}));
  DeviceGate gate;  // declared after the cluster: opened before the cluster is destroyed
  auto client = Unwrap(Client::Connect(cluster->controller(), "peer-loss"));
  // Load spreading puts the second 2-device slice on the other host.
  VirtualSlice on_a = Unwrap(client->GetDevices(2));
  VirtualSlice on_b = Unwrap(client->GetDevices(2));
  ResourceManager& rm = cluster->resources();
  const HostId a = Unwrap(rm.GetDevice(on_a.devices[0])).host;
  const HostId b = Unwrap(rm.GetDevice(on_b.devices[0])).host;
  ASSERT_NE(a, b);
  for (DeviceId d : on_a.devices) ASSERT_EQ(Unwrap(rm.GetDevice(d)).host, a);
  for (DeviceId d : on_b.devices) ASSERT_EQ(Unwrap(rm.GetDevice(d)).host, b);

  PmapFunction twice = client->Pmap("twice", on_a, [](FunctionBuilder& f, absl::Span<const Value> x) {
    return std::vector<Value>{f.Multiply(x[0], f.ConstantScalar(2.0f))};
  });
  auto inc = [](FunctionBuilder& f, absl::Span<const Value> x) {
    return std::vector<Value>{f.Add(x[0], f.ConstantScalar(1.0f))};
  };
  PmapFunction inc_b = client->Pmap("inc", on_b, inc);
  // x on A -> twice on A -> (A pushes to B) -> inc on B -> inc on B.
  ProgramTracer t(*client, "a_feeds_b");
  Traced x = t.Input({{ir::DType::kF32, {3}}, on_a.id});
  Traced moved = inc_b(t, twice(t, {x}))[0];
  Traced again = inc_b(t, {moved})[0];
  Program program = Unwrap(t.Build({moved, again}));

  // A's producer cannot start until the gate opens: the loss comes while B waits for its push.
  std::vector<Device*> a_devices;
  for (Device* d : cluster->devices()) {
    if (d->host() == a) a_devices.push_back(d);
  }
  ASSERT_EQ(a_devices.size(), 2u);
  gate.Close(a_devices);
  Array input = Unwrap(client->PutGlobal(on_a, ir::Literal::Create<float>({2, 3}, {1, 2, 3, 4, 5, 6})));
  std::vector<Array> outs = Unwrap(program.Run({input}));
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].devices(), on_b.devices);

  ASSERT_TRUE(cluster->RemoveHost(a, absl::UnavailableError("power cut")).ok());
  // Both arrays live on B only: the controller does not fail them itself; B's receives fail
  // (naming A and the reason) and the error flows to every dependent on B.
  for (const Array& out : outs) {
    const absl::Status st = out.Await();
    EXPECT_THAT(st, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(std::string(st.message()), HasSubstr(absl::StrCat("its sender ", a.DebugString(), " was lost")));
    EXPECT_THAT(std::string(st.message()), HasSubstr("power cut"));
  }

  // B's devices run new work, queued behind the steps that read the lost shards.
  Array y = Unwrap(client->PutGlobal(on_b, ir::Literal::Create<float>({2, 3}, {1, 2, 3, 4, 5, 6})));
  Array z = Unwrap(inc_b({y}))[0];
  absl::StatusOr<ir::Literal> got = z.ToLiteral();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(got->data<float>(), ElementsAre(2, 3, 4, 5, 6, 7));

  // The zombie A finishes its work once the gate opens; its push finds B's receive failed and
  // changes nothing.
  gate.Open();
  cluster->controller_impl().Quiesce();
  for (const Array& out : outs) EXPECT_THAT(out.Await(), StatusIs(absl::StatusCode::kUnavailable));
}

// A gang spanning two hosts, one of which is lost before its ranks join: the survivor's ranks,
// waiting in the all-reduce, are aborted with the loss as the reason (as a lost worker process's
// Gloo gangs are through the rendezvous store) instead of waiting out the collective timeout.
TEST(PeerLossTest, RemovedHostAbortsTheGangsItHadAShardIn) {
  auto cluster = Unwrap(LocalCluster::Start({.hosts_per_island = 2, .devices_per_host = 2}));
  DeviceGate gate;  // declared after the cluster: opened before the cluster is destroyed
  auto client = Unwrap(Client::Connect(cluster->controller(), "gang-loss"));
  VirtualSlice both = Unwrap(client->GetDevices(4));
  ResourceManager& rm = cluster->resources();
  const HostId a = cluster->host_id(0);
  std::vector<Device*> a_devices;
  for (Device* d : cluster->devices()) {
    if (d->host() == a) a_devices.push_back(d);
  }
  gate.Close(a_devices);  // host a's ranks never reach the collective
  PmapFunction sum = client->Pmap("sum", both, [](FunctionBuilder& f, absl::Span<const Value> x) {
    return std::vector<Value>{f.AllReduce(x[0], ir::ReduceKind::kSum)};
  });
  Array x = Unwrap(client->PutGlobal(both, ir::Literal::Create<float>({4}, {1, 2, 3, 4})));
  Array out = Unwrap(sum({x}))[0];
  std::vector<int32_t> survivor_shards;
  for (int32_t shard = 0; shard < 4; ++shard) {
    if (Unwrap(rm.GetDevice(out.devices()[shard])).host != a) survivor_shards.push_back(shard);
  }
  ASSERT_EQ(survivor_shards.size(), 2u);

  ASSERT_THAT(cluster->RemoveHost(a, absl::UnavailableError("power cut")), IsOk());
  EXPECT_THAT(cluster->RemoveHost(a, absl::UnavailableError("again")),
              StatusIs(absl::StatusCode::kNotFound));
  // The survivor's own shards of the output: their ranks were aborted, naming the loss.
  const int64_t b_index = 1;
  ASSERT_NE(cluster->host_id(b_index), a);
  for (int32_t shard : survivor_shards) {
    const absl::Status s = cluster->host(b_index).FetchShard(out.id(), shard)->Await();
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kAborted, HasSubstr("power cut"))) << shard;
  }
  gate.Open();
}

}  // namespace
}  // namespace pw
