#pragma once
// A failed property in a fuzz target: print which one and abort, which libFuzzer reports as a crash and
// saves the input for (crash-<sha1>). Properties are checked in every build type; NDEBUG does not
// switch them off.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                                \
    do {                                                                                                     \
        if (!(condition)) {                                                                                  \
            std::fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #condition, __FILE__, __LINE__);      \
            std::abort();                                                                                    \
        }                                                                                                    \
    } while (false)
