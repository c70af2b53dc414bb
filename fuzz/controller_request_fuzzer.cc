// libFuzzer target: the decoders of what reaches the controller — clients' requests (programs,
// functions, arrays, slices, checkpoints) and workers' reports (run completions, joins). The
// first byte picks the message; the rest is its protobuf bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/quiet_protobuf.h"
#include "pathways/ir/serialization.h"
#include "pathways/wire/wire.pb.h"
#include "pathways/wire/wire_convert.h"

namespace pwire = pathways::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  const int n = static_cast<int>(size - 1);
  switch (data[0] % 7) {
    case 0: {
      pwire::RegisterProgramRequest r;
      if (r.ParseFromArray(bytes, n)) (void)pw::wire::FromProto(r.program());
      return 0;
    }
    case 1: {
      pwire::RegisterFunctionRequest r;
      if (r.ParseFromArray(bytes, n)) (void)pw::ir::FromProto(r.function());
      return 0;
    }
    case 2: {
      pwire::PutArrayRequest r;
      if (!r.ParseFromArray(bytes, n)) return 0;
      for (const auto& shard : r.shards()) (void)pw::wire::FromProto(shard);
      (void)pw::wire::FromProto(r.sharding());
      return 0;
    }
    case 3: {
      pwire::SaveCheckpointRequest r;
      if (r.ParseFromArray(bytes, n)) (void)pw::wire::FromProto(r);
      pwire::RestoreCheckpointRequest q;
      if (q.ParseFromArray(bytes, n)) (void)pw::wire::FromProto(q);
      return 0;
    }
    case 4: {
      pwire::RunDoneReport r;
      if (r.ParseFromArray(bytes, n)) (void)pw::wire::FromProto(r);
      return 0;
    }
    case 5: {
      pwire::JoinRequest r;
      if (r.ParseFromArray(bytes, n)) (void)pw::wire::FromProto(r.spec());
      return 0;
    }
    default: {
      pwire::SliceRequestProto r;
      if (r.ParseFromArray(bytes, n)) (void)pw::wire::FromProto(r);
      return 0;
    }
  }
}
