#pragma once
// A pipe for an EventLog to write into, for the tests that read its lines.
#include <catch2/catch.hpp>

#include <array>
#include <cstddef>
#include <fcntl.h>
#include <string>
#include <unistd.h>

namespace log_pipe {

// A pipe whose read end never blocks, so a test can collect exactly what was written so far.
class Pipe {
public:
    explicit Pipe(bool nonblocking_writes = false) {
        REQUIRE(::pipe(ends_.data()) == 0);
        REQUIRE(::fcntl(ends_[0], F_SETFL, O_NONBLOCK) == 0);
        if (nonblocking_writes) {
            REQUIRE(::fcntl(ends_[1], F_SETFL, O_NONBLOCK) == 0);
        }
    }
    ~Pipe() {
        ::close(ends_[0]);
        ::close(ends_[1]);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;

    int write_end() const { return ends_[1]; }
    std::string drain() const {
        std::string collected;
        std::array<char, 4096> chunk{};
        for (;;) {
            const ssize_t got = ::read(ends_[0], chunk.data(), chunk.size());
            if (got <= 0) {
                break;
            }
            collected.append(chunk.data(), static_cast<std::size_t>(got));
        }
        return collected;
    }

private:
    std::array<int, 2> ends_{};
};

} // namespace log_pipe
