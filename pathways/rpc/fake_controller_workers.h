// FakeControllerWorkers: the ControllerWorkers gRPC service (what a worker process talks to)
// as a test wants it, beside services.proto which it fakes. Also serves Rendezvous over an
// in-memory store, so a real WorkerServer joins it, builds its Gloo groups and reports runs.
#ifndef PATHWAYS_RPC_FAKE_CONTROLLER_WORKERS_H_
#define PATHWAYS_RPC_FAKE_CONTROLLER_WORKERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pathways/base/ids.h"
#include "pathways/collectives/in_process/in_memory_rendezvous_store.h"
#include "pathways/rpc/rendezvous_service.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/service/worker_service.h"

namespace pw {

// ControllerWorkers as a test wants it: Join gives hosts 0, 1, 2 ... and device ids counting up
// from 0 across joins (two hosts of two devices: host 0 has 0, 1 and host 1 has 2, 3);
// LookupHost answers from the joins; reports are recorded. Also serves Rendezvous over an
// in-memory store.
class FakeControllerWorkers final : public pathways::wire::ControllerWorkers::Service {
 public:
  FakeControllerWorkers();
  ~FakeControllerWorkers() override;

  const std::string& address() const { return address_; }
  // Stops serving (the controller "dies").
  void Stop();

  // Heartbeats of `host` are answered FAILED_PRECONDITION from now on.
  void Forget(HostId host);
  // Join is refused with `status` (not OK) from now on.
  void RefuseJoins(absl::Status status);

  // Every result reported from now on is also handed to `observer` (as the controller would
  // be), on the gRPC thread that received it. Null: recorded only.
  void ForwardResultsTo(RunObserver* observer);

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
  // Reads reports until the worker closes the stream; an unreadable one is recorded and ends
  // the stream with INVALID_ARGUMENT, as the controller does.
  grpc::Status ReportRuns(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<pathways::wire::StatusResponse, pathways::wire::RunDoneReport>*
          stream) override;
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
  std::vector<HostRunResult> results_ ABSL_GUARDED_BY(mu_);
  RunObserver* forward_to_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<int> report_sizes_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> bad_reports_ ABSL_GUARDED_BY(mu_);
  int64_t heartbeats_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_RPC_FAKE_CONTROLLER_WORKERS_H_
