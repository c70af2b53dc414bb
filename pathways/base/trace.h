// TraceRecorder: collects trace events and writes Chrome trace-event JSON (open in Perfetto).
//
// Recording is off until Start(); while off, PW_TRACE scopes cost one relaxed atomic load.
// Runtime objects take a TraceRecorder* (nullable) rather than reaching for a global.
#ifndef PATHWAYS_BASE_TRACE_H_
#define PATHWAYS_BASE_TRACE_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/clock.h"

namespace pw {

// One complete event ("ph":"X"), or an instant when dur_ns < 0.
struct TraceEvent {
  std::string name;
  std::string category;  // e.g. "dispatch", "execute", "transfer", "collective"
  int64_t pid = 0;       // a host (process) lane in the viewer
  int64_t tid = 0;       // a device or thread lane within the host
  int64_t start_ns = 0;  // MonotonicNanos() clock
  int64_t dur_ns = 0;
  std::vector<std::pair<std::string, std::string>> args;
};

class TraceRecorder {
 public:
  TraceRecorder() = default;
  TraceRecorder(const TraceRecorder&) = delete;
  TraceRecorder& operator=(const TraceRecorder&) = delete;

  void Start() { enabled_.store(true, std::memory_order_release); }
  void Stop() { enabled_.store(false, std::memory_order_release); }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }

  // Thread-safe. Dropped when not enabled.
  void Record(TraceEvent event);
  // Names a pid / tid lane in the viewer (e.g. "host 0", "device 3"). Thread-safe.
  void NameProcess(int64_t pid, std::string name);
  void NameThread(int64_t pid, int64_t tid, std::string name);

  // Keeps at most about `n` events, dropping the oldest quarter when full (0 = unbounded, the
  // default): long-running processes (pw-controller, pw-worker) record continuously and keep the
  // recent past. Thread-safe.
  void set_max_events(size_t n);

  // Takes every recorded event out of the recorder.
  std::vector<TraceEvent> TakeEvents();
  // Copies of the recorded events and of the lane-name metadata events (NameProcess /
  // NameThread), e.g. to ship them to another process.
  std::vector<TraceEvent> Events() const;
  std::vector<TraceEvent> LaneNames() const;
  // Adds a lane-name metadata event as NameProcess / NameThread made it (merging recorders).
  void AddLaneName(TraceEvent name);
  size_t num_events() const;

  // Chrome trace-event JSON of all recorded events (and lane names), timestamps in µs.
  std::string ToJson() const;
  // Writes ToJson() to `path`; an unwritable path is an error naming it.
  absl::Status WriteJson(const std::string& path) const;

 private:
  std::atomic<bool> enabled_{false};
  mutable absl::Mutex mu_;
  std::vector<TraceEvent> events_ ABSL_GUARDED_BY(mu_);
  std::vector<TraceEvent> names_ ABSL_GUARDED_BY(mu_);  // metadata events
  size_t max_events_ ABSL_GUARDED_BY(mu_) = 0;
};

// Records one complete event covering the scope's lifetime, if `recorder` is non-null and on.
class TraceScope {
 public:
  TraceScope(TraceRecorder* recorder, std::string_view name, std::string_view category,
             int64_t pid, int64_t tid)
      : recorder_(recorder != nullptr && recorder->enabled() ? recorder : nullptr) {
    if (recorder_ != nullptr) {
      event_.name = std::string(name);
      event_.category = std::string(category);
      event_.pid = pid;
      event_.tid = tid;
      event_.start_ns = MonotonicNanos();
    }
  }
  ~TraceScope() {
    if (recorder_ != nullptr) {
      event_.dur_ns = MonotonicNanos() - event_.start_ns;
      recorder_->Record(std::move(event_));
    }
  }
  void AddArg(std::string key, std::string value) {
    if (recorder_ != nullptr) event_.args.emplace_back(std::move(key), std::move(value));
  }
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  TraceRecorder* recorder_;
  TraceEvent event_;
};

}  // namespace pw

#endif  // PATHWAYS_BASE_TRACE_H_
