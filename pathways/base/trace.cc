// TraceRecorder: Chrome trace-event JSON output.
#include "pathways/base/trace.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pw {
namespace {
void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\t': out->append("\\t"); break;
      case '\r': out->append("\\r"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<int>(c));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void AppendEvent(std::string* out, const TraceEvent& e, char phase) {
  out->append("{\"name\":");
  AppendJsonString(out, e.name);
  if (!e.category.empty()) {
    out->append(",\"cat\":");
    AppendJsonString(out, e.category);
  }
  absl::StrAppendFormat(out, ",\"ph\":\"%c\",\"pid\":%d,\"tid\":%d", phase, e.pid, e.tid);
  if (phase != 'M') {
    absl::StrAppendFormat(out, ",\"ts\":%.3f", e.start_ns / 1000.0);
    if (phase == 'X') absl::StrAppendFormat(out, ",\"dur\":%.3f", e.dur_ns / 1000.0);
    if (phase == 'i') out->append(",\"s\":\"t\"");
  }
  if (!e.args.empty()) {
    out->append(",\"args\":{");
    for (size_t i = 0; i < e.args.size(); ++i) {
      if (i > 0) out->push_back(',');
      AppendJsonString(out, e.args[i].first);
      out->push_back(':');
      AppendJsonString(out, e.args[i].second);
    }
    out->push_back('}');
  }
  out->push_back('}');
}
}  // namespace

void TraceRecorder::Record(TraceEvent event) {
  if (!enabled()) return;
  absl::MutexLock lock(&mu_);
  if (max_events_ > 0 && events_.size() >= max_events_) {
    events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(max_events_ / 4 + 1));
  }
  events_.push_back(std::move(event));
}

void TraceRecorder::set_max_events(size_t n) {
  absl::MutexLock lock(&mu_);
  max_events_ = n;
}

std::vector<TraceEvent> TraceRecorder::Events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

std::vector<TraceEvent> TraceRecorder::LaneNames() const {
  absl::MutexLock lock(&mu_);
  return names_;
}

void TraceRecorder::AddLaneName(TraceEvent name) {
  absl::MutexLock lock(&mu_);
  names_.push_back(std::move(name));
}

void TraceRecorder::NameProcess(int64_t pid, std::string name) {
  TraceEvent e;
  e.name = "process_name";
  e.pid = pid;
  e.args.emplace_back("name", std::move(name));
  absl::MutexLock lock(&mu_);
  names_.push_back(std::move(e));
}

void TraceRecorder::NameThread(int64_t pid, int64_t tid, std::string name) {
  TraceEvent e;
  e.name = "thread_name";
  e.pid = pid;
  e.tid = tid;
  e.args.emplace_back("name", std::move(name));
  absl::MutexLock lock(&mu_);
  names_.push_back(std::move(e));
}

std::vector<TraceEvent> TraceRecorder::TakeEvents() {
  absl::MutexLock lock(&mu_);
  std::vector<TraceEvent> out;
  out.swap(events_);
  return out;
}

size_t TraceRecorder::num_events() const {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

std::string TraceRecorder::ToJson() const {
  absl::MutexLock lock(&mu_);
  std::string out = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[";
  bool first = true;
  for (const TraceEvent& e : names_) {
    if (!first) out.append(",\n");
    first = false;
    AppendEvent(&out, e, 'M');
  }
  for (const TraceEvent& e : events_) {
    if (!first) out.append(",\n");
    first = false;
    AppendEvent(&out, e, e.dur_ns < 0 ? 'i' : 'X');
  }
  out.append("]}\n");
  return out;
}

absl::Status TraceRecorder::WriteJson(const std::string& path) const {
  std::ofstream f(path, std::ios::out | std::ios::trunc);
  if (!f) return absl::InvalidArgumentError(absl::StrCat("cannot open trace file '", path, "' for writing"));
  f << ToJson();
  f.close();
  if (!f) return absl::DataLossError(absl::StrCat("failed writing trace file '", path, "'"));
  return absl::OkStatus();
}

}  // namespace pw
