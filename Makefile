# OpenPathways: the commands users type. `make run` and `make test` work on a fresh Debian 12.
BUILD ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build wheel run test test-stress test-sanitize test-tsan fuzz bench docs clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: deps $(BUILD)/build.ninja

build: configure
	ninja -C $(BUILD) -j $(JOBS)

# The pip wheel (pathways package, _pathways extension, pw / pw-controller / pw-worker) in dist/,
# packaged from $(BUILD) (setup.py builds only the targets it needs there).
wheel: configure
	PW_CMAKE_BUILD_DIR=$(BUILD) /usr/bin/python3 -m pip wheel --no-build-isolation --no-deps -w dist .

# Builds everything, then runs the quickstart: the paper's Figure 2 in Python on the embedded
# local cluster (then the same program in C++).
run: build
	PYTHONPATH=$(BUILD)/python /usr/bin/python3 examples/quickstart.py
	./$(BUILD)/examples/figure2

# The whole test suite.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

# The suite repeated under load (busy cores, a second cluster running): flaky tests fail here.
test-stress: build
	./scripts/test-stress.sh $(BUILD) $(or $(REPEAT),10)

# The C++ suite under AddressSanitizer + UndefinedBehaviorSanitizer (separate build tree, -O1 with
# line tables: what .ci/run runs after `make test`). SANITIZE_PYTHON=ON adds the Python tests,
# run with the sanitizer runtimes preloaded.
test-sanitize: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" \
	  -DPW_SANITIZE=ON -DPW_BUILD_BENCH=OFF -DPW_BUILD_EXAMPLES=OFF \
	  -DPW_BUILD_PYTHON=$(or $(SANITIZE_PYTHON),OFF)
	ninja -C build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS) --timeout 1200

# The runtime's in-process C++ tests under ThreadSanitizer (build-tsan/, outside CI). Debian's
# Abseil is not instrumented: tests/tsan/absl_sync_annotations.cc tells ThreadSanitizer about
# its mutexes, and tests/tsan/suppressions.txt lists the other uninstrumented libraries (oneDNN's
# OpenMP threads, gRPC) whose own synchronization it cannot see. Tests that start worker
# processes are left out.
TSAN_TESTS ?= base_test ir_test autodiff_test kernels_test device_test cpu_device_test sim_device_test \
  interconnect_model_test collectives_test \
  gloo_collectives_test gloo_mesh_reuse_test checkpoint_test dataflow_test fake_worker_test \
  worker_test host_executor_conformance_test resource_manager_test controller_test \
  in_process_data_plane_test tcp_data_plane_test host_membership_test simulated_network_test \
  gang_execution_test runtime_test simulated_cluster_test client_test scale_test
test-tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" \
	  -DPW_TSAN=ON -DPW_BUILD_BENCH=OFF -DPW_BUILD_EXAMPLES=OFF -DPW_BUILD_PYTHON=OFF
	ninja -C build-tsan -j $(JOBS) $(TSAN_TESTS)
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan/suppressions.txt" \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800 \
	  -R "^($(shell echo $(TSAN_TESTS) | tr ' ' '|'))$$"

# Coverage-guided fuzzing: the libFuzzer targets of fuzz/ built with Clang, ASan and UBSan
# (build-fuzz/), each run for FUZZ_SECONDS (60) from its seeds in fuzz/corpus.
fuzz:
	./scripts/install-deps.sh --fuzz
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPW_FUZZ=ON -DPW_BUILD_BENCH=OFF
	ninja -C build-fuzz -j $(JOBS) pw_fuzzers
	./scripts/run-fuzzers.sh build-fuzz $(or $(FUZZ_SECONDS),60)

# Runs every benchmark; see docs/benchmarks.md for recorded results.
bench: build
	./scripts/run-benchmarks.sh $(BUILD)

# The Python API reference (docs/api), generated from the package's docstrings with Sphinx.
docs: configure
	ninja -C $(BUILD) -j $(JOBS) pathways_python
	./scripts/gen-api-docs.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz build-wheel dist
