# Fully static x86-64 musl build (OpenWrt x86/64, firewall appliances on x86). It runs natively, so the
# whole test suite runs against it on the build machine, without an emulator.
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(RELAYGUARD_ZIG_TARGET x86_64-linux-musl)
set(RELAYGUARD_ZIG_CPU "")
include("${CMAKE_CURRENT_LIST_DIR}/zig-musl.cmake")
