// ChildProcesses: copies of the running benchmark binary started with other arguments (the
// ranks of the multi-controller baseline), watched and stopped by pid.
#ifndef BENCH_CHILD_PROCESSES_H_
#define BENCH_CHILD_PROCESSES_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pw::bench {

// Not thread-safe. The destructor kills (SIGKILL) and reaps every child still running, so a
// failed benchmark never leaves ranks behind.
class ChildProcesses {
 public:
  ChildProcesses() = default;
  ChildProcesses(const ChildProcesses&) = delete;
  ChildProcesses& operator=(const ChildProcesses&) = delete;
  ~ChildProcesses() { KillAll(); }

  // Starts /proc/self/exe with `args` (argv[1..]); the child shares stdin/stdout/stderr.
  // Errors: UNAVAILABLE naming the binary and errno.
  absl::Status Spawn(const std::vector<std::string>& args);

  // Reaps children that have exited, without blocking. Returns an error naming the first child
  // that exited with a non-zero status or a signal (it is reaped either way).
  absl::Status Poll();

  // Blocks until every child has exited; the first failure as in Poll.
  absl::Status WaitAll();

  // SIGKILL to every child still running, then reaps them.
  void KillAll();

  int64_t running() const { return static_cast<int64_t>(pids_.size()); }

 private:
  // Describes a child's wait status; OK for exit code 0.
  static absl::Status ExitStatus(pid_t pid, int status);

  std::vector<pid_t> pids_;
};

}  // namespace pw::bench

#endif  // BENCH_CHILD_PROCESSES_H_
