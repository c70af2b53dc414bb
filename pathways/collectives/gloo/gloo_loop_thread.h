// Reaching the event-loop thread of a Gloo TCP device, which Gloo creates and does not expose.
//
// Why it matters: Gloo's loop serves every pair of the device through level-triggered epoll,
// and a pair whose lock another thread holds (a device thread posting a send or a receive) is
// skipped "until the next tick": epoll_wait returns the same readable socket at once, again and
// again, until the lock holder runs. When cores are oversubscribed (ranks of several processes
// sharing a few cores) the holder is often the thread waiting for a core, and the loop burns
// that core in epoll_wait (measured with 8 ranks of 4 processes on 2 cores: 600,000-900,000
// epoll_wait calls a second against ~70,000 reads).
// Running the loop at a lower priority (a higher nice value) lets the lock holder run first.
#ifndef PATHWAYS_COLLECTIVES_GLOO_GLOO_LOOP_THREAD_H_
#define PATHWAYS_COLLECTIVES_GLOO_GLOO_LOOP_THREAD_H_

#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace gloo::transport {
class Device;
}  // namespace gloo::transport

namespace pw {

// Runs `fn` once on `device`'s event-loop thread and returns after it ran. INVALID_ARGUMENT for
// a device that is not Gloo's TCP device; RESOURCE_EXHAUSTED when no eventfd can be made;
// DEADLINE_EXCEEDED when the loop did not run it within `timeout` (fn then never runs).
absl::Status RunOnGlooLoopThread(const std::shared_ptr<gloo::transport::Device>& device,
                                 absl::AnyInvocable<void()> fn,
                                 absl::Duration timeout = absl::Seconds(5));

// Names `device`'s loop thread `name` and sets its nice value to `nice` (0 leaves it as
// created, at the creating thread's). Errors as RunOnGlooLoopThread; INVALID_ARGUMENT for a nice
// value outside [0, 19] (raising a thread's priority needs privileges this never asks for),
// INTERNAL when the kernel refuses the change.
absl::Status ConfigureGlooLoopThread(const std::shared_ptr<gloo::transport::Device>& device,
                                     const std::string& name, int nice);

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_GLOO_GLOO_LOOP_THREAD_H_
