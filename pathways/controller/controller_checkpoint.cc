// Controller: checkpoints. Each host writes and reads its own shards' files; the controller
// checks the request, fans the shards out to their hosts and writes the index last.
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/base/status.h"
#include "pathways/checkpoint/checkpoint_index.h"
#include "pathways/controller/controller.h"

namespace pw {

struct Controller::SaveState {
  std::string directory;
  std::string where;  // "SaveCheckpoint(/path)"
  EventRef done;
  std::vector<std::shared_ptr<ArrayRecord>> records;  // one reference each, dropped at the end
  absl::Mutex mu;
  checkpoint::CheckpointIndex index ABSL_GUARDED_BY(mu);
  absl::Status error ABSL_GUARDED_BY(mu);
  int64_t pending ABSL_GUARDED_BY(mu) = 0;  // shards not yet written (or given up)
};

namespace {

template <typename T>
absl::StatusOr<T> Annotated(absl::StatusOr<T> value, const std::string& where) {
  if (!value.ok()) return Annotate(value.status(), where);
  return value;
}

absl::Status CheckSaveRequest(const SaveCheckpointRequest& request, const std::string& where) {
  PW_RETURN_IF_ERROR(Annotate(checkpoint::CheckPath(request.directory, "directory"), where));
  if (static_cast<int64_t>(request.metadata.size()) > checkpoint::kMaxMetadataBytes) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": metadata of ", request.metadata.size(),
                                                   " bytes; at most ", checkpoint::kMaxMetadataBytes));
  }
  if (static_cast<int64_t>(request.arrays.size()) > checkpoint::kMaxArrays) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", request.arrays.size(),
                                                   " arrays; at most ", checkpoint::kMaxArrays));
  }
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < request.arrays.size(); ++i) {
    const std::string& name = request.arrays[i].name;
    if (name.empty() || static_cast<int64_t>(name.size()) > checkpoint::kMaxNameLength) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": array ", i, " needs a name of 1 to ",
                                                     checkpoint::kMaxNameLength, " bytes"));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the name \"", name,
                                                     "\" is given to two arrays"));
    }
  }
  return absl::OkStatus();
}

// Creates the directory; ALREADY_EXISTS when it holds a checkpoint.
absl::Status PrepareDirectory(const std::string& directory, const std::string& where) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(where, ": creating ", directory, ": ", ec.message()));
  }
  const std::string index = checkpoint::JoinPath(directory, checkpoint::kIndexFileName);
  const bool exists = std::filesystem::exists(index, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(where, ": looking for ", index, ": ", ec.message()));
  }
  if (exists) {
    return absl::AlreadyExistsError(
        absl::StrCat(where, ": ", index, " exists: the directory holds a checkpoint already"));
  }
  return absl::OkStatus();
}

}  // namespace

EventRef Controller::SaveCheckpoint(ClientId client, SaveCheckpointRequest request) {
  auto save = std::make_shared<SaveState>();
  save->done = AsyncEvent::Create();
  save->where = absl::StrCat("SaveCheckpoint(", request.directory.substr(0, 256), ")");
  save->directory = request.directory;
  absl::Status s;
  {
    absl::MutexLock lock(&mu_);
    s = CheckClientLocked(client);
  }
  if (s.ok()) s = CheckSaveRequest(request, save->where);
  for (size_t i = 0; s.ok() && i < request.arrays.size(); ++i) {
    absl::StatusOr<std::shared_ptr<ArrayRecord>> record = arrays_.Get(client, request.arrays[i].array);
    if (!record.ok()) {
      s = Annotate(record.status(), absl::StrCat(save->where, " array \"", request.arrays[i].name, "\""));
      break;
    }
    save->records.push_back(*std::move(record));
  }
  if (s.ok()) s = PrepareDirectory(save->directory, save->where);
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    if (!saving_.insert(save->directory).second) {
      s = absl::AlreadyExistsError(absl::StrCat(save->where, ": another save into ",
                                                save->directory, " is in progress"));
    }
  }
  if (!s.ok()) {
    save->done->SetError(std::move(s));
    return save->done;
  }
  {
    absl::MutexLock lock(&save->mu);
    save->index.metadata = std::move(request.metadata);
    for (size_t i = 0; i < save->records.size(); ++i) {
      const ArrayRecord& record = *save->records[i];
      checkpoint::CheckpointIndex::Array entry;
      entry.name = std::move(request.arrays[i].name);
      entry.shard_type = record.spec().shard_type;
      if (!record.spec().sharding.stacked()) entry.partition = record.spec().sharding.spec;
      entry.mesh = record.info().mesh;
      entry.shards.resize(record.num_shards());
      save->index.arrays.push_back(std::move(entry));
      save->pending += record.num_shards();
    }
  }
  for (const auto& record : save->records) record->AddRef();  // the shards stay until written
  if (save->records.empty()) {
    work_.Post([this, save] { FinishSave(save); });
    return save->done;
  }
  for (size_t i = 0; i < save->records.size(); ++i) {
    // Saving calls workers, which must not happen on the worker thread that readies the array.
    save->records[i]->ready()->AndThen(
        [this, save, i](const absl::Status&) { work_.Post([this, save, i] { SaveArrayShards(save, i); }); });
  }
  return save->done;
}

void Controller::SaveArrayShards(const std::shared_ptr<SaveState>& save, size_t i) {
  const std::shared_ptr<ArrayRecord>& record = save->records[i];
  std::string name;
  {
    absl::MutexLock lock(&save->mu);
    name = save->index.arrays[i].name;
  }
  const std::string where = absl::StrCat(save->where, " array \"", name, "\"");
  auto give_up = [&](absl::Status error) {
    bool last;
    {
      absl::MutexLock lock(&save->mu);
      if (save->error.ok()) save->error = Annotate(error, where);
      save->pending -= record->num_shards();
      last = save->pending == 0;
    }
    if (last) FinishSave(save);
  };
  if (const absl::Status& ready = record->ready()->status(); !ready.ok()) return give_up(ready);
  absl::StatusOr<std::vector<WorkerService*>> workers = WorkersOf(record->shard_hosts(), where);
  if (!workers.ok()) return give_up(workers.status());
  if (record->num_shards() == 0) return give_up(absl::OkStatus());
  for (int32_t k = 0; k < record->num_shards(); ++k) {
    const std::string file = checkpoint::ShardFileName(static_cast<int64_t>(i), k);
    AsyncValueRef<checkpoint::ShardFile> saved =
        (*workers)[k]->SaveShard(record->id(), k, checkpoint::JoinPath(save->directory, file));
    AsyncValue<checkpoint::ShardFile>* raw = saved.get();
    saved->AndThen([this, save, i, k, file, raw, where](const absl::Status& status) {
      bool last;
      {
        absl::MutexLock lock(&save->mu);
        checkpoint::CheckpointIndex::Array& entry = save->index.arrays[i];
        absl::Status error = status;
        if (error.ok() && raw->value().type != entry.shard_type) {
          error = absl::InternalError(absl::StrCat("the host wrote a ", raw->value().type.DebugString(),
                                                   " shard; the array's shards are ",
                                                   entry.shard_type.DebugString()));
        }
        if (error.ok()) {
          entry.shards[k] = {file, raw->value().bytes, raw->value().crc32};
        } else if (save->error.ok()) {
          save->error = Annotate(error, absl::StrCat(where, " shard ", k));
        }
        last = --save->pending == 0;
      }
      // Writing the index is file I/O: not on the worker's thread that completed the shard.
      if (last) work_.Post([this, save] { FinishSave(save); });
    });
  }
}

void Controller::FinishSave(const std::shared_ptr<SaveState>& save) {
  absl::Status status;
  {
    absl::MutexLock lock(&save->mu);
    status = save->error;
    if (status.ok()) status = Annotate(checkpoint::WriteIndex(save->directory, save->index), save->where);
  }
  for (const auto& record : save->records) DropArrayRef(record);
  {
    absl::MutexLock lock(&mu_);
    saving_.erase(save->directory);
  }
  save->done->SetStatus(status);
}

absl::StatusOr<RestoredCheckpoint> Controller::RestoreCheckpoint(ClientId client,
                                                                 RestoreCheckpointRequest request) {
  const std::string where = absl::StrCat("RestoreCheckpoint(", request.directory.substr(0, 256), ")");
  {
    absl::MutexLock lock(&mu_);
    PW_RETURN_IF_ERROR(CheckClientLocked(client));
  }
  PW_RETURN_IF_ERROR(Annotate(checkpoint::CheckPath(request.directory, "directory"), where));
  PW_ASSIGN_OR_RETURN(checkpoint::CheckpointIndex index,
                      Annotated(checkpoint::ReadIndex(request.directory), where));
  // Check every entry before loading anything.
  struct Plan {
    const checkpoint::CheckpointIndex::Array* saved;
    VirtualSlice slice;
    Sharding sharding;  // the saved layout
    std::vector<HostId> hosts;
    std::vector<WorkerService*> workers;
  };
  std::vector<Plan> plans;
  for (const RestoreCheckpointRequest::Entry& entry : request.arrays) {
    const std::string what = absl::StrCat(where, " array \"", entry.name, "\"");
    Plan plan;
    PW_ASSIGN_OR_RETURN(plan.saved, Annotated(index.Find(entry.name), where));
    PW_ASSIGN_OR_RETURN(plan.slice, Annotated(OwnedSlice(client, entry.slice), what));
    if (plan.slice.devices.size() != plan.saved->shards.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": saved with ", plan.saved->shards.size(), " shards, but ",
          plan.slice.DebugString(), " has ", plan.slice.devices.size(), " devices"));
    }
    if (plan.saved->partition.has_value()) {
      // Shard i goes back to device i: the blocks are the saved ones only on the same mesh.
      plan.sharding = Sharding{Sharding::Kind::kPartitioned, *plan.saved->partition};
      const std::vector<int64_t> mesh = MeshOrLine(
          plan.slice.mesh_shape, static_cast<int64_t>(plan.slice.devices.size()));
      if (mesh != plan.saved->mesh) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": saved ", plan.sharding.DebugString(), " over mesh [",
            absl::StrJoin(plan.saved->mesh, ","), "], but ", plan.slice.DebugString(),
            " has mesh [", absl::StrJoin(mesh, ","), "]"));
      }
      PW_RETURN_IF_ERROR(Annotate(
          ValidateSharding(plan.sharding, plan.saved->shard_type.shape.rank(), mesh), what));
    }
    if (entry.expected_type.has_value() && *entry.expected_type != plan.saved->shard_type) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": saved shards are ",
                                                     plan.saved->shard_type.DebugString(),
                                                     ", expected ", entry.expected_type->DebugString()));
    }
    PW_ASSIGN_OR_RETURN(plan.hosts, HostsOf(plan.slice.devices));
    PW_ASSIGN_OR_RETURN(plan.workers, WorkersOf(plan.hosts, what));
    plans.push_back(std::move(plan));
  }
  // The client's quota first; then load, and on the first error free what was loaded.
  ArrayFootprint footprint;
  for (const Plan& plan : plans) footprint.Add(plan.saved->shard_type, plan.slice.devices);
  PW_RETURN_IF_ERROR(Annotate(arrays_.Charge(client, footprint, options_.quota), where));
  std::vector<std::pair<ArrayId, std::vector<WorkerService*>>> loaded;
  auto unload = [&] {
    for (const auto& [id, workers] : loaded) {
      for (WorkerService* worker : workers) worker->Release(absl::MakeConstSpan(&id, 1));
    }
    arrays_.Refund(client, footprint);
  };
  for (size_t i = 0; i < plans.size(); ++i) {
    const Plan& plan = plans[i];
    const ArrayId id = arrays_.NewId();
    loaded.push_back({id, {}});
    for (size_t k = 0; k < plan.workers.size(); ++k) {
      absl::Status s = plan.workers[k]->LoadShard(
          id, static_cast<int32_t>(k), plan.slice.devices[k],
          checkpoint::ShardFileOf(request.directory, *plan.saved, static_cast<int64_t>(k)));
      if (!s.ok()) {
        unload();
        return Annotate(s, absl::StrCat(where, " array \"", plan.saved->name, "\" shard ", k,
                                        " on ", plan.slice.devices[k].DebugString()));
      }
      loaded.back().second.push_back(plan.workers[k]);
    }
  }
  RestoredCheckpoint restored;
  restored.metadata = std::move(index.metadata);
  for (size_t i = 0; i < plans.size(); ++i) {
    Plan& plan = plans[i];
    auto record = std::make_shared<ArrayRecord>(
        loaded[i].first, client, ArraySpec{plan.saved->shard_type, plan.slice.id, plan.sharding},
        plan.slice.devices, std::move(plan.hosts), ArrayRecord::Initial::kReady,
        plan.slice.mesh_shape);
    arrays_.AddHandle(record);
    restored.arrays.push_back(record->info());
  }
  return restored;
}

}  // namespace pw
