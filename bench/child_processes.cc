// ChildProcesses: SpawnProcess of /proc/self/exe (the cluster launcher's), waitpid by pid.
#include "bench/child_processes.h"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "pathways/cluster/process_cluster.h"

namespace pw::bench {

absl::Status ChildProcesses::Spawn(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/proc/self/exe"};
  argv.insert(argv.end(), args.begin(), args.end());
  SpawnOptions spawn;
  spawn.die_with_launcher = true;  // a crashed benchmark leaves no rank waiting in a collective
  absl::StatusOr<pid_t> pid = SpawnProcess(argv, spawn);
  if (!pid.ok()) return pid.status();
  pids_.push_back(*pid);
  return absl::OkStatus();
}

absl::Status ChildProcesses::ExitStatus(pid_t pid, int status) {
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  if (WIFEXITED(status)) {
    return absl::InternalError(absl::StrCat("child ", pid, " exited with status ", WEXITSTATUS(status)));
  }
  if (WIFSIGNALED(status)) {
    return absl::InternalError(absl::StrCat("child ", pid, " killed by signal ", WTERMSIG(status),
                                            " (", strsignal(WTERMSIG(status)), ")"));
  }
  return absl::InternalError(absl::StrCat("child ", pid, " ended with wait status ", status));
}

absl::Status ChildProcesses::Poll() {
  absl::Status first;
  for (size_t i = 0; i < pids_.size();) {
    int status = 0;
    const pid_t r = waitpid(pids_[i], &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) {
      ++i;
      continue;
    }
    if (r == pids_[i]) first.Update(ExitStatus(pids_[i], status));
    pids_.erase(pids_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return first;
}

absl::Status ChildProcesses::WaitAll() {
  absl::Status first;
  for (pid_t pid : pids_) {
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r == pid) first.Update(ExitStatus(pid, status));
  }
  pids_.clear();
  return first;
}

void ChildProcesses::KillAll() {
  for (pid_t pid : pids_) kill(pid, SIGKILL);
  (void)WaitAll();
}

}  // namespace pw::bench
