// The gRPC services of ControllerServer (controller_server.cc: workers and host loss;
// controller_api_service.cc: the client API). Not for use outside those two files.
#ifndef PATHWAYS_CLUSTER_CONTROLLER_SERVER_INTERNAL_H_
#define PATHWAYS_CLUSTER_CONTROLLER_SERVER_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "pathways/base/event_loop.h"
#include "pathways/base/status.h"
#include "pathways/cluster/client_sessions.h"
#include "pathways/cluster/controller_server.h"
#include "pathways/rpc/controller_session.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/wire/wire_convert.h"

namespace pw {

namespace api_internal {

// `claimed` if it is the client of the session `token` names. UNAUTHENTICATED without a live
// session; NOT_FOUND, worded as the controller words an unknown client, when the session is
// another client's: a forged id tells the caller nothing about the client it names.
inline absl::StatusOr<ClientId> Authorize(ClientSessions& sessions, const std::string& token,
                                          ClientId claimed) {
  PW_ASSIGN_OR_RETURN(ClientId caller, sessions.Find(token, absl::Now()));
  if (caller != claimed) return absl::NotFoundError(absl::StrCat("unknown ", claimed.DebugString()));
  return caller;
}
// The session token a call carries (empty: none).
inline std::string SessionToken(const grpc::ServerContextBase* context) {
  return grpc_transport::ClientMetadata(context, grpc_transport::kSessionMetadata);
}
inline absl::StatusOr<ClientId> Authorize(ClientSessions& sessions,
                                          const grpc::ServerContextBase* context, ClientId claimed) {
  return Authorize(sessions, SessionToken(context), claimed);
}

// The request's version, then its client id, which must be the session's (Authorize).
template <typename Request>
absl::StatusOr<ClientId> ReadClient(ClientSessions& sessions, const std::string& token,
                                    const Request& request) {
  PW_RETURN_IF_ERROR(wire::CheckVersion(request));
  PW_ASSIGN_OR_RETURN(ClientId claimed, wire::IdFromProto<ClientId>(
                                            request.client(), Request::descriptor()->name(), "client"));
  return Authorize(sessions, token, claimed);
}
template <typename Request>
absl::StatusOr<ClientId> ReadClient(ClientSessions& sessions, const grpc::ServerContextBase* context,
                                    const Request& request) {
  return ReadClient(sessions, SessionToken(context), request);
}

inline absl::StatusOr<std::pair<ClientId, ArrayId>> ReadArrayRequest(
    ClientSessions& sessions, const std::string& token, const pathways::wire::ArrayRequest& request) {
  PW_ASSIGN_OR_RETURN(ClientId client, ReadClient(sessions, token, request));
  PW_ASSIGN_OR_RETURN(ArrayId array,
                      wire::IdFromProto<ArrayId>(request.array(), "ArrayRequest", "array"));
  return std::make_pair(client, array);
}
inline absl::StatusOr<std::pair<ClientId, ArrayId>> ReadArrayRequest(
    ClientSessions& sessions, const grpc::ServerContextBase* context,
    const pathways::wire::ArrayRequest& request) {
  return ReadArrayRequest(sessions, SessionToken(context), request);
}

}  // namespace api_internal

// A session stream's bounds (ControllerApi.Session), shared with the client side.
using grpc_transport::kMaxSessionAwaits;
using grpc_transport::kMaxSessionCalls;
using grpc_transport::kMaxSessionStreamsPerClient;

// Callback calls waiting for an array. Each is finished exactly once: by its array's future, or
// by CloseAll at shutdown (gRPC's server shutdown waits for every callback call to finish, and
// an array may never resolve once the workers are gone). Shared with the futures' callbacks,
// which may outlive the server.
class ControllerServer::PendingReactors {
 public:
  using Finish = absl::AnyInvocable<void(absl::Status)>;
  // Registers `finish`; returns its id, or 0 (after running finish with the closing status) once
  // CloseAll was called.
  uint64_t Add(Finish finish);
  // Runs the finisher of `id` with `status` unless it already ran.
  void Complete(uint64_t id, absl::Status status);
  // Runs every pending finisher with `status` (not OK); later Adds finish at once with it.
  void CloseAll(absl::Status status);
  int64_t size() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Finish> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Status closed_ ABSL_GUARDED_BY(mu_);  // not OK once closed
};

// ControllerApi: blocking methods on the sync server threads (they call workers and the
// controller, which may wait on locks and RPCs); AwaitArray and FetchArray as callback methods
// that hold no thread while the array is pending, and SaveCheckpoint likewise while the hosts
// write. A client's Session stream (controller_session_stream.cc) is read on gRPC's callback
// threads and its calls applied there, except a message that runs a program for the first time
// on the stream: its first dispatch to a host may register the program's functions there, a
// blocking call to the host, so it is applied on run_loop_.
class ControllerServer::ApiService final
    : public pathways::wire::ControllerApi::WithCallbackMethod_AwaitArray<
          pathways::wire::ControllerApi::WithCallbackMethod_FetchArray<
              pathways::wire::ControllerApi::WithCallbackMethod_SaveCheckpoint<
                  pathways::wire::ControllerApi::WithCallbackMethod_Session<
                      pathways::wire::ControllerApi::Service>>>> {
 public:
  explicit ApiService(ControllerServer* server)
      : server_(server),
        run_loop_(std::make_unique<EventLoop>(EventLoopOptions{.threads = 4, .name = "pw-session"})) {}

  grpc::Status Connect(grpc::ServerContext*, const pathways::wire::ConnectRequest* request,
                       pathways::wire::ConnectResponse* response) override;
  grpc::Status RenewLease(grpc::ServerContext* context, const pathways::wire::RenewLeaseRequest* request,
                          pathways::wire::StatusResponse* response) override;
  grpc::Status Disconnect(grpc::ServerContext*, const pathways::wire::DisconnectRequest* request,
                          pathways::wire::StatusResponse* response) override;
  grpc::Status CancelRun(grpc::ServerContext*, const pathways::wire::CancelRunRequest* request,
                         pathways::wire::StatusResponse* response) override;
  grpc::Status RepairSlice(grpc::ServerContext*, const pathways::wire::RepairSliceRequest* request,
                           pathways::wire::AllocateSliceResponse* response) override;
  grpc::Status AllocateSlice(grpc::ServerContext*,
                             const pathways::wire::AllocateSliceRequest* request,
                             pathways::wire::AllocateSliceResponse* response) override;
  grpc::Status ReleaseSlice(grpc::ServerContext*,
                            const pathways::wire::ReleaseSliceRequest* request,
                            pathways::wire::StatusResponse* response) override;
  grpc::Status RegisterFunction(grpc::ServerContext*,
                                const pathways::wire::RegisterFunctionRequest* request,
                                pathways::wire::RegisterFunctionResponse* response) override;
  grpc::Status RegisterProgram(grpc::ServerContext*,
                               const pathways::wire::RegisterProgramRequest* request,
                               pathways::wire::RegisterProgramResponse* response) override;
  grpc::Status PutArray(grpc::ServerContext*, const pathways::wire::PutArrayRequest* request,
                        pathways::wire::ArrayInfoResponse* response) override;
  grpc::Status RunControl(grpc::ServerContext*, const pathways::wire::RunControlRequest* request,
                          pathways::wire::RunResponse* response) override;
  grpc::Status Run(grpc::ServerContext*, const pathways::wire::RunRequest* request,
                   pathways::wire::RunResponse* response) override;
  grpc::ServerUnaryReactor* AwaitArray(grpc::CallbackServerContext* context,
                                       const pathways::wire::ArrayRequest* request,
                                       pathways::wire::StatusResponse* response) override;
  grpc::ServerUnaryReactor* FetchArray(grpc::CallbackServerContext* context,
                                       const pathways::wire::ArrayRequest* request,
                                       pathways::wire::FetchArrayResponse* response) override;
  grpc::Status ReleaseArray(grpc::ServerContext*, const pathways::wire::ArrayRequest* request,
                            pathways::wire::StatusResponse* response) override;
  grpc::ServerUnaryReactor* SaveCheckpoint(grpc::CallbackServerContext* context,
                                           const pathways::wire::SaveCheckpointRequest* request,
                                           pathways::wire::StatusResponse* response) override;
  grpc::Status RestoreCheckpoint(grpc::ServerContext*,
                                 const pathways::wire::RestoreCheckpointRequest* request,
                                 pathways::wire::RestoreCheckpointResponse* response) override;
  grpc::Status Status(grpc::ServerContext*, const pathways::wire::ClusterStatusRequest* request,
                      pathways::wire::ClusterStatusResponse* response) override;
  grpc::Status Trace(grpc::ServerContext*, const pathways::wire::TraceRequest* request,
                     pathways::wire::TraceResponse* response) override;
  grpc::Status Shutdown(grpc::ServerContext*, const pathways::wire::ShutdownRequest* request,
                        pathways::wire::StatusResponse* response) override;
  grpc::ServerBidiReactor<pathways::wire::SessionCalls, pathways::wire::SessionAnswers>* Session(
      grpc::CallbackServerContext* context) override;

  // Ends every open Session stream with `reason` and refuses new ones (before the server shuts
  // down; the waits they have pending are dropped with them).
  void StopSessions(const absl::Status& reason);
  // Ends the session streams of `client` (it disconnected, or its lease ran out).
  void EndSessionsOf(ClientId client, const absl::Status& reason);
  // Run for `client` (already authorized): the request's fields checked, naming them.
  void ServeRun(ClientId client, const pathways::wire::RunRequest& request,
                pathways::wire::RunResponse& response);

 private:
  class SessionStream;
  // Answers `response` with the event's status once it is available (or with the server's
  // reason when it stops first); holds no thread meanwhile.
  void AnswerWhenAvailable(grpc::ServerUnaryReactor* reactor,
                           pathways::wire::StatusResponse* response, const EventRef& event);

  ControllerServer* const server_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<std::shared_ptr<SessionStream>> sessions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<ClientId, int> streams_of_ ABSL_GUARDED_BY(mu_);  // open streams per client
  // Applies the session messages that carry runs (SessionStream::OnReadDone).
  std::unique_ptr<EventLoop> run_loop_;
};

// ControllerWorkers: short calls, on the sync server threads (Join may remove a stale host,
// which waits for the controller's work thread); each worker's ReportRuns stream on the callback
// API, its reports handed to the controller on the gRPC thread that read them.
class ControllerServer::WorkersService final
    : public pathways::wire::ControllerWorkers::WithCallbackMethod_ReportRuns<
          pathways::wire::ControllerWorkers::Service> {
 public:
  explicit WorkersService(ControllerServer* server) : server_(server) {}

  grpc::Status Join(grpc::ServerContext* context, const pathways::wire::JoinRequest* request,
                    pathways::wire::JoinResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const pathways::wire::HeartbeatRequest* request,
                         pathways::wire::HeartbeatResponse* response) override;
  grpc::ServerBidiReactor<pathways::wire::RunDoneReport, pathways::wire::StatusResponse>*
  ReportRuns(grpc::CallbackServerContext* context) override;
  grpc::Status LookupHost(grpc::ServerContext* context, const pathways::wire::LookupHostRequest* request,
                          pathways::wire::LookupHostResponse* response) override;

  // Ends every open ReportRuns stream with `reason` and refuses new ones (before the server
  // shuts down).
  void StopReports(const absl::Status& reason);

 private:
  class ReportReader;
  ControllerServer* const server_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<std::shared_ptr<ReportReader>> readers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_CLUSTER_CONTROLLER_SERVER_INTERNAL_H_
