// CheckpointIndex: the small file (index.json) that makes a directory of shard files a
// checkpoint — the arrays by name, their shard type, and each shard's file, size and CRC-32.
// A directory without it is not (or not yet) a checkpoint: the index is written last.
//
// Threads: the functions are thread-safe; they block on file I/O.
// Errors: a Status naming the directory and the culprit field (the index is read from disk
// that anyone may have edited: every count, size and name in it is bounded as it is parsed).
#ifndef PATHWAYS_CHECKPOINT_CHECKPOINT_INDEX_H_
#define PATHWAYS_CHECKPOINT_CHECKPOINT_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pathways/checkpoint/shard_file.h"
#include "pathways/ir/shape.h"

namespace pw::checkpoint {

inline constexpr int32_t kIndexFormatVersion = 1;
inline constexpr std::string_view kIndexFileName = "index.json";
inline constexpr int64_t kMaxIndexBytes = int64_t{64} << 20;
inline constexpr int64_t kMaxArrays = 1 << 20;
inline constexpr int64_t kMaxNameLength = 1024;
inline constexpr int64_t kMaxMetadataBytes = int64_t{1} << 20;

struct CheckpointIndex {
  struct Shard {
    std::string file;  // a plain name inside the directory
    int64_t bytes = 0;
    uint32_t crc32 = 0;
    friend bool operator==(const Shard&, const Shard&) = default;
  };
  struct Array {
    std::string name;
    ir::TensorType shard_type;
    std::vector<Shard> shards;
    // The layout (dataflow/sharding.h's Sharding, kept here as plain data): nullopt for
    // stacked, else the mesh axes of each dimension, over `mesh` (the saved slice's).
    std::optional<std::vector<std::vector<int32_t>>> partition;
    std::vector<int64_t> mesh;
    friend bool operator==(const Array&, const Array&) = default;
  };
  std::string metadata;
  std::vector<Array> arrays;

  // The entry named `name`, or NOT_FOUND listing (some of) the names the index holds.
  absl::StatusOr<const Array*> Find(std::string_view name) const;
  friend bool operator==(const CheckpointIndex&, const CheckpointIndex&) = default;
};

// The file name of shard `shard` of the `array`-th entry ("array12.shard3"): names in the index
// are the user's (they may hold '/'), file names never are.
std::string ShardFileName(int64_t array, int64_t shard);

// `directory`/`name`.
std::string JoinPath(std::string_view directory, std::string_view name);

// The ShardFile of one entry's shard, for WorkerService::LoadShard.
ShardFile ShardFileOf(std::string_view directory, const CheckpointIndex::Array& array,
                      int64_t shard);

// OK when `index` is well formed: names unique, 1..kMaxNameLength bytes; shard types valid;
// every shard's bytes equal to the type's byte size; file names plain and unique; at most
// kMaxArrays arrays and ir::kMaxShards shards per array; metadata within kMaxMetadataBytes.
absl::Status Validate(const CheckpointIndex& index, std::string_view where);

// Validates, then writes `directory`/index.json atomically (the directory must exist);
// ALREADY_EXISTS if it has one.
absl::Status WriteIndex(const std::string& directory, const CheckpointIndex& index);

// Reads and validates `directory`/index.json. NOT_FOUND naming the directory when it has no
// index ("not a checkpoint, or one whose save did not finish").
absl::StatusOr<CheckpointIndex> ReadIndex(const std::string& directory);

}  // namespace pw::checkpoint

#endif  // PATHWAYS_CHECKPOINT_CHECKPOINT_INDEX_H_
