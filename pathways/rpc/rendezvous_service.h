// The rendezvous store over gRPC: the Rendezvous service (served by the controller over any
// RendezvousStore) and GrpcRendezvousStore, the RendezvousStore a worker's Gloo gangs meet through.
#ifndef PATHWAYS_RPC_RENDEZVOUS_SERVICE_H_
#define PATHWAYS_RPC_RENDEZVOUS_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pathways/collectives/rendezvous_store.h"
#include "pathways/rpc/services.grpc.pb.h"

namespace pw {

// Longest Wait the service serves: a client asking for more gets DEADLINE_EXCEEDED after this
// (a wait holds one of the server's threads).
inline constexpr absl::Duration kMaxRendezvousWait = absl::Minutes(5);

// A synchronous service: Wait blocks a server thread (rendezvous happens once per gang, never on
// the per-collective path). A blocked Wait notices the caller's cancellation and Shutdown within
// kWaitSlice. Errors of the store travel in the response; a request of another wire version is
// answered FAILED_PRECONDITION.
class RendezvousServiceImpl final : public pathways::wire::Rendezvous::Service {
 public:
  // `store` is not owned and must outlive the service. A non-empty `operator_token` is required
  // of every call (gRPC metadata "pw-operator"): the store coordinates the cluster's own gangs,
  // and a tenant writing an abort key could break another tenant's collective.
  explicit RendezvousServiceImpl(RendezvousStore* store, std::string operator_token = "");
  RendezvousServiceImpl(const RendezvousServiceImpl&) = delete;
  RendezvousServiceImpl& operator=(const RendezvousServiceImpl&) = delete;

  // Makes blocked and future Waits answer UNAVAILABLE, so a server shutting down does not wait
  // for them. Call before grpc::Server::Shutdown.
  void Shutdown();

  grpc::Status Set(grpc::ServerContext* context, const pathways::wire::StoreSetRequest* request,
                   pathways::wire::StoreValueResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const pathways::wire::StoreGetRequest* request,
                   pathways::wire::StoreValueResponse* response) override;
  grpc::Status Wait(grpc::ServerContext* context, const pathways::wire::StoreWaitRequest* request,
                    pathways::wire::StatusResponse* response) override;
  grpc::Status DeletePrefix(grpc::ServerContext* context,
                            const pathways::wire::StoreDeletePrefixRequest* request,
                            pathways::wire::StoreCountResponse* response) override;

 private:
  static constexpr absl::Duration kWaitSlice = absl::Milliseconds(100);
  RendezvousStore* const store_;
  const std::string operator_token_;
  std::atomic<bool> shutdown_{false};
};

// A RendezvousStore whose state lives behind a Rendezvous service at `address`. Thread-safe;
// one channel, calls in parallel. A store that cannot be reached (or stops answering) is
// UNAVAILABLE naming its address; errors of the store itself come back unchanged.
class GrpcRendezvousStore final : public RendezvousStore {
 public:
  // INVALID_ARGUMENT for an empty address. Does not connect yet: the first call does.
  static absl::StatusOr<std::unique_ptr<GrpcRendezvousStore>> Create(std::string address);
  GrpcRendezvousStore(const GrpcRendezvousStore&) = delete;
  GrpcRendezvousStore& operator=(const GrpcRendezvousStore&) = delete;

  absl::Status Set(const std::string& key, std::string value) override;
  absl::StatusOr<std::string> SetIfAbsent(const std::string& key, std::string value) override;
  absl::StatusOr<std::string> Get(const std::string& key) override;
  // `timeout` is capped at kMaxRendezvousWait (the server's limit).
  absl::Status Wait(const std::vector<std::string>& keys, absl::Duration timeout,
                    const std::string& abort_key) override;
  absl::StatusOr<int64_t> DeletePrefix(const std::string& prefix) override;
  std::string DebugString() const override;

  const std::string& address() const { return address_; }

 private:
  // Bounds every call but Wait (which gets its own timeout plus this much).
  static constexpr absl::Duration kCallTimeout = absl::Seconds(10);

  explicit GrpcRendezvousStore(std::string address);
  // A call that failed at the gRPC level: UNAVAILABLE "rendezvous store at <address>: ...".
  absl::Status Lost(const grpc::Status& status, const std::string& what) const;
  absl::StatusOr<std::string> SetImpl(const std::string& key, std::string value, bool if_absent);

  const std::string address_;
  std::unique_ptr<pathways::wire::Rendezvous::Stub> stub_;
};

}  // namespace pw

#endif  // PATHWAYS_RPC_RENDEZVOUS_SERVICE_H_
