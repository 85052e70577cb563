# Cross-compiles for aarch64-linux-gnu with Debian's cross compiler and multiarch libraries
# (toolchains/setup-debian.sh installs g++-aarch64-linux-gnu and the :arm64 -dev packages).
# Tests run under qemu-aarch64 through CMAKE_CROSSCOMPILING_EMULATOR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# "/" stays in the root path so find_package(Catch2) sees the architecture-independent
# /usr/lib/cmake/Catch2; libraries still come only from the multiarch folders.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# No "-L /usr/aarch64-linux-gnu": with the cross libc under that prefix, threaded programs hang or crash under qemu.
# Plain qemu finds the multiarch libc6 that the -dev packages pull in.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
