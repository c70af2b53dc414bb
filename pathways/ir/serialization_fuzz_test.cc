// Fuzz-style test of DeserializeFunction: random bytes, mutated valid bytes and corrupted protos
// must give OK or an error, never a crash or hang; whatever is accepted must be a valid function.
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/ir/ir.pb.h"
#include "pathways/ir/ir_test_util.h"
#include "pathways/ir/serialization.h"

namespace pw::ir {
namespace {

using pathways::ir::FunctionProto;

struct Tally {
  int ok = 0;
  int errors = 0;
};

// Feeds `bytes` to the reader and checks its contract on the outcome.
void Check(std::string_view bytes, Tally* tally) {
  absl::StatusOr<Function> f = DeserializeFunction(bytes);
  if (!f.ok()) {
    ++tally->errors;
    ASSERT_THAT(f.status(), StatusIs(absl::StatusCode::kInvalidArgument));
    return;
  }
  ++tally->ok;
  ASSERT_TRUE(Verify(*f).ok()) << Verify(*f);
  // An accepted function is canonical: it round-trips exactly.
  absl::StatusOr<std::string> again = SerializeFunction(*f);
  ASSERT_TRUE(again.ok());
  absl::StatusOr<Function> back = DeserializeFunction(*again);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(*back, *f);
}

class Fuzzer {
 public:
  explicit Fuzzer(uint64_t seed) : rng_(seed) {}

  int64_t Int(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  bool Chance(int percent) { return Int(0, 99) < percent; }

  std::string RandomBytes(int64_t max_len) {
    std::string s(static_cast<size_t>(Int(0, max_len)), '\0');
    for (char& c : s) c = static_cast<char>(Int(0, 255));
    return s;
  }

  std::string Mutate(std::string s) {
    int edits = static_cast<int>(Int(1, 4));
    for (int e = 0; e < edits; ++e) {
      switch (Int(0, 4)) {
        case 0:  // bit flip
          if (!s.empty()) s[Int(0, s.size() - 1)] ^= static_cast<char>(1 << Int(0, 7));
          break;
        case 1:  // truncation
          s.resize(static_cast<size_t>(Int(0, s.size())));
          break;
        case 2:  // insertion
          s.insert(static_cast<size_t>(Int(0, s.size())), RandomBytes(8));
          break;
        case 3:  // overwrite with a random byte
          if (!s.empty()) s[Int(0, s.size() - 1)] = static_cast<char>(Int(0, 255));
          break;
        default:  // duplicate a chunk (repeats fields, often whole instructions)
          if (!s.empty()) {
            size_t at = Int(0, s.size() - 1);
            size_t len = Int(1, std::min<int64_t>(32, s.size() - at));
            s.insert(at, s.substr(at, len));
          }
      }
    }
    return s;
  }

  // An extreme or plausible integer for a dim, axis, id or index.
  int64_t Number() {
    switch (Int(0, 7)) {
      case 0: return INT64_MAX;
      case 1: return INT64_MIN;
      case 2: return -Int(1, 3);
      case 3: return int64_t{1} << Int(20, 62);
      default: return Int(0, 8);
    }
  }

  // Corrupts one field of a valid function proto, field by field.
  void Corrupt(FunctionProto* p) {
    if (p->instructions_size() == 0) return;
    auto* inst = p->mutable_instructions(static_cast<int>(Int(0, p->instructions_size() - 1)));
    auto* attrs = inst->mutable_attrs();
    switch (Int(0, 15)) {
      case 0: inst->set_op(Chance(50) ? static_cast<uint32_t>(Int(0, 90)) : static_cast<uint32_t>(Number())); break;
      case 1:
        if (inst->operands_size() > 0) {
          inst->set_operands(static_cast<int>(Int(0, inst->operands_size() - 1)),
                             Chance(70) ? Int(0, p->instructions_size()) : Number());
        } else {
          inst->add_operands(Int(0, p->instructions_size()));
        }
        break;
      case 2: inst->set_id(Chance(70) ? Int(0, p->instructions_size()) : Number()); break;
      case 3: {
        auto* type = Chance(50) ? inst->mutable_type() : attrs->mutable_type();
        if (type->dims_size() > 0 && Chance(70)) {
          type->set_dims(static_cast<int>(Int(0, type->dims_size() - 1)), Number());
        } else {
          type->add_dims(Number());
        }
        break;
      }
      case 4: inst->mutable_type()->set_dtype(static_cast<uint32_t>(Int(0, 6))); break;
      case 5: {
        auto* lit = attrs->mutable_literal();
        if (Chance(50)) {
          lit->mutable_data()->resize(static_cast<size_t>(Int(0, 64)));
        } else {
          lit->mutable_type()->add_dims(Number());
        }
        break;
      }
      case 6: attrs->set_axis(Number()); break;
      case 7: attrs->add_dims(Number()); break;
      case 8: attrs->add_starts(Number()); attrs->add_limits(Number()); attrs->add_strides(Number()); break;
      case 9: attrs->mutable_dot()->add_lhs_contracting(Number()); break;
      case 10: {
        auto* pair = attrs->add_pairs();
        pair->set_source(Number());
        pair->set_target(Number());
        break;
      }
      case 11: p->set_num_shards(Chance(50) ? Int(1, 8) : Number()); break;
      case 12: p->add_parameters(Number()); break;
      case 13: p->set_outputs(0, Chance(70) ? Int(0, p->instructions_size()) : Number()); break;
      case 14: attrs->set_comparison(static_cast<uint32_t>(Int(0, 7))); attrs->set_reduce_kind(static_cast<uint32_t>(Int(0, 4))); break;
      default:  // swap two instructions: order must not matter
        p->mutable_instructions()->SwapElements(static_cast<int>(Int(0, p->instructions_size() - 1)),
                                                static_cast<int>(Int(0, p->instructions_size() - 1)));
    }
  }

 private:
  std::mt19937_64 rng_;
};

TEST(SerializationFuzzTest, RandomBytesNeverCrash) {
  Fuzzer fuzz(1);
  Tally tally;
  for (int i = 0; i < 20000; ++i) {
    Check(fuzz.RandomBytes(96), &tally);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(tally.errors, 19000);
}

TEST(SerializationFuzzTest, MutatedValidBytesNeverCrash) {
  Fuzzer fuzz(2);
  const std::string valid = *SerializeFunction(testing::EveryOpFunction());
  Tally tally;
  for (int i = 0; i < 6000; ++i) {
    Check(fuzz.Mutate(valid), &tally);
    if (HasFatalFailure()) return;
  }
  // Both outcomes happen, so the mutations reach past the parser into the checks.
  EXPECT_GT(tally.ok, 0);
  EXPECT_GT(tally.errors, 0);
}

TEST(SerializationFuzzTest, CorruptedProtosNeverCrash) {
  Fuzzer fuzz(3);
  const FunctionProto valid = ToProto(testing::EveryOpFunction());
  Tally tally;
  for (int i = 0; i < 4000; ++i) {
    FunctionProto p = valid;
    int corruptions = static_cast<int>(fuzz.Int(1, 3));
    for (int c = 0; c < corruptions; ++c) fuzz.Corrupt(&p);
    std::string bytes;
    ASSERT_TRUE(p.SerializeToString(&bytes));
    Check(bytes, &tally);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(tally.ok, 100);
  EXPECT_GT(tally.errors, 1000);
}

}  // namespace
}  // namespace pw::ir
