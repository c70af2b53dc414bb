// Naming threads, so `top -H`, perf and debuggers show what each runtime thread is.
#ifndef PATHWAYS_BASE_THREAD_NAME_H_
#define PATHWAYS_BASE_THREAD_NAME_H_

#include <string_view>

namespace pw {

// Names the calling thread; Linux keeps the first 15 bytes.
void SetCurrentThreadName(std::string_view name);

}  // namespace pw

#endif  // PATHWAYS_BASE_THREAD_NAME_H_
