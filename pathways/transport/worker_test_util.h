// Test helpers for the worker side of the gRPC transport: a fake controller (ControllerWorkers
// and Rendezvous services with ids, addresses and recorded run reports), a synchronous Worker
// client, and small lowered programs to send.
#ifndef PATHWAYS_TRANSPORT_WORKER_TEST_UTIL_H_
#define PATHWAYS_TRANSPORT_WORKER_TEST_UTIL_H_

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
#include "pathways/collectives/in_memory_rendezvous_store.h"
#include "pathways/dataflow/lowered_program.h"
#include "pathways/ir/function.h"
#include "pathways/ir/literal.h"
#include "pathways/transport/rendezvous_service.h"
#include "pathways/transport/services.grpc.pb.h"
#include "pathways/worker/worker_service.h"

namespace pw::worker_testing {

// ControllerWorkers as a test wants it: Join gives hosts 0, 1, 2 ... and device ids counting up
// from 0 across joins (two hosts of two devices: host 0 has 0, 1 and host 1 has 2, 3);
// LookupHost answers from the joins; reports are recorded. Also serves Rendezvous over an
// in-memory store.
class FakeController final : public pathways::wire::ControllerWorkers::Service {
 public:
  FakeController();
  ~FakeController() override;

  const std::string& address() const { return address_; }
  // Stops serving (the controller "dies").
  void Stop();

  // Heartbeats of `host` are answered FAILED_PRECONDITION from now on.
  void Forget(HostId host);
  // Join is refused with `status` (not OK) from now on.
  void RefuseJoins(absl::Status status);
  // Each ReportRunDone waits until Unblock; lets a test see what accumulates meanwhile.
  void BlockReports();
  void UnblockReports();
  // Blocks until a ReportRunDone is waiting in BlockReports.
  void AwaitBlockedReport();

  // Waits (up to `timeout`) for at least `n` results; returns every result so far.
  std::vector<HostRunResult> WaitForResults(size_t n, absl::Duration timeout = absl::Seconds(20));
  // Sizes of the reports received, in order.
  std::vector<int> report_sizes() const;
  int64_t heartbeats() const;

  grpc::Status Join(grpc::ServerContext* context, const pathways::wire::JoinRequest* request,
                    pathways::wire::JoinResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const pathways::wire::HeartbeatRequest* request,
                         pathways::wire::HeartbeatResponse* response) override;
  grpc::Status ReportRunDone(grpc::ServerContext* context,
                             const pathways::wire::RunDoneReport* request,
                             pathways::wire::StatusResponse* response) override;
  grpc::Status LookupHost(grpc::ServerContext* context,
                          const pathways::wire::LookupHostRequest* request,
                          pathways::wire::LookupHostResponse* response) override;

 private:
  InMemoryRendezvousStore store_;
  RendezvousServiceImpl rendezvous_{&store_};
  std::unique_ptr<grpc::Server> server_;
  std::string address_;

  mutable absl::Mutex mu_;
  int64_t next_host_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_device_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<HostId, std::string> addresses_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<HostId, std::string> data_plane_addresses_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<HostId> forgotten_ ABSL_GUARDED_BY(mu_);
  absl::Status refuse_joins_ ABSL_GUARDED_BY(mu_);
  bool block_reports_ ABSL_GUARDED_BY(mu_) = false;
  int blocked_reports_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<HostRunResult> results_ ABSL_GUARDED_BY(mu_);
  std::vector<int> report_sizes_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> bad_reports_ ABSL_GUARDED_BY(mu_);
  int64_t heartbeats_ ABSL_GUARDED_BY(mu_) = 0;
};

// The controller's side of the Worker service, one call at a time (FetchShard asynchronously).
class WorkerClient {
 public:
  explicit WorkerClient(const std::string& address);

  absl::Status RegisterFunction(FunctionId id, const ir::Function& function);
  absl::Status PutShard(ArrayId array, int32_t shard, DeviceId device, const ir::Literal& data);
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

// Single-host program on devices {d0, d1} of `host`: y = x + x (function 7, two shards of f32[4]).
// Value slot 0 is x, slot 1 is y.
std::shared_ptr<const LoweredProgram> TwiceProgram(HostId host, DeviceId d0, DeviceId d1);
ir::Function TwiceFunction();
// A HostRunProto of `host`'s part of `lowered` binding value slot i to arrays[i].
pathways::wire::HostRunProto MakeRunProto(const std::shared_ptr<const LoweredProgram>& lowered,
                                          HostId host, RunId run, std::vector<ArrayId> arrays,
                                          uint64_t key, bool with_program, uint64_t seq);

ir::Literal F32Vector(std::vector<float> values);
std::vector<float> Floats(const ir::Literal& literal);

}  // namespace pw::worker_testing

#endif  // PATHWAYS_TRANSPORT_WORKER_TEST_UTIL_H_
