// TextOutput: what the commands print, without <iostream>.
#include "text_output.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <climits>
#include <fcntl.h>
#include <string>
#include <unistd.h>

namespace text_output_test {

// Both ends of a pipe, non-blocking on the reading side so "nothing written yet" reads as empty.
struct Pipe {
    Pipe() {
        REQUIRE(::pipe(ends.data()) == 0);
        REQUIRE(::fcntl(ends[0], F_SETFL, O_NONBLOCK) == 0);
    }
    ~Pipe() {
        ::close(ends[0]);
        ::close(ends[1]);
    }
    std::string drain() const {
        std::string text;
        std::array<char, 4096> chunk{};
        ssize_t n = 0;
        while ((n = ::read(ends[0], chunk.data(), chunk.size())) > 0) {
            text.append(chunk.data(), static_cast<std::size_t>(n));
        }
        return text;
    }
    std::array<int, 2> ends{};
};

} // namespace text_output_test

TEST_CASE("text output prints text, characters and integers as the commands use them", "[text_output]") {
    relayguard::firmware::StringOutput out;
    const std::string word = "process";
    out << word << ' ' << 4242 << ", " << -7 << ", " << std::size_t{0} << ", " << LLONG_MIN << ", "
        << ULLONG_MAX << ", " << 3u << ", " << -1L << "\n";
    CHECK(out.str() == "process 4242, -7, 0, -9223372036854775808, 18446744073709551615, 3, -1\n");
}

TEST_CASE("a file output writes a line when it ends, not before", "[text_output]") {
    text_output_test::Pipe pipe;
    relayguard::firmware::FileOutput out(pipe.ends[1]);
    out << "relayguard: boot: "
        << "configuration";
    CHECK(pipe.drain().empty());
    out << ": 2 errors\n";
    CHECK(pipe.drain() == "relayguard: boot: configuration: 2 errors\n");
}

TEST_CASE("a file output's flush sends a prompt without a line end", "[text_output]") {
    text_output_test::Pipe pipe;
    relayguard::firmware::FileOutput out(pipe.ends[1]);
    out << "password: ";
    CHECK(pipe.drain().empty());
    out.flush();
    CHECK(pipe.drain() == "password: ");
}

TEST_CASE("a file output passes on text longer than its buffer whole and in order", "[text_output]") {
    text_output_test::Pipe pipe;
    std::string long_text;
    for (int i = 0; long_text.size() < 5000; ++i) {
        long_text += std::to_string(i) + ",";
    }
    std::string seen;
    {
        relayguard::firmware::FileOutput out(pipe.ends[1]);
        out << long_text;
        seen = pipe.drain();
        CHECK(seen.size() >= 4096);            // whole buffers went out as they filled,
        CHECK(seen.size() < long_text.size()); // and the unfinished line waits
    }
    seen += pipe.drain(); // the destructor wrote the rest
    CHECK(seen == long_text);
}
