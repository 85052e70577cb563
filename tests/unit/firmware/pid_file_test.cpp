// The pid file that `relayguard reload` reads, and the check that keeps a stale one from signalling an
// unrelated process.
#include "pid_file.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace pid_file_test {

struct TempDir {
    TempDir() {
        char pattern[] = "/tmp/relayguard-pid-XXXXXX";
        REQUIRE(::mkdtemp(pattern) != nullptr);
        path = pattern;
    }
    ~TempDir() {
        const std::string command = "rm -rf '" + path + "'";
        (void)std::system(command.c_str());
    }
    std::string path;
};

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

} // namespace pid_file_test

TEST_CASE("A pid file holds this process's pid and is removed at the end", "[firmware][pidfile]") {
    pid_file_test::TempDir dir;
    const std::string path = dir.path + "/relayguard.pid";
    {
        relayguard::firmware::PidFile pid_file;
        REQUIRE_FALSE(pid_file.write(path));
        std::string error;
        const std::optional<pid_t> pid = relayguard::firmware::read_pid_file(path, error);
        REQUIRE(pid);
        CHECK(*pid == ::getpid());
    }
    CHECK(::access(path.c_str(), F_OK) != 0);
}

TEST_CASE("A pid file that another process took over is left alone", "[firmware][pidfile]") {
    pid_file_test::TempDir dir;
    const std::string path = dir.path + "/relayguard.pid";
    {
        relayguard::firmware::PidFile pid_file;
        REQUIRE_FALSE(pid_file.write(path));
        pid_file_test::write_text(path, "4242\n"); // a newer relayguard wrote its own
    }
    std::string error;
    const std::optional<pid_t> pid = relayguard::firmware::read_pid_file(path, error);
    REQUIRE(pid);
    CHECK(*pid == 4242);
}

TEST_CASE("Pid files that do not hold one process id are refused", "[firmware][pidfile]") {
    pid_file_test::TempDir dir;
    const std::string path = dir.path + "/bad.pid";
    for (const char* text :
         {"", "\n", "abc\n", "12 34\n", "-5\n", "1\n", "0\n", "99999999999\n", "123\n\n"}) {
        DYNAMIC_SECTION("contents \"" << text << "\"") {
            pid_file_test::write_text(path, text);
            std::string error;
            CHECK_FALSE(relayguard::firmware::read_pid_file(path, error));
            CHECK_THAT(error, Catch::Contains(path));
        }
    }
    std::string error;
    CHECK_FALSE(relayguard::firmware::read_pid_file(dir.path + "/missing.pid", error));
    CHECK_THAT(error, Catch::Contains("missing.pid"));
}

TEST_CASE("A pid file cannot be written through a symbolic link", "[firmware][pidfile]") {
    pid_file_test::TempDir dir;
    const std::string target = dir.path + "/target";
    const std::string link = dir.path + "/relayguard.pid";
    pid_file_test::write_text(target, "precious\n");
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    relayguard::firmware::PidFile pid_file;
    const std::optional<std::string> error = pid_file.write(link);
    REQUIRE(error);
    CHECK_THAT(*error, Catch::Contains(link));
    std::ifstream in(target);
    std::string contents;
    std::getline(in, contents);
    CHECK(contents == "precious");
}

TEST_CASE("Only a relayguard process is taken for one", "[firmware][pidfile]") {
    // This test program is not relayguard; neither is init, nor a pid that does not exist.
    CHECK_FALSE(relayguard::firmware::is_relayguard_process(::getpid()));
    CHECK_FALSE(relayguard::firmware::is_relayguard_process(1));
    CHECK_FALSE(relayguard::firmware::is_relayguard_process(4194304 + 1));
}

TEST_CASE("A pid file is not written into a FIFO or through a hard link", "[firmware][pidfile]") {
    pid_file_test::TempDir dir;
    SECTION("a FIFO planted where the pid file goes does not block the start") {
        const std::string fifo = dir.path + "/relayguard.pid";
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
        relayguard::firmware::PidFile pid_file;
        const std::optional<std::string> error = pid_file.write(fifo);
        REQUIRE(error); // ENXIO (no reader) or "not a regular file": either way, refused at once
        CHECK_THAT(*error, Catch::Contains(fifo));
    }
    SECTION("a hard link to another file is not truncated") {
        const std::string target = dir.path + "/target";
        const std::string link = dir.path + "/relayguard.pid";
        pid_file_test::write_text(target, "precious\n");
        REQUIRE(::link(target.c_str(), link.c_str()) == 0);
        relayguard::firmware::PidFile pid_file;
        REQUIRE(pid_file.write(link));
        std::ifstream in(target);
        std::string contents;
        std::getline(in, contents);
        CHECK(contents == "precious");
    }
}
