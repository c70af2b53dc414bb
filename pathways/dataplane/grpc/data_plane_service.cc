// DataPlaneServiceImpl: chunks of pushed shards into a ShardReceiver.
#include "pathways/dataplane/grpc/data_plane_service.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/dataplane/grpc/shard_push_codec.h"

namespace pw {

class DataPlaneServiceImpl::PushReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  PushReactor(DataPlaneServiceImpl* service, grpc::CallbackServerContext* context,
              grpc::ByteBuffer* response)
      : service_(service), context_(context), response_(response) {
    if (absl::Status s = grpc_transport::NeedOperatorToken(context, service_->operator_token_, "a data-plane push");
        !s.ok()) {
      Answer(s);
      return;
    }
    // Runs at once when the receiver is known; otherwise on the thread that provides it.
    service_->ready_->AndThen([this](const absl::Status& ready) {
      if (!ready.ok()) {
        Answer(ready);
        return;
      }
      receiver_ = service_->receiver_.load(std::memory_order_acquire);
      StartRead(&request_);
    });
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      EndOfStream();
      return;
    }
    absl::Status s = Take();
    request_.Clear();
    if (!s.ok()) {
      if (incoming_ != nullptr) (void)incoming_->Finish(s);
      incoming_.reset();
      Answer(s);
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  // One message of the stream.
  absl::Status Take() {
    PW_ASSIGN_OR_RETURN(grpc_transport::DecodedPush push, grpc_transport::DecodePush(request_));
    if (error_push_) {
      return absl::InvalidArgumentError(absl::StrCat(Where(), ": a message after the error"));
    }
    if (!started_) {
      started_ = true;
      header_ = push.header;
      if (!push.error.ok()) {
        error_push_ = true;
        receiver_->FailShard(header_.array, header_.shard, header_.type, std::move(push.error));
        return absl::OkStatus();
      }
      PW_ASSIGN_OR_RETURN(incoming_, receiver_->BeginReceiveShard(header_.array, header_.shard,
                                                                  header_.device, header_.type));
    } else if (push.header.array != header_.array || push.header.shard != header_.shard ||
               push.header.device != header_.device || !(push.header.type == header_.type)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(), ": a later message names ", push.header.array.DebugString(),
                       " shard ", push.header.shard, " on ", push.header.device.DebugString(),
                       " as ", push.header.type.DebugString()));
    } else if (!push.error.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(Where(), ": an error after chunks"));
    }
    if (push.offset != received_) {
      return absl::InvalidArgumentError(absl::StrCat(Where(), ": chunk at byte ", push.offset,
                                                     ", expected byte ", received_));
    }
    PW_RETURN_IF_ERROR(grpc_transport::CopyChunk(request_, push, incoming_->data() + push.offset));
    received_ += push.size;
    service_->chunks_.fetch_add(1, std::memory_order_relaxed);
    service_->received_bytes_.fetch_add(push.size, std::memory_order_relaxed);
    return absl::OkStatus();
  }

  // The sender half-closed (or the call broke, or the reactor never got a receiver).
  void EndOfStream() {
    if (!started_) {
      Answer(absl::InvalidArgumentError(absl::StrCat(Where(), ": the push carried no message")));
      return;
    }
    if (error_push_) {
      Answer(absl::OkStatus());
      return;
    }
    const int64_t total = header_.type.byte_size();
    if (received_ == total) {
      Answer(incoming_->Finish(absl::OkStatus()));
      incoming_.reset();
      return;
    }
    absl::Status broken = absl::UnavailableError(
        absl::StrCat(Where(), ": the push ended after ", received_, " of ", total, " bytes",
                     context_->IsCancelled() ? " (the call was cancelled or broke)" : ""));
    (void)incoming_->Finish(broken);
    incoming_.reset();
    Answer(std::move(broken));
  }

  void Answer(const absl::Status& status) {
    pathways::wire::StatusResponse response;
    grpc_transport::SetStatus(response, status);
    grpc::Slice slice(response.SerializeAsString());
    *response_ = grpc::ByteBuffer(&slice, 1);
    Finish(grpc::Status::OK);
  }

  std::string Where() const {
    return absl::StrCat(service_->name_, " receiving ",
                        started_ ? absl::StrCat(header_.array.DebugString(), " shard ",
                                                header_.shard)
                                 : std::string("a push"),
                        " from ", context_->peer());
  }

  DataPlaneServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const response_;
  ShardReceiver* receiver_ = nullptr;
  grpc::ByteBuffer request_;
  bool started_ = false;
  bool error_push_ = false;
  wire::ShardPushHeader header_;
  std::unique_ptr<IncomingShard> incoming_;
  int64_t received_ = 0;
};

DataPlaneServiceImpl::DataPlaneServiceImpl(std::string name, std::string operator_token)
    : operator_token_(std::move(operator_token)), name_(std::move(name)) {}

void DataPlaneServiceImpl::SetReceiver(ShardReceiver* receiver, std::string name) {
  {
    absl::MutexLock lock(&mu_);
    if (decided_) return;
    decided_ = true;
    if (!name.empty()) name_ = std::move(name);
    receiver_.store(receiver, std::memory_order_release);
  }
  ready_->SetReady();
}

void DataPlaneServiceImpl::Close(absl::Status reason) {
  {
    absl::MutexLock lock(&mu_);
    if (decided_) return;
    decided_ = true;
  }
  if (reason.ok()) reason = absl::UnavailableError(absl::StrCat(name_, " is not receiving"));
  ready_->SetError(std::move(reason));
}

grpc::ServerReadReactor<grpc::ByteBuffer>* DataPlaneServiceImpl::Push(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  pushes_.fetch_add(1, std::memory_order_relaxed);
  return new PushReactor(this, context, response);
}

DataPlaneServiceImpl::Stats DataPlaneServiceImpl::stats() const {
  Stats s;
  s.pushes = pushes_.load(std::memory_order_relaxed);
  s.chunks = chunks_.load(std::memory_order_relaxed);
  s.received_bytes = received_bytes_.load(std::memory_order_relaxed);
  s.copied_bytes = s.received_bytes;
  return s;
}

}  // namespace pw
