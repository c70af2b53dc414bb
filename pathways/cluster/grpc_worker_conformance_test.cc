// The WorkerService conformance suite over GrpcWorkerClient, the stub the controller process
// uses, in front of a real worker (WorkerServer over loopback gRPC). Finished runs reach the
// observer the way they reach the controller: the worker reports them to ControllerWorkers.
#include <memory>

#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/cluster/worker_server.h"
#include "pathways/cluster/worker_test_util.h"
#include "pathways/rpc/grpc_worker_client.h"
#include "pathways/service/worker_service_conformance.h"

namespace pw::worker_service_testing {
namespace {

using ::pw::worker_testing::FakeController;

class GrpcWorkerHarness final : public WorkerServiceHarness {
 public:
  explicit GrpcWorkerHarness(RunObserver* observer) {
    controller_.ForwardResultsTo(observer);
    absl::StatusOr<std::unique_ptr<WorkerServer>> worker = WorkerServer::Start(
        WorkerServerOptions{.controller_address = controller_.address(), .trace = false});
    EXPECT_THAT(worker.status(), IsOk());
    worker_ = *std::move(worker);
    EXPECT_EQ(worker_->host(), HostId(kHost)) << "the fake controller numbers hosts from 0";
    client_ = std::make_unique<GrpcWorkerClient>(GrpcWorkerClientOptions{
        .host = worker_->host(), .address = worker_->address(), .observer = observer});
  }
  ~GrpcWorkerHarness() override {
    client_.reset();
    worker_->Shutdown();
    controller_.ForwardResultsTo(nullptr);
  }
  WorkerService& worker() override { return *client_; }

 private:
  FakeController controller_;
  std::unique_ptr<WorkerServer> worker_;
  std::unique_ptr<GrpcWorkerClient> client_;
};

INSTANTIATE_TEST_SUITE_P(
    Grpc, WorkerServiceConformanceTest,
    ::testing::Values(WorkerHarnessFactory{
        "GrpcWorkerClient", [](RunObserver* o) { return std::make_unique<GrpcWorkerHarness>(o); }}),
    WorkerHarnessName);

}  // namespace
}  // namespace pw::worker_service_testing
