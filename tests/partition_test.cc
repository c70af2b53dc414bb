// A network partition, where the machine allows it (root, iproute2, network namespaces): every
// pw-worker runs in a network namespace of its own, joined to the controller's by a veth pair on
// one bridge. Cutting a worker's link drops its traffic silently — unlike a killed process,
// nothing closes — so this is the case only heartbeats detect. The loss is declared within the
// heartbeat bound, every future that needed the host fails naming it, the survivors carry on,
// the client's slice is remapped onto the spare host and its step runs again; once the link
// heals, the cut-off worker finds it was forgotten and joins again as a new host.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/cluster/process_cluster.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using ir::FunctionBuilder;
using ir::Value;
using ::testing::HasSubstr;
using testing_util::Unwrap;

constexpr const char* kIp = "/usr/sbin/ip";

// Network namespaces ns0..ns(n-1) on a bridge with 10.213.0.1; namespace i has 10.213.0.(10+i).
// Names carry this process's pid, so concurrent runs do not collide. Removed on destruction.
class Partition {
 public:
  static absl::StatusOr<std::unique_ptr<Partition>> Create(int n) {
    if (geteuid() != 0) return absl::FailedPreconditionError("needs root for network namespaces");
    if (access(kIp, X_OK) != 0) return absl::FailedPreconditionError("needs iproute2 (/usr/sbin/ip)");
    auto p = std::unique_ptr<Partition>(new Partition(n));
    PW_RETURN_IF_ERROR(p->Run(absl::StrCat("link add ", p->bridge_, " type bridge")));
    p->created_bridge_ = true;
    PW_RETURN_IF_ERROR(p->Run(absl::StrCat("addr add 10.213.0.1/24 dev ", p->bridge_)));
    PW_RETURN_IF_ERROR(p->Run(absl::StrCat("link set ", p->bridge_, " up")));
    for (int i = 0; i < n; ++i) {
      const std::string ns = p->Namespace(i), host = p->HostSide(i), peer = absl::StrCat(host, "n");
      PW_RETURN_IF_ERROR(p->Run(absl::StrCat("netns add ", ns)));
      p->namespaces_ = i + 1;
      PW_RETURN_IF_ERROR(p->Run(absl::StrCat("link add ", host, " type veth peer name ", peer)));
      PW_RETURN_IF_ERROR(p->Run(absl::StrCat("link set ", peer, " netns ", ns)));
      PW_RETURN_IF_ERROR(p->Run(absl::StrCat("link set ", host, " master ", p->bridge_, " up")));
      PW_RETURN_IF_ERROR(p->Run(absl::StrCat("-n ", ns, " addr add ", p->Address(i), "/24 dev ", peer)));
      PW_RETURN_IF_ERROR(p->Run(absl::StrCat("-n ", ns, " link set ", peer, " up")));
      PW_RETURN_IF_ERROR(p->Run(absl::StrCat("-n ", ns, " link set lo up")));
    }
    return p;
  }
  ~Partition() {
    for (int i = 0; i < namespaces_; ++i) {
      (void)Run(absl::StrCat("link del ", HostSide(i)));  // takes its peer along
      (void)Run(absl::StrCat("netns del ", Namespace(i)));
    }
    if (created_bridge_) (void)Run(absl::StrCat("link del ", bridge_));
  }
  std::string Namespace(int i) const { return absl::StrCat("pwpt", tag_, "-", i); }
  std::string Address(int i) const { return absl::StrCat("10.213.0.", 10 + i); }
  // Drops every packet to and from namespace i (its end of the bridge goes down), or lets them
  // through again.
  absl::Status Cut(int i) { return Run(absl::StrCat("link set ", HostSide(i), " down")); }
  absl::Status Heal(int i) { return Run(absl::StrCat("link set ", HostSide(i), " up")); }

 private:
  explicit Partition(int n) : tag_(getpid() % 100000), bridge_(absl::StrCat("pwpt", tag_, "b")) {}
  std::string HostSide(int i) const { return absl::StrCat("pwpt", tag_, "v", i); }
  absl::Status Run(const std::string& args) const {
    const std::string cmd = absl::StrCat(kIp, " ", args, " 2>&1");
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (f == nullptr) return absl::InternalError(absl::StrCat("cannot run ", cmd));
    char buf[256];
    while (fgets(buf, sizeof(buf), f) != nullptr) out += buf;
    const int rc = pclose(f);
    if (rc != 0) return absl::FailedPreconditionError(absl::StrCat("`ip ", args, "` failed: ", out));
    return absl::OkStatus();
  }

  const int tag_;
  const std::string bridge_;
  bool created_bridge_ = false;
  int namespaces_ = 0;
};

TEST(PartitionTest, ACutOffHostIsLostWithinTheHeartbeatBoundAndJoinsAgainWhenTheLinkHeals) {
  absl::StatusOr<std::unique_ptr<Partition>> partition = Partition::Create(3);
  if (!partition.ok()) GTEST_SKIP() << "no network namespaces here: " << partition.status();
  Partition& net = **partition;
  ProcessClusterOptions options{.hosts_per_island = 3, .devices_per_host = 2,
                                .memory_per_device_bytes = int64_t{64} << 20,
                                .heartbeat_timeout = absl::Milliseconds(1500)};
  options.controller_listen = "10.213.0.1:0";
  options.worker_listen = [&](int64_t i) { return absl::StrCat(net.Address(i), ":0"); };
  options.worker_prefix = [&](int64_t i) {
    return std::vector<std::string>{kIp, "netns", "exec", net.Namespace(i)};
  };
  std::unique_ptr<ProcessCluster> cluster = Unwrap(ProcessCluster::Start(options));
  auto stub = std::shared_ptr<GrpcControllerClient>(Unwrap(GrpcControllerClient::Connect(cluster->address())));
  std::unique_ptr<Client> client = Unwrap(Client::Connect(std::shared_ptr<ControllerService>(stub), "partition"));
  auto host_of = [&](DeviceId device) -> int64_t {
    for (const HostStatus& h : stub->Status().hosts) {
      for (const DeviceStatus& d : h.devices) {
        if (d.id == device) return h.host.value();
      }
    }
    return -1;
  };
  // Two 2-device slices on two hosts (load spreading); the third host is the spare.
  VirtualSlice victim = Unwrap(client->GetDevices(2));
  VirtualSlice survivor = Unwrap(client->GetDevices(2));
  const int64_t victim_host = host_of(victim.devices[0]);
  ASSERT_EQ(host_of(victim.devices[1]), victim_host);
  const int64_t victim_index = Unwrap(cluster->WorkerIndexOf(victim_host));
  auto step = [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(b.Multiply(x[0], b.ConstantScalar(2.0f)), b.ConstantScalar(1.0f))};
  };
  PmapFunction on_victim = client->Pmap("step", victim, step);
  PmapFunction on_survivor = client->Pmap("step", survivor, step);
  const ir::Literal values = ir::Literal::Create<float>({2}, {1, 2});
  auto run = [&](PmapFunction& f, const VirtualSlice& s) -> absl::StatusOr<ir::Literal> {
    PW_ASSIGN_OR_RETURN(Array x, client->PutGlobal(s, values));
    PW_ASSIGN_OR_RETURN(std::vector<Array> y, f({x}));
    return y[0].ToLiteral();
  };
  ASSERT_TRUE(run(on_victim, victim).ok());
  ASSERT_TRUE(run(on_survivor, survivor).ok());
  Array held = Unwrap(client->PutGlobal(victim, values));  // lives on the victim only

  ASSERT_THAT(net.Cut(victim_index), IsOk());
  const absl::Time cut_at = absl::Now();
  // The array on the cut-off host fails naming it, once the heartbeats stop arriving.
  const absl::Status lost = held.ToLiteral().status();
  const absl::Duration declared = absl::Now() - cut_at;
  EXPECT_THAT(lost, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(lost.message()), HasSubstr(absl::StrCat("host:", victim_host)));
  EXPECT_LT(declared, absl::Seconds(10)) << "the loss took " << declared;
  // The survivors carry on; the victim's slice was remapped onto the spare, and runs again.
  EXPECT_TRUE(run(on_survivor, survivor).ok());
  absl::StatusOr<ir::Literal> again = run(on_victim, victim);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_THAT(again->data<float>(), ::testing::ElementsAre(3.0f, 5.0f));
  const absl::Duration recovered = absl::Now() - cut_at;
  std::printf("link cut -> host declared lost %.2f s -> first good step on the remap %.2f s\n",
              absl::ToDoubleSeconds(declared), absl::ToDoubleSeconds(recovered));

  // The link heals: the worker learns it was forgotten and joins again as a new host.
  ASSERT_THAT(net.Heal(victim_index), IsOk());
  const absl::Time healed_at = absl::Now();
  size_t hosts = 0;
  while (absl::Now() - healed_at < absl::Seconds(60)) {
    hosts = stub->Status().hosts.size();
    if (hosts == 3) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(hosts, 3u) << "the cut-off worker did not join again within 60 s";
  std::printf("link healed -> the worker joined again as a new host: %.2f s\n",
              absl::ToDoubleSeconds(absl::Now() - healed_at));
  for (const HostStatus& h : stub->Status().hosts) EXPECT_NE(h.host.value(), victim_host);
}

}  // namespace
}  // namespace pw
