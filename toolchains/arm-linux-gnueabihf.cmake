# Cross-compiles for arm-linux-gnueabihf with Debian's cross compiler and multiarch libraries
# (toolchains/setup-debian.sh installs g++-arm-linux-gnueabihf and the :armhf -dev packages).
# Tests run under qemu-arm through CMAKE_CROSSCOMPILING_EMULATOR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)

# "/" stays in the root path so find_package(Catch2) sees the architecture-independent
# /usr/lib/cmake/Catch2; libraries still come only from the multiarch folders.
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# No "-L /usr/arm-linux-gnueabihf": with the cross libc under that prefix, threaded programs hang or crash under qemu.
# Plain qemu finds the multiarch libc6 that the -dev packages pull in.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm)
