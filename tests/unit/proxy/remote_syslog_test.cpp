// The <log server> sender against a collector made here: what is queued when the sender is destroyed
// still reaches a collector that is there, and messages arrive whole and in order.
#include "remote_syslog.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace remote_syslog_test {

// A TCP collector on 127.0.0.1 that accepts one connection and keeps everything it reads.
class Collector {
public:
    Collector() {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(listener_, 4) == 0);
        socklen_t length = sizeof address;
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
        reader_ = std::thread([this] {
            const int connection = ::accept(listener_, nullptr, nullptr);
            char buffer[4096];
            for (ssize_t got; connection >= 0 && (got = ::read(connection, buffer, sizeof buffer)) > 0;) {
                received_.append(buffer, static_cast<std::size_t>(got));
            }
            if (connection >= 0) {
                ::close(connection);
            }
        });
    }
    ~Collector() {
        ::shutdown(listener_, SHUT_RDWR);
        ::close(listener_);
        if (reader_.joinable()) {
            reader_.join();
        }
    }
    std::uint16_t port() const { return port_; }
    // Everything received, once the sender has closed its connection.
    const std::string& finish() {
        reader_.join();
        return received_;
    }

private:
    int listener_ = -1;
    std::uint16_t port_ = 0;
    std::thread reader_;
    std::string received_;
};

} // namespace remote_syslog_test

TEST_CASE("What is queued when the sender stops still reaches the collector, in order", "[syslog]") {
    remote_syslog_test::Collector collector;
    relayguard::policy::SyslogServer server;
    server.transport = relayguard::policy::SyslogServer::Transport::tcp;
    server.address = "127.0.0.1";
    server.port = collector.port();
    {
        relayguard::proxy::RemoteSyslog sender(server, "mx1.example.com", "relayguard/smtpd");
        for (int number = 0; number < 200; ++number) {
            sender.send(6, "line " + std::to_string(number));
        }
        // Destroyed at once: most of the 200 are still queued, and the connection is not yet open.
    }
    const std::string& received = collector.finish();
    std::size_t at = 0;
    for (int number = 0; number < 200; ++number) {
        CAPTURE(number);
        // Octet counting: "<length> <message>", each message ending in its line.
        const std::size_t space = received.find(' ', at);
        REQUIRE(space != std::string::npos);
        const std::size_t length = std::stoul(received.substr(at, space - at));
        const std::string message = received.substr(space + 1, length);
        REQUIRE(message.size() == length);
        CHECK_THAT(message, Catch::StartsWith("<22>1 "));
        CHECK_THAT(message,
                   Catch::EndsWith(" mx1.example.com relayguard/smtpd " + std::to_string(::getpid()) +
                                   " - - line " + std::to_string(number)));
        at = space + 1 + length;
    }
    CHECK(at == received.size());
}
