# Finds an mbedTLS installed without a CMake package (Debian 12's libmbedtls-dev, 2.28 LTS) and
# provides the same imported targets that mbedTLS 3.x installs: MbedTLS::mbedtls, ::mbedx509, ::mbedcrypto.
include(FindPackageHandleStandardArgs)

find_path(SystemMbedTLS_INCLUDE_DIR mbedtls/ssl.h)
find_library(SystemMbedTLS_TLS_LIBRARY mbedtls)
find_library(SystemMbedTLS_X509_LIBRARY mbedx509)
find_library(SystemMbedTLS_CRYPTO_LIBRARY mbedcrypto)

if(SystemMbedTLS_INCLUDE_DIR)
    foreach(header mbedtls/build_info.h mbedtls/version.h)
        if(EXISTS "${SystemMbedTLS_INCLUDE_DIR}/${header}")
            file(STRINGS "${SystemMbedTLS_INCLUDE_DIR}/${header}" version_line
                 REGEX "^#define[ \t]+MBEDTLS_VERSION_STRING[ \t]+\"[0-9.]+\"")
            if(version_line)
                string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" SystemMbedTLS_VERSION "${version_line}")
                break()
            endif()
        endif()
    endforeach()
endif()

find_package_handle_standard_args(SystemMbedTLS
    REQUIRED_VARS SystemMbedTLS_INCLUDE_DIR SystemMbedTLS_TLS_LIBRARY SystemMbedTLS_X509_LIBRARY
                  SystemMbedTLS_CRYPTO_LIBRARY
    VERSION_VAR SystemMbedTLS_VERSION)

if(SystemMbedTLS_FOUND AND NOT TARGET MbedTLS::mbedcrypto)
    add_library(MbedTLS::mbedcrypto UNKNOWN IMPORTED)
    set_target_properties(MbedTLS::mbedcrypto PROPERTIES
        IMPORTED_LOCATION "${SystemMbedTLS_CRYPTO_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${SystemMbedTLS_INCLUDE_DIR}")
    add_library(MbedTLS::mbedx509 UNKNOWN IMPORTED)
    set_target_properties(MbedTLS::mbedx509 PROPERTIES
        IMPORTED_LOCATION "${SystemMbedTLS_X509_LIBRARY}"
        INTERFACE_LINK_LIBRARIES MbedTLS::mbedcrypto)
    add_library(MbedTLS::mbedtls UNKNOWN IMPORTED)
    set_target_properties(MbedTLS::mbedtls PROPERTIES
        IMPORTED_LOCATION "${SystemMbedTLS_TLS_LIBRARY}"
        INTERFACE_LINK_LIBRARIES MbedTLS::mbedx509)
endif()
mark_as_advanced(SystemMbedTLS_INCLUDE_DIR SystemMbedTLS_TLS_LIBRARY SystemMbedTLS_X509_LIBRARY
                 SystemMbedTLS_CRYPTO_LIBRARY)
