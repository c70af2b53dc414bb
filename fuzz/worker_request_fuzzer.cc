// libFuzzer target: the decoders of what reaches a worker from its peers — the controller's
// host programs and runs, and other hosts' shard pushes. The first byte picks the message; the
// rest is its protobuf bytes. Every decoder must return a value or a clean error.
#include <cstddef>
#include <cstdint>

#include "fuzz/quiet_protobuf.h"
#include "pathways/wire/wire.pb.h"
#include "pathways/wire/wire_convert.h"

namespace pwire = pathways::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  const int n = static_cast<int>(size - 1);
  switch (data[0] % 5) {
    case 0: {  // a run, with its host program or naming one
      pwire::HostRunProto run;
      if (!run.ParseFromArray(bytes, n)) return 0;
      if (!run.has_program()) return 0;
      absl::StatusOr<pw::wire::ReceivedHostProgram> program = pw::wire::FromProto(run.program());
      if (program.ok()) (void)pw::wire::FromProto(run, *program);
      return 0;
    }
    case 1: {  // a shard push or a producer's error (gRPC and TCP data planes)
      pwire::ShardPushProto push;
      if (push.ParseFromArray(bytes, n)) (void)pw::wire::FromProto(push);
      return 0;
    }
    case 2: {  // PutShard: a literal or a checkpoint shard file
      pwire::PutShardRequest put;
      if (!put.ParseFromArray(bytes, n)) return 0;
      (void)pw::wire::FromProto(put.data());
      (void)pw::wire::FromProto(put.load());
      return 0;
    }
    case 3: {  // the status a peer reports
      pwire::StatusProto status;
      if (status.ParseFromArray(bytes, n)) (void)pw::wire::FromProto(status);
      return 0;
    }
    default: {  // a host program on its own (cached under its key)
      pwire::HostProgramProto program;
      if (program.ParseFromArray(bytes, n)) (void)pw::wire::FromProto(program);
      return 0;
    }
  }
}
