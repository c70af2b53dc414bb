// Rendezvous service and its client store.
#include "pathways/rpc/rendezvous_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/base/status.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"

namespace pw {

namespace {
using grpc_transport::SetStatus;

std::chrono::system_clock::time_point Deadline(absl::Duration from_now) {
  return absl::ToChronoTime(absl::Now() + from_now);
}
}  // namespace

// ---- RendezvousServiceImpl -------------------------------------------------------------------

RendezvousServiceImpl::RendezvousServiceImpl(RendezvousStore* store, std::string operator_token)
    : store_(store), operator_token_(std::move(operator_token)) {}

void RendezvousServiceImpl::Shutdown() { shutdown_.store(true, std::memory_order_release); }

grpc::Status RendezvousServiceImpl::Set(grpc::ServerContext* context,
                                        const pathways::wire::StoreSetRequest* request,
                                        pathways::wire::StoreValueResponse* response) {
  absl::Status s = wire::CheckVersion(*request);
  if (s.ok()) s = grpc_transport::NeedOperatorToken(context, operator_token_, "the rendezvous store");
  if (s.ok()) {
    if (request->if_absent()) {
      absl::StatusOr<std::string> stored = store_->SetIfAbsent(request->key(), request->value());
      if (stored.ok()) {
        response->set_value(*std::move(stored));
      } else {
        s = stored.status();
      }
    } else {
      s = store_->Set(request->key(), request->value());
    }
  }
  SetStatus(*response, s);
  return grpc::Status::OK;
}

grpc::Status RendezvousServiceImpl::Get(grpc::ServerContext* context,
                                        const pathways::wire::StoreGetRequest* request,
                                        pathways::wire::StoreValueResponse* response) {
  absl::Status s = wire::CheckVersion(*request);
  if (s.ok()) s = grpc_transport::NeedOperatorToken(context, operator_token_, "the rendezvous store");
  if (s.ok()) {
    absl::StatusOr<std::string> value = store_->Get(request->key());
    if (value.ok()) {
      response->set_value(*std::move(value));
    } else {
      s = value.status();
    }
  }
  SetStatus(*response, s);
  return grpc::Status::OK;
}

grpc::Status RendezvousServiceImpl::Wait(grpc::ServerContext* context,
                                         const pathways::wire::StoreWaitRequest* request,
                                         pathways::wire::StatusResponse* response) {
  absl::Status s = wire::CheckVersion(*request);
  if (s.ok()) s = grpc_transport::NeedOperatorToken(context, operator_token_, "the rendezvous store");
  if (!s.ok()) {
    SetStatus(*response, s);
    return grpc::Status::OK;
  }
  const std::vector<std::string> keys(request->keys().begin(), request->keys().end());
  const absl::Duration timeout =
      std::clamp(absl::Milliseconds(request->timeout_ms()), absl::ZeroDuration(), kMaxRendezvousWait);
  const absl::Time deadline = absl::Now() + timeout;
  // Waits in slices so a caller that gave up, or a server going down, frees the thread.
  for (;;) {
    if (shutdown_.load(std::memory_order_acquire)) {
      s = absl::UnavailableError("the rendezvous service is shutting down");
      break;
    }
    if (context->IsCancelled()) {
      s = absl::CancelledError("the rendezvous wait was cancelled by its caller");
      break;
    }
    const absl::Duration left = deadline - absl::Now();
    const absl::Duration slice = std::clamp(left, absl::ZeroDuration(), kWaitSlice);
    s = store_->Wait(keys, slice, request->abort_key());
    if (!absl::IsDeadlineExceeded(s)) break;
    if (slice >= left) {
      // The store named its last slice; name the whole wait instead.
      std::vector<std::string> missing;
      for (const std::string& key : keys) {
        if (absl::IsNotFound(store_->Get(key).status())) missing.push_back(absl::CHexEscape(key));
      }
      s = absl::DeadlineExceededError(absl::StrCat("rendezvous keys not set within ",
                                                   absl::FormatDuration(timeout), ": '",
                                                   absl::StrJoin(missing, "', '"), "'"));
      break;
    }
  }
  SetStatus(*response, s);
  return grpc::Status::OK;
}

grpc::Status RendezvousServiceImpl::DeletePrefix(
    grpc::ServerContext* context, const pathways::wire::StoreDeletePrefixRequest* request,
    pathways::wire::StoreCountResponse* response) {
  absl::Status s = wire::CheckVersion(*request);
  if (s.ok()) s = grpc_transport::NeedOperatorToken(context, operator_token_, "the rendezvous store");
  if (s.ok()) {
    absl::StatusOr<int64_t> count = store_->DeletePrefix(request->prefix());
    if (count.ok()) {
      response->set_count(*count);
    } else {
      s = count.status();
    }
  }
  SetStatus(*response, s);
  return grpc::Status::OK;
}

// ---- GrpcRendezvousStore ---------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<GrpcRendezvousStore>> GrpcRendezvousStore::Create(
    std::string address) {
  if (address.empty()) {
    return absl::InvalidArgumentError("GrpcRendezvousStore: the store's address is empty");
  }
  return std::unique_ptr<GrpcRendezvousStore>(new GrpcRendezvousStore(std::move(address)));
}

GrpcRendezvousStore::GrpcRendezvousStore(std::string address)
    : address_(std::move(address)),
      stub_(pathways::wire::Rendezvous::NewStub(grpc_transport::MakeChannel(address_))) {}

absl::Status GrpcRendezvousStore::Lost(const grpc::Status& status, const std::string& what) const {
  return absl::UnavailableError(absl::StrCat("rendezvous store at ", address_, " (", what,
                                             "): ", status.error_message()));
}

absl::StatusOr<std::string> GrpcRendezvousStore::SetImpl(const std::string& key,
                                                         std::string value, bool if_absent) {
  pathways::wire::StoreSetRequest request;
  request.set_version(wire::kWireVersion);
  request.set_key(key);
  request.set_value(std::move(value));
  request.set_if_absent(if_absent);
  pathways::wire::StoreValueResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(kCallTimeout));
  const grpc::Status status = stub_->Set(&context, request, &response);
  if (!status.ok()) {
    return Lost(status, absl::StrCat(if_absent ? "SetIfAbsent '" : "Set '",
                                     absl::CHexEscape(key), "'"));
  }
  PW_RETURN_IF_ERROR(wire::ResponseStatus(response));
  return std::move(*response.mutable_value());
}

absl::Status GrpcRendezvousStore::Set(const std::string& key, std::string value) {
  return SetImpl(key, std::move(value), /*if_absent=*/false).status();
}

absl::StatusOr<std::string> GrpcRendezvousStore::SetIfAbsent(const std::string& key,
                                                             std::string value) {
  return SetImpl(key, std::move(value), /*if_absent=*/true);
}

absl::StatusOr<std::string> GrpcRendezvousStore::Get(const std::string& key) {
  pathways::wire::StoreGetRequest request;
  request.set_version(wire::kWireVersion);
  request.set_key(key);
  pathways::wire::StoreValueResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(kCallTimeout));
  const grpc::Status status = stub_->Get(&context, request, &response);
  if (!status.ok()) return Lost(status, absl::StrCat("Get '", absl::CHexEscape(key), "'"));
  PW_RETURN_IF_ERROR(wire::ResponseStatus(response));
  return std::move(*response.mutable_value());
}

absl::Status GrpcRendezvousStore::Wait(const std::vector<std::string>& keys,
                                       absl::Duration timeout, const std::string& abort_key) {
  timeout = std::clamp(timeout, absl::ZeroDuration(), kMaxRendezvousWait);
  pathways::wire::StoreWaitRequest request;
  request.set_version(wire::kWireVersion);
  for (const std::string& key : keys) request.add_keys(key);
  request.set_timeout_ms(absl::ToInt64Milliseconds(timeout));
  request.set_abort_key(abort_key);
  pathways::wire::StatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(timeout + kCallTimeout));
  const grpc::Status status = stub_->Wait(&context, request, &response);
  if (!status.ok()) return Lost(status, absl::StrCat("Wait for ", keys.size(), " key(s)"));
  return wire::ResponseStatus(response);
}

absl::StatusOr<int64_t> GrpcRendezvousStore::DeletePrefix(const std::string& prefix) {
  pathways::wire::StoreDeletePrefixRequest request;
  request.set_version(wire::kWireVersion);
  request.set_prefix(prefix);
  pathways::wire::StoreCountResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(kCallTimeout));
  const grpc::Status status = stub_->DeletePrefix(&context, request, &response);
  if (!status.ok()) {
    return Lost(status, absl::StrCat("DeletePrefix '", absl::CHexEscape(prefix), "'"));
  }
  PW_RETURN_IF_ERROR(wire::ResponseStatus(response));
  return response.count();
}

std::string GrpcRendezvousStore::DebugString() const {
  return absl::StrCat("gRPC rendezvous store at ", address_);
}

}  // namespace pw
