// Logging implementation.
#include "pathways/base/logging.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace pw {
namespace {
int InitialLevel() {
  const char* env = std::getenv("PW_LOG_LEVEL");
  if (env != nullptr && env[0] >= '0' && env[0] <= '3' && env[1] == '\0') return env[0] - '0';
  return static_cast<int>(LogSeverity::kWarning);
}
std::atomic<int>& Level() {
  static std::atomic<int> level{InitialLevel()};
  return level;
}
}  // namespace

LogSeverity MinLogSeverity() { return static_cast<LogSeverity>(Level().load(std::memory_order_relaxed)); }
void SetMinLogSeverity(LogSeverity severity) { Level().store(static_cast<int>(severity)); }

namespace internal {
LogMessage::LogMessage(const char* file, int line, LogSeverity severity)
    : file_(file), line_(line), severity_(severity) {}

LogMessage::~LogMessage() {
  static const char kLetters[] = {'I', 'W', 'E', 'F'};
  const char* base = std::strrchr(file_, '/');
  std::string time = absl::FormatTime("%H:%M:%E6S", absl::Now(), absl::LocalTimeZone());
  std::string line = stream_.str();
  std::fprintf(stderr, "%c%s %s:%d] %s\n", kLetters[static_cast<int>(severity_)], time.c_str(),
               base ? base + 1 : file_, line_, line.c_str());
  if (severity_ == LogSeverity::kFatal) {
    std::fflush(stderr);
    std::abort();
  }
}
}  // namespace internal
}  // namespace pw
