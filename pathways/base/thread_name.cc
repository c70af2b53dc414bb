// SetCurrentThreadName: pthread_setname_np with the 15-byte limit applied.
#include "pathways/base/thread_name.h"

#include <pthread.h>

#include <string>

namespace pw {

void SetCurrentThreadName(std::string_view name) {
  const std::string truncated(name.substr(0, 15));
  pthread_setname_np(pthread_self(), truncated.c_str());
}

}  // namespace pw
