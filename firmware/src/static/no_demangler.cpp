// Only in the fully static musl builds: libc++abi's default terminate handler demangles the type of an
// uncaught exception for its message, and that one call links the whole Itanium demangler in (67 KB of
// the aarch64 binary, more than tinyxml2 and Asio's share of relayguard together). relayguard catches
// what it throws; should something escape, the message names the type in its mangled form
// ("St12length_error") and the process still aborts. Defining the symbol here keeps the linker from
// taking libc++abi's. The glibc builds use the shared libstdc++, whose demangler this must not replace,
// so firmware/CMakeLists.txt compiles this file into the static executable only.
#include <cstddef>

extern "C" char* __cxa_demangle(const char* /*mangled*/, char* /*buffer*/, std::size_t* /*length*/,
                                int* status) {
    if (status != nullptr) {
        *status = -2; // "not a valid name under the C++ ABI mangling rules": the caller prints it as it is
    }
    return nullptr;
}
