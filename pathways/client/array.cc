// Array handles.
#include "pathways/client/array.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/client/client_state.h"

namespace pw {

namespace internal {
ArrayRef::~ArrayRef() {
  if (client != nullptr && !client->disconnected.load(std::memory_order_acquire)) {
    absl::Status s = client->controller->ReleaseArray(client->id, info.id);
    if (!s.ok()) PW_LOG(WARNING) << "releasing " << info.id << ": " << s;
  }
}
Array AdoptArray(std::shared_ptr<ClientState> client, ArrayInfo info) {
  auto ref = std::make_shared<ArrayRef>();
  ref->client = std::move(client);
  ref->info = std::move(info);
  return Array(std::move(ref));
}
}  // namespace internal

namespace {
const ArrayInfo& InvalidInfo() {
  static const ArrayInfo* info = new ArrayInfo();
  return *info;
}
}  // namespace

ArrayId Array::id() const { return ref_ ? ref_->info.id : ArrayId(); }
const ArraySpec& Array::spec() const { return ref_ ? ref_->info.spec : InvalidInfo().spec; }
int64_t Array::num_shards() const { return ref_ ? static_cast<int64_t>(ref_->info.devices.size()) : 0; }
const std::vector<DeviceId>& Array::devices() const { return ref_ ? ref_->info.devices : InvalidInfo().devices; }

ir::Shape Array::shape() const {
  std::vector<int64_t> dims = {num_shards()};
  for (int64_t d : shard_type().shape.dims()) dims.push_back(d);
  return ir::Shape(dims);
}

absl::Status Array::Await() const {
  if (!ref_) return absl::FailedPreconditionError("Await on an empty or released Array");
  if (ref_->client->disconnected.load()) {
    return absl::FailedPreconditionError(absl::StrCat(ref_->info.id.DebugString(), " belongs to client '",
                                                      ref_->client->name, "', which has disconnected"));
  }
  EventRef ready = ref_->client->controller->AwaitArray(ref_->client->id, ref_->info.id);
  return ready->Await();
}

absl::StatusOr<std::vector<ir::Literal>> Array::FetchShards() const {
  PW_RETURN_IF_ERROR(Await());
  return ref_->client->controller->FetchArray(ref_->client->id, ref_->info.id)->AwaitValue();
}

absl::StatusOr<ir::Literal> Array::ToLiteral() const {
  PW_ASSIGN_OR_RETURN(std::vector<ir::Literal> shards, FetchShards());
  ir::Literal out(ir::TensorType{dtype(), shape()});
  const int64_t shard_bytes = shard_type().byte_size();
  for (size_t i = 0; i < shards.size(); ++i) {
    if (shards[i].byte_size() != shard_bytes) {
      return absl::InternalError(absl::StrCat("shard ", i, " of ", id().DebugString(), " has ",
                                              shards[i].byte_size(), " bytes, expected ", shard_bytes));
    }
    if (shard_bytes > 0) {
      std::memcpy(static_cast<char*>(out.untyped_data()) + i * shard_bytes, shards[i].untyped_data(), shard_bytes);
    }
  }
  return out;
}

std::string Array::DebugString() const {
  if (!ref_) return "Array(empty)";
  std::vector<std::string> devs;
  for (DeviceId d : devices()) devs.push_back(d.DebugString());
  return absl::StrCat("Array(", id().DebugString(), " ", DTypeName(dtype()), shape().DebugString(),
                      " on [", absl::StrJoin(devs, ", "), "])");
}

}  // namespace pw
