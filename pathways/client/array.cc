// Array handles.
#include "pathways/client/array.h"

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/client/client_state.h"
#include "pathways/client/global_array.h"

namespace pw {

namespace internal {
ArrayRef::~ArrayRef() {
  if (client != nullptr && !client->disconnected.load(std::memory_order_acquire)) {
    client->controller->ReleaseArrayNoWait(client->id, info.id);
  }
}
Array AdoptArray(std::shared_ptr<ClientState> client, ArrayInfo info, RunId producer) {
  auto ref = std::make_shared<ArrayRef>();
  ref->client = std::move(client);
  ref->info = std::move(info);
  ref->producer = producer;
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
RunId Array::producer() const { return ref_ ? ref_->producer : RunId(); }
const ArraySpec& Array::spec() const { return ref_ ? ref_->info.spec : InvalidInfo().spec; }
int64_t Array::num_shards() const { return ref_ ? static_cast<int64_t>(ref_->info.devices.size()) : 0; }
const std::vector<DeviceId>& Array::devices() const { return ref_ ? ref_->info.devices : InvalidInfo().devices; }

std::vector<int64_t> Array::mesh() const {
  return ref_ ? MeshOrLine(ref_->info.mesh, num_shards()) : std::vector<int64_t>{};
}

ir::Shape Array::shape() const { return GlobalShape(shard_type().shape, sharding(), mesh()); }

absl::Status Array::Await() const {
  if (!ref_) return absl::FailedPreconditionError("Await on an empty or released Array");
  if (ref_->client->disconnected.load()) {
    return absl::FailedPreconditionError(absl::StrCat(ref_->info.id.DebugString(), " belongs to client '",
                                                      ref_->client->name, "', which has disconnected"));
  }
  EventRef ready = ref_->client->controller->AwaitArray(ref_->client->id, ref_->info.id);
  // The client's thread sleeps until the answer wakes it, without polling first (as
  // AsyncEvent::Await does for the runtime's short waits): a client waits for a whole round trip,
  // and a spinning client takes CPU the workers beside it need.
  struct Waiter {
    absl::Notification done;
    absl::Status status;
  };
  auto waiter = std::make_shared<Waiter>();
  ready->AndThen([waiter](const absl::Status& s) {
    waiter->status = s;
    waiter->done.Notify();
  });
  waiter->done.WaitForNotification();
  return waiter->status;
}

absl::StatusOr<std::vector<ir::Literal>> Array::FetchShards() const {
  PW_RETURN_IF_ERROR(Await());
  return ref_->client->controller->FetchArray(ref_->client->id, ref_->info.id)->AwaitValue();
}

absl::StatusOr<ir::Literal> Array::ToLiteral() const {
  PW_ASSIGN_OR_RETURN(std::vector<ir::Literal> shards, FetchShards());
  absl::StatusOr<ir::Literal> global = AssembleGlobal(shards, shard_type(), sharding(), mesh());
  if (!global.ok()) {
    return absl::InternalError(absl::StrCat(id().DebugString(), ": ", global.status().message()));
  }
  return global;
}

std::string Array::DebugString() const {
  if (!ref_) return "Array(empty)";
  std::vector<std::string> devs;
  for (DeviceId d : devices()) devs.push_back(d.DebugString());
  return absl::StrCat("Array(", id().DebugString(), " ", DTypeName(dtype()), shape().DebugString(),
                      sharding().stacked() ? "" : absl::StrCat(" ", sharding().DebugString()),
                      " on [", absl::StrJoin(devs, ", "), "])");
}

}  // namespace pw
