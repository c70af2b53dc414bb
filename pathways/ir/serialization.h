// Serialization of Functions (protobuf wire form, pathways/ir/ir.proto) and their fingerprints.
#ifndef PATHWAYS_IR_SERIALIZATION_H_
#define PATHWAYS_IR_SERIALIZATION_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pathways/ir/function.h"

// Generated from ir.proto; include "pathways/ir/ir.pb.h" to use it.
namespace pathways::ir {
class FunctionProto;
}  // namespace pathways::ir

namespace pw::ir {

// Version of the wire form. A reader rejects any other version with InvalidArgument, so a
// controller and a worker built from different IR revisions fail loudly instead of misreading.
inline constexpr uint32_t kIrFormatVersion = 1;

// A stable 64-bit content hash of `f`: equal functions (operator==) give equal fingerprints,
// in every process and run (fixed hash constants, never absl::Hash, whose seed changes per
// process). Covers everything operator== compares, including names and the format version.
// Used as the executable-cache key. Linear in the function's size (constants included) without
// allocating; callers on a hot path should still compute it once per function and keep it.
uint64_t Fingerprint(const Function& f);

// Deterministic bytes of `f` (the same function always gives the same bytes). `f` need not be
// verified; the reader verifies. Fails only if the message would exceed protobuf's 2 GiB limit.
absl::StatusOr<std::string> SerializeFunction(const Function& f);

// Parses bytes written by SerializeFunction (or by a peer). Never crashes on malformed or
// hostile input: every problem is InvalidArgument naming the function and the instruction.
// Instructions may appear in any order with arbitrary distinct ids; they are topologically
// sorted (keeping the given order where it is already valid) and renumbered, so the result
// satisfies the invariants of a verified Function, and Verify() has passed on it. Errors found
// before renumbering name instructions by the sender's ids; type errors found by Verify() use
// the new ids, which are the sender's own whenever it sent a verified function.
// DeserializeFunction(*SerializeFunction(f)) == f for every verified f.
absl::StatusOr<Function> DeserializeFunction(std::string_view bytes);

// The same as messages, for embedding a function in a larger protobuf (e.g. a transport
// request). FromProto has the guarantees of DeserializeFunction.
pathways::ir::FunctionProto ToProto(const Function& f);
absl::StatusOr<Function> FromProto(const pathways::ir::FunctionProto& proto);

}  // namespace pw::ir

#endif  // PATHWAYS_IR_SERIALIZATION_H_
