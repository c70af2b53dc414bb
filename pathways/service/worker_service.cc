// WorkerService's default checkpoint methods, for hosts whose shards live in this process.
#include "pathways/service/worker_service.h"

#include <deque>
#include <thread>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/status.h"
#include "pathways/base/thread_name.h"

namespace pw {
namespace {

// One thread for checkpoint file writes: a shard's fetch completes on whatever thread readied
// it (a device stream, the executor's inbox, a gRPC callback), which must not block on disk.
// Created on first use and never destroyed (its thread waits for work until the process ends).
class CheckpointIo {
 public:
  static CheckpointIo& Get() {
    static CheckpointIo* io = new CheckpointIo();
    return *io;
  }
  void Post(absl::AnyInvocable<void()> task) {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }

 private:
  CheckpointIo() {
    std::thread([this] { Loop(); }).detach();
  }
  void Loop() {
    SetCurrentThreadName("pw-ckpt-io");
    for (;;) {
      absl::AnyInvocable<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](std::deque<absl::AnyInvocable<void()>>* t) { return !t->empty(); }, &tasks_));
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

AsyncValueRef<checkpoint::ShardFile> WorkerService::SaveShard(ArrayId array, int32_t shard,
                                                              std::string path) {
  auto result = MakeAsyncValue<checkpoint::ShardFile>();
  if (absl::Status bad = checkpoint::CheckPath(path, "SaveShard path"); !bad.ok()) {
    result->SetError(std::move(bad));
    return result;
  }
  AsyncValueRef<ir::Literal> data = FetchShard(array, shard);
  // The callback runs inside `data`'s own completion, so the raw pointer is alive there; the
  // write itself goes to the checkpoint I/O thread with its own copy of the bytes.
  AsyncValue<ir::Literal>* raw = data.get();
  data->AndThen([raw, result, path = std::move(path)](const absl::Status& status) mutable {
    if (!status.ok()) {
      result->SetError(status);
      return;
    }
    CheckpointIo::Get().Post([literal = raw->value(), result, path = std::move(path)] {
      absl::StatusOr<checkpoint::ShardFile> written = checkpoint::WriteShardFile(path, literal);
      if (written.ok()) {
        result->SetValue(*std::move(written));
      } else {
        result->SetError(written.status());
      }
    });
  });
  return result;
}

absl::Status WorkerService::LoadShard(ArrayId array, int32_t shard, DeviceId device,
                                      const checkpoint::ShardFile& file) {
  PW_ASSIGN_OR_RETURN(ir::Literal data, checkpoint::ReadShardFile(file));
  return PutShard(array, shard, device, data);
}

}  // namespace pw
