# Install rules for everything around the relayguard binary, and the Debian package (CPack DEB):
#
#   cmake --preset release && cmake --build --preset release && (cd build/release && cpack -G DEB)
#
# The binary itself is installed by firmware/CMakeLists.txt to sbin under the prefix (the package's
# prefix is /usr). System files go to absolute paths, where Debian wants them whatever the prefix, so a
# plain `cmake --install` writes to /etc and /lib as well: stage it with DESTDIR=… when that is not wanted.
# The OpenWrt package (firmware/packaging/openwrt/Makefile) takes only the binary from these rules.
set(relayguard_packaging_dir "${PROJECT_SOURCE_DIR}/firmware/packaging")

set(RELAYGUARD_CONFIG_DIR "/etc/relayguard" CACHE PATH "Where the packaged relayguard.xml is installed")
set(RELAYGUARD_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where relayguard.service is installed")
set(RELAYGUARD_FAIL2BAN_FILTER_DIR "/etc/fail2ban/filter.d" CACHE PATH "Where the fail2ban filter is installed")
mark_as_advanced(RELAYGUARD_CONFIG_DIR RELAYGUARD_SYSTEMD_UNIT_DIR RELAYGUARD_FAIL2BAN_FILTER_DIR)

install(FILES "${relayguard_packaging_dir}/relayguard.xml" DESTINATION "${RELAYGUARD_CONFIG_DIR}")
install(FILES "${relayguard_packaging_dir}/systemd/relayguard.service" DESTINATION "${RELAYGUARD_SYSTEMD_UNIT_DIR}")
install(FILES "${relayguard_packaging_dir}/fail2ban/filter.d/relayguard.conf"
        DESTINATION "${RELAYGUARD_FAIL2BAN_FILTER_DIR}")
# The jail is an example (it is disabled and must be adapted), so it ships as documentation.
install(FILES "${PROJECT_SOURCE_DIR}/README.md" "${PROJECT_SOURCE_DIR}/docs/configuration.md"
              "${PROJECT_SOURCE_DIR}/docs/packaging.md"
              "${relayguard_packaging_dir}/fail2ban/jail.d/relayguard.local"
        DESTINATION share/doc/relayguard)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/docs/examples/" DESTINATION share/doc/relayguard/examples
        FILES_MATCHING PATTERN "*.xml")

# The Debian architecture of the binary being built, from the target (never from the build machine):
# first the multiarch triplet (set by the cross toolchain files, detected from the compiler natively),
# then the processor name.
set(relayguard_deb_arch "")
if(CMAKE_LIBRARY_ARCHITECTURE MATCHES "^x86_64-linux-gnu")
    set(relayguard_deb_arch amd64)
elseif(CMAKE_LIBRARY_ARCHITECTURE MATCHES "^aarch64-linux-gnu")
    set(relayguard_deb_arch arm64)
elseif(CMAKE_LIBRARY_ARCHITECTURE MATCHES "^arm-linux-gnueabihf")
    set(relayguard_deb_arch armhf)
elseif(CMAKE_LIBRARY_ARCHITECTURE MATCHES "^arm-linux-gnueabi")
    set(relayguard_deb_arch armel)
elseif(CMAKE_LIBRARY_ARCHITECTURE MATCHES "^i386-linux-gnu")
    set(relayguard_deb_arch i386)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    set(relayguard_deb_arch amd64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
    set(relayguard_deb_arch arm64)
endif()
set(RELAYGUARD_DEB_ARCHITECTURE "" CACHE STRING
    "Debian architecture of the package (empty: derived from the target, e.g. amd64, arm64, armhf)")
if(RELAYGUARD_DEB_ARCHITECTURE)
    set(relayguard_deb_arch "${RELAYGUARD_DEB_ARCHITECTURE}")
elseif(NOT relayguard_deb_arch)
    message(STATUS "relayguard: no Debian architecture known for ${CMAKE_SYSTEM_PROCESSOR}; "
                   "set RELAYGUARD_DEB_ARCHITECTURE to build a .deb")
endif()

# Explicit run-time dependencies, so that cross builds get the same list as native ones
# (CPACK_DEBIAN_PACKAGE_SHLIBDEPS runs dpkg-shlibdeps, which only knows the build machine's libraries).
# The library package names are Debian 12's for the sonames the binary links (readelf -d … | grep NEEDED):
# mbedTLS 2.28 (libmbedtls.so.14, libmbedx509.so.1, libmbedcrypto.so.7) and tinyxml2 9
# (libtinyxml2.so.9); each minimum version is the highest dpkg-shlibdeps computes for the amd64, arm64
# and armhf binaries (libgcc-s1 3.5 is armhf's).
# adduser is for the postinst.
set(relayguard_deb_depends
    "adduser, libc6 (>= 2.34), libgcc-s1 (>= 3.5), libstdc++6 (>= 12)"
    "libmbedcrypto7 (>= 2.28.0), libmbedtls14 (>= 2.28.0), libmbedx509-1 (>= 2.28.0)")
if(NOT RELAYGUARD_TINYXML2_SOURCE_DIR)
    list(APPEND relayguard_deb_depends "libtinyxml2-9 (>= 8.0.0)")
endif()
list(JOIN relayguard_deb_depends ", " relayguard_deb_depends)
set(RELAYGUARD_DEB_DEPENDS "" CACHE STRING
    "Depends: of the Debian package (empty: Debian 12's packages for mbedTLS 2.28 and tinyxml2 9)")
if(RELAYGUARD_DEB_DEPENDS)
    set(relayguard_deb_depends "${RELAYGUARD_DEB_DEPENDS}")
elseif(NOT RELAYGUARD_MBEDTLS_VERSION MATCHES "^2\\.28\\.")
    message(STATUS "relayguard: mbedTLS ${RELAYGUARD_MBEDTLS_VERSION} is not Debian 12's; "
                   "set RELAYGUARD_DEB_DEPENDS before packaging this build")
endif()

# Every file installed under /etc is a conffile: dpkg keeps the administrator's changes on upgrades.
set(relayguard_deb_control "${CMAKE_CURRENT_BINARY_DIR}/debian")
file(WRITE "${relayguard_deb_control}/conffiles"
     "${RELAYGUARD_CONFIG_DIR}/relayguard.xml\n${RELAYGUARD_FAIL2BAN_FILTER_DIR}/relayguard.conf\n")
foreach(conffile IN ITEMS "${RELAYGUARD_CONFIG_DIR}" "${RELAYGUARD_FAIL2BAN_FILTER_DIR}")
    if(NOT conffile MATCHES "^/etc/")
        message(WARNING "relayguard: ${conffile} is not under /etc; the package's conffiles list will be wrong")
    endif()
endforeach()

set(RELAYGUARD_PACKAGE_MAINTAINER "relayguard maintainers <relayguard@example.invalid>" CACHE STRING
    "Maintainer: of the Debian package (a placeholder until the project has a public address)")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME relayguard)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${RELAYGUARD_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The release preset's binary is already stripped; other build types are stripped when packaged.
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_NAME relayguard)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${relayguard_deb_arch}")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${relayguard_deb_depends}")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "fail2ban")
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The synopsis line, then the extended description (CPack indents it).
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "SMTP proxy that closes open relays in front of legacy mail servers")
string(CONCAT CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "relayguard sits in front of a mail server that cannot be reconfigured and\n"
    "closes it as an open relay: an untrusted client may deliver only to the\n"
    "server's own domains, and relaying anywhere else needs a client address on\n"
    "an allowlist and/or a successful SMTP AUTH, decided for every RCPT TO before\n"
    "anything is forwarded. STARTTLS, implicit TLS and SMTP AUTH towards clients,\n"
    "STARTTLS towards the upstream; runs under systemd with its watchdog.\n"
    "The packaged configuration listens on 127.0.0.1:2525 only.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${relayguard_deb_control}/conffiles"
    "${relayguard_packaging_dir}/debian/postinst"
    "${relayguard_packaging_dir}/debian/prerm"
    "${relayguard_packaging_dir}/debian/postrm")
# Maintainer scripts 0755 and the other control files 0644, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only the DEB generator is configured; `cpack --config CPackSourceConfig.cmake` is not supported.
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
