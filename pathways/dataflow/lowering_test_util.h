// Test helpers for lowering: a small cluster description and invariant checks on a lowering.
#ifndef PATHWAYS_DATAFLOW_LOWERING_TEST_UTIL_H_
#define PATHWAYS_DATAFLOW_LOWERING_TEST_UTIL_H_

#include <initializer_list>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "pathways/dataflow/lowering.h"

namespace pw::testing {

inline ir::TensorType F32(std::initializer_list<int64_t> dims) {
  return ir::TensorType{ir::DType::kF32, ir::Shape(dims)};
}

// Hosts of devices, slices and functions, as a LoweringContext. Device d of host h (added in
// order) gets the next DeviceId, so AddHosts(0, 2, 2) gives host 0 = devices 0,1, host 1 = 2,3.
class TestCluster {
 public:
  void AddHosts(int64_t island, int64_t num_hosts, int64_t devices_per_host) {
    for (int64_t h = 0; h < num_hosts; ++h) {
      const HostId host(next_host_++);
      for (int64_t d = 0; d < devices_per_host; ++d) {
        context.devices[DeviceId(next_device_++)] = DeviceLocation{host, IslandId(island)};
      }
    }
  }

  SliceId AddSlice(std::initializer_list<int64_t> devices) {
    return AddSlice(std::vector<int64_t>(devices));
  }
  SliceId AddSlice(const std::vector<int64_t>& devices) {
    const SliceId slice(next_slice_++);
    std::vector<DeviceId>& ids = context.slices[slice];
    for (int64_t d : devices) ids.push_back(DeviceId(d));
    return slice;
  }

  FunctionId AddFunction(std::string name, int64_t num_shards,
                         std::vector<ir::TensorType> parameters,
                         std::vector<ir::TensorType> outputs) {
    const FunctionId id(next_function_++);
    context.functions[id] =
        FunctionSignature{id, std::move(name), num_shards, std::move(parameters),
                          std::move(outputs)};
    return id;
  }

  LoweringContext context;

 private:
  int64_t next_host_ = 0;
  int64_t next_device_ = 0;
  int64_t next_slice_ = 0;
  int64_t next_function_ = 100;
};

inline ValueRef Input(int64_t index) { return ValueRef{ValueRef::kProgramInput, index}; }
inline ValueRef Out(int64_t call, int64_t index = 0) { return ValueRef{call, index}; }

inline ProgramCall Call(std::string name, FunctionId function, SliceId slice,
                        std::vector<ValueRef> args) {
  return ProgramCall{std::move(name), function, slice, std::move(args)};
}

// Success iff `status` is INVALID_ARGUMENT and its message contains every one of `parts`.
inline ::testing::AssertionResult IsInvalidWith(const absl::Status& status,
                                                std::initializer_list<std::string> parts) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "expected INVALID_ARGUMENT, got " << status;
  }
  const std::string message(status.message());
  for (const std::string& part : parts) {
    if (message.find(part) == std::string::npos) {
      return ::testing::AssertionFailure() << "message lacks '" << part << "': " << message;
    }
  }
  return ::testing::AssertionSuccess();
}

// Properties every lowering must have, whatever the program: stages partition each host's steps
// (same steps, same relative order), each temporary is freed exactly once per host in both
// dispatch modes, and a host frees only slots it holds a shard of.
void ExpectConsistent(const LoweredProgram& lowered);

}  // namespace pw::testing

#endif  // PATHWAYS_DATAFLOW_LOWERING_TEST_UTIL_H_
