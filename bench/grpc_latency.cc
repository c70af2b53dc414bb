// Times a trivial unary call (release of an unknown array: the controller answers NOT_FOUND at
// once, no worker involved).
#include "bench/grpc_latency.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <vector>

#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/cluster/process_cluster.h"
#include "pathways/rpc/grpc_controller_client.h"

namespace pw::bench {

int64_t MeasureGrpcOneWayNanos() {
  ProcessClusterOptions options;
  options.hosts_per_island = 1;
  options.devices_per_host = 1;
  options.memory_per_device_bytes = int64_t{64} << 20;
  options.trace = false;
  options.heartbeat_timeout = absl::Seconds(10);
  options.dashboard = false;  // its status sampling would run beside what is measured
  absl::StatusOr<std::unique_ptr<ProcessCluster>> processes = ProcessCluster::Start(options);
  PW_CHECK(processes.ok()) << processes.status();
  absl::StatusOr<std::shared_ptr<GrpcControllerClient>> controller =
      GrpcControllerClient::Connect((*processes)->address());
  PW_CHECK(controller.ok()) << controller.status();
  absl::StatusOr<ClientId> client = (*controller)->ConnectClient("latency", {});
  PW_CHECK(client.ok()) << client.status();
  std::vector<int64_t> rtts;
  for (int i = 0; i < 600; ++i) {
    const int64_t t0 = MonotonicNanos();
    absl::Status s = (*controller)->ReleaseArray(*client, ArrayId(int64_t{1} << 40));
    const int64_t rtt = MonotonicNanos() - t0;
    PW_CHECK(!s.ok());
    if (i >= 100) rtts.push_back(rtt);  // after warm-up
  }
  std::sort(rtts.begin(), rtts.end());
  const int64_t median = rtts[rtts.size() / 2];
  std::printf("# gRPC unary round trip to pw-controller on this machine: median %.0f us, p10 %.0f "
              "us, p90 %.0f us (500 calls) -> one way %.0f us\n",
              median / 1e3, rtts[rtts.size() / 10] / 1e3, rtts[rtts.size() * 9 / 10] / 1e3,
              median / 2e3);
  (*controller)->Disconnect(*client);
  return median / 2;
}

}  // namespace pw::bench
