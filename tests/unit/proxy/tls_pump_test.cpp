// TlsPump: a client pump and a server pump wired back to back in memory.
#include "test_tls_material.hpp"

#include <relayguard/proxy/tls_pump.hpp>

#include <catch2/catch.hpp>

#include <string>

using relayguard::proxy::TlsPump;
using relayguard::proxy::TlsStatus;

namespace tls_pump_test {

namespace proxy = relayguard::proxy;

// Moves what `from` has to send into what `to` received, as a socket would; whether anything moved.
bool carry(TlsPump& from, TlsPump& to) {
    proxy::ByteBuffer& output = from.to_send();
    if (output.empty()) {
        return false;
    }
    REQUIRE(to.received().append(output.readable()));
    output.clear();
    return true;
}

std::string read_all(TlsPump& pump, TlsStatus& last) {
    std::string text;
    char plain[256];
    for (;;) {
        TlsPump::ReadProgress progress;
        last = pump.read(plain, sizeof plain, progress);
        text.append(plain, progress.plaintext);
        if (progress.plaintext == 0) {
            return text;
        }
    }
}

struct Pair {
    Pair()
        : pool(18 * 1024, 4), server(server_context(), pool),
          client(client_context(), "mail.example.test", pool) {}

    static std::shared_ptr<const proxy::TlsServerContext> server_context() {
        std::string error;
        auto context = proxy::TlsServerContext::load_from_memory(test_tls_material::server_certificate_pem,
                                                                 test_tls_material::server_key_pem, error);
        INFO(error);
        REQUIRE(context);
        return context;
    }
    static std::shared_ptr<const proxy::TlsClientContext> client_context() {
        std::string error;
        auto context = proxy::TlsClientContext::load_from_memory(test_tls_material::test_ca_pem, error);
        INFO(error);
        REQUIRE(context);
        return context;
    }

    // Both sides step their handshakes until neither has anything more to say.
    void handshake() {
        for (int round = 0; round < 20; ++round) {
            const TlsStatus client_status = client.handshake();
            const bool client_spoke = carry(client, server);
            const TlsStatus server_status = server.handshake();
            const bool server_spoke = carry(server, client);
            if (client_status == TlsStatus::ok && server_status == TlsStatus::ok && !client_spoke &&
                !server_spoke) {
                return;
            }
            REQUIRE(client_status != TlsStatus::failed);
            REQUIRE(server_status != TlsStatus::failed);
        }
        FAIL("the handshake did not finish in 20 rounds");
    }

    proxy::BufferPool pool;
    TlsPump server;
    TlsPump client;
};

} // namespace tls_pump_test

TEST_CASE("TlsPump carries a handshake, data both ways and close_notify", "[tls]") {
    tls_pump_test::Pair pair;
    CHECK_FALSE(pair.client.handshake_complete());
    pair.handshake();
    CHECK(pair.client.handshake_complete());
    CHECK(pair.server.handshake_complete());
    CHECK(pair.server.describe().rfind("TLSv1.", 0) == 0);

    std::size_t consumed = 0;
    REQUIRE(pair.client.write("EHLO client.test\r\n", 18, consumed) == TlsStatus::ok);
    CHECK(consumed == 18);
    REQUIRE(tls_pump_test::carry(pair.client, pair.server));
    CHECK(pair.server.input_pending());
    TlsStatus last = TlsStatus::ok;
    CHECK(tls_pump_test::read_all(pair.server, last) == "EHLO client.test\r\n");
    CHECK(last == TlsStatus::want_read);
    CHECK_FALSE(pair.server.input_pending());

    REQUIRE(pair.server.write("250 mx.test\r\n", 13, consumed) == TlsStatus::ok);
    tls_pump_test::carry(pair.server, pair.client);
    CHECK(tls_pump_test::read_all(pair.client, last) == "250 mx.test\r\n");

    REQUIRE(pair.client.close_notify() == TlsStatus::ok);
    REQUIRE(tls_pump_test::carry(pair.client, pair.server));
    CHECK(tls_pump_test::read_all(pair.server, last).empty());
    CHECK(last == TlsStatus::closed);
}

TEST_CASE("TlsPump reports a failed handshake and gives its buffers back", "[tls]") {
    relayguard::proxy::BufferPool pool(18 * 1024, 4);
    TlsPump server(tls_pump_test::Pair::server_context(), pool);
    REQUIRE(server.received().append("EHLO this is not TLS\r\n"));
    CHECK(server.handshake() == TlsStatus::failed);
    CHECK_FALSE(server.last_error().empty());
    server.received().clear();
    server.to_send().clear();
    server.release_buffers(true);
    CHECK_FALSE(server.received().holds_block());
    CHECK_FALSE(server.to_send().holds_block());
}
