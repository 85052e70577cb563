# Runs one command and checks its exit status and output; used by CTest for command-line tests, so the
# same check works natively and through the cross-compiling emulator.
#   cmake -DCOMMAND=<;-list> -DEXPECT_EXIT=<n> [-DEXPECT_STDOUT=<regex>] [-DEXPECT_STDERR=<regex>]
#         [-DREJECT_OUTPUT=<regex>] [-DINPUT_FILE=<file>] -P expect_command.cmake
if(INPUT_FILE)
    set(input_option INPUT_FILE "${INPUT_FILE}")
endif()
execute_process(COMMAND ${COMMAND} ${input_option}
                RESULT_VARIABLE status OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr TIMEOUT 120)
message("exit status: ${status}\n--- stdout:\n${stdout}--- stderr:\n${stderr}---")
if(NOT status STREQUAL EXPECT_EXIT)
    message(FATAL_ERROR "expected exit status ${EXPECT_EXIT}, got ${status}")
endif()
if(DEFINED EXPECT_STDOUT AND NOT stdout MATCHES "${EXPECT_STDOUT}")
    message(FATAL_ERROR "standard output does not match: ${EXPECT_STDOUT}")
endif()
if(DEFINED EXPECT_STDERR AND NOT stderr MATCHES "${EXPECT_STDERR}")
    message(FATAL_ERROR "standard error does not match: ${EXPECT_STDERR}")
endif()
if(DEFINED REJECT_OUTPUT AND "${stdout}${stderr}" MATCHES "${REJECT_OUTPUT}")
    message(FATAL_ERROR "output must not match: ${REJECT_OUTPUT}")
endif()
