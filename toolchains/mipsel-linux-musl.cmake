# Fully static little-endian MIPS32r2 musl build for the MediaTek MT7621 (OpenWrt ramips/mt7621, arch
# mipsel_24kc), the most common OpenWrt router SoC. OpenWrt builds it soft-float (the 1004Kc has no FPU),
# while zig's plain mipsel-linux-musl is hard-float: the CPU features say so. Tests run under qemu-mipsel.
set(CMAKE_SYSTEM_PROCESSOR mipsel)
set(RELAYGUARD_ZIG_TARGET mipsel-linux-musl)
set(RELAYGUARD_ZIG_CPU mips32r2+soft_float)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-mipsel)
include("${CMAKE_CURRENT_LIST_DIR}/zig-musl.cmake")
