// A whole cluster over loopback gRPC in the test's process: a ControllerServer, two
// WorkerServers (2 devices each, the TCP data plane) and a Client through GrpcControllerClient.
// A test fixture for tests that need the real sockets without starting processes.
#ifndef PATHWAYS_TESTS_LOOPBACK_CLUSTER_H_
#define PATHWAYS_TESTS_LOOPBACK_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pathways/client/client.h"
#include "pathways/cluster/controller_server.h"
#include "pathways/cluster/worker_server.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "tests/test_util.h"

namespace pw {

class LoopbackClusterTest : public ::testing::Test {
 protected:
  // What the fixture's client is called, and the controller's options.
  virtual std::string ClientName() const { return "loopback"; }
  virtual ControllerServerOptions ControllerOptions() const { return {}; }

  void SetUp() override {
    server_ = testing_util::Unwrap(ControllerServer::Start(ControllerOptions()));
    for (int i = 0; i < 2; ++i) {
      WorkerServerOptions worker;
      worker.controller_address = server_->address();
      worker.num_devices = 2;
      worker.memory_per_device_bytes = int64_t{64} << 20;
      workers_.push_back(testing_util::Unwrap(WorkerServer::Start(worker)));
    }
    ASSERT_TRUE(server_->WaitForHosts(2, absl::Seconds(10)).ok());
    stub_ = testing_util::Unwrap(GrpcControllerClient::Connect(server_->address()));
    client_ = testing_util::Unwrap(Client::Connect(*stub_, ClientName()));
  }
  void TearDown() override {
    client_.reset();
    stub_.reset();
    server_.reset();  // asks the workers to stop
    workers_.clear();
  }

  std::unique_ptr<ControllerServer> server_;
  std::vector<std::unique_ptr<WorkerServer>> workers_;
  std::unique_ptr<GrpcControllerClient> stub_;
  std::unique_ptr<Client> client_;
};

}  // namespace pw

#endif  // PATHWAYS_TESTS_LOOPBACK_CLUSTER_H_
