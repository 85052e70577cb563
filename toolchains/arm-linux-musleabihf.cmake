# Fully static 32-bit ARM (ARMv7-A, hard float) musl build for Cortex-A7 boards such as the IPQ40xx
# routers (OpenWrt arch arm_cortex-a7_neon-vfpv4). zig's default for this triple is a generic ARMv7 with
# VFPv3 and NEON; naming the Cortex-A7 gives VFPv4 and its scheduling. Boards without NEON (Armada 38x,
# arm_cortex-a9_vfpv3-d16) need RELAYGUARD_ZIG_CPU=cortex_a9-neon in a toolchain file of their own.
# Tests run under qemu-arm. The musl-armv7 preset links without LTO (RELAYGUARD_LTO_EXECUTABLE OFF):
# zig 0.11's linker crashes (a segmentation fault in the ThinLTO back end) linking the ARMv7 executable.
set(CMAKE_SYSTEM_PROCESSOR armv7)
set(RELAYGUARD_ZIG_TARGET arm-linux-musleabihf)
set(RELAYGUARD_ZIG_CPU cortex_a7)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm)
include("${CMAKE_CURRENT_LIST_DIR}/zig-musl.cmake")
