// Fingerprint(): a stable content hash of a Function, the executable-cache key.
//
// Hashes the fields directly rather than the serialized bytes: the same content and stability
// (fixed constants, no per-process seed), but no allocation and no 2 GiB protobuf limit on large
// constants. Variable-length fields are length-prefixed so distinct functions cannot produce the
// same stream by shifting bytes between fields. Multi-byte values are read in host byte order,
// as literals are stored; all our hosts are little-endian.
#include <cstring>

#include "pathways/ir/serialization.h"

namespace pw::ir {
namespace {

class Hasher {
 public:
  void Int(int64_t v) { Word(static_cast<uint64_t>(v)); }
  void Bytes(std::string_view s) {
    Int(static_cast<int64_t>(s.size()));
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      Word(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    Word(tail);
  }
  void Ints(const std::vector<int64_t>& v) {
    Int(static_cast<int64_t>(v.size()));
    for (int64_t x : v) Int(x);
  }
  void Type(const TensorType& t) {
    Int(static_cast<int64_t>(t.dtype));
    Int(t.shape.rank());
    for (int64_t d : t.shape.dims()) Int(d);
  }
  // A final avalanche so that nearby inputs land far apart in the cache's hash table.
  uint64_t Finish() const {
    uint64_t h = h_;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
  }

 private:
  // FNV-1a over 64-bit words, with a rotation so high input bits reach the low output bits.
  void Word(uint64_t w) {
    h_ ^= w;
    h_ *= 0x100000001b3ULL;
    h_ ^= (h_ >> 29) | (h_ << 35);
  }
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace

uint64_t Fingerprint(const Function& f) {
  Hasher h;
  h.Int(kIrFormatVersion);
  h.Bytes(f.name);
  h.Int(f.num_shards);
  h.Int(static_cast<int64_t>(f.instructions.size()));
  for (const Instruction& inst : f.instructions) {
    h.Int(inst.id);
    h.Int(static_cast<int64_t>(inst.op));
    h.Ints(inst.operands);
    h.Type(inst.type);
    h.Bytes(inst.name);
    // Hashed only when set, so unscoped functions keep the fingerprints they always had.
    if (!inst.scope.empty()) {
      h.Int(-1);
      h.Bytes(inst.scope);
    }
    const Attributes& a = inst.attrs;
    h.Int(a.index);
    h.Type(a.type);
    h.Int(a.literal.has_value() ? 1 : 0);
    if (a.literal.has_value()) {
      h.Type(a.literal->type());
      h.Bytes(a.literal->bytes());
    }
    h.Int(a.axis);
    h.Int(a.split_axis);
    h.Int(a.concat_axis);
    h.Int(static_cast<int64_t>(a.dtype));
    h.Int(static_cast<int64_t>(a.comparison));
    h.Int(static_cast<int64_t>(a.reduce_kind));
    h.Ints(a.dims);
    h.Ints(a.starts);
    h.Ints(a.limits);
    h.Ints(a.strides);
    h.Ints(a.dot.lhs_batch);
    h.Ints(a.dot.rhs_batch);
    h.Ints(a.dot.lhs_contracting);
    h.Ints(a.dot.rhs_contracting);
    h.Int(static_cast<int64_t>(a.pairs.size()));
    for (const auto& [source, target] : a.pairs) {
      h.Int(source);
      h.Int(target);
    }
    // Hashed only when set, so ungrouped functions keep their fingerprints.
    if (!a.groups.empty()) {
      h.Int(-2);
      h.Int(static_cast<int64_t>(a.groups.size()));
      for (const auto& group : a.groups) h.Ints(group);
    }
    // Likewise cumsum's and top_k's attributes.
    if (a.reverse || a.k != 0) {
      h.Int(-3);
      h.Int(a.reverse ? 1 : 0);
      h.Int(a.k);
    }
    // Control flow: the bound and each region's own fingerprint.
    if (a.max_iterations != 0 || !a.regions.empty()) {
      h.Int(-4);
      h.Int(a.max_iterations);
      h.Int(static_cast<int64_t>(a.regions.size()));
      for (const auto& region : a.regions.functions) {
        h.Int(region ? static_cast<int64_t>(Fingerprint(*region)) : -1);
      }
    }
  }
  h.Ints(f.parameters);
  h.Ints(f.outputs);
  return h.Finish();
}

}  // namespace pw::ir
