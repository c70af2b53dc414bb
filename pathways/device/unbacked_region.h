// UnbackedRegion: the process-wide stand-in memory of devices whose bytes are never read for
// their values (simulated devices in timing mode). Every buffer of such a device aliases the
// start of one lazily grown mapping (mmap MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE): reads
// see zero pages (or what another buffer wrote), writes commit at most the largest buffer ever
// handed out, so a model far larger than the host's RAM can be laid out and accounted on the
// devices without committing it. Contents are undefined by design.
//
// Thread-safe. Pointers stay valid for the whole process: a grown region replaces the old one
// for new requests, and the old one's pages are returned to the system (madvise DONTNEED) but
// stay mapped, so a buffer that still points into it may keep reading and writing.
#ifndef PATHWAYS_DEVICE_UNBACKED_REGION_H_
#define PATHWAYS_DEVICE_UNBACKED_REGION_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace pw {

class UnbackedRegion {
 public:
  // The start of a region of at least `bytes` bytes (64-byte aligned; page aligned in fact).
  // INVALID_ARGUMENT for a negative size; RESOURCE_EXHAUSTED when the address space cannot be
  // reserved (the message names the size).
  static absl::StatusOr<void*> Get(int64_t bytes);
  // The size of the current region (0 before the first Get).
  static int64_t reserved_bytes();
};

}  // namespace pw

#endif  // PATHWAYS_DEVICE_UNBACKED_REGION_H_
