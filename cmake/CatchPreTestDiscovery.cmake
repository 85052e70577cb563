# Registers each Catch2 test case of an executable as its own CTest test, discovered when ctest runs
# rather than when the executable is built. Debian's Catch2 2.13 discovers at build time only, which
# would run ARM binaries under qemu in the middle of a cross build; this is its DISCOVERY_MODE PRE_TEST.
set(_relayguard_catch_discovery_script "${CMAKE_CURRENT_LIST_DIR}/CatchDiscoverTests.cmake")

function(relayguard_discover_catch_tests target)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "TIMEOUT" "")
    if(NOT arg_TIMEOUT)
        set(arg_TIMEOUT 120)
    endif()
    set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_discover.cmake")
    set(list_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_tests.cmake")
    get_property(emulator TARGET ${target} PROPERTY CROSSCOMPILING_EMULATOR)
    if(NOT emulator AND CMAKE_CROSSCOMPILING_EMULATOR)
        set(emulator "${CMAKE_CROSSCOMPILING_EMULATOR}")
    endif()
    file(GENERATE OUTPUT "${include_file}" CONTENT
"set(TEST_EXECUTABLE [==[$<TARGET_FILE:${target}>]==])
set(TEST_EXECUTOR [==[${emulator}]==])
set(TEST_WORKING_DIR [==[${CMAKE_CURRENT_BINARY_DIR}]==])
set(TEST_TIMEOUT ${arg_TIMEOUT})
set(TEST_LIST_FILE [==[${list_file}]==])
include([==[${_relayguard_catch_discovery_script}]==])
")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
