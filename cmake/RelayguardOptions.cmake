# Project-wide build settings, applied per target through relayguard_target_defaults().
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

option(RELAYGUARD_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(RELAYGUARD_SIZE_OPTIMISE "Optimise for size: -Os, section garbage collection, stripped binaries" OFF)
option(RELAYGUARD_LTO_EXECUTABLE
       "Compile the relayguard executable from the libraries' sources with link-time optimisation (static musl presets)" OFF)

if(RELAYGUARD_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
    add_link_options(-fsanitize=address,undefined)
endif()
# The fuzz targets (tests/fuzz) need clang; the code they reach is instrumented for coverage and checked
# by both sanitizers.
option(RELAYGUARD_FUZZ "Build the libFuzzer targets in tests/fuzz (clang)" OFF)
if(RELAYGUARD_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
    add_link_options(-fsanitize=address,undefined)
endif()
if(RELAYGUARD_SIZE_OPTIMISE)
    add_compile_options(-Os -ffunction-sections -fdata-sections)
    add_link_options(-Wl,--gc-sections -s)
endif()

function(relayguard_target_defaults target)
    target_compile_features(${target} PUBLIC cxx_std_17)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion)
endfunction()
