// HostExecutor's per-message and per-step state, shared by host_executor.cc and
// host_executor_steps.cc (not part of the worker's API).
#ifndef PATHWAYS_WORKER_HOST_EXECUTOR_INTERNAL_H_
#define PATHWAYS_WORKER_HOST_EXECUTOR_INTERNAL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "pathways/worker/host_executor.h"

namespace pw {

// One HostRun being executed. Created by the dispatch thread; deleted by whichever thread
// finishes its last step (Finalize).
struct HostExecutor::Message {
  HostRun run;
  // Borrowed from `run` (which keeps them alive).
  const LoweredHostProgram* program = nullptr;
  const LoweredProgram* lowered = nullptr;
  const std::vector<ArrayId>* arrays = nullptr;
  // Steps not finished yet, plus one held by the dispatch thread until the message is fully
  // dispatched (so a fast step cannot finalize a half-dispatched message).
  std::atomic<int64_t> pending{1};
  // Device time this message's kernels held this host's devices (HostRunResult::device_nanos).
  std::atomic<int64_t> device_nanos{0};
  // Reported shard statuses, sized before any step starts; step i owns
  // outputs[first_output[i] .. first_output[i+1]) and writes them before counting down.
  std::vector<HostRunResult::ShardStatus> outputs;
  std::vector<int32_t> first_output;
  // Per temporary of the program, its touching steps not finished yet (program->temporary_uses
  // counted down); the step that takes one to zero frees it. Null when the program carries no
  // index: then every temporary is freed at Finalize.
  std::unique_ptr<std::atomic<int32_t>[]> temporaries_left;
  // Dispatch thread only (read at shutdown after the thread stopped).
  std::vector<std::pair<FunctionId, std::shared_ptr<const Registration>>> functions;
  std::vector<std::pair<GangId, int64_t>> gangs;  // gangs joined, for aborting at shutdown
  absl::Mutex mu;
  absl::Status first_error ABSL_GUARDED_BY(mu);
};

// What one compute shard needs on its device stream; owned by the step's completion callback.
struct HostExecutor::ComputeWork {
  std::shared_ptr<const Registration> registration;
  absl::InlinedVector<ShardEntryRef, 4> inputs;
  absl::InlinedVector<ShardEntryRef, 2> outputs;  // claimed by this step
  absl::InlinedVector<std::shared_ptr<DeviceBuffer>, 2> output_buffers;
  std::shared_ptr<DeviceBuffer> scratch;
  std::unique_ptr<Communicator> communicator;
  GangId gang;
  int64_t num_shards = 1;
};

}  // namespace pw

#endif  // PATHWAYS_WORKER_HOST_EXECUTOR_INTERNAL_H_
