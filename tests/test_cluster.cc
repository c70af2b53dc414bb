// The two TestCluster implementations.
#include "tests/test_cluster.h"

#include "pathways/base/status.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/cluster/local_cluster.h"
#include "pathways/cluster/process_cluster.h"

namespace pw::testing_util {
namespace {

class InProcessCluster final : public TestCluster {
 public:
  explicit InProcessCluster(std::unique_ptr<LocalCluster> cluster) : cluster_(std::move(cluster)) {}
  ControllerService& controller() override { return cluster_->controller(); }
  absl::Status CollectTrace(TraceRecorder& into) override {
    for (TraceEvent e : cluster_->trace().LaneNames()) into.AddLaneName(std::move(e));
    for (TraceEvent e : cluster_->trace().Events()) into.Record(std::move(e));
    return absl::OkStatus();
  }
  ClusterKind kind() const override { return ClusterKind::kInProcess; }

 private:
  std::unique_ptr<LocalCluster> cluster_;
};

class GrpcProcessCluster final : public TestCluster {
 public:
  GrpcProcessCluster(std::unique_ptr<ProcessCluster> cluster, std::unique_ptr<GrpcControllerClient> stub)
      : cluster_(std::move(cluster)), stub_(std::move(stub)) {}
  ~GrpcProcessCluster() override {
    stub_.reset();
    cluster_.reset();
  }
  ControllerService& controller() override { return *stub_; }
  absl::Status CollectTrace(TraceRecorder& into) override { return stub_->FetchTrace(into); }
  ClusterKind kind() const override { return ClusterKind::kGrpcProcesses; }

 private:
  std::unique_ptr<ProcessCluster> cluster_;
  std::unique_ptr<GrpcControllerClient> stub_;
};

}  // namespace

std::string KindName(ClusterKind kind) {
  return kind == ClusterKind::kInProcess ? "InProcess" : "GrpcProcesses";
}

absl::StatusOr<std::unique_ptr<TestCluster>> TestCluster::Start(ClusterKind kind, TestClusterOptions options) {
  if (kind == ClusterKind::kInProcess) {
    PW_ASSIGN_OR_RETURN(std::unique_ptr<LocalCluster> cluster,
                        LocalCluster::Start({.hosts_per_island = options.hosts,
                                             .devices_per_host = options.devices_per_host,
                                             .memory_per_device_bytes = options.memory_per_device_bytes,
                                             .trace = true}));
    return std::unique_ptr<TestCluster>(new InProcessCluster(std::move(cluster)));
  }
  ProcessClusterOptions po;
  po.hosts_per_island = options.hosts;
  po.devices_per_host = options.devices_per_host;
  po.memory_per_device_bytes = options.memory_per_device_bytes;
  PW_ASSIGN_OR_RETURN(std::unique_ptr<ProcessCluster> cluster, ProcessCluster::Start(po));
  PW_ASSIGN_OR_RETURN(std::unique_ptr<GrpcControllerClient> stub,
                      GrpcControllerClient::Connect(cluster->address()));
  return std::unique_ptr<TestCluster>(new GrpcProcessCluster(std::move(cluster), std::move(stub)));
}

}  // namespace pw::testing_util
