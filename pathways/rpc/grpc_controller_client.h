// GrpcControllerClient: the ControllerService a client uses to reach a controller in another
// process (pw-controller) over gRPC. pw::Client takes it like the in-process Controller.
#ifndef PATHWAYS_RPC_GRPC_CONTROLLER_CLIENT_H_
#define PATHWAYS_RPC_GRPC_CONTROLLER_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pathways/base/async_value.h"
#include "pathways/base/trace.h"
#include "pathways/service/controller_service.h"
#include "pathways/rpc/cluster_credentials.h"
#include "pathways/rpc/controller_session.h"
#include "pathways/rpc/grpc_call_tracker.h"
#include "pathways/rpc/services.grpc.pb.h"

namespace pw {

namespace grpc_transport_internal {
// ControllerService::Connect(client_name, options) forwarded to ConnectClient, so
// GrpcControllerClient's factory can be GrpcControllerClient::Connect(address): a factory and a
// virtual method of the same name and argument types would make calls ambiguous.
class ControllerServiceConnectAdapter : public ControllerService {
 public:
  absl::StatusOr<ClientId> Connect(std::string client_name, ConnectOptions options) final {
    return ConnectClient(std::move(client_name), options);
  }
  virtual absl::StatusOr<ClientId> ConnectClient(std::string client_name, ConnectOptions options) = 0;
};
}  // namespace grpc_transport_internal

// Thread-safe. Calls that the controller answers at once carry a deadline (call_timeout, plus
// time for the data of PutArray), so a controller that stops answering fails them with
// DEADLINE_EXCEEDED instead of hanging; AwaitArray and FetchArray wait as long as the array
// takes, on the gRPC callback API (no thread waits), and keepalive pings notice a controller
// that vanished. Whenever the controller cannot be reached, futures and calls fail with
// UNAVAILABLE naming its address.
//
// Sessions: Connect presents the cluster token and gets a session token, which every later call
// for that client carries; a background thread renews each session's lease (every lease / 4)
// until the client disconnects or this object goes, so a process that dies loses its clients
// within the lease. Calls also carry the operator token when one is known (pw's commands).
//
// The calls of an op-by-op loop — Run, AwaitArray, ReleaseArrayNoWait — travel on one
// persistent Session stream per client (grpc_controller_client_session.cc), opened on first
// use and again after it ends; the controller applies them in the order they were made. A
// stream that ends fails the calls waiting on it (UNAVAILABLE naming the address); Run waits
// for its answer at most call_timeout (DEADLINE_EXCEEDED).
class GrpcControllerClient final
    : public grpc_transport_internal::ControllerServiceConnectAdapter {
 public:
  struct Options {
    // Deadline of every call the controller answers without waiting for work to finish.
    absl::Duration call_timeout = absl::Seconds(30);
    // The cluster's secrets; each one left empty is looked up (FindClusterCredentials).
    ClusterCredentials credentials;
  };

  // Connects and checks that a controller answers at `address` ("ip:port") within `timeout`
  // (it may still be starting). UNAVAILABLE naming the address otherwise; FAILED_PRECONDITION
  // when it answers in another wire version.
  static absl::StatusOr<std::unique_ptr<GrpcControllerClient>> Connect(
      std::string address, absl::Duration timeout = absl::Seconds(10));
  static absl::StatusOr<std::unique_ptr<GrpcControllerClient>> Connect(
      std::string address, absl::Duration timeout, Options options);
  // Cancels the calls in flight (their futures fail with CANCELLED) and waits for their
  // callbacks. Clients and arrays using this object must be gone.
  ~GrpcControllerClient() override;
  GrpcControllerClient(const GrpcControllerClient&) = delete;
  GrpcControllerClient& operator=(const GrpcControllerClient&) = delete;

  // ControllerService. Errors of the request are the controller's (NOT_FOUND, INVALID_ARGUMENT
  // ... naming the culprit); an answer this build cannot read is an error naming the field.
  // ControllerService::Connect(client_name, options) lands here (through a ControllerService&; on this
  // class the name Connect is the factory).
  absl::StatusOr<ClientId> ConnectClient(std::string client_name, ConnectOptions options) override;
  // Errors are logged: the interface has no way to return them, and a controller that cannot be
  // reached frees the client's objects when it goes away anyway.
  void Disconnect(ClientId client) override;
  absl::StatusOr<VirtualSlice> AllocateSlice(ClientId client, SliceRequest request) override;
  absl::StatusOr<VirtualSlice> RepairSlice(ClientId client, SliceId slice) override;
  absl::Status CancelRun(ClientId client, RunId run) override;
  absl::Status ReleaseSlice(ClientId client, SliceId slice) override;
  absl::StatusOr<FunctionId> RegisterFunction(ClientId client, ir::Function function) override;
  absl::StatusOr<ProgramId> RegisterProgram(ClientId client, ProgramDef program) override;
  absl::StatusOr<ArrayInfo> PutArray(ClientId client, SliceId slice,
                                     std::vector<ir::Literal> shards,
                                     Sharding sharding = Sharding::Stacked()) override;
  absl::StatusOr<RunResult> RunControl(ClientId client, ControlRequest request,
                                       absl::Span<const ArrayId> inputs) override;
  absl::StatusOr<RunResult> Run(ClientId client, ProgramId program,
                                absl::Span<const ArrayId> inputs, RunOptions options) override;
  EventRef AwaitArray(ClientId client, ArrayId array) override;
  AsyncValueRef<std::vector<ir::Literal>> FetchArray(ClientId client, ArrayId array) override;
  absl::Status ReleaseArray(ClientId client, ArrayId array) override;
  // Sends the release and returns at once (a failure is logged). Later calls of this object
  // that allocate or report (PutArray, AllocateSlice, RepairSlice, ReleaseSlice,
  // RestoreCheckpoint, Status, Disconnect) first wait for the releases in flight (a sync on
  // the session stream), so they see their effect; Run and AwaitArray follow it on the same
  // stream and see it too. RunControl does not wait (an output allocated right after may still
  // count a released array against the client's quota).
  void ReleaseArrayNoWait(ClientId client, ArrayId array) override;
  // Waits as long as the hosts take to write (callback API, no thread waits).
  EventRef SaveCheckpoint(ClientId client, SaveCheckpointRequest request) override;
  // The hosts read their shards inside the call: its deadline is call_timeout plus ten minutes
  // (a restore is rare and may be large).
  absl::StatusOr<RestoredCheckpoint> RestoreCheckpoint(ClientId client,
                                                       RestoreCheckpointRequest request) override;
  // An unreachable controller gives an empty status (logged); StatusOrError() says why.
  ClusterStatus Status() const override;
  absl::StatusOr<ClusterStatus> StatusOrError() const;

  // One empty call answered on `client`'s session stream (opened if it has none): what any
  // call on the stream costs at least. The stream's failure, or DEADLINE_EXCEEDED after
  // call_timeout.
  absl::Status Ping(ClientId client);

  // Recent trace events of the controller and every host, merged into `into` (started if it
  // was not recording).
  absl::Status FetchTrace(TraceRecorder& into);
  // Asks the controller process to stop.
  absl::Status Shutdown();

  const std::string& address() const { return address_; }
  std::string DebugString() const;

 private:
  GrpcControllerClient(std::string address, Options options);
  // A blocking call with call_timeout (+ `extra`); the gRPC failure or the response's status.
  template <typename Request, typename Response, typename Method>
  absl::Status Call(std::string_view what, Method method, const Request& request,
                    Response& response, absl::Duration extra = absl::ZeroDuration()) const;
  // An async call answered with a StatusResponse: the event carries the controller's answer,
  // or the call's failure naming `what`.
  template <typename Request, typename Start>
  EventRef StatusCall(Request request, std::string what, Start start);
  // A failed call as the client reports it: UNAVAILABLE (or DEADLINE_EXCEEDED) naming the
  // address.
  absl::Status Failed(const grpc::Status& status, std::string_view what) const;

  // The session token of `client` (empty: none).
  std::string SessionOf(ClientId client) const;
  // Adds the metadata of `client`'s session and the operator's credential to `context`.
  void Authenticate(grpc::ClientContext& context, std::optional<ClientId> client) const;
  void RenewLeases();
  // Returns once every ReleaseArrayNoWait sent so far was applied (or its stream failed).
  void WaitForReleases() const;
  // `client`'s session stream, opened if it has none or it ended (null once closing).
  std::shared_ptr<grpc_transport::ControllerSession> OpenSession(ClientId client);
  // Sends `call` on `client`'s session stream (opening one if it has none or it ended): OK once
  // sent, then `on_answer` (if any) runs with the answer or the stream's failure.
  absl::Status SendOnSession(ClientId client, pathways::wire::SessionCall& call,
                             grpc_transport::ControllerSession::OnAnswer on_answer);
  // Cancels the session stream of `client` (Disconnect), or every one (the destructor), and
  // waits for their ends.
  void CloseSessions(std::optional<ClientId> client = std::nullopt);

  const std::string address_;
  Options options_;  // credentials filled in at construction

  mutable absl::Mutex sessions_mu_;
  absl::flat_hash_map<ClientId, std::string> sessions_ ABSL_GUARDED_BY(sessions_mu_);
  absl::Duration lease_ ABSL_GUARDED_BY(sessions_mu_) = absl::InfiniteDuration();
  absl::CondVar sessions_changed_;
  bool stop_renewing_ ABSL_GUARDED_BY(sessions_mu_) = false;
  std::thread renewer_;  // started by the first ConnectClient
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pathways::wire::ControllerApi::Stub> stub_;
  std::shared_ptr<grpc_transport::CallTracker> calls_;
  // Each client's session stream. Shared with the callers using one; a stream that ended is
  // replaced by the next call and goes with its last user.
  mutable absl::Mutex session_streams_mu_;
  mutable absl::flat_hash_map<ClientId, std::shared_ptr<grpc_transport::ControllerSession>>
      session_streams_ ABSL_GUARDED_BY(session_streams_mu_);
  // Streams replaced after they ended, kept until their last callback has run.
  std::vector<std::shared_ptr<grpc_transport::ControllerSession>> retired_sessions_
      ABSL_GUARDED_BY(session_streams_mu_);
  // Set by the destructor: calls it cancels fail with CANCELLED, not UNAVAILABLE.
  std::atomic<bool> closing_{false};
};

}  // namespace pw

#endif  // PATHWAYS_RPC_GRPC_CONTROLLER_CLIENT_H_
