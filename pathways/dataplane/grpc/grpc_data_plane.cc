// GrpcDataPlane: chunked pushes over DataPlane.Push.
#include "pathways/dataplane/grpc/grpc_data_plane.h"


#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/base/thread_name.h"
#include "pathways/dataplane/grpc/shard_push_codec.h"
#include "pathways/wire/wire_convert.h"

namespace pw {

namespace {
// Set while a push drops its own reference to a chunk (our code, not gRPC's transport), so the
// slice's release callback may finish the push inline.
thread_local bool tls_releasing_own_chunk = false;
}  // namespace

// One push: a client-streaming call (driven through the generic stub, so chunk messages can
// reference the shard's memory). Lifetime: references are the call itself (dropped in OnDone,
// or at once for a push that never started), one per chunk slice gRPC still holds, and a
// temporary one while Shutdown cancels it; the last one sets the event and deletes the call.
class GrpcDataPlane::PushCall final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  PushCall(GrpcDataPlane* plane, HostId host, wire::ShardPushHeader header, const char* data,
           int64_t bytes, absl::Status error, EventRef event)
      : plane_(plane), host_(host), header_(std::move(header)), data_(data), bytes_(bytes),
        error_(std::move(error)), event_(std::move(event)) {}

  HostId host() const { return host_; }

  // Starts the call; not under the plane's lock.
  void Start(std::shared_ptr<Peer> peer) {
    peer_ = std::move(peer);
    peer_->stub->PrepareBidiStreamingCall(&context_, grpc_transport::kPushMethod,
                                          grpc::StubOptions(), this);
    StartRead(&response_);
    WriteNext();
    StartCall();
  }

  // Ends a push that never started a call.
  void FailNow(absl::Status status) {
    status_ = std::move(status);
    Release(/*inside_grpc=*/false);
  }

  void Hold() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Cancel() { context_.TryCancel(); }
  void Release(bool inside_grpc) {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (inside_grpc) {
      // A slice released inside gRPC's transport: user code (the event's callbacks) must not run
      // there.
      plane_->Post([this] { Complete(); });
    } else {
      Complete();
    }
  }

  void OnWriteDone(bool ok) override {
    DropRequest();  // gRPC let go of the message before telling us
    if (ok && error_.ok() && next_offset_ < bytes_) WriteNext();
  }
  void OnReadDone(bool ok) override { got_response_ = ok; }
  void OnDone(const grpc::Status& status) override {
    DropRequest();
    if (!status.ok()) {
      const absl::StatusCode code = status.error_code() == grpc::StatusCode::CANCELLED
                                        ? absl::StatusCode::kCancelled
                                        : absl::StatusCode::kUnavailable;
      status_ = absl::Status(code, absl::StrCat(What(), ": ", status.error_message()));
    } else if (!got_response_) {
      status_ = absl::UnavailableError(absl::StrCat(What(), ": the receiver did not answer"));
    } else {
      pathways::wire::StatusResponse response;
      grpc::ProtoBufferReader reader(&response_);
      status_ = response.ParseFromZeroCopyStream(&reader)
                    ? wire::ResponseStatus(response)
                    : absl::UnavailableError(absl::StrCat(What(), ": malformed response"));
    }
    plane_->Ended(this);
    Release(/*inside_grpc=*/false);
  }

 private:
  static void ReleaseSlice(void* user) {
    static_cast<PushCall*>(user)->Release(/*inside_grpc=*/!tls_releasing_own_chunk);
  }
  void DropRequest() {
    tls_releasing_own_chunk = true;
    request_.Clear();
    tls_releasing_own_chunk = false;
  }

  void WriteNext() {
    if (!error_.ok()) {
      request_ = grpc_transport::EncodeError(header_, error_);
      StartWriteLast(&request_, grpc::WriteOptions());
      return;
    }
    const int64_t n = std::min(plane_->options_.chunk_bytes, bytes_ - next_offset_);
    if (n > 0) Hold();  // released by the chunk's slice
    request_ = grpc_transport::EncodeChunk(header_, next_offset_, data_ + next_offset_, n,
                                           &PushCall::ReleaseSlice, this);
    next_offset_ += n;
    plane_->chunks_.fetch_add(1, std::memory_order_relaxed);
    plane_->payload_bytes_.fetch_add(n, std::memory_order_relaxed);
    if (next_offset_ >= bytes_) {
      StartWriteLast(&request_, grpc::WriteOptions());
    } else {
      StartWrite(&request_);
    }
  }

  std::string What() const {
    return absl::StrCat("data plane push of ", header_.array.DebugString(), " shard ",
                        header_.shard, " from ", plane_->options_.name, " to ",
                        host_.DebugString(), " at ", peer_ != nullptr ? peer_->address : "?");
  }

  void Complete() {
    GrpcDataPlane* plane = plane_;
    EventRef event = std::move(event_);
    absl::Status status = std::move(status_);
    delete this;
    event->SetStatus(std::move(status));
    plane->Finished();
  }

  GrpcDataPlane* const plane_;
  const HostId host_;
  const wire::ShardPushHeader header_;
  const char* const data_;
  const int64_t bytes_;
  const absl::Status error_;  // an error push when not OK
  EventRef event_;
  std::shared_ptr<Peer> peer_;  // keeps the channel alive for the call
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  int64_t next_offset_ = 0;
  bool got_response_ = false;
  absl::Status status_;
  std::atomic<int> refs_{1};
};

GrpcDataPlane::GrpcDataPlane(GrpcDataPlaneOptions options) : options_(std::move(options)) {
  PW_CHECK(options_.resolve != nullptr) << options_.name << ": GrpcDataPlane needs a resolver";
  PW_CHECK(options_.chunk_bytes > 0) << options_.name << ": chunk_bytes must be positive";
  thread_ = std::thread([this] { Loop(); });
}

GrpcDataPlane::~GrpcDataPlane() { Shutdown(); }

EventRef GrpcDataPlane::Push(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                             const ir::TensorType& type, const void* data, int64_t bytes) {
  EventRef event = AsyncEvent::Create();
  Submit(new PushCall(this, dest_host, wire::ShardPushHeader{array, shard, dest_device, type},
                      static_cast<const char*>(data), bytes, absl::OkStatus(), event));
  return event;
}

void GrpcDataPlane::PushError(HostId dest_host, ArrayId array, int32_t shard,
                              DeviceId dest_device, const ir::TensorType& type,
                              absl::Status error) {
  if (error.ok()) error = absl::UnknownError("the producer failed without a reason");
  EventRef event = AsyncEvent::Create();
  event->AndThen([name = options_.name, array, shard, dest_host](const absl::Status& status) {
    if (!status.ok()) {
      PW_LOG(WARNING) << name << ": could not tell " << dest_host << " that " << array
                      << " shard " << shard << " failed: " << status;
    }
  });
  Submit(new PushCall(this, dest_host, wire::ShardPushHeader{array, shard, dest_device, type},
                      nullptr, 0, std::move(error), std::move(event)));
}

void GrpcDataPlane::Submit(PushCall* call) {
  pushes_.fetch_add(1, std::memory_order_relaxed);
  const HostId host = call->host();
  std::shared_ptr<Peer> peer;
  bool refused = false;
  {
    absl::MutexLock lock(&mu_);
    ++outstanding_;
    if (stopping_) {
      refused = true;
    } else if (auto it = peers_.find(host); it != peers_.end()) {
      peer = it->second;
      in_flight_.insert(call);
    } else {
      std::vector<PushCall*>& waiting = unresolved_[host];
      waiting.push_back(call);
      if (waiting.size() == 1) tasks_.push_back([this, host] { Resolve(host); });
    }
  }
  if (refused) {
    call->FailNow(absl::UnavailableError(absl::StrCat(
        options_.name, ": the data plane is shut down; no push to ", host.DebugString())));
  } else if (peer != nullptr) {
    call->Start(std::move(peer));
  }
}

void GrpcDataPlane::Resolve(HostId host) {
  absl::StatusOr<std::string> address = options_.resolve(host);
  std::shared_ptr<Peer> peer;
  if (address.ok()) {
    peer = std::make_shared<Peer>();
    peer->address = *address;
    peer->channel = grpc_transport::MakeChannel(*address);
    peer->stub = std::make_unique<grpc::GenericStub>(peer->channel);
  }
  std::vector<PushCall*> waiting;
  bool stopping = false;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = unresolved_.find(host); it != unresolved_.end()) {
      waiting = std::move(it->second);
      unresolved_.erase(it);
    }
    stopping = stopping_;
    if (peer != nullptr && !stopping) {
      peers_[host] = peer;
      for (PushCall* call : waiting) in_flight_.insert(call);
    }
  }
  if (peer == nullptr || stopping) {
    const absl::Status error = absl::UnavailableError(
        peer == nullptr
            ? absl::StrCat(options_.name, ": cannot push to ", host.DebugString(),
                           ": its address is unknown: ", address.status().message())
            : absl::StrCat(options_.name, ": the data plane is shut down; no push to ",
                           host.DebugString()));
    for (PushCall* call : waiting) call->FailNow(error);
    return;
  }
  for (PushCall* call : waiting) call->Start(peer);
}

void GrpcDataPlane::Post(absl::AnyInvocable<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

void GrpcDataPlane::Loop() {
  SetCurrentThreadName("pw-data-plane");
  for (;;) {
    absl::AnyInvocable<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !tasks_.empty() || (stopping_ && outstanding_ == 0);
      };
      mu_.Await(absl::Condition(&ready));
      if (tasks_.empty()) {
        thread_done_ = true;
        return;
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void GrpcDataPlane::Ended(PushCall* call) {
  absl::MutexLock lock(&mu_);
  in_flight_.erase(call);
}

void GrpcDataPlane::Finished() {
  absl::MutexLock lock(&mu_);
  --outstanding_;
}

void GrpcDataPlane::Shutdown() {
  std::vector<PushCall*> unresolved;
  std::vector<PushCall*> in_flight;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [host, calls] : unresolved_) {
      unresolved.insert(unresolved.end(), calls.begin(), calls.end());
    }
    unresolved_.clear();
    for (PushCall* call : in_flight_) {
      call->Hold();  // alive while it is cancelled below, outside the lock
      in_flight.push_back(call);
    }
  }
  const absl::Status down = absl::UnavailableError(
      absl::StrCat(options_.name, ": the data plane shut down before the push started"));
  for (PushCall* call : unresolved) call->FailNow(down);
  for (PushCall* call : in_flight) {
    call->Cancel();
    call->Release(/*inside_grpc=*/false);
  }
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&thread_done_));
  }
  if (thread_.joinable()) thread_.join();
}

GrpcDataPlane::Stats GrpcDataPlane::stats() const {
  Stats s;
  s.pushes = pushes_.load(std::memory_order_relaxed);
  s.chunks = chunks_.load(std::memory_order_relaxed);
  s.payload_bytes = payload_bytes_.load(std::memory_order_relaxed);
  s.copied_bytes = 0;
  return s;
}

std::string GrpcDataPlane::DebugString() const {
  const Stats s = stats();
  absl::MutexLock lock(&mu_);
  return absl::StrCat("gRPC data plane of ", options_.name, " (", peers_.size(), " peers, ",
                      s.pushes, " pushes, ", s.chunks, " chunks, ", s.payload_bytes,
                      " bytes, ", outstanding_, " outstanding)");
}

}  // namespace pw
