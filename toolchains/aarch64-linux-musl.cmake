# Fully static aarch64 musl build (Cortex-A53/A72 boards: Raspberry Pi 3/4, NanoPi R-series, the
# IPQ807x/MT7622/MT798x OpenWrt routers, OpenWrt arch aarch64_cortex-a53). Cortex-A53 code runs on
# every later ARMv8-A core. Tests run under qemu-aarch64.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(RELAYGUARD_ZIG_TARGET aarch64-linux-musl)
set(RELAYGUARD_ZIG_CPU cortex_a53)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
include("${CMAKE_CURRENT_LIST_DIR}/zig-musl.cmake")
