// The one-way latency of the project's own gRPC control path on this machine: half the median
// round trip of a trivial unary call to a pw-controller process. The simulated-network benchmarks
// use it as the "measured" controller <-> host latency.
#ifndef BENCH_GRPC_LATENCY_H_
#define BENCH_GRPC_LATENCY_H_

#include <cstdint>

namespace pw::bench {

// Starts a ProcessCluster of one worker, times 600 calls (the first 100 are warm-up), prints the
// median, p10 and p90 as a "# " line, and returns half the median in nanoseconds. Aborts with a
// message when the cluster cannot start.
int64_t MeasureGrpcOneWayNanos();

}  // namespace pw::bench

#endif  // BENCH_GRPC_LATENCY_H_
