# Run by ctest (through TEST_INCLUDE_FILES): lists the test cases of TEST_EXECUTABLE, through
# TEST_EXECUTOR when cross-compiled, and adds one CTest test for each. The list is cached next to the
# executable and rebuilt only when the executable is newer than it.
if(NOT EXISTS "${TEST_EXECUTABLE}")
    add_test([==[missing test executable]==] "${CMAKE_COMMAND}" -E false)
    message(WARNING "relayguard: ${TEST_EXECUTABLE} is not built; build before running ctest")
    return()
endif()

if(NOT EXISTS "${TEST_LIST_FILE}" OR "${TEST_EXECUTABLE}" IS_NEWER_THAN "${TEST_LIST_FILE}")
    execute_process(
        COMMAND ${TEST_EXECUTOR} "${TEST_EXECUTABLE}" --list-test-names-only
        OUTPUT_VARIABLE names
        RESULT_VARIABLE result
        WORKING_DIRECTORY "${TEST_WORKING_DIR}"
        TIMEOUT 300)
    # Catch2 v2 exits with the number of test cases it listed; a negative or text result is a crash.
    if(NOT result MATCHES "^[0-9]+$" OR result EQUAL 0)
        add_test([==[test discovery failed]==] "${CMAKE_COMMAND}" -E false)
        message(WARNING "relayguard: listing tests of ${TEST_EXECUTABLE} failed: ${result}")
        return()
    endif()
    string(REPLACE "\n" ";" names "${names}")
    set(script "")
    foreach(name IN LISTS names)
        if(name STREQUAL "")
            continue()
        endif()
        # A Catch2 test spec treats \ , [ ] " * ~ as syntax; escape them so the name selects exactly
        # one case (the backslash first, so the escapes added after it stay single); --warn NoTests makes a
        # name that selects nothing fail instead of passing silently.
        set(spec "${name}")
        foreach(char "\\" , [ ] "\"" * ~)
            string(REPLACE "${char}" "\\${char}" spec "${spec}")
        endforeach()
        string(APPEND script
            "add_test([==[${name}]==] ${TEST_EXECUTOR} [==[${TEST_EXECUTABLE}]==] [==[${spec}]==] --warn NoTests)\n"
            "set_tests_properties([==[${name}]==] PROPERTIES WORKING_DIRECTORY [==[${TEST_WORKING_DIR}]==]"
            " TIMEOUT ${TEST_TIMEOUT})\n")
    endforeach()
    file(WRITE "${TEST_LIST_FILE}" "${script}")
endif()
include("${TEST_LIST_FILE}")
