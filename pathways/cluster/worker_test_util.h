// Test helpers for the worker side of the gRPC transport: a fake controller (ControllerWorkers
// and Rendezvous services with ids, addresses and recorded run reports), a synchronous Worker
// client, and small lowered programs to send.
#ifndef PATHWAYS_CLUSTER_WORKER_TEST_UTIL_H_
#define PATHWAYS_CLUSTER_WORKER_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pathways/base/async_value.h"
#include "pathways/collectives/in_process/in_memory_rendezvous_store.h"
#include "pathways/dataflow/lowered_program.h"
#include "pathways/ir/function.h"
#include "pathways/ir/literal.h"
#include "pathways/rpc/fake_controller_workers.h"
#include "pathways/rpc/rendezvous_service.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/service/worker_service.h"
#include "pathways/service/worker_service_test_util.h"

namespace pw::worker_testing {

// The fake controller of worker tests (it lives beside the service it fakes).
using FakeController = ::pw::FakeControllerWorkers;

// The controller's side of the Worker service, one call at a time (FetchShard asynchronously).
class WorkerClient {
 public:
  explicit WorkerClient(const std::string& address);

  absl::Status RegisterFunction(FunctionId id, const ir::Function& function);
  absl::Status PutShard(ArrayId array, int32_t shard, DeviceId device, const ir::Literal& data);
  // One batch on a Commands stream of its own, closed at once: OK once the worker applied or
  // parked every command, else the error that ended the stream.
  absl::Status Commands(const pathways::wire::WorkerCommandBatch& batch);
  // Commands with one run / one release.
  absl::Status Run(const pathways::wire::HostRunProto& run);
  absl::Status Release(std::vector<ArrayId> arrays, uint64_t seq);
  // Answered when the worker answers (the shard is ready, or failed).
  AsyncValueRef<ir::Literal> FetchShard(ArrayId array, int32_t shard, uint64_t seq);
  absl::StatusOr<pathways::wire::HostStatusResponse> Status();
  absl::StatusOr<pathways::wire::TraceResponse> Trace();
  absl::Status Shutdown();

 private:
  std::string address_;
  std::unique_ptr<pathways::wire::Worker::Stub> stub_;
};

// The conformance suite's single-host program (y = x + x on two shards of f32[4]).
using ::pw::worker_service_testing::F32Vector;
using ::pw::worker_service_testing::TwiceFunction;
using ::pw::worker_service_testing::TwiceProgram;

// A HostRunProto of `host`'s part of `lowered` binding value slot i to arrays[i].
pathways::wire::HostRunProto MakeRunProto(const std::shared_ptr<const LoweredProgram>& lowered,
                                          HostId host, RunId run, std::vector<ArrayId> arrays,
                                          uint64_t key, bool with_program, uint64_t seq);

std::vector<float> Floats(const ir::Literal& literal);

}  // namespace pw::worker_testing

#endif  // PATHWAYS_CLUSTER_WORKER_TEST_UTIL_H_
