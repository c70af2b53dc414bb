// WorkerService's default checkpoint methods, for hosts whose shards live in this process.
#include "pathways/service/worker_service.h"

#include <utility>

#include "pathways/base/status.h"

namespace pw {

AsyncValueRef<checkpoint::ShardFile> WorkerService::SaveShard(ArrayId array, int32_t shard,
                                                              std::string path) {
  auto result = MakeAsyncValue<checkpoint::ShardFile>();
  if (absl::Status bad = checkpoint::CheckPath(path, "SaveShard path"); !bad.ok()) {
    result->SetError(std::move(bad));
    return result;
  }
  AsyncValueRef<ir::Literal> data = FetchShard(array, shard);
  // The callback runs inside `data`'s own completion, so the raw pointer is alive there.
  AsyncValue<ir::Literal>* raw = data.get();
  data->AndThen([raw, result, path = std::move(path)](const absl::Status& status) {
    if (!status.ok()) {
      result->SetError(status);
      return;
    }
    absl::StatusOr<checkpoint::ShardFile> written = checkpoint::WriteShardFile(path, raw->value());
    if (written.ok()) {
      result->SetValue(*std::move(written));
    } else {
      result->SetError(written.status());
    }
  });
  return result;
}

absl::Status WorkerService::LoadShard(ArrayId array, int32_t shard, DeviceId device,
                                      const checkpoint::ShardFile& file) {
  PW_ASSIGN_OR_RETURN(ir::Literal data, checkpoint::ReadShardFile(file));
  return PutShard(array, shard, device, data);
}

}  // namespace pw
