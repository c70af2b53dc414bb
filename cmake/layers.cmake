# The layer rules of pathways/: which folder may see which, and what must never happen.
#
# One table serves two checks: cmake/check_layers.cmake reads every source file's includes on
# each build, and pw_check_link_layers() (below) reads the CMake targets' link dependencies at
# configure time. A folder is a path below pathways/ ("device/cpu"); a library target belongs to
# the folder of its CMakeLists.txt. Each folder may use itself and the folders listed for it.

set(PW_ALLOW_base "")
set(PW_ALLOW_ir base)
set(PW_ALLOW_autodiff ir base)
set(PW_ALLOW_kernels ir base)
set(PW_ALLOW_device kernels ir base)
set(PW_ALLOW_device/cpu device kernels ir base)
set(PW_ALLOW_device/sim device kernels ir base)
set(PW_ALLOW_collectives kernels ir base)
set(PW_ALLOW_collectives/in_process collectives kernels ir base)
set(PW_ALLOW_collectives/gloo collectives kernels ir base)
set(PW_ALLOW_checkpoint ir base)
set(PW_ALLOW_dataflow ir base)
set(PW_ALLOW_service checkpoint dataflow ir base)
set(PW_ALLOW_worker service checkpoint dataflow collectives device kernels ir base)
set(PW_ALLOW_scheduler base)
set(PW_ALLOW_controller scheduler service checkpoint dataflow ir base)
set(PW_ALLOW_wire service checkpoint dataflow ir base)
set(PW_ALLOW_rpc wire service checkpoint collectives dataflow ir base)
set(PW_ALLOW_dataplane service ir base)
set(PW_ALLOW_dataplane/in_process dataplane service ir base)
set(PW_ALLOW_dataplane/grpc dataplane rpc wire service ir base)
set(PW_ALLOW_dataplane/tcp dataplane wire service ir base)
set(PW_ALLOW_cluster
    controller scheduler worker dataplane dataplane/in_process dataplane/grpc dataplane/tcp rpc wire
    service checkpoint dataflow collectives collectives/in_process collectives/gloo device device/cpu
    device/sim kernels ir base)
set(PW_ALLOW_launch base)
# The controller process's HTTP dashboard: reads the controller server, never drives it.
set(PW_ALLOW_dashboard cluster controller scheduler service checkpoint dataflow ir base)
set(PW_ALLOW_client rpc wire service checkpoint dataflow autodiff ir base)
set(PW_ALLOW_tools
    launch client cluster dashboard controller scheduler worker dataplane dataplane/grpc dataplane/tcp rpc wire service checkpoint dataflow
    collectives collectives/in_process device device/cpu device/sim kernels autodiff ir base)

# Tests (files named *_test.cc, *_test_util.*, *conformance*, fake_*) may also reach these, to run
# against real implementations instead of mocks; the "never" rules below do not apply to them
# (a client's tests run it on an embedded cluster).
set(PW_TEST_ALLOW_autodiff kernels)
set(PW_TEST_ALLOW_worker dataplane/in_process collectives/in_process device/cpu device/sim)
set(PW_TEST_ALLOW_collectives/in_process device device/cpu)
set(PW_TEST_ALLOW_collectives/gloo collectives/in_process)
set(PW_TEST_ALLOW_rpc collectives/in_process)
set(PW_TEST_ALLOW_cluster client)
set(PW_TEST_ALLOW_client cluster)

# Rules that must never break, each named by its reason; checked before the allow-lists so a
# failure says why. Format: "FROM|TO-PREFIX|reason" (TO-PREFIX matches a folder and its children).
set(PW_NEVER_RULES
  "controller|worker|the controller drives hosts only through service/worker_service.h"
  "controller|kernels|the controller never runs compute"
  "controller|device|the controller never runs compute"
  "controller|collectives|the controller never runs compute"
  "worker|controller|the host executor and the controller are siblings"
  "client|cluster|a client never embeds a server"
  "client|worker|a client never embeds a host executor"
  "client|controller|a client reaches the controller only through service/controller_service.h"
  "client|dataplane|a client never moves shards between hosts")

# Only these folders may include gRPC headers ("grpcpp/...", "grpc/...", "*.grpc.pb.h").
set(PW_GRPC_FOLDERS rpc dataplane/grpc cluster)

# Link rules (transitive, on library and executable targets): "TARGET|FORBIDDEN,...|reason".
set(PW_NEVER_LINK_RULES
  "pw_controller|pw_worker,pw_kernels,pw_device,pw_device_cpu,pw_device_sim,pw_collectives,pw_collectives_in_process,pw_collectives_gloo,pw_dnnl,gloo|the controller never runs compute"
  "pw_controller_server|pw_worker,pw_kernels,pw_device,pw_device_cpu,pw_device_sim,pw_collectives,pw_collectives_in_process,pw_collectives_gloo,pw_dnnl,gloo|the controller process never runs compute"
  "pw-controller|pw_worker,pw_kernels,pw_device,pw_device_cpu,pw_device_sim,pw_collectives_gloo,pw_dnnl,gloo|the controller process never runs compute"
  "pw_client|pw_controller_server,pw_worker_server,pw_local_cluster,pw_process_cluster,pw_rpc_services,pw_worker,pw_controller,pw_kernels,pw_dnnl,gloo|a client links no server and no executor"
  "pw_rpc|pw_worker,pw_controller,pw_kernels,pw_dnnl,gloo|the stubs link no server and no executor")

# pw_check_link_layers(): call once every target exists. Fails configuration naming the target
# and the rule it breaks.
function(pw_check_link_layers)
  get_property(targets GLOBAL PROPERTY PW_LAYER_TARGETS)
  set(errors "")
  foreach(target IN LISTS targets)
    get_target_property(dir ${target} SOURCE_DIR)
    file(RELATIVE_PATH folder "${PROJECT_SOURCE_DIR}/pathways" "${dir}")
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(deps ${target} INTERFACE_LINK_LIBRARIES)
    else()
      get_target_property(deps ${target} LINK_LIBRARIES)
    endif()
    if(NOT deps)
      continue()
    endif()
    foreach(dep IN LISTS deps)
      if(NOT dep MATCHES "^pw_" OR NOT TARGET ${dep})
        continue()
      endif()
      get_target_property(dep_dir ${dep} SOURCE_DIR)
      file(RELATIVE_PATH dep_folder "${PROJECT_SOURCE_DIR}/pathways" "${dep_dir}")
      if(dep_folder STREQUAL folder OR dep_folder MATCHES "^\\.\\.")
        continue()
      endif()
      list(FIND PW_ALLOW_${folder} "${dep_folder}" allowed)
      if(allowed EQUAL -1)
        string(REPLACE ";" ", " listed "${PW_ALLOW_${folder}}")
        string(APPEND errors "  target ${target} (pathways/${folder}) links ${dep} (pathways/${dep_folder}): "
                             "'${folder}' may use only: ${listed}\n")
      endif()
    endforeach()
  endforeach()
  foreach(rule IN LISTS PW_NEVER_LINK_RULES)
    string(REPLACE "|" ";" parts "${rule}")
    list(GET parts 0 target)
    list(GET parts 1 forbidden)
    list(GET parts 2 reason)
    string(REPLACE "," ";" forbidden "${forbidden}")
    if(NOT TARGET ${target})
      continue()
    endif()
    _pw_link_closure(${target} closure)
    foreach(bad IN LISTS forbidden)
      list(FIND closure "${bad}" found)
      if(NOT found EQUAL -1)
        string(APPEND errors "  target ${target} links ${bad} (through its dependencies): rule \"${reason}\"\n")
      endif()
    endforeach()
  endforeach()
  if(errors)
    message(FATAL_ERROR "Link dependencies against the layer rules (cmake/layers.cmake):\n${errors}")
  endif()
endfunction()

# Every target `target` links, directly or through others (CMake targets and plain names).
function(_pw_link_closure target out)
  set(seen "")
  set(queue ${target})
  while(queue)
    list(POP_FRONT queue t)
    if(NOT TARGET ${t})
      continue()
    endif()
    get_target_property(type ${t} TYPE)
    set(deps "")
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(d ${t} LINK_LIBRARIES)
      if(d)
        list(APPEND deps ${d})
      endif()
    endif()
    get_target_property(d ${t} INTERFACE_LINK_LIBRARIES)
    if(d)
      list(APPEND deps ${d})
    endif()
    foreach(dep IN LISTS deps)
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" dep "${dep}")
      list(FIND seen "${dep}" found)
      if(found EQUAL -1)
        list(APPEND seen "${dep}")
        list(APPEND queue "${dep}")
      endif()
    endforeach()
  endwhile()
  set(${out} "${seen}" PARENT_SCOPE)
endfunction()
