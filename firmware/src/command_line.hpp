#pragma once
// The relayguard command line: `relayguard <command> [options]`.
#include <iosfwd>
#include <string>
#include <vector>

namespace relayguard::firmware {

// Exit codes shared by every command, as nginx -t and most daemons use them.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

int run_command_line(int argc, char** argv);

// Each command takes the arguments after its name and returns the process exit code.
int check_config_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int passwd_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_command(const std::vector<std::string>& args, std::ostream& err);
int probe_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int reload_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int version_command(std::ostream& out);
void print_usage(std::ostream& out);

} // namespace relayguard::firmware
