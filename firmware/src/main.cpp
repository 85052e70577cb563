// relayguard's entry point: everything happens in the command-line dispatcher.
#include "command_line.hpp"

int main(int argc, char** argv) {
    return relayguard::firmware::run_command_line(argc, argv);
}
