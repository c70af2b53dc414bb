// HostExecutor's transfer steps: receives, sends, copies between devices of this host, and the
// assemblies of resharding. Runs on the dispatch thread; callbacks run on device threads or the
// data plane's.
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/clock.h"
#include "pathways/base/status.h"
#include "pathways/dataflow/box_copy.h"
#include "pathways/worker/host_executor.h"
#include "pathways/worker/host_executor_internal.h"

namespace pw {

void HostExecutor::DispatchRecv(Message* msg, size_t index) {
  const HostStep& step = msg->program->steps[index];
  DeviceState* device = FindDevice(step.device);
  if (device == nullptr || !ValidShard(*msg, step.dst_value, step.shard)) {
    FailStepAtDispatch(msg, index, absl::InvalidArgumentError(absl::StrCat(
                                       StepLabel(*msg, step), ": malformed receive step")));
    return;
  }
  const int64_t start = MonotonicNanos();
  ShardEntryRef entry = store_.GetOrCreate((*msg->arrays)[step.dst_value], step.shard);
  if (entry->buffer() == nullptr) {
    const ir::TensorType& type = msg->lowered->values[step.dst_value].shard_type;
    absl::StatusOr<DeviceBuffer> buffer = device->device->Allocate(type.byte_size());
    if (buffer.ok()) {
      entry->InstallBuffer(step.device, type, std::make_shared<DeviceBuffer>(*std::move(buffer)));
    } else if (entry->Claim()) {
      entry->Complete(Annotate(buffer.status(), StepLabel(*msg, step)));
    }
  }
  const EventRef ready = entry->ready();
  ready->AndThen([this, msg, &step, index, start](const absl::Status& status) {
    TraceTransfer("recv", *msg, step, start);
    StepDone(msg, index, status);
  });
}

void HostExecutor::DispatchSend(Message* msg, size_t index) {
  const HostStep& step = msg->program->steps[index];
  if (FindDevice(step.device) == nullptr || !ValidShard(*msg, step.src_value, step.shard) ||
      !ValidShard(*msg, step.dst_value, step.dst_shard())) {
    FailStepAtDispatch(msg, index, absl::InvalidArgumentError(absl::StrCat(
                                       StepLabel(*msg, step), ": malformed send step")));
    return;
  }
  ShardEntryRef src = store_.GetOrCreate((*msg->arrays)[step.src_value], step.shard);
  const ArrayId dst_array = (*msg->arrays)[step.dst_value];
  const EventRef ready = src->ready();
  // Runs on the thread that completes the source (its device thread, usually).
  ready->AndThen([this, msg, index, &step, src = std::move(src),
                  dst_array](const absl::Status& status) mutable {
    // Captures are dropped before StepDone: once a message is reported, its buffers are free.
    ShardEntryRef source = std::move(src);
    const ir::TensorType& type = msg->lowered->values[step.dst_value].shard_type;
    if (!status.ok()) {
      source.reset();
      options_.data_plane->PushError(step.peer_host, dst_array, step.dst_shard(), step.peer_device,
                                     type, status);
      StepDone(msg, index, status);
      return;
    }
    std::shared_ptr<DeviceBuffer> buffer = source->buffer();
    if (buffer == nullptr) {
      absl::Status error = absl::InternalError(absl::StrCat(
          StepLabel(*msg, step), ": ", source->DebugString(), " is ready without a buffer"));
      source.reset();
      options_.data_plane->PushError(step.peer_host, dst_array, step.dst_shard(), step.peer_device,
                                     type, error);
      StepDone(msg, index, error);
      return;
    }
    source.reset();
    const int64_t start = MonotonicNanos();
    const void* data = buffer->data();
    const int64_t bytes = buffer->size();
    EventRef pushed = options_.data_plane->Push(step.peer_host, dst_array, step.dst_shard(),
                                                step.peer_device, type, data, bytes);
    // `buffer` stays alive until the push is done with its bytes.
    pushed->AndThen([this, msg, index, &step, buffer = std::move(buffer), start,
                     bytes](const absl::Status& push_status) mutable {
      buffer.reset();
      if (push_status.ok()) transfer_bytes_sent_.fetch_add(bytes, std::memory_order_relaxed);
      TraceTransfer("send", *msg, step, start);
      StepDone(msg, index,
               push_status.ok()
                   ? push_status
                   : Annotate(push_status, absl::StrCat(StepLabel(*msg, step), " sending to ",
                                                        step.peer_host.DebugString())));
    });
  });
}

bool HostExecutor::ClaimDestination(Message* msg, size_t index, DeviceState& device,
                                    ShardEntryRef& dst, std::shared_ptr<DeviceBuffer>& buffer) {
  const HostStep& step = msg->program->steps[index];
  dst = store_.GetOrCreate((*msg->arrays)[step.dst_value], step.shard);
  if (!dst->Claim()) {
    StepDone(msg, index,
             absl::AlreadyExistsError(absl::StrCat(StepLabel(*msg, step), ": ",
                                                   dst->DebugString(), " was already produced")));
    return false;
  }
  const ir::TensorType& type = msg->lowered->values[step.dst_value].shard_type;
  absl::StatusOr<DeviceBuffer> allocated = device.device->Allocate(type.byte_size());
  if (!allocated.ok()) {
    absl::Status error = Annotate(allocated.status(), StepLabel(*msg, step));
    dst->Complete(error);
    StepDone(msg, index, error);
    return false;
  }
  buffer =
      dst->InstallBuffer(step.device, type, std::make_shared<DeviceBuffer>(*std::move(allocated)));
  return true;
}

void HostExecutor::DispatchCopy(Message* msg, size_t index) {
  const HostStep& step = msg->program->steps[index];
  DeviceState* device = FindDevice(step.device);
  if (device == nullptr || !ValidShard(*msg, step.src_value, step.src_shard()) ||
      !ValidShard(*msg, step.dst_value, step.shard)) {
    FailStepAtDispatch(msg, index, absl::InvalidArgumentError(absl::StrCat(
                                       StepLabel(*msg, step), ": malformed copy step")));
    return;
  }
  ShardEntryRef src = store_.GetOrCreate((*msg->arrays)[step.src_value], step.src_shard());
  ShardEntryRef dst;
  std::shared_ptr<DeviceBuffer> dst_buffer;
  if (!ClaimDestination(msg, index, *device, dst, dst_buffer)) return;
  const EventRef ready = src->ready();
  ready->AndThen([this, msg, &step, src = std::move(src), dst = std::move(dst),
                  dst_buffer = std::move(dst_buffer),
                  index](const absl::Status& status) mutable {
    const int64_t start = MonotonicNanos();
    absl::Status result = status;
    if (result.ok()) {
      std::shared_ptr<DeviceBuffer> src_buffer = src->buffer();
      if (src_buffer == nullptr || src_buffer->size() != dst_buffer->size()) {
        result = absl::InvalidArgumentError(absl::StrCat(
            StepLabel(*msg, step), ": cannot copy ", src->DebugString(), " into a ",
            dst_buffer->size(), "-byte buffer"));
      } else {
        std::memcpy(dst_buffer->data(), src_buffer->data(), dst_buffer->size());
      }
    }
    dst->Complete(result);
    src.reset();
    dst.reset();
    dst_buffer.reset();
    TraceTransfer("copy", *msg, step, start);
    StepDone(msg, index, result);
  });
}

// Checks a kAssemble step's pieces against the values they name and the lowered types:
// sources are shards of this run's values, both sides' dims match their types' sizes, every
// block lies inside its shard.
absl::Status HostExecutor::CheckAssembly(const Message& msg, const HostStep& step) const {
  const ir::TensorType& dst_type = msg.lowered->values[step.dst_value].shard_type;
  for (size_t r = 0; r < step.regions.size(); ++r) {
    const Region& region = step.regions[r];
    if (!ValidShard(msg, region.src_value, region.src_shard)) {
      return absl::InvalidArgumentError(absl::StrCat("piece ", r, " reads value ",
                                                     region.src_value, " shard ",
                                                     region.src_shard, ", which the run lacks"));
    }
    const ir::TensorType& src_type = msg.lowered->values[region.src_value].shard_type;
    const int64_t src_elems = ElementsOf(region.src_dims);
    const int64_t dst_elems = ElementsOf(region.dst_dims);
    if (src_type.dtype != dst_type.dtype || src_elems != src_type.num_elements() ||
        dst_elems != dst_type.num_elements()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "piece ", r, " reads ", src_type.DebugString(), " into ", dst_type.DebugString(),
          " with dims that do not match them"));
    }
    if (absl::Status s = CheckBoxCopy(BoxCopy{region.src_dims, region.src_offset, region.dst_dims,
                                              region.dst_offset, region.extent});
        !s.ok()) {
      return Annotate(s, absl::StrCat("piece ", r));
    }
  }
  return absl::OkStatus();
}

void HostExecutor::DispatchAssemble(Message* msg, size_t index) {
  const HostStep& step = msg->program->steps[index];
  DeviceState* device = FindDevice(step.device);
  if (device == nullptr || !ValidShard(*msg, step.dst_value, step.shard)) {
    FailStepAtDispatch(msg, index, absl::InvalidArgumentError(absl::StrCat(
                                       StepLabel(*msg, step), ": malformed assemble step")));
    return;
  }
  if (absl::Status s = CheckAssembly(*msg, step); !s.ok()) {
    FailStepAtDispatch(msg, index, Annotate(s, StepLabel(*msg, step)));
    return;
  }
  ShardEntryRef dst;
  std::shared_ptr<DeviceBuffer> dst_buffer;
  if (!ClaimDestination(msg, index, *device, dst, dst_buffer)) return;
  // The pieces are copied on the device's stream once every source is ready.
  auto sources = std::make_shared<std::vector<ShardEntryRef>>();
  StreamWork work;
  work.name = absl::StrCat("assemble ", StepLabel(*msg, step));
  for (const Region& region : step.regions) {
    sources->push_back(
        store_.GetOrCreate((*msg->arrays)[region.src_value], region.src_shard));
    work.wait_for.push_back(sources->back()->ready());
  }
  const int64_t elem = ir::DTypeSize(msg->lowered->values[step.dst_value].shard_type.dtype);
  work.fn = [msg, &step, sources, dst_buffer, elem, this]() -> absl::Status {
    for (size_t r = 0; r < step.regions.size(); ++r) {
      const Region& region = step.regions[r];
      std::shared_ptr<DeviceBuffer> src = (*sources)[r]->buffer();
      const int64_t want = msg->lowered->values[region.src_value].shard_type.byte_size();
      if (src == nullptr || src->size() != want) {
        return absl::FailedPreconditionError(absl::StrCat(
            StepLabel(*msg, step), ": piece ", r, " source ", (*sources)[r]->DebugString(),
            " is not a ", want, "-byte buffer"));
      }
      PW_RETURN_IF_ERROR(CopyBox(BoxCopy{region.src_dims, region.src_offset, region.dst_dims,
                                         region.dst_offset, region.extent},
                                 elem, src->data(), dst_buffer->data()));
    }
    return absl::OkStatus();
  };
  const int64_t start = MonotonicNanos();
  EventRef done = device->device->Enqueue(std::move(work));
  done->AndThen([this, msg, &step, dst = std::move(dst), sources, index,
                 start](const absl::Status& status) mutable {
    dst->Complete(status);
    dst.reset();
    sources->clear();
    TraceTransfer("assemble", *msg, step, start);
    StepDone(msg, index, status);
  });
}

}  // namespace pw
