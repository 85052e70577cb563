#include "command_line.hpp"

#include "probe/probe_options.hpp"
#include "version.hpp"

#include <relayguard/proxy/build_info.hpp>

#include <tinyxml2.h>

#include <unistd.h>

namespace relayguard::firmware {

void print_usage(TextOutput& out) {
    out << "usage: relayguard <command> [options]\n"
           "\n"
           "SMTP relay guard: sits in front of a mail server and lets only policy-approved mail through.\n"
           "\n"
           "commands:\n"
           "  run [-c FILE] [--pid-file FILE]\n"
           "                             run the proxy in the foreground (the embedded default\n"
           "                             configuration without -c); SIGHUP reloads the configuration,\n"
           "                             SIGTERM or SIGINT stop it\n"
           "  reload [-c FILE] [--pid-file FILE | --pid PID]\n"
           "                             check FILE, then make the running relayguard reload it\n"
           "                             (the pid file defaults to FILE's <run pid-file>)\n"
           "  probe HOST[:PORT] [options]\n"
           "                             try to relay through a server as nmap and Nessus do, and\n"
           "                             more; exit 1 when it relays (see relayguard probe --help)\n"
           "  check-config [-c FILE]     validate the configuration (the embedded default without -c);\n"
           "                             prints \"configuration OK\" and any warnings, or every error\n"
           "  passwd [--iterations N]    read a password from standard input, print its PBKDF2 hash\n"
           "                             for <user password-hash=\"…\">\n"
           "  version                    print the version and the library versions\n"
           "  help, --help, -h           this text\n"
           "\n"
           "exit status: 0 success, 1 failure (e.g. a bad configuration), 2 usage error\n";
}

int version_command(TextOutput& out) {
    out << "relayguard " << RELAYGUARD_VERSION << " (" << proxy::library_versions() << ", tinyxml2 "
        << TIXML2_MAJOR_VERSION << "." << TIXML2_MINOR_VERSION << "." << TIXML2_PATCH_VERSION << ")\n";
    return exit_ok;
}

int run_command_line(int argc, char** argv) {
    FileOutput out(STDOUT_FILENO);
    FileOutput err(STDERR_FILENO);
    if (argc < 2) {
        print_usage(err);
        return exit_usage;
    }
    const std::string command = argv[1];
    const std::vector<std::string> args(argv + 2, argv + argc);
    if (command == "run") {
        return run_command(args, err);
    }
    if (command == "probe") {
        if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
            print_probe_usage(out);
            return exit_ok;
        }
        return probe_command(args, out, err);
    }
    if (command == "reload") {
        return reload_command(args, out, err);
    }
    if (command == "check-config") {
        return check_config_command(args, out, err);
    }
    if (command == "passwd") {
        return passwd_command(args, out, err);
    }
    if (command == "version" || command == "--version" || command == "-V") {
        return version_command(out);
    }
    if (command == "help" || command == "--help" || command == "-h") {
        print_usage(out);
        return exit_ok;
    }
    err << "relayguard: unknown command \"" << command << "\"\n\n";
    print_usage(err);
    return exit_usage;
}

} // namespace relayguard::firmware
