# Cross-compiles relayguard with an OpenWrt SDK (musl, mbedTLS 3.6 from the SDK's staging directory).
# It cannot be exercised on a Debian build machine; the OpenWrt package Makefile passes these values.
#
#   cmake -S . -B build/openwrt -G Ninja -DCMAKE_TOOLCHAIN_FILE=toolchains/openwrt.cmake \
#         -DOPENWRT_STAGING_DIR=$SDK/staging_dir \
#         -DOPENWRT_TARGET=target-aarch64_cortex-a53_musl \
#         -DOPENWRT_TOOLCHAIN=toolchain-aarch64_cortex-a53_gcc-13.3.0_musl \
#         -DOPENWRT_TRIPLE=aarch64-openwrt-linux-musl \
#         -DCMAKE_BUILD_TYPE=MinSizeRel -DRELAYGUARD_SIZE_OPTIMISE=ON -DBUILD_TESTING=OFF
#
# OPENWRT_STAGING_DIR  the SDK's staging_dir
# OPENWRT_TARGET       the target folder under it (holds usr/include, usr/lib with mbedTLS, tinyxml2)
# OPENWRT_TOOLCHAIN    the toolchain folder under it (holds bin/<triple>-g++)
# OPENWRT_TRIPLE       the compiler prefix
# Asio is header-only and tinyxml2 is small: the package brings both if the feed lacks them.
foreach(required OPENWRT_STAGING_DIR OPENWRT_TARGET OPENWRT_TOOLCHAIN OPENWRT_TRIPLE)
    if(NOT DEFINED ${required} AND DEFINED ENV{${required}})
        set(${required} "$ENV{${required}}")
    endif()
    if(NOT ${required})
        message(FATAL_ERROR "toolchains/openwrt.cmake needs -D${required}=… (see the comment at its top)")
    endif()
endforeach()
# Try-compile projects see only what is listed here.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES
     OPENWRT_STAGING_DIR OPENWRT_TARGET OPENWRT_TOOLCHAIN OPENWRT_TRIPLE)

set(CMAKE_SYSTEM_NAME Linux)
string(REGEX MATCH "^[^-]+" CMAKE_SYSTEM_PROCESSOR "${OPENWRT_TRIPLE}")

set(openwrt_toolchain_dir "${OPENWRT_STAGING_DIR}/${OPENWRT_TOOLCHAIN}")
set(openwrt_target_dir "${OPENWRT_STAGING_DIR}/${OPENWRT_TARGET}")
set(CMAKE_C_COMPILER "${openwrt_toolchain_dir}/bin/${OPENWRT_TRIPLE}-gcc")
set(CMAKE_CXX_COMPILER "${openwrt_toolchain_dir}/bin/${OPENWRT_TRIPLE}-g++")
# The SDK's compiler wrappers want STAGING_DIR in the environment.
set(ENV{STAGING_DIR} "${OPENWRT_STAGING_DIR}")

set(CMAKE_SYSROOT "${openwrt_target_dir}")
set(CMAKE_FIND_ROOT_PATH "${openwrt_target_dir}" "${openwrt_toolchain_dir}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
