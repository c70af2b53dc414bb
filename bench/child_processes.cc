// ChildProcesses: posix_spawn of /proc/self/exe, waitpid by pid.
#include "bench/child_processes.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace pw::bench {

absl::Status ChildProcesses::Spawn(const std::vector<std::string>& args) {
  const char* exe = "/proc/self/exe";
  std::vector<char*> argv;
  std::string self = exe;
  argv.push_back(self.data());
  std::vector<std::string> copies = args;
  for (std::string& a : copies) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, exe, nullptr, nullptr, argv.data(), environ);
  if (err != 0) {
    return absl::UnavailableError(absl::StrCat("spawning ", exe, ": ", std::strerror(err)));
  }
  pids_.push_back(pid);
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
