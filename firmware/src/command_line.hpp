#pragma once
// The relayguard command line: `relayguard <command> [options]`.
#include "text_output.hpp"

#include <string>
#include <vector>

namespace relayguard::firmware {

// Exit codes shared by every command, as nginx -t and most daemons use them.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

int run_command_line(int argc, char** argv);

// Each command takes the arguments after its name and returns the process exit code.
int check_config_command(const std::vector<std::string>& args, TextOutput& out, TextOutput& err);
int passwd_command(const std::vector<std::string>& args, TextOutput& out, TextOutput& err);
int run_command(const std::vector<std::string>& args, TextOutput& err);
int probe_command(const std::vector<std::string>& args, TextOutput& out, TextOutput& err);
int reload_command(const std::vector<std::string>& args, TextOutput& out, TextOutput& err);
int version_command(TextOutput& out);
void print_usage(TextOutput& out);

} // namespace relayguard::firmware
