// Minimal leveled logging to stderr and fatal checks for broken internal invariants.
//
// Checks are for bugs in the runtime itself; anything a user or a peer can cause is an
// absl::Status, never a check failure.
#ifndef PATHWAYS_BASE_LOGGING_H_
#define PATHWAYS_BASE_LOGGING_H_

#include <sstream>

namespace pw {

enum class LogSeverity { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// Messages below this level are dropped. Defaults to kWarning; PW_LOG_LEVEL=0..3 overrides.
LogSeverity MinLogSeverity();
void SetMinLogSeverity(LogSeverity severity);

namespace internal {
class LogMessage {
 public:
  LogMessage(const char* file, int line, LogSeverity severity);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  const char* file_;
  int line_;
  LogSeverity severity_;
  std::ostringstream stream_;
};
// Swallows the stream expression when a message is disabled.
struct Voidify {
  void operator&(std::ostream&) {}
};
}  // namespace internal
}  // namespace pw

#define PW_LOG_SEVERITY_INFO ::pw::LogSeverity::kInfo
#define PW_LOG_SEVERITY_WARNING ::pw::LogSeverity::kWarning
#define PW_LOG_SEVERITY_ERROR ::pw::LogSeverity::kError
#define PW_LOG_SEVERITY_FATAL ::pw::LogSeverity::kFatal

#define PW_LOG(level)                                            \
  (PW_LOG_SEVERITY_##level < ::pw::MinLogSeverity())             \
      ? (void)0                                                  \
      : ::pw::internal::Voidify() &                              \
            ::pw::internal::LogMessage(__FILE__, __LINE__, PW_LOG_SEVERITY_##level).stream()

#define PW_CHECK(cond)                                                                  \
  (cond) ? (void)0                                                                      \
         : ::pw::internal::Voidify() &                                                  \
               ::pw::internal::LogMessage(__FILE__, __LINE__, ::pw::LogSeverity::kFatal) \
                       .stream()                                                        \
                   << "Check failed: " #cond " "

#endif  // PATHWAYS_BASE_LOGGING_H_
