// HostMembership: join, heartbeats, and the one way a host is lost.
#include "pathways/cluster/host_membership.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"

namespace pw {
namespace {

std::string Millis(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

}  // namespace

absl::Status HostMembershipOptions::Validate() const {
  if (controller == nullptr) {
    return absl::InvalidArgumentError("HostMembershipOptions.controller must be set");
  }
  if (resources == nullptr) {
    return absl::InvalidArgumentError("HostMembershipOptions.resources must be set");
  }
  if (clock == nullptr) return absl::InvalidArgumentError("HostMembershipOptions.clock must be set");
  if (heartbeat_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HostMembershipOptions.heartbeat_timeout must be positive, got ",
                     absl::FormatDuration(heartbeat_timeout)));
  }
  return absl::OkStatus();
}

HostMembership::HostMembership(HostMembershipOptions options)
    : options_(std::move(options)), name_(options_.name) {
  PW_CHECK(options_.Validate().ok()) << options_.Validate();
}

void HostMembership::set_name(std::string name) {
  absl::MutexLock lock(&mu_);
  name_ = std::move(name);
}

std::string HostMembership::name() const {
  absl::MutexLock lock(&mu_);
  return name_;
}

HostMembership::~HostMembership() { Stop(); }

absl::StatusOr<HostInfo> HostMembership::Join(
    HostSpec spec, absl::FunctionRef<absl::StatusOr<Member>(const HostInfo&)> make_member) {
  const auto shutting_down = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::UnavailableError(absl::StrCat(name_, " is shutting down"));
  };
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return shutting_down();
  }
  for (const HostInfo& info : options_.resources->Hosts()) {
    if (info.address == spec.address) {
      Lose(info.id, absl::StrCat("a new worker joined from ", spec.address));
    }
  }
  const std::string address = spec.address;
  PW_ASSIGN_OR_RETURN(HostId host, options_.resources->AddHost(std::move(spec)));
  absl::StatusOr<HostInfo> info = options_.resources->GetHost(host);
  if (!info.ok()) return info.status();  // removed again at once: only by a racing Lose
  absl::StatusOr<Member> member = make_member(*info);
  if (!member.ok()) {
    (void)options_.resources->RemoveHost(host, member.status());
    return member.status();
  }
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      (void)options_.resources->RemoveHost(host, absl::CancelledError("shutting down"));
      return shutting_down();
    }
    hosts_[host] = Entry{address, options_.clock->NowNanos(), std::move(member->on_lost)};
  }
  if (absl::Status added = options_.controller->AddWorker(host, member->worker); !added.ok()) {
    {
      absl::MutexLock lock(&mu_);
      hosts_.erase(host);
    }
    (void)options_.resources->RemoveHost(host, added);
    return added;
  }
  return *std::move(info);
}

absl::Status HostMembership::Heartbeat(HostId host) {
  absl::MutexLock lock(&mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(host.DebugString(), " is not part of the cluster of ", name_,
                     " (it was declared lost, or never joined)"));
  }
  it->second.last_heartbeat_nanos = options_.clock->NowNanos();
  return absl::OkStatus();
}

void HostMembership::ReportFailure(HostId host, absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;  // shutting down: every host goes anyway
  failures_.emplace_back(host, std::move(status));
}

void HostMembership::CheckHeartbeats() {
  std::vector<std::pair<HostId, std::string>> lost;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;  // shutting down: every host goes anyway
    for (auto& [host, status] : failures_) lost.emplace_back(host, std::string(status.message()));
    failures_.clear();
    if (options_.heartbeat_timeout != absl::InfiniteDuration()) {
      const int64_t now = options_.clock->NowNanos();
      for (const auto& [host, entry] : hosts_) {
        const absl::Duration silent = absl::Nanoseconds(now - entry.last_heartbeat_nanos);
        if (silent > options_.heartbeat_timeout) {
          lost.emplace_back(host, absl::StrCat("no heartbeat for ", Millis(silent), " (timeout ",
                                               Millis(options_.heartbeat_timeout), ")"));
        }
      }
    }
  }
  for (const auto& [host, why] : lost) Lose(host, why);
}

void HostMembership::AbortGangsOf(HostId host, const absl::Status& reason) {
  if (!options_.abort_gang) return;
  for (const Controller::InFlightGang& gang : options_.controller->InFlightGangs(host)) {
    options_.abort_gang(gang.gang, gang.size, reason);
  }
}

bool HostMembership::Lose(HostId host, const std::string& why) {
  Entry entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = hosts_.find(host);
    if (it == hosts_.end()) return false;  // already lost (or never joined)
    entry = std::move(it->second);
    hosts_.erase(it);
  }
  const absl::Status reason = absl::UnavailableError(
      absl::StrCat(host.DebugString(), " (", entry.address, ") lost: ", why));
  PW_LOG(WARNING) << name() << ": " << reason.message();
  if (entry.on_lost) entry.on_lost(reason);
  AbortGangsOf(host, reason);
  absl::Status removed = options_.controller->RemoveWorker(host, reason);
  if (!removed.ok() && !absl::IsNotFound(removed)) {
    PW_LOG(WARNING) << "removing " << host << ": " << removed;
  }
  // Runs dispatched while the host was being removed.
  AbortGangsOf(host, reason);
  absl::MutexLock lock(&mu_);
  lost_[host] = LostHost{.host = host, .address = entry.address, .reason = reason, .when = absl::Now()};
  // Bounded: a worker re-joining for days adds a host each time. Ids only grow, so the oldest
  // losses go first.
  while (lost_.size() > kMaxLostHostsKept) lost_.erase(lost_.begin());
  return true;
}

void HostMembership::StartMonitor() {
  PW_CHECK(!monitor_.joinable()) << "HostMembership::StartMonitor called twice";
  monitor_ = std::thread([this] { MonitorLoop(); });
}

void HostMembership::MonitorLoop() {
  const absl::Duration tick =
      options_.heartbeat_timeout == absl::InfiniteDuration()
          ? absl::Milliseconds(250)
          : std::clamp(options_.heartbeat_timeout / 10, absl::Milliseconds(10),
                       absl::Milliseconds(250));
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](HostMembership* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m->mu_) {
                                 return m->stopping_ || !m->failures_.empty();
                               },
                               this),
                           tick);
      if (stopping_) return;
    }
    CheckHeartbeats();
  }
}

void HostMembership::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (monitor_.joinable() && monitor_.get_id() != std::this_thread::get_id()) monitor_.join();
}

void HostMembership::RemoveAll(absl::Status reason) {
  Stop();
  options_.controller->Quiesce();
  for (HostId host : hosts()) {
    absl::Status s = options_.controller->RemoveWorker(host, reason);
    if (!s.ok() && !absl::IsNotFound(s)) PW_LOG(WARNING) << "removing " << host << ": " << s;
  }
  absl::MutexLock lock(&mu_);
  hosts_.clear();
}

bool HostMembership::Contains(HostId host) const {
  absl::MutexLock lock(&mu_);
  return hosts_.contains(host);
}

int64_t HostMembership::num_hosts() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(hosts_.size());
}

std::vector<HostId> HostMembership::hosts() const {
  absl::MutexLock lock(&mu_);
  std::vector<HostId> out;
  out.reserve(hosts_.size());
  for (const auto& [host, entry] : hosts_) out.push_back(host);
  return out;
}

absl::Status HostMembership::WaitForHosts(int64_t n, absl::Duration timeout) const {
  struct Args {
    const HostMembership* membership;
    int64_t n;
  } args{this, n};
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(
                           +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                             return static_cast<int64_t>(a->membership->hosts_.size()) >= a->n ||
                                    a->membership->stopping_;
                           },
                           &args),
                       timeout);
  const int64_t joined = static_cast<int64_t>(hosts_.size());
  if (joined >= n) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("only ", joined, " of ", n,
                                                  " host(s) joined ", name_, " within ",
                                                  absl::FormatDuration(timeout)));
}

absl::Status HostMembership::WaitForHostLost(HostId host, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto gone = [this, host]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return lost_.contains(host); };
  if (mu_.AwaitWithTimeout(absl::Condition(&gone), timeout)) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      host.DebugString(), " was not declared lost within ", absl::FormatDuration(timeout)));
}

std::vector<LostHost> HostMembership::LostHosts() const {
  absl::MutexLock lock(&mu_);
  std::vector<LostHost> out;
  out.reserve(lost_.size());
  for (const auto& [host, lost] : lost_) out.push_back(lost);
  return out;
}

std::string HostMembership::DebugString() const {
  absl::MutexLock lock(&mu_);
  std::string out = absl::StrCat("HostMembership{", name_, " hosts=[");
  bool first = true;
  for (const auto& [host, entry] : hosts_) {
    absl::StrAppend(&out, first ? "" : ", ", host.DebugString(), "@", entry.address);
    first = false;
  }
  absl::StrAppend(&out, "] lost=", lost_.size(), "}");
  return out;
}

}  // namespace pw
