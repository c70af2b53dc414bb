// ClientQueues: per-client FIFOs with the spanning-run gate.
#include "pathways/scheduler/client_queues.h"

#include "pathways/base/logging.h"

namespace pw {

void ClientQueues::Push(const RunDescriptor& run) {
  std::deque<RunDescriptor>& queue = queues_[run.client];
  PW_CHECK(queue.empty() || queue.back().sequence < run.sequence)
      << "runs pushed out of sequence order";
  queue.push_back(run);
  if (run.spans_islands) spanning_.insert(run.sequence);
  ++size_;
}

RunDescriptor ClientQueues::PopBest(absl::FunctionRef<double(const RunDescriptor& head)> key) {
  PW_CHECK(!empty()) << "PopBest() on empty queues";
  std::deque<RunDescriptor>* best = nullptr;
  double best_key = 0;
  for (auto& [client, queue] : queues_) {
    const RunDescriptor& head = queue.front();
    if (head.spans_islands && head.sequence != *spanning_.begin()) continue;
    const double k = key(head);
    if (best == nullptr || k < best_key ||
        (k == best_key && head.sequence < best->front().sequence)) {
      best = &queue;
      best_key = k;
    }
  }
  PW_CHECK(best != nullptr) << "no queued run may leave: the oldest spanning run is lost";
  RunDescriptor run = best->front();
  best->pop_front();
  if (run.spans_islands) spanning_.erase(run.sequence);
  if (best->empty()) queues_.erase(run.client);
  --size_;
  return run;
}

}  // namespace pw
