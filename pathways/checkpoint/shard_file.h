// Shard files: one shard of an array as a file of its raw row-major bytes (host byte order),
// written atomically, read back with its type, size and CRC-32 checked.
//
// Threads: the functions are thread-safe (they share no state); they block on file I/O.
// Errors: every failure is a Status naming the path: INVALID_ARGUMENT for a path that is not
// absolute or not clean, NOT_FOUND for a missing file, DATA_LOSS for a file whose size or
// checksum differs from what was recorded, INTERNAL for other I/O failures (with errno's text).
#ifndef PATHWAYS_CHECKPOINT_SHARD_FILE_H_
#define PATHWAYS_CHECKPOINT_SHARD_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pathways/ir/literal.h"
#include "pathways/ir/shape.h"

namespace pw::checkpoint {

// The longest path a shard file may have.
inline constexpr int64_t kMaxPathLength = 4096;

// A shard file as written: where, what it holds, and how to recognise it intact.
struct ShardFile {
  std::string path;  // absolute
  ir::TensorType type;
  int64_t bytes = 0;
  uint32_t crc32 = 0;
  friend bool operator==(const ShardFile&, const ShardFile&) = default;
};

// OK for an absolute path of at most kMaxPathLength bytes with no NUL byte and no "." or ".."
// component; INVALID_ARGUMENT naming `what` and the path otherwise.
absl::Status CheckPath(std::string_view path, std::string_view what);

// OK for a plain file name (no '/', not "." or "..", no NUL, 1..255 bytes).
absl::Status CheckFileName(std::string_view name, std::string_view what);

// zlib's CRC-32 of `data`.
uint32_t Crc32(std::string_view data);

// Writes `data`'s bytes to `path` (through a temporary file in the same directory, flushed to
// disk, then renamed over `path`, so a reader never sees a partial file). The directory must
// exist. Returns what ReadShardFile needs to read it back.
absl::StatusOr<ShardFile> WriteShardFile(const std::string& path, const ir::Literal& data);

// Reads a file written by WriteShardFile, checking its size against file.bytes and
// file.type.byte_size() and its checksum against file.crc32.
absl::StatusOr<ir::Literal> ReadShardFile(const ShardFile& file);

// Writes `contents` to `path` atomically (a temporary file of a name unique to this write,
// fsync, then rename over `path`; with replace = false, link instead, so ALREADY_EXISTS when
// `path` exists: a file two writers race for is written by exactly one).
absl::Status WriteFileAtomically(const std::string& path, std::string_view contents,
                                 bool replace = true);

// Reads a whole file of at most `max_bytes` bytes (larger: INVALID_ARGUMENT naming the path).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, int64_t max_bytes);

}  // namespace pw::checkpoint

#endif  // PATHWAYS_CHECKPOINT_SHARD_FILE_H_
