// Strongly typed integer ids: cheap value handles that cannot be mixed up across kinds.
#ifndef PATHWAYS_BASE_IDS_H_
#define PATHWAYS_BASE_IDS_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace pw {

template <typename Tag>
class Id {
 public:
  constexpr Id() = default;
  constexpr explicit Id(int64_t value) : value_(value) {}
  constexpr int64_t value() const { return value_; }
  constexpr bool valid() const { return value_ >= 0; }
  friend constexpr bool operator==(Id a, Id b) { return a.value_ == b.value_; }
  friend constexpr auto operator<=>(Id a, Id b) { return a.value_ <=> b.value_; }
  template <typename H>
  friend H AbslHashValue(H h, Id id) {
    return H::combine(std::move(h), id.value_);
  }
  std::string DebugString() const { return std::string(Tag::kPrefix) + std::to_string(value_); }
  friend std::ostream& operator<<(std::ostream& os, Id id) { return os << id.DebugString(); }

 private:
  int64_t value_ = -1;
};

struct DeviceIdTag { static constexpr const char* kPrefix = "device:"; };
struct HostIdTag { static constexpr const char* kPrefix = "host:"; };
struct IslandIdTag { static constexpr const char* kPrefix = "island:"; };
struct ClientIdTag { static constexpr const char* kPrefix = "client:"; };
struct FunctionIdTag { static constexpr const char* kPrefix = "function:"; };
struct ProgramIdTag { static constexpr const char* kPrefix = "program:"; };
struct ArrayIdTag { static constexpr const char* kPrefix = "array:"; };
struct SliceIdTag { static constexpr const char* kPrefix = "slice:"; };
struct RunIdTag { static constexpr const char* kPrefix = "run:"; };
struct GangIdTag { static constexpr const char* kPrefix = "gang:"; };

using DeviceId = Id<DeviceIdTag>;
using HostId = Id<HostIdTag>;
using IslandId = Id<IslandIdTag>;
using ClientId = Id<ClientIdTag>;
using FunctionId = Id<FunctionIdTag>;
using ProgramId = Id<ProgramIdTag>;
using ArrayId = Id<ArrayIdTag>;
// One virtual device slice handed to a client (never reused within a resource manager).
using SliceId = Id<SliceIdTag>;
// One run of a program (each submission, op-by-op calls included).
using RunId = Id<RunIdTag>;
// One execution of one compute node of a run on all its shards: the key of its collective group.
using GangId = Id<GangIdTag>;

}  // namespace pw

template <typename Tag>
struct std::hash<pw::Id<Tag>> {
  size_t operator()(pw::Id<Tag> id) const { return std::hash<int64_t>()(id.value()); }
};

#endif  // PATHWAYS_BASE_IDS_H_
