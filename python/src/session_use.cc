// SessionUse and LockedArray's locked release.
#include "python/src/session_use.h"

#include <string>

#include <pybind11/pybind11.h>

#include "python/src/errors.h"

namespace py = pybind11;

namespace pw::python {

void LockSessionShared(const Session& session) {
  if (session.mu().ReaderTryLock()) return;
  if (PyGILState_Check()) {
    py::gil_scoped_release nogil;
    session.mu().ReaderLock();
  } else {
    session.mu().ReaderLock();
  }
}

SessionUse::SessionUse(const Session& session, std::string_view what) : session_(session) {
  LockSessionShared(session_);
  if (!session_.alive()) {
    absl::Status status = session_.CheckAlive(std::string(what));
    session_.mu().ReaderUnlock();
    throw StatusError(std::move(status));
  }
}

SessionUse::~SessionUse() { session_.mu().ReaderUnlock(); }

void LockedArray::Release() {
  if (!array_.valid() || session_ == nullptr) return;
  // After Shutdown the client is marked disconnected and the drop stays local; before it, the
  // controller is alive for as long as we hold the lock.
  LockSessionShared(*session_);
  array_.Release();
  session_->mu().ReaderUnlock();
}

}  // namespace pw::python
