// SessionUse: holds a Session open (its mutex shared) for one call from Python into the runtime,
// taking the lock without ever blocking while holding the GIL.
#ifndef PATHWAYS_PYTHON_SRC_SESSION_USE_H_
#define PATHWAYS_PYTHON_SRC_SESSION_USE_H_

#include <string_view>

#include "python/src/session.h"

namespace pw::python {

// Takes session.mu() shared: a try-lock first (the common, uncontended case costs no GIL
// hand-off); if that fails (Shutdown holds or awaits the lock), releases the GIL while it
// blocks, so a Shutdown waiting for a call that needs the GIL back cannot deadlock.
void LockSessionShared(const Session& session) ABSL_SHARED_LOCK_FUNCTION(session.mu());

class SessionUse {
 public:
  // Raises StatusError (FAILED_PRECONDITION naming `what`) if the session was shut down.
  SessionUse(const Session& session, std::string_view what);
  ~SessionUse();
  SessionUse(const SessionUse&) = delete;
  SessionUse& operator=(const SessionUse&) = delete;

 private:
  const Session& session_;
};

}  // namespace pw::python

#endif  // PATHWAYS_PYTHON_SRC_SESSION_USE_H_
