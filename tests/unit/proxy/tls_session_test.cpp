#include "test_tls_material.hpp"

#include <relayguard/proxy/buffer_pool.hpp>
#include <relayguard/proxy/build_info.hpp>
#include <relayguard/proxy/tls_context.hpp>
#include <relayguard/proxy/tls_session.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

using namespace relayguard::proxy;

namespace tls_session_test {

using test_tls_material::server_certificate_pem;
using test_tls_material::server_key_pem;
using test_tls_material::test_ca_pem;

// A second, unrelated CA.
const char* const other_ca_pem = R"(-----BEGIN CERTIFICATE-----
MIIBbzCCARagAwIBAgICEAIwCgYIKoZIzj0EAwIwHjEcMBoGA1UEAwwTcmVsYXln
dWFyZCBvdGhlciBDQTAgFw0yMDAxMDEwMDAwMDBaGA8yMTIwMDEwMTAwMDAwMFow
HjEcMBoGA1UEAwwTcmVsYXlndWFyZCBvdGhlciBDQTBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABG7mjDTlSTaUzbjnZEiPpXYkGbkRCjr5zSwgLAUdeup3HVySqRYu
oZIRpLUj5DdP2yXlzIZC6Usy7VFuQQDCp3SjQjBAMA8GA1UdEwEB/wQFMAMBAf8w
DgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBQJOSie2jEvo9nEg6yTNappQnlBOzAK
BggqhkjOPQQDAgNHADBEAiA4pHpOpW3pelgVmqkyoA2MEeRJQlpnBnDzdwsBn34Z
PwIgSqIT+H9Ar+Yxby7lZOD5e1qHUYtrHP0bC88GxH0LSk8=
-----END CERTIFICATE-----
)";

// The second CA's key: belongs to no server certificate.
const char* const other_key_pem = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIAmOW0qgdOe8WB2Fqc+jiVtrteM6kDqz3nhE7al52JOYoAoGCCqGSM49
AwEHoUQDQgAEbuaMNOVJNpTNuOdkSI+ldiQZuREKOvnNLCAsBR166ncdXJKpFi6h
khGktSPkN0/bJeXMhkLpSzLtUW5BAMKndA==
-----END EC PRIVATE KEY-----
)";

// rsa.example.test, RSA-2048, self-signed.
const char* const rsa_certificate_pem = R"(-----BEGIN CERTIFICATE-----
MIIDIjCCAgqgAwIBAgICEAMwDQYJKoZIhvcNAQELBQAwGzEZMBcGA1UEAwwQcnNh
LmV4YW1wbGUudGVzdDAgFw0yMDAxMDEwMDAwMDBaGA8yMTIwMDEwMTAwMDAwMFow
GzEZMBcGA1UEAwwQcnNhLmV4YW1wbGUudGVzdDCCASIwDQYJKoZIhvcNAQEBBQAD
ggEPADCCAQoCggEBALpGBAyUspqIEfErkm7svdeHZufzAkaeWxIUb6MgFsdRGPJv
vJaWiVPWv5yQ1Vg96YnFhazhcf68V9XjISFT5v9UisYd7H8oveZei5eaej8cNnpx
A34vMGpFzcQ7l3EqN6olyri4V8KIAN1If1TYSKE/ATqaWfN1JslNCn215hPj37YR
uuPUJVEJkKQsQOjLSs7zigaI9+QjTGHthM8w6AuA2g7XPCw5HYF6p+Yt8cAfovx8
BqmCHbuaF3s8Ex5lEWBKK+ox8bJ7F663UFcUQhoWGbLtM1MipoeuWAklAVNez8ea
WIFWweSKFAEkYt0hT6tCh2PgK8Inpp2oL9JP0I8CAwEAAaNuMGwwGwYDVR0RBBQw
EoIQcnNhLmV4YW1wbGUudGVzdDAJBgNVHRMEAjAAMA4GA1UdDwEB/wQEAwIFoDAT
BgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUbc7ZoSammf47i5k0rMFrilYr
s9EwDQYJKoZIhvcNAQELBQADggEBALGH+OgQKMbYG4I3pfxrxMn7mBD76BL6CJSj
oNclMhcslOAQbLeRhWU5x3coDUcp/5R+akPZ/W/QuWiqpSxAaO2rLSJKPDV7GjSh
gwW402jscFBDqU3zrxGHikYXu764rEJlMZqmRghKwiELyO7RbPTg8OqVtZUwf9vn
LTdAXqyvo42pmlqiQdZ73iXTJDrFB341yGmicUuk0Dr9genEl877Fq1xdhxPmUrY
4VXUWySKwWFg7Ct8J4oHYR4/L8YHTtlM8PtqFgHsnWSbuiGXE/WHs8cZtmtbwo4Q
Keyckq4VqW+Ex+qCnMpI38DNtUmMPtVuvFMtZHCa1LR/dUP0xRY=
-----END CERTIFICATE-----
)";

// Its key.
const char* const rsa_key_pem = R"(-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC6RgQMlLKaiBHx
K5Ju7L3Xh2bn8wJGnlsSFG+jIBbHURjyb7yWlolT1r+ckNVYPemJxYWs4XH+vFfV
4yEhU+b/VIrGHex/KL3mXouXmno/HDZ6cQN+LzBqRc3EO5dxKjeqJcq4uFfCiADd
SH9U2EihPwE6mlnzdSbJTQp9teYT49+2Ebrj1CVRCZCkLEDoy0rO84oGiPfkI0xh
7YTPMOgLgNoO1zwsOR2BeqfmLfHAH6L8fAapgh27mhd7PBMeZRFgSivqMfGyexeu
t1BXFEIaFhmy7TNTIqaHrlgJJQFTXs/HmliBVsHkihQBJGLdIU+rQodj4CvCJ6ad
qC/ST9CPAgMBAAECggEAAd8uL0t5OrB6lemPFpTLb3SDA01Dg4+9g4nZcezP1F/L
VjwYNRPElr3hX83j9JW5CX6G1iWEC7Tg3TIYW7/vlq+otbBqaEtqMKGUwzmebq7r
GZRo2m3I5/gCXaXTECRRX8Lyk1jK38r/bZQsxfkMan9UfnLwNRt38N4y7++wFevU
QfcSSOfabP/VzGREgGogiaQ3AhnnH2D5Cdpk3GgGMRxxugEXH8werHTE7Xswrvq6
rRhSJ9EuH+fDKPmF5pVtTfI0ufmELP/9Es3O23TAINsW7QiHC3V6fuQkaEYK0eun
vwX+r250AKBbo0oK/+BAbAYJqjcCDny18jijRbcK3QKBgQDvyJ4/2drBM2SVjz2i
R99ooSF5UM0aK2srZ7pfY2SIR4/7BXntJ0W6heBJzfNrpeWKNB2B7ZDFvrPJwv5z
K9QU9A+lTiqf9uUKyJPhcIvCnni7POxRDeFbZZTmnvK8gXxwhtTWaqMe3+w2RL/Y
/u8uDZ+LPaEts60R0kQBFzm5QwKBgQDG3vl7qk4SzaL6g25NDP6s4zN2oMbzBsJe
69rDvsGcklBVKUP9zrhG609genB+MYEmjzRbxcscaSWkChaSYW6gibvKawARvxbi
kvN3MJbzdDCfHQx1S30PlTBu9ILzWaPNWoFdiulo6Bl1dyPui60vWrYNAa8mLWp8
g5e8uCbAxQKBgFAn7F7D4NC88V7dp2jcRd6gHqSDUkzxPr4fyrmgbDbyVTtAtWWF
v1V+8184rarKplTw3vxUAhVYjplfydeOSzNF8wT7gFxBGIfmTSkLimzgtNNCpmzi
CveWmZQOhm5lisfDCtsygp0Lldb+XHOZpTLr8u2FCKBSdASFGZ6TuQQpAoGAdhuy
u3k3iP9LzdAE0Anprq/4vnlZ7reS9GDKufoubliPESTC1pfQ5X2W1Muix6+K7mWa
SO69ZBAmZLgBE8p9syZZuyu1DNUaOFHh+mWHIOtefQD5hyfgDEMkUqEwrGoOWEVq
Ey4O1VkS1ap+UovtvPP4rtzTMq9CUNSuZ0xO56kCgYAZbS3roPaXP0U4d2NRUaNC
OzCCfOgRdR9CnTvfODsizbkKSEPaG7aFiWn/R1UyC3IhPbyTFt0IiekGnowcCezR
IHC//k/+Lq48mlHLvFHWMAlCXQso2C9do1cdB2Aycl8MXj3BH6gqEBk/6gv9IyBU
4z7LqObCrB4+HC5QG1g44Q==
-----END PRIVATE KEY-----
)";

// Pool blocks as large as a full TLS record with its overhead, and small ones that are not.
constexpr std::size_t large_block = 18 * 1024;
constexpr std::size_t small_block = 1024;
constexpr int max_rounds = 10000;

std::shared_ptr<const TlsServerContext> server_context(const char* certificate = server_certificate_pem,
                                                       const char* key = server_key_pem) {
    std::string error;
    auto context = TlsServerContext::load_from_memory(certificate, key, error);
    INFO(error);
    REQUIRE(context);
    return context;
}

std::shared_ptr<const TlsClientContext> client_context(const char* ca = "") {
    std::string error;
    auto context = TlsClientContext::load_from_memory(ca, error);
    INFO(error);
    REQUIRE(context);
    return context;
}

// One end of an in-memory connection: its session, the ciphertext it has to send (bounded, like the
// real thing) and the ciphertext it has received and not yet handed to the session.
struct Peer {
    Peer(BufferPool& pool, std::shared_ptr<const TlsServerContext> context)
        : session(std::move(context)), output(pool) {}
    Peer(BufferPool& pool, std::shared_ptr<const TlsClientContext> context, std::string_view server_name)
        : session(std::move(context), server_name), output(pool) {}

    TlsSession session;
    ByteBuffer output;
    std::string input;
};

// The wire: everything `from` has to send arrives at `to`. Returns how many octets moved.
std::size_t deliver(Peer& from, Peer& to) {
    const std::size_t count = from.output.size();
    to.input.append(from.output.readable());
    from.output.consume(count);
    return count;
}

TlsStatus handshake_step(Peer& peer) {
    TlsIo io{peer.input, 0, &peer.output};
    const TlsStatus status = peer.session.handshake(io);
    peer.input.erase(0, io.input_used);
    return status;
}

struct HandshakeOutcome {
    TlsStatus client = TlsStatus::want_read;
    TlsStatus server = TlsStatus::want_read;
    bool waited_for_output = false; // some handshake() call returned want_write
};

// Runs both handshakes until nothing moves any more.
HandshakeOutcome run_handshake(Peer& client, Peer& server) {
    HandshakeOutcome outcome;
    for (int round = 0; round < max_rounds; ++round) {
        outcome.client = handshake_step(client);
        std::size_t moved = deliver(client, server);
        outcome.server = handshake_step(server);
        moved += deliver(server, client);
        outcome.waited_for_output = outcome.waited_for_output || outcome.client == TlsStatus::want_write ||
                                    outcome.server == TlsStatus::want_write;
        if (moved == 0) {
            break;
        }
    }
    return outcome;
}

HandshakeOutcome require_handshake(Peer& client, Peer& server) {
    const HandshakeOutcome outcome = run_handshake(client, server);
    INFO("client: " << to_string(outcome.client) << " " << client.session.last_error());
    INFO("server: " << to_string(outcome.server) << " " << server.session.last_error());
    REQUIRE(outcome.client == TlsStatus::ok);
    REQUIRE(outcome.server == TlsStatus::ok);
    return outcome;
}

TlsStatus read_step(Peer& peer, std::string& received, std::size_t capacity) {
    std::vector<char> plain(capacity);
    TlsIo io{peer.input, 0, &peer.output};
    std::size_t produced = 0;
    const TlsStatus status = peer.session.read(io, plain.data(), plain.size(), produced);
    peer.input.erase(0, io.input_used);
    if (status != TlsStatus::ok) {
        CHECK(produced == 0);
    }
    received.append(plain.data(), produced);
    return status;
}

// Reads until the session wants more input; returns the status that ended it.
TlsStatus read_all(Peer& peer, std::string& received, std::size_t capacity) {
    for (int round = 0; round < max_rounds; ++round) {
        const TlsStatus status = read_step(peer, received, capacity);
        if (status != TlsStatus::ok) {
            return status;
        }
    }
    FAIL("read never stopped");
    return TlsStatus::failed;
}

TlsStatus write_step(Peer& peer, std::string_view data, std::size_t& consumed) {
    TlsIo io{peer.input, 0, &peer.output};
    const TlsStatus status = peer.session.write(io, data.data(), data.size(), consumed);
    peer.input.erase(0, io.input_used);
    return status;
}

// Sends `data` through TLS from one peer to the other, the receiver reading `read_capacity` octets at
// a time; returns what the receiver decrypted. `write_calls` counts the writes it took.
std::string send_through(Peer& from, Peer& to, const std::string& data, std::size_t read_capacity,
                         int* write_calls = nullptr) {
    std::string received;
    std::size_t offset = 0;
    int calls = 0;
    for (int round = 0; round < max_rounds && received.size() < data.size(); ++round) {
        if (offset < data.size()) {
            std::size_t consumed = 0;
            const TlsStatus status = write_step(from, std::string_view(data).substr(offset), consumed);
            ++calls;
            REQUIRE((status == TlsStatus::ok || status == TlsStatus::want_write));
            CHECK((status == TlsStatus::ok) == (consumed > 0));
            offset += consumed;
        }
        deliver(from, to);
        REQUIRE(read_all(to, received, read_capacity) == TlsStatus::want_read);
    }
    if (write_calls != nullptr) {
        *write_calls = calls;
    }
    return received;
}

std::string pattern(std::size_t size) {
    std::string text(size, '\0');
    for (std::size_t index = 0; index < size; ++index) {
        text[index] = static_cast<char>('a' + index % 26 + (index / 26) % 7);
    }
    return text;
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

bool built_with_mbedtls3() {
    return library_versions().rfind("mbedTLS 3.", 0) == 0;
}

// The octets one write of `size` octets of application data puts on the wire (AES-256-GCM, as every
// handshake here negotiates). TLS 1.3: records of at most tls_output_record_limit() octets of inner
// plaintext (the data, one content-type octet, zero padding to a multiple of 16), each + a 16-octet
// tag and a 5-octet header. TLS 1.2 with maximum_fragment_length 4096: fragments of at most 4096
// octets, each + an 8-octet explicit nonce, a 16-octet tag and a 5-octet header.
std::size_t expected_wire_size(std::size_t size) {
    const std::size_t limit = tls_output_record_limit();
    std::size_t total = 0;
    if (tls13_supported()) {
        const std::size_t chunk = limit - 1;
        for (std::size_t left = size; left > 0;) {
            const std::size_t data = std::min(left, chunk);
            const std::size_t padded = std::min((data + 1 + 15) / 16 * 16, limit);
            total += padded + 16 + 5;
            left -= data;
        }
        return total;
    }
    const std::size_t chunk = std::min<std::size_t>(limit, 4096);
    return size + (size + chunk - 1) / chunk * 29;
}

// What a handshake between two relayguard sessions must agree on.
std::string expected_description(bool rsa) {
    if (tls13_supported()) {
        return "TLSv1.3 TLS1-3-AES-256-GCM-SHA384";
    }
    return rsa ? "TLSv1.2 TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384"
               : "TLSv1.2 TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384";
}

// A directory of files for load(), removed with its files afterwards.
class TemporaryFiles {
public:
    TemporaryFiles() {
        std::string name = "/tmp/relayguard-tls-test-XXXXXX";
        REQUIRE(::mkdtemp(name.data()) != nullptr);
        directory_ = name;
    }
    ~TemporaryFiles() {
        for (const std::string& path : files_) {
            std::remove(path.c_str());
        }
        ::rmdir(directory_.c_str());
    }
    TemporaryFiles(const TemporaryFiles&) = delete;
    TemporaryFiles& operator=(const TemporaryFiles&) = delete;

    std::string write(const std::string& name, std::string_view contents) {
        const std::string path = directory_ + "/" + name;
        std::FILE* file = std::fopen(path.c_str(), "wb");
        REQUIRE(file != nullptr);
        REQUIRE(std::fwrite(contents.data(), 1, contents.size(), file) == contents.size());
        REQUIRE(std::fclose(file) == 0);
        files_.push_back(path);
        return path;
    }
    std::string path(const std::string& name) const { return directory_ + "/" + name; }

private:
    std::string directory_;
    std::vector<std::string> files_;
};

// The test cases live in the namespace too, so that unity builds see none of the helpers' names.

TEST_CASE("TLS handshake in memory negotiates the expected protocol and suite", "[tls]") {
    CHECK(tls13_supported() == built_with_mbedtls3());
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context());
    Peer client(pool, client_context(), "mail.example.test");
    CHECK_FALSE(server.session.handshake_complete());
    CHECK(server.session.describe().empty());

    CHECK_FALSE(require_handshake(client, server).waited_for_output);

    CHECK(server.session.handshake_complete());
    CHECK(client.session.handshake_complete());
    CHECK(server.session.describe() == expected_description(false));
    CHECK(client.session.describe() == expected_description(false));
    CHECK(client.session.last_error().empty());
    // Nothing is left over on either side.
    CHECK(client.input.empty());
    CHECK(server.input.empty());
    // Once complete, handshake() has nothing more to do.
    CHECK(handshake_step(server) == TlsStatus::ok);
    CHECK(server.output.empty());
}

TEST_CASE("TLS handshake with an RSA certificate uses an ECDHE-RSA suite", "[tls]") {
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context(rsa_certificate_pem, rsa_key_pem));
    Peer client(pool, client_context(rsa_certificate_pem), "rsa.example.test");
    require_handshake(client, server);
    CHECK(client.session.describe() == expected_description(true));
}

TEST_CASE("TLS application data crosses in both directions including multi-record payloads", "[tls]") {
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context());
    Peer client(pool, client_context(), "mail.example.test");
    require_handshake(client, server);

    const std::string greeting = "220 mail.example.test ESMTP\r\n";
    CHECK(send_through(server, client, greeting, 4096) == greeting);
    const std::string command = "EHLO client.example\r\n";
    CHECK(send_through(client, server, command, 4096) == command);

    // Larger than one record (16 KiB, or 4 KiB with the upstream leg's maximum fragment length), read
    // through a buffer smaller than one record.
    const std::string message = pattern(40000);
    CHECK(send_through(client, server, message, 1000) == message);
    CHECK(send_through(server, client, message, 1000) == message);
}

TEST_CASE("TLS writes into a small output take several rounds and lose nothing", "[tls]") {
    BufferPool pool(small_block, 4);
    // With two more certificates in its chain, the server's first flight is larger than the output:
    // the handshake itself has to wait for the output to drain.
    const std::string chain = std::string(server_certificate_pem) + test_ca_pem + other_ca_pem;
    Peer server(pool, server_context(chain.c_str()));
    Peer client(pool, client_context(test_ca_pem), "mail.example.test");
    CHECK(require_handshake(client, server).waited_for_output);

    // The first write cuts one record to fit the empty output. TLS 1.2 with AES-GCM adds exactly 29
    // octets (5 of header, an 8-octet explicit nonce, a 16-octet tag), so the record fills the output.
    // mbedTLS 3.6 pads TLS 1.3 records to 16 octets (MBEDTLS_SSL_CID_TLS1_3_PADDING_GRANULARITY) and
    // counts the worst case, 5 + 16 + 16 = 37; 987 octets of data plus the content type pad to 992, so
    // the record takes 5 + 992 + 16 = 1013 octets.
    const std::size_t expected_consumed = tls13_supported() ? 1024 - 37 : 1024 - 29;
    const std::size_t expected_record = tls13_supported() ? 1013 : 1024;
    const std::string message = pattern(10000);
    std::size_t consumed = 0;
    CHECK(write_step(client, message, consumed) == TlsStatus::ok);
    CHECK(consumed == expected_consumed);
    CHECK(client.output.size() == expected_record);
    // Nothing fits the rest of the output: nothing is taken until it drains.
    std::size_t more = 1;
    CHECK(write_step(client, std::string_view(message).substr(consumed), more) == TlsStatus::want_write);
    CHECK(more == 0);
    CHECK(client.output.size() == expected_record);

    // The rest goes through in several rounds.
    std::string received;
    deliver(client, server);
    CHECK(read_all(server, received, 4096) == TlsStatus::want_read);
    int write_calls = 0;
    received += send_through(client, server, message.substr(consumed), 4096, &write_calls);
    CHECK(received == message);
    CHECK(write_calls >= 9);
}

TEST_CASE("TLS upstream leg asks for 4096-octet records where only TLS 1.2 is built", "[tls]") {
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context());
    Peer client(pool, client_context(), "mail.example.test");
    require_handshake(client, server);

    // TLS 1.2 only (mbedTLS 2.28): the maximum_fragment_length extension holds both directions to
    // 4096-octet records, so 10000 octets take three records of 29 octets' overhead each. A build with
    // TLS 1.3 (mbedTLS 3.6) does not ask (its TLS 1.3 client aborts when an OpenSSL server answers the
    // extension), so each side cuts records at its own output limit: with 16384 one record, 10000 + 1
    // padded to 10016, + 16 + 5 = 10037; the static builds' 4096 make three.
    const std::size_t expected_from_client = expected_wire_size(10000);
    const std::size_t expected_from_server = expected_wire_size(10000);
    const std::string data = pattern(10000);
    std::size_t consumed = 0;
    CHECK(write_step(client, data, consumed) == TlsStatus::ok);
    CHECK(consumed == data.size());
    CHECK(client.output.size() == expected_from_client);
    CHECK(write_step(server, data, consumed) == TlsStatus::ok);
    CHECK(consumed == data.size());
    CHECK(server.output.size() == expected_from_server);
    std::string received;
    deliver(client, server);
    CHECK(read_all(server, received, 20000) == TlsStatus::want_read);
    CHECK(received == data);
    received.clear();
    deliver(server, client);
    CHECK(read_all(client, received, 20000) == TlsStatus::want_read);
    CHECK(received == data);
}

TEST_CASE("TLS read returns buffered plaintext without new input", "[tls]") {
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context());
    Peer client(pool, client_context(), "mail.example.test");
    require_handshake(client, server);

    const std::string reply = pattern(3000);
    std::size_t consumed = 0;
    REQUIRE(write_step(server, reply, consumed) == TlsStatus::ok);
    REQUIRE(consumed == reply.size());
    deliver(server, client);

    std::string received;
    CHECK(read_step(client, received, 100) == TlsStatus::ok);
    CHECK(received == reply.substr(0, 100));
    CHECK(client.input.empty()); // the whole record is inside the session now
    CHECK(client.session.has_pending_input());
    CHECK(read_all(client, received, 1000) == TlsStatus::want_read);
    CHECK(received == reply);
    CHECK_FALSE(client.session.has_pending_input());
}

TEST_CASE("TLS close_notify reaches the peer after the data before it", "[tls]") {
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context());
    Peer client(pool, client_context(), "mail.example.test");
    require_handshake(client, server);

    const std::string quit = "QUIT\r\n";
    std::size_t consumed = 0;
    REQUIRE(write_step(client, quit, consumed) == TlsStatus::ok);
    TlsIo io{client.input, 0, &client.output};
    CHECK(client.session.close_notify(io) == TlsStatus::ok);
    CHECK(client.session.close_notify(io) == TlsStatus::ok); // once is enough; nothing more is sent
    const std::size_t sent = client.output.size();
    CHECK(write_step(client, quit, consumed) == TlsStatus::closed);
    CHECK(consumed == 0);
    CHECK(client.output.size() == sent);
    deliver(client, server);

    // Data and close_notify arrived together: the data first, then closed, and closed for good.
    std::string received;
    CHECK(read_step(server, received, 4096) == TlsStatus::ok);
    CHECK(received == quit);
    CHECK(read_step(server, received, 4096) == TlsStatus::closed);
    CHECK(read_step(server, received, 4096) == TlsStatus::closed);
    CHECK(server.session.last_error().empty());

    // The client closed its direction only: the answer to what it sent before still goes out, then the
    // server's own close_notify, and after that nothing more.
    const std::string bye = "221 Bye\r\n";
    CHECK(write_step(server, bye, consumed) == TlsStatus::ok);
    CHECK(consumed == bye.size());
    TlsIo server_io{server.input, 0, &server.output};
    CHECK(server.session.close_notify(server_io) == TlsStatus::ok);
    CHECK(write_step(server, bye, consumed) == TlsStatus::closed);
    CHECK(consumed == 0);
    deliver(server, client);
    received.clear();
    CHECK(read_step(client, received, 4096) == TlsStatus::ok);
    CHECK(received == bye);
    CHECK(read_step(client, received, 4096) == TlsStatus::closed);
}

TEST_CASE("TLS client side writes nothing more after the server's close_notify", "[tls]") {
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context());
    Peer client(pool, client_context(), "mail.example.test");
    require_handshake(client, server);

    // An upstream answers and closes in one flight: the answer is read, then the end.
    const std::string reply = "354 go ahead\r\n";
    std::size_t consumed = 0;
    REQUIRE(write_step(server, reply, consumed) == TlsStatus::ok);
    TlsIo server_io{server.input, 0, &server.output};
    REQUIRE(server.session.close_notify(server_io) == TlsStatus::ok);
    deliver(server, client);
    std::string received;
    CHECK(read_step(client, received, 4096) == TlsStatus::ok);
    CHECK(received == reply);
    CHECK(read_step(client, received, 4096) == TlsStatus::closed);
    // The upstream will not answer any more, and a final dot it might still read must not reach it.
    const std::size_t before = client.output.size();
    CHECK(write_step(client, ".\r\n", consumed) == TlsStatus::closed);
    CHECK(consumed == 0);
    CHECK(client.output.size() == before);
}

TEST_CASE("TLS close_notify waits for room in a full output and is sent once", "[tls]") {
    BufferPool pool(small_block, 4);
    Peer server(pool, server_context());
    Peer client(pool, client_context(), "mail.example.test");
    require_handshake(client, server);

    const std::string data = pattern(small_block);
    std::size_t consumed = 0;
    REQUIRE(write_step(client, data, consumed) == TlsStatus::ok);
    TlsIo io{client.input, 0, &client.output};
    const std::size_t queued = client.output.size();
    CHECK(client.session.close_notify(io) == TlsStatus::want_write);
    CHECK(client.output.size() == queued);
    std::string received;
    deliver(client, server);
    CHECK(read_all(server, received, 4096) == TlsStatus::want_read);

    // TLS 1.2 alerts are 5 + 2 + 8 + 16 octets; TLS 1.3 ones 5 + (2 + 1 padded to 16) + 16.
    const std::size_t alert_record = tls13_supported() ? 37 : 31;
    CHECK(client.session.close_notify(io) == TlsStatus::ok);
    CHECK(client.output.size() == alert_record);
    CHECK(client.session.close_notify(io) == TlsStatus::ok);
    CHECK(client.output.size() == alert_record);
    deliver(client, server);
    CHECK(read_all(server, received, 4096) == TlsStatus::closed);
    CHECK(received == data.substr(0, consumed));
}

TEST_CASE("TLS client trusting the right CA accepts the server name on the certificate", "[tls]") {
    BufferPool pool(large_block, 4);
    const auto context = client_context(test_ca_pem);
    CHECK(context->verifies_peer());
    CHECK_FALSE(client_context()->verifies_peer());
    Peer server(pool, server_context());
    Peer client(pool, context, "mail.example.test");
    require_handshake(client, server);
    CHECK(client.session.describe() == expected_description(false));
}

TEST_CASE("TLS client given an IP address verifies the certificate chain only", "[tls]") {
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context());
    Peer client(pool, client_context(test_ca_pem), "192.0.2.25");
    require_handshake(client, server);
}

TEST_CASE("TLS client refuses a certificate from a CA it does not trust", "[tls]") {
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context());
    Peer client(pool, client_context(other_ca_pem), "mail.example.test");
    const HandshakeOutcome outcome = run_handshake(client, server);
    CHECK(outcome.client == TlsStatus::failed);
    CHECK(outcome.server == TlsStatus::failed);
    const std::string error = client.session.last_error();
    INFO(error);
    CHECK(error.rfind("handshake failed: X509 - Certificate verification failed", 0) == 0);
    CHECK(contains(error, "The certificate is not correctly signed by the trusted CA"));
    CHECK_FALSE(client.session.handshake_complete());
    // Failed is final.
    CHECK(handshake_step(client) == TlsStatus::failed);
}

TEST_CASE("TLS client refuses a certificate for another host name", "[tls]") {
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context());
    Peer client(pool, client_context(test_ca_pem), "relay.example.test");
    const HandshakeOutcome outcome = run_handshake(client, server);
    CHECK(outcome.client == TlsStatus::failed);
    const std::string error = client.session.last_error();
    INFO(error);
    CHECK(contains(error, "The certificate Common Name (CN) does not match with the expected CN"));
    CHECK_FALSE(contains(error, "not correctly signed"));
}

TEST_CASE("TLS client refuses a server name mbedTLS cannot use", "[tls]") {
    BufferPool pool(large_block, 4);
    Peer client(pool, client_context(), std::string(300, 'a'));
    CHECK(handshake_step(client) == TlsStatus::failed);
    CHECK(client.session.last_error().rfind("cannot use the upstream server name: ", 0) == 0);
    CHECK(client.output.empty());
}

TEST_CASE("TLS handshake fails cleanly on garbage ciphertext", "[tls]") {
    BufferPool pool(large_block, 4);
    SECTION("plaintext SMTP sent to a TLS listener") {
        Peer server(pool, server_context());
        server.input = "EHLO client.example\r\n";
        CHECK(handshake_step(server) == TlsStatus::failed);
        CHECK(server.session.last_error().rfind("handshake failed: ", 0) == 0);
        CHECK(handshake_step(server) == TlsStatus::failed);
        std::string received;
        CHECK(read_step(server, received, 100) == TlsStatus::failed);
    }
    SECTION("a record header announcing more than a record may hold") {
        Peer server(pool, server_context());
        server.input = std::string("\x16\x03\x01\xff\xff", 5) + std::string(64, '\0');
        CHECK(handshake_step(server) == TlsStatus::failed);
    }
    SECTION("random octets in answer to a ClientHello") {
        Peer client(pool, client_context(), "mail.example.test");
        CHECK(handshake_step(client) == TlsStatus::want_read);
        CHECK_FALSE(client.output.empty());
        client.input = pattern(300);
        CHECK(handshake_step(client) == TlsStatus::failed);
        CHECK_FALSE(client.session.last_error().empty());
    }
    SECTION("an incomplete record only asks for more") {
        Peer server(pool, server_context());
        server.input = std::string("\x16\x03\x01\x00\x40", 5);
        CHECK(handshake_step(server) == TlsStatus::want_read);
        CHECK(server.input.empty());
    }
}

TEST_CASE("TLS session fails when its output cannot hold a record", "[tls]") {
    BufferPool tiny_pool(512, 4);
    BufferPool pool(large_block, 4);
    Peer server(pool, server_context());
    Peer client(tiny_pool, client_context(), "mail.example.test");
    require_handshake(client, server);
    std::size_t consumed = 0;
    CHECK(write_step(client, "NOOP\r\n", consumed) == TlsStatus::failed);
    CHECK(client.session.last_error() == "the output buffer is too small for TLS records");
}

TEST_CASE("TLS server context refuses a chain larger than one output record, naming its size", "[tls]") {
    // Every DER certificate is longer than 256 octets, so this many copies cannot fit in one record.
    const std::size_t copies = tls_output_record_limit() / 256 + 1;
    std::string chain;
    for (std::size_t i = 0; i < copies; ++i) {
        chain += server_certificate_pem;
    }
    std::string error;
    CHECK_FALSE(TlsServerContext::load_from_memory(chain, server_key_pem, error));
    const std::string limit = std::to_string(tls_output_record_limit());
    CHECK(error.rfind("certificate (in memory): its chain of " + std::to_string(copies) +
                          " certificates needs ",
                      0) == 0);
    CHECK(contains(error, "more than the " + limit + " this build writes in one record"));

    // The same certificate alone fits.
    error.clear();
    CHECK(TlsServerContext::load_from_memory(server_certificate_pem, server_key_pem, error));
    CHECK(error.empty());
}

TEST_CASE("TLS server context refuses a key that does not belong to the certificate", "[tls]") {
    std::string error;
    CHECK_FALSE(TlsServerContext::load_from_memory(server_certificate_pem, other_key_pem, error));
    CHECK(error.rfind("key (in memory) does not belong to the certificate in certificate (in memory) (", 0) ==
          0);

    TemporaryFiles files;
    const std::string certificate = files.write("server.pem", server_certificate_pem);
    const std::string key = files.write("other.key", other_key_pem);
    error.clear();
    CHECK_FALSE(TlsServerContext::load(certificate, key, error));
    CHECK(error.rfind("key file \"" + key + "\" does not belong to the certificate in certificate file \"" +
                          certificate + "\" (",
                      0) == 0);
    // The message never carries key material.
    const std::string_view key_text = other_key_pem;
    CHECK_FALSE(contains(error, key_text.substr(31, 40)));
    CHECK_FALSE(contains(error, "BEGIN"));
}

TEST_CASE("TLS server context loads matching certificate and key files", "[tls]") {
    TemporaryFiles files;
    const std::string certificate =
        files.write("server.pem", std::string(server_certificate_pem) + test_ca_pem);
    const std::string key = files.write("server.key", server_key_pem);
    std::string error;
    const auto context = TlsServerContext::load(certificate, key, error);
    CHECK(error.empty());
    REQUIRE(context);

    BufferPool pool(large_block, 4);
    Peer server(pool, context);
    Peer client(pool, client_context(test_ca_pem), "mail.example.test");
    require_handshake(client, server);
}

TEST_CASE("TLS server context issues tickets only when given a lifetime", "[tls]") {
    std::string error;
    const auto without = TlsServerContext::load_from_memory(tls_session_test::server_certificate_pem,
                                                            tls_session_test::server_key_pem, error);
    REQUIRE(without);
    CHECK_FALSE(without->issues_tickets());
    const auto with =
        TlsServerContext::load_from_memory(tls_session_test::server_certificate_pem,
                                           tls_session_test::server_key_pem, error, std::chrono::hours(1));
    INFO(error);
    REQUIRE(with);
    // Every mbedTLS relayguard is built against has the ticket module (Debian's 2.28, 3.6 and the
    // static builds' configuration).
    CHECK(with->issues_tickets());
    // A session made from it still completes its full handshake.
    BufferPool pool(tls_session_test::large_block, 4);
    tls_session_test::Peer server(pool, with);
    tls_session_test::Peer client(pool, tls_session_test::client_context(), "mail.example.test");
    tls_session_test::require_handshake(client, server);
}

TEST_CASE("TLS contexts name the file that is missing or not a certificate", "[tls]") {
    TemporaryFiles files;
    const std::string key = files.write("server.key", server_key_pem);
    std::string error;
    SECTION("garbage text") {
        const std::string garbage = files.write("garbage.pem", "this is not a certificate\n");
        CHECK_FALSE(TlsServerContext::load(garbage, key, error));
        CHECK(error.rfind("certificate file \"" + garbage + "\": no certificate could be parsed: X509 - ",
                          0) == 0);
    }
    SECTION("a PEM block with a broken body") {
        const std::string garbage =
            files.write("broken.pem", "-----BEGIN CERTIFICATE-----\nnot*base64\n-----END CERTIFICATE-----\n");
        CHECK_FALSE(TlsServerContext::load(garbage, key, error));
        CHECK(error.rfind("certificate file \"" + garbage + "\": no certificate could be parsed: ", 0) == 0);
    }
    SECTION("an empty file") {
        const std::string empty = files.write("empty.pem", "");
        CHECK_FALSE(TlsServerContext::load(empty, key, error));
        CHECK(error == "certificate file \"" + empty + "\" is empty");
    }
    SECTION("a missing file") {
        const std::string missing = files.path("missing.pem");
        CHECK_FALSE(TlsServerContext::load(missing, key, error));
        CHECK(error == "cannot open certificate file \"" + missing + "\": No such file or directory");
    }
    SECTION("a certificate given as the key") {
        const std::string certificate = files.write("server.pem", server_certificate_pem);
        CHECK_FALSE(TlsServerContext::load(certificate, certificate, error));
        CHECK(error.rfind("key file \"" + certificate + "\": not a usable unencrypted private key: PK - ",
                          0) == 0);
    }
    SECTION("a garbage CA file") {
        const std::string garbage =
            files.write("ca.pem", "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n");
        CHECK_FALSE(TlsClientContext::load(garbage, error));
        CHECK(error.rfind("CA file \"" + garbage + "\": no certificate could be parsed: ", 0) == 0);
    }
    SECTION("a directory") {
        CHECK_FALSE(TlsClientContext::load("/", error));
        CHECK(error.rfind("cannot ", 0) == 0);
        CHECK(contains(error, "CA file \"/\""));
    }
}

TEST_CASE("TLS client context without a CA file does not verify", "[tls]") {
    std::string error;
    const auto context = TlsClientContext::load("", error);
    REQUIRE(context);
    CHECK(error.empty());
    CHECK_FALSE(context->verifies_peer());
}

TEST_CASE("TLS statuses have names for the log", "[tls]") {
    CHECK(std::string(to_string(TlsStatus::ok)) == "ok");
    CHECK(std::string(to_string(TlsStatus::want_read)) == "want_read");
    CHECK(std::string(to_string(TlsStatus::want_write)) == "want_write");
    CHECK(std::string(to_string(TlsStatus::closed)) == "closed");
    CHECK(std::string(to_string(TlsStatus::failed)) == "failed");
}

} // namespace tls_session_test
